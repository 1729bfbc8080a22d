//! Checks of a new request, a campaign and a list of platforms.

use super::*;

/// Multi-line text as a form may send it (`\r\n`) is stored with `\n` line breaks; a
/// lone `\r` stays and is refused as a control character.
pub fn normalize_newlines(text: &str) -> String {
    text.replace("\r\n", "\n")
}

/// A campaign date, `YYYY-MM-DD` exactly.
pub fn parse_date(field: &str, value: &str) -> Result<time::Date> {
    let b = value.as_bytes();
    let shaped = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        });
    let bad = || {
        Error::Validation(format!(
            "{field} '{}' is not a date like 2027-07-01 (YYYY-MM-DD)",
            value.chars().take(40).collect::<String>()
        ))
    };
    if !shaped {
        return Err(bad());
    }
    time::Date::parse(
        value,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|_| bad())
}

/// The end of the campaign's last day: the next day at 00:00:00Z.
pub fn campaign_expiry(end: time::Date) -> Option<time::OffsetDateTime> {
    end.next_day().map(|d| d.midnight().assume_utc())
}

impl NewAccessRequest {
    /// Checks every part; answers the audience id.
    pub fn validate(&self) -> Result<AudienceId> {
        let audience = self.audience()?;
        self.validate_rest()?;
        Ok(audience)
    }

    /// The audience asked for: an id that cannot be one names nothing (404).
    pub fn audience(&self) -> Result<AudienceId> {
        if self.audience_id.is_empty() {
            return Err(Error::Validation("audienceId must not be empty".to_owned()));
        }
        AudienceId::parse(&self.audience_id).map_err(|_| {
            Error::NotFound(format!(
                "audience '{}' was not found",
                self.audience_id.chars().take(64).collect::<String>()
            ))
        })
    }

    /// Everything but the audience: checked once the audience is known to be visible.
    pub fn validate_rest(&self) -> Result<()> {
        if self.requested_level != ShareLevel::Usable.as_str() {
            return Err(Error::Validation(format!(
                "requestedLevel '{}' cannot be requested; only usable can",
                self.requested_level.chars().take(40).collect::<String>()
            )));
        }
        self.campaign.validate()?;
        crate::validate::platforms("activationPlatforms", &self.activation_platforms)?;
        Ok(())
    }
}

impl Campaign {
    pub fn validate(&self) -> Result<()> {
        let start = parse_date("campaign.start", &self.start)?;
        let end = parse_date("campaign.end", &self.end)?;
        if end < start {
            return Err(Error::Validation(format!(
                "campaign.end {} is before campaign.start {}",
                self.end, self.start
            )));
        }
        crate::validate::text(
            "campaign.details",
            &normalize_newlines(&self.details),
            MAX_DETAILS_CHARS,
        )
    }
}
