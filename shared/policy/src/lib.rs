//! Who may do what to an audience, decided as a pure function.
//!
//! `decide(principal, action, resource)` answers with a [`Decision`]: allowed or not, and
//! the [`Reason`]. Nothing here talks to AWS, reads a clock or does I/O; the caller looks
//! up the facts (the principal's role, the account's access level on the audience, the
//! receiving account's organization) and this crate turns them into a decision. Anything
//! not explicitly allowed is denied.
//!
//! The words are the product's: an account holds an [`AccessLevel`] on an audience
//! (`owner`, `usable`, `view_only`, `private`); only [`ShareLevel`]s are ever assigned;
//! a user holds a role in an account: one of the seven built-in [`Role`]s or a custom
//! role of the account. Either way the decision sees only the role's [`Permissions`].

mod code;
mod filter;
mod grant;
mod permissions;
mod vocabulary;

pub use code::Code;
pub use filter::{deliver_identities, proves_seen};
pub use grant::{GrantWindow, WindowError, effective_level, platform_allowed};
pub use permissions::{PermissionError, Permissions};
pub use vocabulary::{AccessLevel, IdentityType, ParseError, Role, ShareLevel};

/// The acting side of a decision: a user, through one account it is a member of, with
/// the permissions of its role there (built-in or custom).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub account: AccountRef,
    pub permissions: Permissions,
}

impl Principal {
    pub fn new(account: AccountRef, permissions: impl Into<Permissions>) -> Self {
        Principal {
            account,
            permissions: permissions.into(),
        }
    }
}

/// An account and the organization it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccountRef {
    pub id: String,
    pub organization_id: String,
}

impl AccountRef {
    pub fn new(id: impl Into<String>, organization_id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            organization_id: organization_id.into(),
        }
    }
}

/// Everything a user can ask the service to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    // On the principal's own account.
    ListUsers,
    ManageUsers,
    ViewActivity,
    ViewSharingDefaults,
    ChangeSharingDefaults,
    ViewIdentitySharing,
    ChangeIdentitySharing,
    ListSharedWithMe,
    CreateAudience,
    RecordProfiles,
    ListAccessRequests,
    // On an audience, seen from the principal's account.
    ViewAudience,
    EditAudience,
    ViewSharing,
    ChangeSharing,
    ConnectAudience,
    ViewConnections,
    DeleteConnection,
    UploadMembers,
    RequestAccess,
    DecideAccessRequest,
    // On one of the principal's account's own connections.
    ReadDeliveredMembers,
    // Naming a receiving account in a grant, a default or an identity grant.
    ShareWith,
    // Who holds and uses an audience the principal's account owns.
    ViewUsage,
    // Adding and configuring the account's outputs (reading them is every member's).
    ManageOutputs,
    // The account's feed of change events (GET /accounts/{a}/changes).
    ViewChanges,
}

impl Action {
    pub const ALL: [Action; 26] = [
        Action::ListUsers,
        Action::ManageUsers,
        Action::ViewActivity,
        Action::ViewSharingDefaults,
        Action::ChangeSharingDefaults,
        Action::ViewIdentitySharing,
        Action::ChangeIdentitySharing,
        Action::ListSharedWithMe,
        Action::CreateAudience,
        Action::RecordProfiles,
        Action::ListAccessRequests,
        Action::ViewAudience,
        Action::EditAudience,
        Action::ViewSharing,
        Action::ChangeSharing,
        Action::ConnectAudience,
        Action::ViewConnections,
        Action::DeleteConnection,
        Action::UploadMembers,
        Action::RequestAccess,
        Action::DecideAccessRequest,
        Action::ReadDeliveredMembers,
        Action::ShareWith,
        Action::ViewUsage,
        Action::ManageOutputs,
        Action::ViewChanges,
    ];

    /// The actions a custom role may hold: the contract's permission names. User
    /// management (`list_users`, `manage_users`) never is, so no custom role can
    /// escalate; `share_with` follows from holding a sharing permission.
    pub const GRANTABLE: [Action; 23] = [
        Action::ViewAudience,
        Action::CreateAudience,
        Action::EditAudience,
        Action::ConnectAudience,
        Action::ViewConnections,
        Action::DeleteConnection,
        Action::UploadMembers,
        Action::RecordProfiles,
        Action::ReadDeliveredMembers,
        Action::RequestAccess,
        Action::ListSharedWithMe,
        Action::ListAccessRequests,
        Action::ViewSharing,
        Action::ChangeSharing,
        Action::DecideAccessRequest,
        Action::ViewSharingDefaults,
        Action::ChangeSharingDefaults,
        Action::ViewIdentitySharing,
        Action::ChangeIdentitySharing,
        Action::ViewActivity,
        Action::ViewUsage,
        Action::ManageOutputs,
        Action::ViewChanges,
    ];

    pub fn is_grantable(self) -> bool {
        Action::GRANTABLE.contains(&self)
    }

    /// The snake_case name used in decision tables and logs.
    pub fn name(self) -> &'static str {
        match self {
            Action::ListUsers => "list_users",
            Action::ManageUsers => "manage_users",
            Action::ViewActivity => "view_activity",
            Action::ViewSharingDefaults => "view_sharing_defaults",
            Action::ChangeSharingDefaults => "change_sharing_defaults",
            Action::ViewIdentitySharing => "view_identity_sharing",
            Action::ChangeIdentitySharing => "change_identity_sharing",
            Action::ListSharedWithMe => "list_shared_with_me",
            Action::CreateAudience => "create_audience",
            Action::RecordProfiles => "record_profiles",
            Action::ListAccessRequests => "list_access_requests",
            Action::ViewAudience => "view_audience",
            Action::EditAudience => "edit_audience",
            Action::ViewSharing => "view_sharing",
            Action::ChangeSharing => "change_sharing",
            Action::ConnectAudience => "connect_audience",
            Action::ViewConnections => "view_connections",
            Action::DeleteConnection => "delete_connection",
            Action::UploadMembers => "upload_members",
            Action::RequestAccess => "request_access",
            Action::DecideAccessRequest => "decide_access_request",
            Action::ReadDeliveredMembers => "read_delivered_members",
            Action::ShareWith => "share_with",
            Action::ViewUsage => "view_usage",
            Action::ManageOutputs => "manage_outputs",
            Action::ViewChanges => "view_changes",
        }
    }

    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// What the action is applied to, as facts the caller has already looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// The principal's own account (users, defaults, activity, listings).
    Account,
    /// An audience, with the access level the principal's account effectively holds on
    /// it now ([`effective_level`] of its grant: outside the window, the fallback).
    Audience { access: AccessLevel },
    /// One of the principal's account's own connections, with the account's effective
    /// access level on the connected audience.
    Connection { access: AccessLevel },
    /// A receiving account named by the principal's account; `None` when no such
    /// account exists.
    Receiver(Option<AccountRef>),
    /// The audience activated on one platform: a new connection (`connect_audience`, the
    /// rules of [`Resource::Audience`]) or one of the account's connections
    /// (`read_delivered_members`, the rules of [`Resource::Connection`]), with whether
    /// the grant's activation platforms include that platform (purpose binding).
    Activation {
        access: AccessLevel,
        platform_allowed: bool,
    },
}

/// Why a decision came out the way it did. Each deny reason maps onto one of the
/// contract's error [`Code`]s (see [`Reason::error`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The role permits it and the access level suffices.
    Permitted,
    /// The audience is private to the principal's account: it must look as if it did not
    /// exist.
    NotVisible,
    /// The principal's role in the account does not allow the action.
    RoleForbids,
    /// The account's access level on the audience is too low (this includes a receiver
    /// trying to share onward).
    InsufficientAccess,
    /// The account already holds `usable` or owns the audience: nothing to request.
    AlreadyGranted,
    /// The receiving account is outside the principal's organization (or does not exist).
    CrossOrganization,
    /// The receiving account is the principal's own account.
    SelfGrant,
    /// The action does not apply to that kind of resource.
    NotApplicable,
    /// The grant binds the audience to other activation platforms than this one.
    PlatformNotAllowed,
}

impl Reason {
    /// The contract's error code for a deny reason, or `None` for [`Reason::Permitted`].
    pub fn error(self) -> Option<Code> {
        match self {
            Reason::Permitted => None,
            Reason::NotVisible | Reason::NotApplicable => Some(Code::NotFound),
            Reason::RoleForbids => Some(Code::Forbidden),
            Reason::InsufficientAccess => Some(Code::InsufficientAccess),
            Reason::AlreadyGranted => Some(Code::AlreadyGranted),
            Reason::CrossOrganization => Some(Code::CrossOrganization),
            Reason::SelfGrant => Some(Code::ValidationFailed),
            Reason::PlatformNotAllowed => Some(Code::PlatformNotAllowed),
        }
    }

    /// The name of [`Reason::error`] (`not_found`, ...), as decision tables and
    /// explanations write it.
    pub fn code(self) -> Option<&'static str> {
        self.error().map(Code::name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub reason: Reason,
}

impl Decision {
    const fn allow() -> Self {
        Decision {
            allowed: true,
            reason: Reason::Permitted,
        }
    }
    const fn deny(reason: Reason) -> Self {
        Decision {
            allowed: false,
            reason,
        }
    }
}

/// The one decision function. Deny by default.
///
/// Order of checks for an audience: visibility first (a private audience is not there,
/// whatever the role), then the role, then the access level.
pub fn decide(principal: &Principal, action: Action, resource: &Resource) -> Decision {
    match (action, resource) {
        (
            Action::ListUsers
            | Action::ManageUsers
            | Action::ViewActivity
            | Action::ViewSharingDefaults
            | Action::ChangeSharingDefaults
            | Action::ViewIdentitySharing
            | Action::ChangeIdentitySharing
            | Action::ListSharedWithMe
            | Action::CreateAudience
            | Action::RecordProfiles
            | Action::ListAccessRequests
            | Action::ManageOutputs
            | Action::ViewChanges
            // Every connection of the account, across audiences.
            | Action::ViewConnections,
            Resource::Account,
        ) => role_only(principal, action),
        (
            Action::ViewAudience
            | Action::EditAudience
            | Action::ViewSharing
            | Action::ChangeSharing
            | Action::ConnectAudience
            | Action::ViewConnections
            | Action::DeleteConnection
            | Action::UploadMembers
            | Action::DecideAccessRequest
            | Action::ViewUsage,
            Resource::Audience { access },
        ) => on_audience(principal, action, *access),
        (Action::RequestAccess, Resource::Audience { access }) => {
            request_access(principal, *access)
        }
        (Action::ReadDeliveredMembers, Resource::Connection { access }) => {
            if !principal.permissions.permits(action) {
                Decision::deny(Reason::RoleForbids)
            } else if *access >= AccessLevel::Usable {
                Decision::allow()
            } else {
                // The connection is the account's own: it is suspended, not invisible.
                Decision::deny(Reason::InsufficientAccess)
            }
        }
        (Action::ShareWith, Resource::Receiver(receiver)) => share_with(principal, receiver),
        (
            Action::ConnectAudience | Action::ReadDeliveredMembers,
            Resource::Activation {
                access,
                platform_allowed,
            },
        ) => {
            // The audience's or connection's own rules first, then the purpose binding.
            let access = *access;
            let base = match action {
                Action::ConnectAudience => Resource::Audience { access },
                _ => Resource::Connection { access },
            };
            match decide(principal, action, &base) {
                d if d.allowed && !platform_allowed => Decision::deny(Reason::PlatformNotAllowed),
                d => d,
            }
        }
        _ => Decision::deny(Reason::NotApplicable),
    }
}

fn role_only(principal: &Principal, action: Action) -> Decision {
    if principal.permissions.permits(action) {
        Decision::allow()
    } else {
        Decision::deny(Reason::RoleForbids)
    }
}

/// The least access level an account needs on the audience for the action.
fn required_access(action: Action) -> AccessLevel {
    match action {
        Action::ViewAudience | Action::ViewConnections | Action::DeleteConnection => {
            AccessLevel::ViewOnly
        }
        Action::ConnectAudience | Action::ReadDeliveredMembers => AccessLevel::Usable,
        // Editing, sharing (no re-share), uploading members and deciding requests
        // belong to the owner account alone.
        _ => AccessLevel::Owner,
    }
}

fn on_audience(principal: &Principal, action: Action, access: AccessLevel) -> Decision {
    if access == AccessLevel::Private {
        return Decision::deny(Reason::NotVisible);
    }
    if !principal.permissions.permits(action) {
        return Decision::deny(Reason::RoleForbids);
    }
    if access >= required_access(action) {
        Decision::allow()
    } else {
        Decision::deny(Reason::InsufficientAccess)
    }
}

fn request_access(principal: &Principal, access: AccessLevel) -> Decision {
    match access {
        AccessLevel::Private => Decision::deny(Reason::NotVisible),
        _ if !principal.permissions.permits(Action::RequestAccess) => {
            Decision::deny(Reason::RoleForbids)
        }
        AccessLevel::ViewOnly => Decision::allow(),
        AccessLevel::Usable | AccessLevel::Owner => Decision::deny(Reason::AlreadyGranted),
    }
}

fn share_with(principal: &Principal, receiver: &Option<AccountRef>) -> Decision {
    if !principal.permissions.permits(Action::ShareWith) {
        return Decision::deny(Reason::RoleForbids);
    }
    match receiver {
        None => Decision::deny(Reason::CrossOrganization),
        Some(r) if r.organization_id != principal.account.organization_id => {
            Decision::deny(Reason::CrossOrganization)
        }
        Some(r) if r.id == principal.account.id => Decision::deny(Reason::SelfGrant),
        Some(_) => Decision::allow(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role) -> Principal {
        Principal::new(AccountRef::new("acc-1", "org-1"), role)
    }

    #[test]
    fn private_audience_is_invisible_even_to_admins() {
        let d = decide(
            &principal(Role::Admin),
            Action::ViewAudience,
            &Resource::Audience {
                access: AccessLevel::Private,
            },
        );
        assert_eq!(d, Decision::deny(Reason::NotVisible));
    }

    #[test]
    fn platform_binding_comes_after_the_level() {
        let p = principal(Role::User);
        let at = |access, platform_allowed| Resource::Activation {
            access,
            platform_allowed,
        };
        let connect = |r: &Resource| decide(&p, Action::ConnectAudience, r);
        assert_eq!(
            connect(&at(AccessLevel::Usable, false)),
            Decision::deny(Reason::PlatformNotAllowed)
        );
        assert_eq!(connect(&at(AccessLevel::Usable, true)), Decision::allow());
        assert_eq!(
            connect(&at(AccessLevel::ViewOnly, false)),
            Decision::deny(Reason::InsufficientAccess)
        );
        assert_eq!(
            connect(&at(AccessLevel::Private, false)),
            Decision::deny(Reason::NotVisible)
        );
    }

    #[test]
    fn action_names_round_trip() {
        for a in Action::ALL {
            assert_eq!(Action::from_name(a.name()), Some(a));
        }
    }
}
