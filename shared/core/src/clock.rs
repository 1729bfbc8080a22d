//! Time and id generation are injected so domain code is deterministic under test.

use std::sync::Mutex;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// The wall clock, truncated to whole seconds (the wire format carries seconds).
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        let now = OffsetDateTime::now_utc();
        now.replace_nanosecond(0).unwrap_or(now)
    }
}

/// A clock that stays where it is set; for tests.
pub struct FixedClock(pub Mutex<OffsetDateTime>);

impl FixedClock {
    pub fn at(t: OffsetDateTime) -> Self {
        FixedClock(Mutex::new(t))
    }

    /// Moves the clock to `t` (tests step time instead of sleeping).
    pub fn set(&self, t: OffsetDateTime) {
        match self.0.lock() {
            Ok(mut g) => *g = t,
            Err(poisoned) => *poisoned.into_inner() = t,
        }
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: time::Duration) {
        let now = self.now();
        self.set(now + d);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        match self.0.lock() {
            Ok(t) => *t,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }
}

pub trait IdGenerator: Send + Sync {
    /// A new, unique, time-ordered id (a ULID string).
    fn new_id(&self) -> String;
}

pub struct UlidGenerator;

impl IdGenerator for UlidGenerator {
    fn new_id(&self) -> String {
        ulid::Ulid::new().to_string()
    }
}

/// RFC 3339 in UTC with a `Z`, as the contract's timestamps.
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Epoch seconds as RFC 3339 in UTC.
pub fn rfc3339_epoch(epoch: i64) -> String {
    match OffsetDateTime::from_unix_timestamp(epoch) {
        Ok(t) => rfc3339(t),
        Err(_) => epoch.to_string(),
    }
}

pub fn parse_rfc3339(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .map(|t| t.to_offset(time::UtcOffset::UTC))
}
