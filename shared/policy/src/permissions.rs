//! Permission sets: what a role allows, as data. The seven built-in roles are named
//! permission sets in one table ([`Permissions::of_role`]); a custom role is a set an
//! account admin chose from [`Action::GRANTABLE`]. `decide` only ever looks at the set.

use crate::{Action, Role};
use std::fmt;

/// A set of actions. Small and `Copy` (a bit per action).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Permissions(u32);

impl fmt::Debug for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.iter().map(Action::name))
            .finish()
    }
}

/// An action a custom role cannot hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PermissionError {
    /// Not an action name at all.
    Unknown(String),
    /// A known action that is not grantable: user management (and the internal
    /// `share_with`, which follows from the sharing permissions) stays with the built-in
    /// admin roles, so that no custom role can escalate.
    NotGrantable(Action),
}

impl fmt::Display for PermissionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PermissionError::Unknown(name) => write!(
                f,
                "'{}' is not a permission; use action names like {}",
                name.chars().take(64).collect::<String>(),
                Action::GRANTABLE
                    .iter()
                    .map(|a| a.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            PermissionError::NotGrantable(a) => write!(
                f,
                "'{}' cannot be part of a custom role: user management stays with the built-in admin and admin_compliance roles",
                a.name()
            ),
        }
    }
}

impl std::error::Error for PermissionError {}

/// What every member may do.
const EVERYONE: &[Action] = &[
    Action::ListSharedWithMe,
    Action::ListAccessRequests,
    Action::ViewAudience,
];

/// What roles that change data may do with audiences (all but `read_only` and
/// `compliance`).
const MANAGE_AUDIENCES: &[Action] = &[
    Action::CreateAudience,
    Action::EditAudience,
    Action::ConnectAudience,
    Action::ViewConnections,
    Action::DeleteConnection,
    Action::UploadMembers,
    Action::RequestAccess,
];

/// Adding and configuring outputs: every role that changes data but `audiences_only`
/// ("Audiences Only users can connect audiences to existing Outputs, but cannot add and
/// configure new Audience Outputs", seeds/users-and-roles.txt).
const CONFIGURE_OUTPUTS: &[Action] = &[Action::ManageOutputs];

/// Sharing settings, defaults, identity permissions, activity and usage: admin-level.
/// Recording the users the account has seen too: a seen user gets every identity, so it
/// is as strong as an identity permission.
const ADMIN_LEVEL: &[Action] = &[
    Action::RecordProfiles,
    Action::ViewActivity,
    Action::ViewSharingDefaults,
    Action::ChangeSharingDefaults,
    Action::ViewIdentitySharing,
    Action::ChangeIdentitySharing,
    Action::ViewSharing,
    Action::ChangeSharing,
    Action::DecideAccessRequest,
    Action::ViewUsage,
    Action::ViewChanges,
];

/// Access to end-user personal data within the account (the seed gives it to Admin,
/// Admin & Compliance and Support Access only).
const PERSONAL_DATA: &[Action] = &[Action::ReadDeliveredMembers];

/// Adding, removing and changing users (and custom roles).
const USER_MANAGEMENT: &[Action] = &[Action::ListUsers, Action::ManageUsers];

/// The actions that name a receiving account: holding one of them lets a principal name
/// receivers ([`Action::ShareWith`]).
const NAMES_RECEIVERS: &[Action] = &[
    Action::ChangeSharing,
    Action::ChangeSharingDefaults,
    Action::ChangeIdentitySharing,
    Action::DecideAccessRequest,
];

impl Permissions {
    pub const NONE: Permissions = Permissions(0);

    const fn bit(action: Action) -> u32 {
        1 << (action as u32)
    }

    fn from_slices(groups: &[&[Action]]) -> Permissions {
        groups.iter().flat_map(|g| g.iter().copied()).collect()
    }

    /// The one table of built-in roles (seeds/users-and-roles.txt).
    pub fn of_role(role: Role) -> Permissions {
        match role {
            Role::Admin | Role::AdminCompliance => Self::from_slices(&[
                EVERYONE,
                MANAGE_AUDIENCES,
                CONFIGURE_OUTPUTS,
                ADMIN_LEVEL,
                PERSONAL_DATA,
                USER_MANAGEMENT,
            ]),
            Role::SupportAccess => Self::from_slices(&[
                EVERYONE,
                MANAGE_AUDIENCES,
                CONFIGURE_OUTPUTS,
                ADMIN_LEVEL,
                PERSONAL_DATA,
            ]),
            Role::User => Self::from_slices(&[EVERYONE, MANAGE_AUDIENCES, CONFIGURE_OUTPUTS]),
            Role::AudiencesOnly => Self::from_slices(&[EVERYONE, MANAGE_AUDIENCES]),
            Role::ReadOnly | Role::Compliance => Self::from_slices(&[EVERYONE]),
        }
    }

    /// A custom role's permissions: grantable actions only.
    pub fn custom(
        actions: impl IntoIterator<Item = Action>,
    ) -> Result<Permissions, PermissionError> {
        let mut p = Permissions::NONE;
        for a in actions {
            if !a.is_grantable() {
                return Err(PermissionError::NotGrantable(a));
            }
            p = p.with(a);
        }
        Ok(p)
    }

    /// A custom role's permissions from their names (the contract's action names).
    pub fn custom_from_names<'a>(
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<Permissions, PermissionError> {
        let mut actions = Vec::new();
        for n in names {
            actions
                .push(Action::from_name(n).ok_or_else(|| PermissionError::Unknown(n.to_owned()))?);
        }
        Permissions::custom(actions)
    }

    #[must_use]
    pub const fn with(self, action: Action) -> Permissions {
        Permissions(self.0 | Self::bit(action))
    }

    pub const fn contains(self, action: Action) -> bool {
        self.0 & Self::bit(action) != 0
    }

    /// Whether `self` holds every action `other` holds.
    pub const fn includes(self, other: Permissions) -> bool {
        self.0 & other.0 == other.0
    }

    /// The actions in the set, in [`Action::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Action> {
        Action::ALL.into_iter().filter(move |a| self.contains(*a))
    }

    /// The action names in the set, in [`Action::ALL`] order.
    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Action::name).collect()
    }

    /// Whether the set lets a principal attempt `action` at all (the role part of a
    /// decision). Naming a receiving account follows from the sharing permissions.
    pub fn permits(self, action: Action) -> bool {
        match action {
            Action::ShareWith => NAMES_RECEIVERS.iter().any(|a| self.contains(*a)),
            a => self.contains(a),
        }
    }
}

impl From<Role> for Permissions {
    fn from(role: Role) -> Self {
        Permissions::of_role(role)
    }
}

impl FromIterator<Action> for Permissions {
    fn from_iter<I: IntoIterator<Item = Action>>(iter: I) -> Self {
        iter.into_iter().fold(Permissions::NONE, Permissions::with)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_its_own_bit() {
        let all: Permissions = Action::ALL.into_iter().collect();
        assert_eq!(all.iter().count(), Action::ALL.len());
    }

    #[test]
    fn personal_data_is_for_the_three_roles_of_the_seed() {
        let with: Vec<Role> = Role::ALL
            .iter()
            .copied()
            .filter(|r| Permissions::of_role(*r).contains(Action::ReadDeliveredMembers))
            .collect();
        assert_eq!(
            with,
            vec![Role::Admin, Role::AdminCompliance, Role::SupportAccess]
        );
    }

    #[test]
    fn custom_roles_refuse_user_management_and_unknown_names() {
        assert_eq!(
            Permissions::custom_from_names(["view_audience", "manage_users"]),
            Err(PermissionError::NotGrantable(Action::ManageUsers))
        );
        assert_eq!(
            Permissions::custom_from_names(["share_with"]),
            Err(PermissionError::NotGrantable(Action::ShareWith))
        );
        assert!(matches!(
            Permissions::custom_from_names(["fly"]),
            Err(PermissionError::Unknown(_))
        ));
        let p = Permissions::custom_from_names(["view_audience", "view_audience"]).unwrap();
        assert_eq!(p.names(), vec!["view_audience"]);
    }
}
