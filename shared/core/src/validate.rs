//! Small checks of user-supplied text, each answering a `validation_failed` detail the
//! user can act on.

use crate::error::{Error, Result};
use std::collections::BTreeSet;

/// At most this many activation platforms in a list.
pub const MAX_PLATFORMS: usize = 20;
/// The longest activation platform name.
pub const MAX_PLATFORM_CHARS: usize = 100;

/// Serde, for an optional field of a request body the document types as a value (a
/// string, a level, a list): left out it is `None`; `null` is refused like any other
/// value of the wrong type ("invalid type: null, expected a string"), as the document
/// says. Where `null` means something (PATCH `description`: clear it) the field does not
/// use this.
pub fn not_null<'de, D, T>(d: D) -> std::result::Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// Text of 1..=max characters, not blank, without control characters.
pub fn text(field: &str, value: &str, max: usize) -> Result<()> {
    let n = value.chars().count();
    if value.trim().is_empty() {
        return Err(Error::Validation(format!("{field} must not be empty")));
    }
    if n > max {
        return Err(Error::Validation(format!(
            "{field} is {n} characters long; at most {max} are allowed"
        )));
    }
    // Line breaks (LF, or CR only as part of CRLF) and tabs are text; single-line fields
    // refuse them below.
    let mut chars = value.chars().peekable();
    let mut bad = false;
    while let Some(c) = chars.next() {
        bad |= match c {
            '\n' | '\t' => false,
            '\r' => chars.peek() != Some(&'\n'),
            c => c.is_control(),
        };
    }
    if bad {
        return Err(Error::Validation(format!(
            "{field} must not contain control characters"
        )));
    }
    if let Some(c) = value.chars().find(|c| is_invisible_format(*c)) {
        return Err(Error::Validation(format!(
            "{field} must not contain invisible formatting characters (found U+{:04X}); they can make text shown to other accounts read differently from what it is",
            u32::from(c)
        )));
    }
    Ok(())
}

/// Unicode format characters that change how text is shown without being seen: bidi
/// overrides and isolates (U+202A-202E, U+2066-2069; "Trojan Source"), zero-width
/// characters (U+200B-200F, U+2060-2064, U+FEFF), the soft hyphen, and the Arabic and
/// Mongolian marks. Names and details are shown to other accounts and put in emails.
pub fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

/// Text that may end up in an email header or a single-line field: no line breaks.
pub fn single_line(field: &str, value: &str, max: usize) -> Result<()> {
    text(field, value, max)?;
    if value.contains(['\r', '\n']) {
        return Err(Error::Validation(format!("{field} must be a single line")));
    }
    Ok(())
}

/// An email address of the common form `local@domain.tld`: the local part of RFC 5322's
/// dot-atom characters, the domain of DNS labels (letters, digits, inner hyphens) with
/// at least one dot. This is also what `infra/openapi.yaml` says (`format: email` and
/// its pattern), so what the service accepts it can always give back.
pub fn email(field: &str, value: &str) -> Result<()> {
    single_line(field, value, 254)?;
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c);
    let label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let ok = match value.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && local.len() <= 64
                && local
                    .split('.')
                    .all(|part| !part.is_empty() && part.chars().all(atext))
                && domain.contains('.')
                && domain.split('.').all(label)
        }
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::Validation(format!(
            "{field} '{}' is not an email address like name@example.com",
            value.chars().take(64).collect::<String>()
        )))
    }
}

/// A list of activation platforms (a request's, or a grant's `allowedPlatforms`): 1 to
/// 20 distinct single-line names of at most 100 characters.
pub fn platforms(field: &str, platforms: &[String]) -> Result<()> {
    if platforms.is_empty() {
        return Err(Error::Validation(format!(
            "{field} must name at least one platform"
        )));
    }
    if platforms.len() > MAX_PLATFORMS {
        return Err(Error::Validation(format!(
            "{field} has {} entries; at most {MAX_PLATFORMS} are allowed",
            platforms.len()
        )));
    }
    let mut seen = BTreeSet::new();
    for (i, p) in platforms.iter().enumerate() {
        single_line(&format!("{field}[{i}]"), p, MAX_PLATFORM_CHARS)?;
        if !seen.insert(p.as_str()) {
            return Err(Error::Validation(format!(
                "{field} lists '{p}' more than once"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert!(email("email", "ana@mptravel.example").is_ok());
        assert!(email("email", "ana@mptravel").is_err());
        assert!(email("email", "ana@x.com\r\nBcc: evil@x.com").is_err());
        assert!(email("email", "a@b@c.com").is_err());
        // What the fuzzer found accepted, and then returned breaking `format: email`.
        assert!(email("email", "0@0.com*").is_err());
        assert!(email("email", "a..b@x.com").is_err());
        assert!(email("email", "a@-x.com").is_err());
        assert!(email("email", "o'neil+tag@mail.example.co").is_ok());
    }

    #[test]
    fn texts() {
        assert!(text("name", "  ", 10).is_err());
        assert!(text("name", "Ibiza Dreamers", 10).is_err());
        assert!(text("name", "Ibiza", 10).is_ok());
        assert!(single_line("subject", "a\nb", 10).is_err());
        assert!(single_line("subject", "a\r\nBcc: x", 20).is_err());
        assert!(text("details", "line one\r\nline two", 40).is_ok());
        assert!(text("details", "bell\u{7}", 40).is_err());
        assert!(text("details", "lone\rcarriage return", 40).is_err());
        assert!(text("details", "ends with\r", 40).is_err());
        assert!(text("name", "evil\u{202E}gnp.exe", 40).is_err());
        assert!(text("name", "zero\u{200B}width", 40).is_err());
        assert!(text("name", "Zoë & Çelik 東京", 40).is_ok());
    }
}
