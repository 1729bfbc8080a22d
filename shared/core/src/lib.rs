//! The domain of cross-account audience sharing: who the caller is in an account, the
//! audiences an account owns, the levels it grants to the other accounts of its
//! organization, what is shared with an account, connections to outputs and the activity
//! log. Decisions come from the pure `sharing-policy` crate; data lives in one DynamoDB
//! table (`store`, `keys`, `entity`).

// Domains, one folder each (entities, planners, `service.rs` with their `impl Core`).
pub mod access_requests;
pub mod accounts;
pub mod activity;
pub mod audiences;
pub mod changes;
pub mod connections;
pub mod defaults;
pub mod delivery;
pub mod identity_grants;
pub mod members;
pub mod notify;
pub mod outputs;
pub mod sharing;

// What the domains stand on.
pub mod budget;
pub mod clock;
pub mod entity;
pub mod error;
pub mod fixture;
pub mod grants;
pub mod idempotency;
pub mod ids;
pub mod input;
pub mod keys;
pub mod plan;
pub mod startup;
pub mod store;
pub mod validate;

// No import cycle between the modules above (issue 19): a unit test reads src/.
#[cfg(test)]
mod layering_tests;

// Old paths, kept so code written against them still compiles.
pub use accounts::roles;
pub use connections::usage;
pub use defaults::apply as apply_defaults;
pub use notify::{email, outbox};
pub use sharing::explain;
pub use sharing_store::{cursor, write};

pub use error::{Error, Result};
pub use input::Input;
pub use sharing_policy as policy;

use clock::{Clock, IdGenerator, SystemClock, UlidGenerator};
use ids::{AccountId, OrganizationId, RoleId, UserId};
use sharing_policy::{AccountRef, Action, Permissions, Principal, Resource, decide};
use std::sync::Arc;
use store::Table;

/// The domain's ports, built once per process: the table, the clock and the id source.
#[derive(Clone)]
pub struct Core {
    pub table: Table,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdGenerator>,
    /// How long a request may take ([`budget`]).
    pub budget: budget::Budget,
    /// Which webhook addresses outputs may name ([`outputs::Reach`]).
    pub reach: outputs::Reach,
}

impl Core {
    pub fn new(table: Table) -> Self {
        Core {
            table,
            clock: Arc::new(SystemClock),
            ids: Arc::new(UlidGenerator),
            budget: budget::Budget::AWS,
            reach: outputs::Reach::Public,
        }
    }

    /// The same core, its outputs' webhooks allowed to reach `reach` (the local stack
    /// also reaches `http://127.0.0.1:{port}`).
    pub fn with_reach(mut self, reach: outputs::Reach) -> Self {
        self.reach = reach;
        self
    }

    /// The same core, its requests bounded by `budget` (the local stack's is looser).
    pub fn with_budget(mut self, budget: budget::Budget) -> Self {
        self.budget = budget;
        self
    }

    pub fn now(&self) -> time::OffsetDateTime {
        self.clock.now()
    }

    pub fn now_epoch(&self) -> i64 {
        self.clock.now().unix_timestamp()
    }

    pub fn now_rfc3339(&self) -> String {
        clock::rfc3339(self.clock.now())
    }
}

/// The authenticated user behind a request (the token's `sub` and `email`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_id: UserId,
    pub email: String,
}

/// A caller acting through one account it is a member of.
#[derive(Debug, Clone)]
pub struct AccountMember {
    pub user_id: UserId,
    pub email: String,
    pub account_id: AccountId,
    pub account_name: String,
    pub organization_id: OrganizationId,
    /// A built-in role's name or a custom role's id.
    pub role: RoleId,
    /// What the role allows, read with the membership (the only thing decisions see).
    pub permissions: Permissions,
}

impl AccountMember {
    pub fn principal(&self) -> Principal {
        Principal::new(
            AccountRef::new(self.account_id.as_str(), self.organization_id.as_str()),
            self.permissions,
        )
    }

    /// Asks the policy; a denial becomes the matching error with `detail`.
    pub fn require(
        &self,
        action: Action,
        resource: &Resource,
        detail: impl FnOnce() -> String,
    ) -> Result<()> {
        let d = decide(&self.principal(), action, resource);
        if d.allowed {
            Ok(())
        } else {
            Err(Error::denied(d.reason, explain(d.reason, action, detail())))
        }
    }
}

fn explain(reason: sharing_policy::Reason, action: Action, detail: String) -> String {
    use sharing_policy::Reason;
    match reason {
        Reason::RoleForbids => format!(
            "your role in this account does not allow {}",
            action.name().replace('_', " ")
        ),
        _ => detail,
    }
}
