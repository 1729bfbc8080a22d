//! Every key string of the single table, built in this one place (infra/TABLE.md).

use crate::ids::{
    AccountId, AudienceId, ConnectionId, OrganizationId, OutputId, RequestId, RoleId, UserId,
};
use sharing_policy::{IdentityType, ShareLevel};

pub use sharing_store::key::{GSI1, GSI1PK, GSI1SK, GSI2, GSI2PK, GSI2SK, Key, PK, SK};

pub fn organization(org: &OrganizationId) -> Key {
    Key::same(format!("ORG#{org}"))
}

pub fn account(a: &AccountId) -> Key {
    Key::same(account_pk(a))
}

pub fn account_pk(a: &AccountId) -> String {
    format!("ACCOUNT#{a}")
}

/// GSI1 partition of the accounts of an organization.
pub fn organization_accounts(org: &OrganizationId) -> String {
    format!("ORG#{org}")
}

pub fn user(u: &UserId) -> Key {
    Key::same(format!("USER#{u}"))
}

pub fn membership(a: &AccountId, u: &UserId) -> Key {
    Key {
        pk: account_pk(a),
        sk: format!("{MEMBER_PREFIX}{u}"),
    }
}
pub const MEMBER_PREFIX: &str = "MEMBER#";

/// One of an account's outputs, in the account's partition.
pub fn output(a: &AccountId, id: &OutputId) -> Key {
    Key {
        pk: account_pk(a),
        sk: format!("{OUTPUT_PREFIX}{id}"),
    }
}
pub const OUTPUT_PREFIX: &str = "OUTPUT#";

/// GSI1 partition of a user's memberships.
pub fn user_memberships(u: &UserId) -> String {
    format!("USER#{u}")
}

/// A custom role of an account.
pub fn role(a: &AccountId, r: &RoleId) -> Key {
    Key {
        pk: account_pk(a),
        sk: format!("{ROLE_PREFIX}{r}"),
    }
}
pub const ROLE_PREFIX: &str = "ROLE#";

/// GSI2 partition of the memberships holding a custom role (a sparse index entry: only
/// memberships with a custom role have it). The sort key is the membership's.
pub fn role_holders(a: &AccountId, r: &RoleId) -> String {
    format!("{ROLE_PREFIX}{a}#{r}")
}

pub fn sharing_defaults(a: &AccountId) -> Key {
    Key {
        pk: account_pk(a),
        sk: "SHARING_DEFAULTS".to_owned(),
    }
}

pub fn activity(a: &AccountId, ulid: &str) -> Key {
    Key {
        pk: account_pk(a),
        sk: format!("{ACTIVITY_PREFIX}{ulid}"),
    }
}
pub const ACTIVITY_PREFIX: &str = "ACTIVITY#";

pub fn audience(id: &AudienceId) -> Key {
    Key::same(audience_pk(id))
}

fn audience_pk(id: &AudienceId) -> String {
    format!("AUDIENCE#{id}")
}

/// GSI1 partition of the audiences an account owns; sort key is the audience key.
pub fn owned_audiences(owner: &AccountId) -> String {
    format!("OWNER#{owner}")
}

pub fn grant(id: &AudienceId, receiver: &AccountId) -> Key {
    Key {
        pk: audience_pk(id),
        sk: format!("GRANT#{receiver}"),
    }
}

/// GSI1 partition of the grants an account receives.
pub fn received_grants(receiver: &AccountId) -> String {
    format!("RECEIVER#{receiver}")
}

/// GSI1 sort key of a grant: level first, so one level is a `begins_with`.
pub fn received_grant_sort(level: ShareLevel, id: &AudienceId) -> String {
    format!("{}{id}", level_prefix(level))
}

pub fn level_prefix(level: ShareLevel) -> String {
    format!("{}#", level.as_str().to_ascii_uppercase())
}

pub fn connection(c: &ConnectionId) -> Key {
    Key::same(format!("CONNECTION#{c}"))
}

/// The partition of one connection's delivery: its state and its ledger of what its
/// output holds, in a sync's pages and in entries per member (so an exit is a paged
/// Query of exactly what was sent).
pub fn delivery_partition(c: &ConnectionId) -> String {
    format!("DELIVERY#{c}")
}

/// A connection's delivery state.
pub fn delivery_state(c: &ConnectionId) -> Key {
    Key {
        pk: delivery_partition(c),
        sk: "STATE".to_owned(),
    }
}

/// The ledger's entry of one member a connection's output was sent.
pub fn delivery_sent(c: &ConnectionId, user_id: &str) -> Key {
    Key {
        pk: delivery_partition(c),
        sk: format!("{DELIVERY_SENT_PREFIX}{}", hex_digest(user_id)),
    }
}
pub const DELIVERY_SENT_PREFIX: &str = "SENT#";

/// A page of a connection's ledger as a sync wrote it: the members whose key digest
/// lies after `after` (a member's [`hex_digest`]; empty for a sync's first page).
pub fn delivery_sent_page(c: &ConnectionId, after: &str) -> Key {
    Key {
        pk: delivery_partition(c),
        sk: format!("{DELIVERY_SENT_PAGE_PREFIX}{after}"),
    }
}
pub const DELIVERY_SENT_PAGE_PREFIX: &str = "SENTPAGE#";

/// What every item of a connection's ledger begins with, entries and pages alike.
pub const DELIVERY_LEDGER_PREFIX: &str = "SENT";

/// A deleted connection's exit still to be delivered (its old image, the exits'
/// envelope), written by the deleting transaction itself.
pub fn delivery_exit(c: &ConnectionId) -> Key {
    Key {
        pk: delivery_partition(c),
        sk: "EXIT".to_owned(),
    }
}

/// A pending exit in GSI1, under the output that owes it: saving the output again finds
/// the exits it still owes and tries them again.
pub fn output_pending_exit(b: &AccountId, o: &OutputId, c: &ConnectionId) -> Key {
    Key {
        pk: output_pending_exits(b, o),
        sk: format!("EXIT#{c}"),
    }
}

/// GSI1 partition of the exits output `o` of account `b` still owes.
pub fn output_pending_exits(b: &AccountId, o: &OutputId) -> String {
    format!("OUTPUT_EXITS#{b}#{o}")
}

/// GSI2 partition of the connections whose grant changes by itself (a window opening
/// or closing): the schedule's list, in the order they come due.
pub const DELIVERY_WAKE: &str = "DELIVERY_WAKE";

/// A connection's place in [`DELIVERY_WAKE`]: when it comes due (epoch seconds,
/// zero-padded so the sort key's order is time's), then the connection.
pub fn delivery_wake(at: i64, c: &ConnectionId) -> Key {
    Key {
        pk: DELIVERY_WAKE.to_owned(),
        sk: format!("{:012}#{c}", at.max(0)),
    }
}

/// A grant's wake marker (change events, issue 22): beside its grant, in the audience's
/// partition, while the grant's window still opens or closes.
pub fn grant_wake_item(id: &AudienceId, receiver: &AccountId) -> Key {
    Key {
        pk: audience_pk(id),
        sk: format!("WAKE#GRANT#{receiver}"),
    }
}

/// GSI2 partition of the grants whose effective level changes by itself (a window
/// opening or closing), with or without a connection: the schedule's list of window
/// events to write, in the order they come due.
pub const GRANT_WAKE: &str = "GRANT_WAKE";

/// A grant's place in [`GRANT_WAKE`]: when it comes due (epoch seconds, zero-padded so
/// the sort key's order is time's), then the audience and the receiver.
pub fn grant_wake(at: i64, id: &AudienceId, receiver: &AccountId) -> Key {
    Key {
        pk: GRANT_WAKE.to_owned(),
        sk: format!("{:012}#{id}#{receiver}", at.max(0)),
    }
}

/// The change events of one change that did not fit its transaction (issue 22: an
/// audience created with defaults for more receivers than one transaction holds),
/// written in it as one pending item beside the audience, then into the feeds.
pub fn pending_events_item(id: &AudienceId) -> Key {
    Key {
        pk: audience_pk(id),
        sk: "PENDING_EVENTS".to_owned(),
    }
}

/// GSI2 partition of the pending events items: the schedule's list of events whose
/// writer did not finish them, in the order they come due.
pub const PENDING_EVENTS: &str = "PENDING_EVENTS";

/// A pending events item's place in [`PENDING_EVENTS`]: when the schedule may finish it
/// (epoch seconds, zero-padded), then the audience.
pub fn pending_events(at: i64, id: &AudienceId) -> Key {
    Key {
        pk: PENDING_EVENTS.to_owned(),
        sk: format!("{:012}#{id}", at.max(0)),
    }
}

/// GSI1 partition of an account's connections to one audience.
pub fn audience_connections(account: &AccountId, id: &AudienceId) -> String {
    format!("{}#AUDIENCE#{id}", account_pk(account))
}

/// GSI2 partition of every connection of an account, across audiences.
pub fn account_connections(account: &AccountId) -> String {
    format!("CONNECTIONS#{account}")
}

/// The usage registry of an audience: one item per connection to it, whichever account
/// made it (written with the connection).
pub fn usage_connection(id: &AudienceId, c: &ConnectionId) -> Key {
    Key {
        pk: usage_registry(id),
        sk: connection_sort(c),
    }
}

pub fn usage_registry(id: &AudienceId) -> String {
    format!("USAGE#{id}")
}

/// The connections of the registry (its other items are the per-account counts).
pub const USAGE_CONNECTIONS_PREFIX: &str = "CONNECTION#";

/// How many connections an account holds to an audience, beside its registry: the bound
/// of [`crate::connections::MAX_CONNECTIONS_PER_ACCOUNT`] is a condition on it.
pub fn usage_account_count(id: &AudienceId, account: &AccountId) -> Key {
    Key {
        pk: usage_registry(id),
        sk: format!("ACCOUNT#{account}"),
    }
}

/// How many counter shards each audience's delivery counts are spread over, so that one
/// busy connection never makes a hot key (or a hot partition).
pub const USAGE_SHARDS: usize = 8;

/// One shard of the delivery counts of an audience: `USAGE#{id}#{shard}`.
pub fn usage_shard(id: &AudienceId, shard: usize) -> String {
    format!("USAGE#{id}#{shard}")
}

/// A connection's delivery count in one shard.
pub fn delivery_count(id: &AudienceId, shard: usize, c: &ConnectionId) -> Key {
    Key {
        pk: usage_shard(id, shard),
        sk: format!("DELIVERED#{c}"),
    }
}

pub fn connection_sort(c: &ConnectionId) -> String {
    format!("CONNECTION#{c}")
}

/// A connection's output, unique per account and audience.
pub fn connection_output(account: &AccountId, id: &AudienceId, output_id: &str) -> Key {
    Key::same(format!("OUTPUT#{}#{id}#{}", account, hex_digest(output_id)))
}

pub fn idempotency(a: &AccountId, u: &UserId, key_digest: &str) -> Key {
    Key {
        pk: format!("IDEMPOTENCY#{a}#{u}#{key_digest}"),
        sk: "IDEMPOTENCY".to_owned(),
    }
}

pub fn access_request(r: &RequestId) -> Key {
    Key::same(format!("ACCESS_REQUEST#{r}"))
}

/// GSI1 partition of the requests an account sent.
pub fn outgoing_requests(requester: &AccountId) -> String {
    format!("REQUESTS_OUT#{requester}")
}

/// GSI2 partition of the requests an account received.
pub fn incoming_requests(owner: &AccountId) -> String {
    format!("REQUESTS_IN#{owner}")
}

pub fn request_sort(status: &str, r: &RequestId) -> String {
    format!("{}#{r}", status.to_ascii_uppercase())
}

pub fn status_prefix(status: &str) -> String {
    format!("{}#", status.to_ascii_uppercase())
}

pub fn pending_request(id: &AudienceId, requester: &AccountId) -> Key {
    Key {
        pk: audience_pk(id),
        sk: format!("PENDING_REQUEST#{requester}"),
    }
}

pub fn outbox(email_id: &str) -> Key {
    Key::same(format!("OUTBOX#{email_id}"))
}

/// GSI1 partition of the outbox emails not sent yet (a sparse index entry: it is removed
/// when the email is marked sent). The sort key is the email id, so oldest first.
pub const OUTBOX_UNSENT: &str = "OUTBOX_UNSENT";

pub fn identity_grant(owner: &AccountId, t: IdentityType, receiver: &AccountId) -> Key {
    Key {
        pk: account_pk(owner),
        sk: format!("{IDENTITY_GRANT_PREFIX}{}#{receiver}", t.as_str()),
    }
}
pub const IDENTITY_GRANT_PREFIX: &str = "IDENTITY_GRANT#";

/// That `owner` has granted `t` to `receiver` at least once: kept when the grant is
/// revoked, so that a value the receiver could have been sent never proves it saw a user.
pub fn identity_grant_history(owner: &AccountId, t: IdentityType, receiver: &AccountId) -> Key {
    Key {
        pk: account_pk(owner),
        sk: format!("IDENTITY_HISTORY#{}#{receiver}", t.as_str()),
    }
}

/// The identity types account `receiver` is sent, by owner account: a copy of the
/// identity grants naming it, kept in the same transactions, so that a receiver's access
/// explanation reads them beside the audience without first learning the owner.
pub fn identity_received(receiver: &AccountId) -> Key {
    Key {
        pk: account_pk(receiver),
        sk: "IDENTITY_RECEIVED".to_owned(),
    }
}

/// One member of an audience. The end-user id is free-form (1-256 characters of any
/// script), so it goes into the key hashed: a sort key holds at most 1024 bytes, and
/// keys (and the cursors made of them) never carry an end-user identity in clear.
pub fn audience_member(id: &AudienceId, user_id: &str) -> Key {
    Key {
        pk: audience_members(id),
        sk: format!("{AUDIENCE_MEMBER_PREFIX}{}", hex_digest(user_id)),
    }
}
pub const AUDIENCE_MEMBER_PREFIX: &str = "MEMBER#";

pub fn audience_members(id: &AudienceId) -> String {
    format!("AUDIENCE_MEMBERS#{id}")
}

/// Account `receiver` has seen the end user (hashed like [`audience_member`]).
pub fn seen_profile(receiver: &AccountId, user_id: &str) -> Key {
    Key {
        pk: format!("PROFILE#{receiver}#{}", hex_digest(user_id)),
        sk: "PROFILE".to_owned(),
    }
}

/// Free-form values (output ids, end-user ids, idempotency keys) go into keys hashed, so
/// no separator or length can break the key shape.
pub fn hex_digest(value: &str) -> String {
    sha256_hex(value.as_bytes())
}

/// SHA-256 in lowercase hex: the one hex encoder of the workspace (keys, request hashes
/// of idempotency records, lock-file stamps of the local tools).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The feed of change events of account `a` (issue 22): one partition per account, each
/// event once in the partition of every account it concerns, sorted by the account's
/// change sequence (commit order; infra/TABLE.md, "Change events").
pub fn changes_pk(a: &AccountId) -> String {
    format!("CHANGES#{a}")
}

/// One change event in account `a`'s feed, at its place `seq` in the account's sequence
/// (zero-padded, so the sort key's order is the number's).
pub fn change(a: &AccountId, seq: i64) -> Key {
    Key {
        pk: changes_pk(a),
        sk: format!("{CHANGE_PREFIX}{seq:019}"),
    }
}
pub const CHANGE_PREFIX: &str = "CHANGE#";

/// Account `a`'s change sequence: the last number given to one of its events.
pub fn change_sequence(a: &AccountId) -> Key {
    Key {
        pk: account_pk(a),
        sk: "CHANGE_SEQUENCE".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acc(s: &str) -> AccountId {
        AccountId::parse(s).unwrap()
    }
    fn aud(s: &str) -> AudienceId {
        AudienceId::parse(s).unwrap()
    }

    #[test]
    fn key_shapes_match_the_table_design() {
        assert_eq!(
            membership(&acc("mPTravel"), &UserId::parse("u1").unwrap()),
            Key {
                pk: "ACCOUNT#mPTravel".into(),
                sk: "MEMBER#u1".into()
            }
        );
        assert_eq!(
            grant(&aud("A1"), &acc("mPDine")),
            Key {
                pk: "AUDIENCE#A1".into(),
                sk: "GRANT#mPDine".into()
            }
        );
        assert_eq!(
            received_grant_sort(ShareLevel::ViewOnly, &aud("A1")),
            "VIEW_ONLY#A1"
        );
        assert_eq!(received_grants(&acc("mPDine")), "RECEIVER#mPDine");
        assert_eq!(
            identity_grant(&acc("a"), IdentityType::IosIdfa, &acc("b")).sk,
            "IDENTITY_GRANT#ios_idfa#b"
        );
        assert_eq!(
            identity_grant_history(&acc("a"), IdentityType::IosIdfa, &acc("b")),
            Key {
                pk: "ACCOUNT#a".into(),
                sk: "IDENTITY_HISTORY#ios_idfa#b".into()
            }
        );
        assert_eq!(sharing_defaults(&acc("a")).sk, "SHARING_DEFAULTS");
        assert_eq!(
            identity_received(&acc("b")),
            Key {
                pk: "ACCOUNT#b".into(),
                sk: "IDENTITY_RECEIVED".into()
            }
        );
        let planner = RoleId::parse("planner").unwrap();
        assert_eq!(
            role(&acc("a"), &planner),
            Key {
                pk: "ACCOUNT#a".into(),
                sk: "ROLE#planner".into()
            }
        );
        assert_eq!(role_holders(&acc("a"), &planner), "ROLE#a#planner");
        // End-user ids go in hashed (SHA-256 of "u1").
        let u1 = "bb82030dbc2bcaba32a90bf2e207a84a856fc5f033b77c480836ab6f77f40f19";
        assert_eq!(
            audience_member(&aud("A1"), "u1"),
            Key {
                pk: "AUDIENCE_MEMBERS#A1".into(),
                sk: format!("MEMBER#{u1}")
            }
        );
        assert_eq!(
            seen_profile(&acc("b"), "u1"),
            Key {
                pk: format!("PROFILE#b#{u1}"),
                sk: "PROFILE".into()
            }
        );
        assert_eq!(activity(&acc("a"), "01J").sk, "ACTIVITY#01J");
    }

    #[test]
    fn view_only_prefix_does_not_shadow_usable() {
        assert!(!level_prefix(ShareLevel::Usable).starts_with(&level_prefix(ShareLevel::ViewOnly)));
        assert!(!level_prefix(ShareLevel::ViewOnly).starts_with(&level_prefix(ShareLevel::Usable)));
    }
}
