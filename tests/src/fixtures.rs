//! The demo fixture and loading other fixtures into a stack.

use super::*;

/// The demo fixture's email of a user, if it has one.
pub fn demo_email(user: &str) -> Option<String> {
    let text = std::fs::read_to_string(xtask::demo_fixture()).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    v["users"]
        .as_array()?
        .iter()
        .find(|u| u["id"] == user)
        .and_then(|u| u["email"].as_str())
        .map(str::to_owned)
}

impl Stack {
    /// Loads `tests/fixtures/<name>` into this stack's table.
    pub async fn load(&self, name: &str) {
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(name);
        xtask::seed(&self.core, &path).await.expect("fixture");
    }

    /// mPTravel's sharing defaults, set by its admin `ana` (asserting 200).
    pub async fn set_defaults(&self, defaults: Value) {
        let r = self
            .call(
                "PUT",
                "/accounts/mptravel/sharing-defaults",
                Some("ana"),
                Some(serde_json::json!({"defaults": defaults})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.json);
    }

    /// More receiving accounts than one transaction holds: `acc-000` to `acc-099` join
    /// mParticle (user `last` is in `acc-099`), and mPTravel's defaults make each of them
    /// `usable`, so a new audience of mPTravel has 100 grants.
    pub async fn hundred_receivers_by_default(&self) {
        let accounts: Vec<Value> = (0..100)
            .map(|i| serde_json::json!({"id": format!("acc-{i:03}"), "name": format!("Account {i}")}))
            .collect();
        let fixture = serde_json::json!({
            "organizations": [{"id": "mparticle", "name": "mParticle", "accounts": accounts}],
            "users": [{"id": "last", "email": "last@acc-099.example", "firstName": "L", "lastName": "A",
                       "memberships": [{"accountId": "acc-099", "role": "user"}]}]
        });
        self.core
            .load_fixture(&serde_json::from_value(fixture).expect("fixture"))
            .await
            .expect("load the accounts");
        let defaults = (0..100)
            .map(|i| serde_json::json!({"accountId": format!("acc-{i:03}"), "level": "usable"}))
            .collect();
        self.set_defaults(Value::Array(defaults)).await;
    }
}
