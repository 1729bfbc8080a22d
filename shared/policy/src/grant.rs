//! A grant's schedule and purpose: the level it gives inside its window (a campaign), the
//! fallback level outside it, and the activation platforms it is bound to. Pure: the
//! caller passes `now` (epoch seconds, or any unit as long as it is the same everywhere).

use crate::ShareLevel;

/// The schedule of one grant: `level` inside `[starts_at, expires_at)`, `fallback`
/// before `starts_at` and from `expires_at` on. An absent bound is no bound on that side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrantWindow {
    pub level: ShareLevel,
    pub starts_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub fallback: ShareLevel,
}

/// What is wrong with a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowError {
    /// `expires_at` is not after `starts_at`.
    EndsBeforeItStarts,
    /// The fallback level is not lower than the level.
    FallbackNotLower,
}

impl GrantWindow {
    /// A grant of `level` with no window: it holds until changed.
    pub const fn always(level: ShareLevel) -> Self {
        GrantWindow {
            level,
            starts_at: None,
            expires_at: None,
            fallback: ShareLevel::Private,
        }
    }

    /// A schedule the service accepts: a window that ends after it starts, and a
    /// fallback lower than the level (so the window is the only time `level` holds).
    pub fn check(&self) -> Result<(), WindowError> {
        if let (Some(s), Some(e)) = (self.starts_at, self.expires_at)
            && e <= s
        {
            return Err(WindowError::EndsBeforeItStarts);
        }
        if self.fallback >= self.level {
            return Err(WindowError::FallbackNotLower);
        }
        Ok(())
    }

    /// Whether `now` is inside `[starts_at, expires_at)`.
    pub fn contains(&self, now: i64) -> bool {
        self.starts_at.is_none_or(|s| s <= now) && self.expires_at.is_none_or(|e| now < e)
    }

    /// The next moment after `now` at which the effective level changes, if any.
    pub fn changes_at(&self, now: i64) -> Option<i64> {
        if self.level == self.fallback {
            return None;
        }
        match (self.starts_at, self.expires_at) {
            (Some(s), _) if now < s => Some(s),
            (_, Some(e)) if now < e => Some(e),
            _ => None,
        }
    }

    /// True once the grant can never again give more than `fallback`: its window is over.
    pub fn is_over(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|e| e <= now)
    }
}

/// The level an account effectively holds from a grant at `now`: `level` exactly inside
/// the window, `fallback` outside it, without anyone acting.
pub fn effective_level(grant: &GrantWindow, now: i64) -> ShareLevel {
    if grant.contains(now) {
        grant.level
    } else {
        grant.fallback
    }
}

/// Purpose binding: whether a grant naming `allowed` platforms (`None`: any platform) lets
/// the account activate the audience on `platform`. Names compare exactly.
pub fn platform_allowed(allowed: Option<&[String]>, platform: &str) -> bool {
    allowed.is_none_or(|names| names.iter().any(|n| n == platform))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn campaign() -> GrantWindow {
        GrantWindow {
            level: ShareLevel::Usable,
            starts_at: Some(10),
            expires_at: Some(20),
            fallback: ShareLevel::ViewOnly,
        }
    }

    #[test]
    fn level_holds_exactly_inside_the_window() {
        let g = campaign();
        assert_eq!(effective_level(&g, 9), ShareLevel::ViewOnly);
        assert_eq!(effective_level(&g, 10), ShareLevel::Usable);
        assert_eq!(effective_level(&g, 19), ShareLevel::Usable);
        assert_eq!(effective_level(&g, 20), ShareLevel::ViewOnly);
        assert_eq!(g.changes_at(5), Some(10));
        assert_eq!(g.changes_at(10), Some(20));
        assert_eq!(g.changes_at(20), None);
        assert!(!g.is_over(19) && g.is_over(20));
    }

    #[test]
    fn an_open_grant_never_changes() {
        let g = GrantWindow::always(ShareLevel::ViewOnly);
        assert_eq!(effective_level(&g, i64::MIN), ShareLevel::ViewOnly);
        assert_eq!(g.changes_at(0), None);
    }

    #[test]
    fn bad_schedules_are_named() {
        let mut g = campaign();
        g.expires_at = Some(10);
        assert_eq!(g.check(), Err(WindowError::EndsBeforeItStarts));
        let mut g = campaign();
        g.fallback = ShareLevel::Usable;
        assert_eq!(g.check(), Err(WindowError::FallbackNotLower));
        assert_eq!(campaign().check(), Ok(()));
    }

    #[test]
    fn platforms_bind_only_when_named() {
        let named = vec!["meta".to_owned()];
        assert!(platform_allowed(None, "anything"));
        assert!(platform_allowed(Some(&named), "meta"));
        assert!(!platform_allowed(Some(&named), "Meta"));
        assert!(!platform_allowed(Some(&[]), "meta"));
    }
}
