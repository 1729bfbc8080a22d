//! Small checks of user-supplied text, each answering a `validation_failed` detail the
//! user can act on.

use crate::error::{Error, Result};

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
    Ok(())
}

/// Text that may end up in an email header or a single-line field: no line breaks.
pub fn single_line(field: &str, value: &str, max: usize) -> Result<()> {
    text(field, value, max)?;
    if value.contains(['\r', '\n']) {
        return Err(Error::Validation(format!("{field} must be a single line")));
    }
    Ok(())
}

/// A plausible email address: one `@`, something on both sides, no spaces or line breaks.
pub fn email(field: &str, value: &str) -> Result<()> {
    single_line(field, value, 254)?;
    let ok = match value.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !value.contains([' ', ',', ';', '<', '>', '"'])
                && !domain.contains('@')
        }
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::Validation(format!(
            "{field} '{value}' is not an email address"
        )))
    }
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
    }
}
