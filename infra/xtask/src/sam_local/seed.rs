//! The seed's example through SAM (what [`super::end_to_end`] checks).

use super::*;

/// The seed's example through SAM; answers how many checks passed.
pub(super) async fn seed_example(api: &str, ses: &str, secret: &str) -> anyhow::Result<usize> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(90))
        .build()?;
    let token = |user: &str, email: &str| {
        sharing_http::local_auth::mint(secret, user, Some(email), 600)
            .context("cannot sign a local token")
    };
    let dan = token("dan", "dan@mpdine.example")?;
    let mut checks = 0;
    let mut check = |what: &str, ok: bool, got: &dyn std::fmt::Display| -> anyhow::Result<()> {
        eprintln!("  {what}: {}", if ok { "ok" } else { "FAILED" });
        if !ok {
            bail!("{what}: got {got}");
        }
        checks += 1;
        Ok(())
    };
    let call = |method: reqwest::Method, path: &str, bearer: Option<&str>, body: Option<Value>| {
        let mut req = http.request(method, format!("{api}{path}"));
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        async move {
            let res = req.send().await.context("no answer from sam local")?;
            let status = res.status().as_u16();
            let text = res.text().await.unwrap_or_default();
            anyhow::Ok((status, text))
        }
    };
    let get = reqwest::Method::GET;
    let post = reqwest::Method::POST;

    let (status, body) = call(
        get.clone(),
        "/accounts/mpdine/shared-with-me",
        Some(&dan),
        None,
    )
    .await?;
    let listed: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let ids: Vec<&str> = listed
        .get("items")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|i| i["audienceId"].as_str()).collect())
        .unwrap_or_default();
    check(
        "mPDine lists Aspiring Athenians and Ibiza Dreamers, not Potential Parisians",
        status == 200
            && ids.contains(&"aspiring-athenians")
            && ids.contains(&"ibiza-dreamers")
            && !ids.contains(&"potential-parisians"),
        &format!("{status} {body}"),
    )?;

    let output = json!({"outputId": "dine-google-ads", "platform": "google_ads"});
    let (status, body) = call(
        post.clone(),
        "/accounts/mpdine/audiences/ibiza-dreamers/connections",
        Some(&dan),
        Some(output.clone()),
    )
    .await?;
    check(
        "mPDine connects Ibiza Dreamers (usable)",
        status == 201,
        &format!("{status} {body}"),
    )?;
    let (status, body) = call(
        post.clone(),
        "/accounts/mpdine/audiences/aspiring-athenians/connections",
        Some(&dan),
        Some(output),
    )
    .await?;
    check(
        "mPDine cannot connect Aspiring Athenians (view only)",
        status == 403 && body.contains("\"insufficient_access\""),
        &format!("{status} {body}"),
    )?;

    let (status, body) = call(get.clone(), "/me", None, None).await?;
    check(
        "no token: 401",
        status == 401 && body.contains("\"unauthenticated\""),
        &format!("{status} {body}"),
    )?;
    let forged =
        sharing_http::local_auth::mint("not-the-secret", "dan", Some("dan@mpdine.example"), 600)?;
    let (status, body) = call(get.clone(), "/me", Some(&forged), None).await?;
    check(
        "forged token: 401",
        status == 401 && body.contains("\"unauthenticated\""),
        &format!("{status} {body}"),
    )?;

    let (status, body) = call(
        post,
        "/accounts/mpdine/access-requests",
        Some(&dan),
        Some(json!({
            "audienceId": "aspiring-athenians",
            "requestedLevel": "usable",
            "campaign": {"start": "2027-04-01", "end": "2027-04-30", "details": "Spring dining offers"},
            "activationPlatforms": ["google_ads"]
        })),
    )
    .await?;
    let request_id = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v.get("id")?.as_str().map(str::to_owned));
    check(
        "mPDine asks for usable on Aspiring Athenians",
        status == 201 && request_id.is_some(),
        &format!("{status} {body}"),
    )?;
    let request_id = request_id.unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut mailed = false;
    while !mailed && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let store: Value = http
            .get(format!("{ses}/store"))
            .send()
            .await?
            .json()
            .await?;
        mailed = store
            .get("emails")
            .and_then(Value::as_array)
            .is_some_and(|a| {
                a.iter().any(|e| {
                    e.pointer("/body/text")
                        .and_then(Value::as_str)
                        .is_some_and(|t| t.contains(&request_id))
                })
            });
    }
    check(
        "the access request's email reaches the SES emulator",
        mailed,
        &"no email naming the request within 30s",
    )?;
    Ok(checks)
}
