//! The notification emails of access requests, rendered from the facts stored in the
//! outbox. Pure: no I/O, no clock.
//!
//! User-provided text (audience and account names, campaign details, platforms, the
//! denial reason) is HTML-escaped in the HTML body. Nothing user-provided may reach a
//! header with a line break: addresses are checked (and refused), and the subject has
//! every control character replaced by a space.

use serde::{Deserialize, Serialize};
use sharing_policy::ShareLevel;
use std::fmt::Write as _;

/// What an outbox email is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailKind {
    /// To the audience's creator: a receiving account asks for access.
    AccessRequestCreated,
    /// To the requester: the request was approved.
    AccessRequestApproved,
    /// To the requester: the request was denied.
    AccessRequestDenied,
}

impl EmailKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EmailKind::AccessRequestCreated => "access_request_created",
            EmailKind::AccessRequestApproved => "access_request_approved",
            EmailKind::AccessRequestDenied => "access_request_denied",
        }
    }
}

/// Everything an email needs, captured when its cause was written (so it renders the
/// same however late it is sent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailFacts {
    pub kind: EmailKind,
    pub request_id: String,
    pub audience_id: String,
    pub audience_name: String,
    pub owner_account_id: String,
    pub owner_account_name: String,
    pub requester_account_id: String,
    pub requester_account_name: String,
    pub requester_name: String,
    pub requester_email: String,
    pub requested_level: ShareLevel,
    pub campaign_start: String,
    pub campaign_end: String,
    pub campaign_details: String,
    pub activation_platforms: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granted_level: Option<ShareLevel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// The level the approved grant falls back to outside its window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_level: Option<ShareLevel>,
    /// The only activation platforms the approved grant allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_platforms: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by_email: Option<String>,
}

/// A rendered email, ready for SES (`Simple` content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    pub to: String,
    pub reply_to: Option<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// An address that would reach a header is not a plain, single-line address.
    #[error("{field} is not a usable email address")]
    BadAddress { field: &'static str },
}

/// Longest subject we send (SES and mail clients cope with more; readers do not).
pub const MAX_SUBJECT_CHARS: usize = 200;

/// Renders `facts` for `to` (Reply-To `reply_to`). `console_url` is the console, where
/// the owner's email links to the request's page, e.g. `https://api.example.com/console/`.
pub fn render(
    facts: &EmailFacts,
    to: &str,
    reply_to: Option<&str>,
    console_url: &str,
) -> Result<RenderedEmail, RenderError> {
    let to = header_address("to", to)?;
    let reply_to = reply_to
        .map(|r| header_address("reply-to", r))
        .transpose()?;
    let (subject, text, html) = match facts.kind {
        EmailKind::AccessRequestCreated => created(facts, console_url),
        EmailKind::AccessRequestApproved => approved(facts),
        EmailKind::AccessRequestDenied => denied(facts),
    };
    Ok(RenderedEmail {
        to,
        reply_to,
        subject: header_text(&subject, MAX_SUBJECT_CHARS),
        text,
        html,
    })
}

/// An address for a header: refused unless it is one plain address on one line.
pub fn header_address(field: &'static str, value: &str) -> Result<String, RenderError> {
    if crate::validate::email(field, value).is_err() || value.chars().any(char::is_control) {
        return Err(RenderError::BadAddress { field });
    }
    Ok(value.to_owned())
}

/// Text for a header: control characters (CR, LF, tabs...) become spaces, runs of
/// spaces collapse, and it is cut at `max` characters.
pub fn header_text(value: &str, max: usize) -> String {
    let cleaned: String = value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut out = String::with_capacity(cleaned.len());
    for word in cleaned.split(' ').filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    if out.chars().count() > max {
        let mut cut: String = out.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    } else {
        out
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Escaped, with line breaks kept visible.
fn escape_multiline(value: &str) -> String {
    escape_html(value)
        .replace("\r\n", "\n")
        .replace('\n', "<br>\n")
}

fn level_words(level: ShareLevel) -> &'static str {
    match level {
        ShareLevel::Usable => "usable",
        ShareLevel::ViewOnly => "view only",
        ShareLevel::Private => "private",
    }
}

fn requester_label(f: &EmailFacts) -> String {
    if f.requester_name.trim().is_empty() {
        f.requester_email.clone()
    } else {
        format!("{} <{}>", f.requester_name, f.requester_email)
    }
}

/// The request's page in the console (its hash route).
pub fn request_page(console_url: &str, owner_account_id: &str, request_id: &str) -> String {
    format!(
        "{}/#/accounts/{owner_account_id}/access-requests/{request_id}",
        console_url.trim_end_matches('/')
    )
}

fn created(f: &EmailFacts, console_url: &str) -> (String, String, String) {
    let page = request_page(console_url, &f.owner_account_id, &f.request_id);
    let subject = format!(
        "Access request: {} asks for {} access to \"{}\"",
        f.requester_account_name,
        level_words(f.requested_level),
        f.audience_name
    );
    let platforms = f.activation_platforms.join(", ");

    let mut text = String::new();
    let _ = writeln!(
        text,
        "{} of account {} ({}) asks for {} access to your audience \"{}\" ({}) in account {}.",
        requester_label(f),
        f.requester_account_name,
        f.requester_account_id,
        level_words(f.requested_level),
        f.audience_name,
        f.audience_id,
        f.owner_account_name
    );
    let _ = writeln!(text);
    let _ = writeln!(
        text,
        "Requested by:        {} ({})",
        f.requester_name, f.requester_email
    );
    let _ = writeln!(text, "Requested level:     {}", f.requested_level.as_str());
    let _ = writeln!(
        text,
        "Campaign dates:      {} to {}",
        f.campaign_start, f.campaign_end
    );
    let _ = writeln!(text, "Activation platforms: {platforms}");
    let _ = writeln!(text, "Campaign details:");
    let _ = writeln!(text, "{}", f.campaign_details);
    let _ = writeln!(text);
    let _ = writeln!(
        text,
        "Reply to this email to ask {} for clarification.",
        f.requester_email
    );
    let _ = writeln!(text);
    let _ = writeln!(
        text,
        "To approve (by default {} until the end of the campaign's last day) or deny it, open the request:",
        f.requested_level.as_str()
    );
    let _ = writeln!(text, "  {page}");
    end_with_request_id(&mut text, f);

    let e = escape_html;
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html><html><body>\
         <p>{} of account <strong>{}</strong> asks for <strong>{}</strong> access to your audience \
         <strong>&quot;{}&quot;</strong> in account {}.</p>\
         <table>\
         <tr><th align=\"left\">Requested by</th><td>{} (<a href=\"mailto:{}\">{}</a>)</td></tr>\
         <tr><th align=\"left\">Requested level</th><td>{}</td></tr>\
         <tr><th align=\"left\">Campaign dates</th><td>{} to {}</td></tr>\
         <tr><th align=\"left\">Activation platforms</th><td>{}</td></tr>\
         <tr><th align=\"left\" valign=\"top\">Campaign details</th><td>{}</td></tr>\
         </table>\
         <p>Reply to this email to ask the requester for clarification.</p>\
         <p>To approve (by default {} until the end of the campaign's last day) or deny it: \
         <a href=\"{}\">open the request</a> ({}).</p>\
         <p>Request id: {}</p>\
         </body></html>",
        e(&f.requester_name),
        e(&f.requester_account_name),
        e(level_words(f.requested_level)),
        e(&f.audience_name),
        e(&f.owner_account_name),
        e(&f.requester_name),
        e(&f.requester_email),
        e(&f.requester_email),
        e(f.requested_level.as_str()),
        e(&f.campaign_start),
        e(&f.campaign_end),
        e(&platforms),
        escape_multiline(&f.campaign_details),
        e(f.requested_level.as_str()),
        e(&page),
        e(&page),
        e(&f.request_id),
    );
    (subject, text, html)
}

/// The plain text of a decision's email, begun with its first line: "Your request for ...
/// was `outcome`."
fn your_request_was(f: &EmailFacts, outcome: &str) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "Your request for {} access to the audience \"{}\" ({}) of account {} was {outcome}.",
        level_words(f.requested_level),
        f.audience_name,
        f.audience_id,
        f.owner_account_name
    );
    text
}

/// [`your_request_was`] as the HTML email's first paragraph.
fn your_request_was_html(f: &EmailFacts, outcome: &str) -> String {
    let e = escape_html;
    format!(
        "<p>Your request for {} access to the audience <strong>&quot;{}&quot;</strong> of account {} was \
         <strong>{outcome}</strong>.</p>",
        e(level_words(f.requested_level)),
        e(&f.audience_name),
        e(&f.owner_account_name),
    )
}

/// Ends a plain-text email: a blank line, then the request's id.
fn end_with_request_id(text: &mut String, f: &EmailFacts) {
    let _ = writeln!(text);
    let _ = writeln!(text, "Request id: {}", f.request_id);
}

fn approved(f: &EmailFacts) -> (String, String, String) {
    let level = f.granted_level.unwrap_or(f.requested_level);
    let until = f.expires_at.as_deref();
    let subject = format!(
        "Access request approved: \"{}\" is now {} for {}",
        f.audience_name,
        level_words(level),
        f.requester_account_name
    );
    let until_text = match (f.starts_at.as_deref(), until) {
        (Some(s), Some(t)) => format!("from {s} until {t}"),
        (Some(s), None) => format!("from {s}, with no end date"),
        (None, Some(t)) => format!("until {t}"),
        (None, None) => "with no end date".to_owned(),
    };
    let platforms_text = match &f.allowed_platforms {
        Some(p) => format!("Activation platforms allowed: {} only.", p.join(", ")),
        None => "Activation platforms allowed: any.".to_owned(),
    };
    let fallback_text = f.fallback_level.map(|l| {
        format!(
            "Outside that window the account holds {} access.",
            l.as_str()
        )
    });
    let mut text = your_request_was(f, "approved");
    let _ = writeln!(text);
    let _ = writeln!(
        text,
        "Account {} now holds {} access, {until_text}.",
        f.requester_account_name,
        level.as_str()
    );
    if let Some(fb) = &fallback_text {
        let _ = writeln!(text, "{fb}");
    }
    let _ = writeln!(text, "{platforms_text}");
    let _ = writeln!(text, "Campaign: {} to {}", f.campaign_start, f.campaign_end);
    if let Some(by) = &f.decided_by_email {
        let _ = writeln!(text, "Approved by: {by}");
    }
    end_with_request_id(&mut text, f);

    let e = escape_html;
    let html = format!(
        "<!DOCTYPE html><html><body>\
         {}\
         <p>Account {} now holds <strong>{}</strong> access, {}.</p>{}\
         <p>{}</p>\
         <p>Campaign: {} to {}</p>{}\
         <p>Request id: {}</p>\
         </body></html>",
        your_request_was_html(f, "approved"),
        e(&f.requester_account_name),
        e(level.as_str()),
        e(&until_text),
        fallback_text
            .as_deref()
            .map(|fb| format!("<p>{}</p>", e(fb)))
            .unwrap_or_default(),
        e(&platforms_text),
        e(&f.campaign_start),
        e(&f.campaign_end),
        f.decided_by_email
            .as_deref()
            .map(|by| format!("<p>Approved by: {}</p>", e(by)))
            .unwrap_or_default(),
        e(&f.request_id),
    );
    (subject, text, html)
}

fn denied(f: &EmailFacts) -> (String, String, String) {
    let subject = format!(
        "Access request denied: \"{}\" for {}",
        f.audience_name, f.requester_account_name
    );
    let mut text = your_request_was(f, "denied");
    let _ = writeln!(text);
    match &f.reason {
        Some(r) => {
            let _ = writeln!(text, "Reason given:");
            let _ = writeln!(text, "{r}");
        }
        None => {
            let _ = writeln!(text, "No reason was given.");
        }
    }
    let _ = writeln!(
        text,
        "Account {} keeps its current access.",
        f.requester_account_name
    );
    end_with_request_id(&mut text, f);

    let e = escape_html;
    let html = format!(
        "<!DOCTYPE html><html><body>\
         {}\
         {}\
         <p>Account {} keeps its current access.</p>\
         <p>Request id: {}</p>\
         </body></html>",
        your_request_was_html(f, "denied"),
        f.reason.as_deref().map_or_else(
            || "<p>No reason was given.</p>".to_owned(),
            |r| format!("<p>Reason given:<br>{}</p>", escape_multiline(r))
        ),
        e(&f.requester_account_name),
        e(&f.request_id),
    );
    (subject, text, html)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(kind: EmailKind) -> EmailFacts {
        EmailFacts {
            kind,
            request_id: "01JREQ".into(),
            audience_id: "aud1".into(),
            audience_name: "Aspiring Athenians".into(),
            owner_account_id: "mptravel".into(),
            owner_account_name: "mPTravel".into(),
            requester_account_id: "mpdine".into(),
            requester_account_name: "mPDine".into(),
            requester_name: "Dan Diner".into(),
            requester_email: "dan@mpdine.example".into(),
            requested_level: ShareLevel::Usable,
            campaign_start: "2027-07-01".into(),
            campaign_end: "2027-08-31".into(),
            campaign_details: "Summer dining offers.\nLine two.".into(),
            activation_platforms: vec!["meta".into(), "google_ads".into()],
            granted_level: None,
            starts_at: None,
            expires_at: None,
            fallback_level: None,
            allowed_platforms: None,
            reason: None,
            decided_by_email: None,
        }
    }

    #[test]
    fn owner_email_has_everything_a_busy_owner_needs() {
        let f = facts(EmailKind::AccessRequestCreated);
        let m = render(
            &f,
            "ana@mptravel.example",
            Some("dan@mpdine.example"),
            "https://api.example.com/",
        )
        .unwrap();
        assert_eq!(m.to, "ana@mptravel.example");
        assert_eq!(m.reply_to.as_deref(), Some("dan@mpdine.example"));
        assert!(m.subject.contains("Aspiring Athenians"));
        assert!(m.subject.contains("mPDine"));
        for body in [&m.text, &m.html] {
            for needle in [
                "Dan Diner",
                "dan@mpdine.example",
                "usable",
                "2027-07-01",
                "2027-08-31",
                "Summer dining offers.",
                "meta, google_ads",
                "https://api.example.com/#/accounts/mptravel/access-requests/01JREQ",
            ] {
                assert!(body.contains(needle), "{needle} missing from {body}");
            }
        }
    }

    #[test]
    fn user_text_is_escaped_in_html() {
        let mut f = facts(EmailKind::AccessRequestCreated);
        f.audience_name = "<script>alert(1)</script>".into();
        f.campaign_details = "<img src=x onerror=alert(1)> & \"quotes\" 'single'".into();
        f.activation_platforms = vec!["<b>meta</b>".into()];
        f.requester_name = "Eve <eve@evil.example>".into();
        let m = render(&f, "ana@mptravel.example", None, "http://127.0.0.1:3000").unwrap();
        assert!(!m.html.contains("<script>"));
        assert!(!m.html.contains("<img"));
        assert!(!m.html.contains("<b>meta"));
        assert!(m.html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(m.html.contains(
            "&lt;img src=x onerror=alert(1)&gt; &amp; &quot;quotes&quot; &#39;single&#39;"
        ));
        assert!(m.html.contains("&lt;b&gt;meta&lt;/b&gt;"));
        // The plain-text body is text: it carries the words as they are.
        assert!(m.text.contains("<script>alert(1)</script>"));
    }

    #[test]
    fn nothing_user_provided_breaks_a_header() {
        let mut f = facts(EmailKind::AccessRequestCreated);
        f.audience_name = "Athenians\r\nBcc: victim@example.com".into();
        f.requester_account_name = "mPDine\nX-Injected: 1".into();
        let m = render(&f, "ana@mptravel.example", None, "http://x").unwrap();
        assert!(!m.subject.contains('\r') && !m.subject.contains('\n'));
        assert!(m.subject.contains("Athenians Bcc: victim@example.com"));
        assert!(m.subject.chars().all(|c| !c.is_control()));

        assert_eq!(
            render(
                &f,
                "ana@mptravel.example",
                Some("dan@mpdine.example\r\nBcc: victim@example.com"),
                "http://x"
            ),
            Err(RenderError::BadAddress { field: "reply-to" })
        );
        assert_eq!(
            render(&f, "ana@x.example\nBcc: v@x.example", None, "http://x"),
            Err(RenderError::BadAddress { field: "to" })
        );
        assert!(render(&f, "a@b.example, c@d.example", None, "http://x").is_err());
    }

    #[test]
    fn long_subjects_are_cut() {
        let mut f = facts(EmailKind::AccessRequestDenied);
        f.audience_name = "x".repeat(500);
        let m = render(&f, "dan@mpdine.example", None, "http://x").unwrap();
        assert_eq!(m.subject.chars().count(), MAX_SUBJECT_CHARS);
    }

    #[test]
    fn decision_emails() {
        let mut f = facts(EmailKind::AccessRequestApproved);
        f.granted_level = Some(ShareLevel::Usable);
        f.expires_at = Some("2027-09-01T00:00:00Z".into());
        f.decided_by_email = Some("ana@mptravel.example".into());
        let m = render(&f, "dan@mpdine.example", None, "http://x").unwrap();
        assert!(m.subject.contains("approved") && m.subject.contains("Aspiring Athenians"));
        assert!(m.text.contains("usable access, until 2027-09-01T00:00:00Z"));
        assert!(m.html.contains("2027-09-01T00:00:00Z"));
        assert!(m.text.contains("Activation platforms allowed: any."));
        // A campaign-bound approval says its window, its fallback and its platforms.
        f.starts_at = Some("2027-06-30T09:00:00Z".into());
        f.fallback_level = Some(ShareLevel::ViewOnly);
        f.allowed_platforms = Some(vec!["meta".into(), "<tiktok>".into()]);
        let m = render(&f, "dan@mpdine.example", None, "http://x").unwrap();
        assert!(
            m.text
                .contains("usable access, from 2027-06-30T09:00:00Z until 2027-09-01T00:00:00Z.")
        );
        assert!(
            m.text
                .contains("Outside that window the account holds view_only access.")
        );
        assert!(
            m.text
                .contains("Activation platforms allowed: meta, <tiktok> only.")
        );
        assert!(m.html.contains("meta, &lt;tiktok&gt; only."));

        let mut f = facts(EmailKind::AccessRequestDenied);
        f.reason = Some("Reserved for <summer>".into());
        let m = render(&f, "dan@mpdine.example", None, "http://x").unwrap();
        assert!(m.subject.contains("denied"));
        assert!(m.text.contains("Reserved for <summer>"));
        assert!(m.html.contains("Reserved for &lt;summer&gt;"));
    }

    #[test]
    fn header_text_collapses_whitespace() {
        assert_eq!(header_text("a\r\n\tb   c", 100), "a b c");
    }
}
