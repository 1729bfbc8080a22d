//! Entities are declared beside their structs (`impl Entity for ...`); the trait and the
//! one way an entity becomes an item are the store's ([`sharing_store::entity`]). This
//! module keeps the old path and the table-driven test of every declaration.

pub use sharing_store::entity::*;

// The `entityType` each entity writes (`Entity::TYPE`), one name per stored shape.
pub const ORGANIZATION: &str = "organization";
pub const ACCOUNT: &str = "account";
pub const USER: &str = "user";
pub const MEMBERSHIP: &str = "membership";
pub const ROLE: &str = "role";
pub const AUDIENCE: &str = "audience";
pub const GRANT: &str = "grant";
pub const SHARING_DEFAULTS: &str = "sharing_defaults";
pub const CONNECTION: &str = "connection";
pub const CONNECTION_OUTPUT: &str = "connection_output";
pub const ACTIVITY: &str = "activity";
pub const CHANGE_EVENT: &str = "change_event";
pub const GRANT_WAKE: &str = "grant_wake";
pub const PENDING_EVENTS: &str = "pending_events";
pub const IDEMPOTENCY: &str = "idempotency";
pub const ACCESS_REQUEST: &str = "access_request";
pub const PENDING_REQUEST: &str = "pending_request";
pub const OUTBOX_EMAIL: &str = "outbox_email";
pub const IDENTITY_GRANT: &str = "identity_grant";
pub const IDENTITY_RECEIVED: &str = "identity_received";
pub const IDENTITY_GRANT_HISTORY: &str = "identity_grant_history";
pub const AUDIENCE_MEMBER: &str = "audience_member";
pub const SEEN_PROFILE: &str = "seen_profile";
pub const CONNECTION_USAGE: &str = "connection_usage";
pub const DELIVERY_COUNT: &str = "delivery_count";
pub const CONNECTION_COUNT: &str = "connection_count";
pub const OUTPUT: &str = "output";
pub const DELIVERY_STATE: &str = "delivery_state";
pub const DELIVERY_SENT: &str = "delivery_sent";
pub const DELIVERY_SENT_PAGE: &str = "delivery_sent_page";
pub const DELIVERY_EXIT: &str = "delivery_exit";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access_requests::{
        AccessRequestItem, AccessRequestView, Campaign, PendingRequestItem, RequestStatus, UserRef,
    };
    use crate::accounts::{AccountItem, MembershipItem, OrganizationItem, RoleItem, UserItem};
    use crate::audiences::AudienceItem;
    use crate::connections::usage::ConnectionUsageItem;
    use crate::connections::{ConnectionItem, ConnectionOutputItem};
    use crate::defaults::SharingDefaultsItem;
    use crate::grants::{GrantItem, SharingEntry};
    use crate::identity_grants::IdentityGrantItem;
    use crate::ids::{
        AccountId, AudienceId, ConnectionId, OrganizationId, RequestId, RoleId, UserId,
    };
    use crate::keys;
    use crate::members::{AudienceMemberItem, SeenProfileItem};
    use crate::notify::outbox::{OutboxItem, OutboxStatus};
    use crate::write::{Action, Item, Update, Value};
    use sharing_policy::{IdentityType, ShareLevel};
    use std::collections::BTreeMap;

    fn acc(s: &str) -> AccountId {
        AccountId::parse(s).unwrap()
    }
    fn aud(s: &str) -> AudienceId {
        AudienceId::parse(s).unwrap()
    }
    fn user(s: &str) -> UserId {
        UserId::parse(s).unwrap()
    }
    fn org(s: &str) -> OrganizationId {
        OrganizationId::parse(s).unwrap()
    }
    fn role(s: &str) -> RoleId {
        RoleId::parse(s).unwrap()
    }

    /// What an entity's declaration must give: its type and key attributes, exactly
    /// (an index attribute the row leaves out must be absent).
    struct Row {
        name: &'static str,
        item: Item,
        entity_type: &'static str,
        pk: &'static str,
        sk: &'static str,
        gsi1: Option<(&'static str, &'static str)>,
        gsi2: Option<(&'static str, &'static str)>,
    }

    fn row<E: Entity>(
        name: &'static str,
        e: &E,
        entity_type: &'static str,
        (pk, sk): (&'static str, &'static str),
        gsi1: Option<(&'static str, &'static str)>,
        gsi2: Option<(&'static str, &'static str)>,
    ) -> Row {
        Row {
            name,
            item: to_item(e).unwrap(),
            entity_type,
            pk,
            sk,
            gsi1,
            gsi2,
        }
    }

    fn s(item: &Item, attr: &str) -> Option<String> {
        match item.get(attr) {
            Some(Value::S(v)) => Some(v.clone()),
            None => None,
            Some(other) => panic!("{attr} is not a string: {other:?}"),
        }
    }

    fn membership(r: &str) -> MembershipItem {
        MembershipItem {
            account_id: acc("mpdine"),
            account_name: "mPDine".into(),
            organization_id: org("mparticle"),
            user_id: user("dan"),
            email: "dan@mpdine.example".into(),
            first_name: "Dan".into(),
            last_name: "D".into(),
            role: role(r),
            permissions: None,
        }
    }

    fn audience() -> AudienceItem {
        AudienceItem {
            id: aud("A1"),
            name: "Ibiza".into(),
            description: None,
            definition: "{}".into(),
            owner_account_id: acc("mptravel"),
            owner_account_name: "mPTravel".into(),
            organization_id: org("mparticle"),
            created_by: user("ana"),
            created_by_email: "ana@mptravel.example".into(),
            created_at: "T".into(),
            updated_at: "T".into(),
            version: 1,
            sharing_version: 1,
            sharing: BTreeMap::new(),
            edited_accounts: Default::default(),
        }
    }

    fn connection() -> ConnectionItem {
        ConnectionItem {
            id: ConnectionId::parse("C1").unwrap(),
            account_id: acc("mpdine"),
            audience_id: aud("A1"),
            output_id: "out".into(),
            platform: "meta".into(),
            created_at: "T".into(),
            created_by: user("dan"),
            owner_account_id: Some(acc("mptravel")),
        }
    }

    fn request(status: RequestStatus) -> AccessRequestItem {
        AccessRequestItem::new(
            AccessRequestView {
                id: RequestId::parse("R1").unwrap(),
                audience_id: aud("A1"),
                audience_name: "Ibiza".into(),
                owner_account_id: acc("mptravel"),
                owner_account_name: "mPTravel".into(),
                requester_account_id: acc("mpdine"),
                requester_account_name: "mPDine".into(),
                requested_by: UserRef {
                    user_id: UserId::parse("dan").unwrap(),
                    email: "dan@mpdine.example".into(),
                },
                requested_level: ShareLevel::Usable,
                campaign: Campaign {
                    start: "2027-01-01".into(),
                    end: "2027-01-02".into(),
                    details: "d".into(),
                },
                activation_platforms: vec!["meta".into()],
                held_level: ShareLevel::ViewOnly,
                status,
                created_at: "T".into(),
                decided_at: None,
                decided_by: None,
                granted_level: None,
                starts_at: None,
                expires_at: None,
                fallback_level: None,
                allowed_platforms: None,
                reason: None,
                notification_failures: Vec::new(),
            },
            "Dan".into(),
        )
    }

    fn outbox(status: OutboxStatus) -> OutboxItem {
        crate::notify::outbox::tests::item(status)
    }

    #[test]
    fn every_entity_renders_its_declared_keys_indexes_and_type() {
        let grant = GrantItem {
            audience_id: aud("A1"),
            audience_name: "Ibiza".into(),
            owner_account_id: acc("mptravel"),
            owner_account_name: "mPTravel".into(),
            receiver_account_id: acc("mpdine"),
            grant: SharingEntry::plain(ShareLevel::ViewOnly, "mPDine"),
            ttl: None,
        };
        let u1 = keys::hex_digest("u1");
        let member_sk: &'static str = format!("MEMBER#{u1}").leak();
        let profile_pk: &'static str = format!("PROFILE#mpdine#{u1}").leak();
        let output_pk: &'static str =
            format!("OUTPUT#mpdine#A1#{}", keys::hex_digest("out")).leak();
        let rows = [
            row(
                "organization",
                &OrganizationItem {
                    id: org("mparticle"),
                    name: "mParticle".into(),
                },
                "organization",
                ("ORG#mparticle", "ORG#mparticle"),
                None,
                None,
            ),
            row(
                "account",
                &AccountItem {
                    id: acc("mptravel"),
                    name: "mPTravel".into(),
                    organization_id: org("mparticle"),
                    admin_count: 1,
                },
                "account",
                ("ACCOUNT#mptravel", "ACCOUNT#mptravel"),
                Some(("ORG#mparticle", "ACCOUNT#mptravel")),
                None,
            ),
            row(
                "user",
                &UserItem {
                    id: user("dan"),
                    email: "dan@mpdine.example".into(),
                    first_name: "Dan".into(),
                    last_name: "D".into(),
                },
                "user",
                ("USER#dan", "USER#dan"),
                None,
                None,
            ),
            row(
                "membership of a built-in role: not among any role's holders",
                &membership("admin"),
                "membership",
                ("ACCOUNT#mpdine", "MEMBER#dan"),
                Some(("USER#dan", "ACCOUNT#mpdine")),
                None,
            ),
            row(
                "membership of a custom role: among its holders",
                &membership("analyst"),
                "membership",
                ("ACCOUNT#mpdine", "MEMBER#dan"),
                Some(("USER#dan", "ACCOUNT#mpdine")),
                Some(("ROLE#mpdine#analyst", "MEMBER#dan")),
            ),
            row(
                "role",
                &RoleItem {
                    id: role("analyst"),
                    account_id: acc("mpdine"),
                    name: "Analyst".into(),
                    permissions: vec![],
                    version: 1,
                    generation: Some("G".into()),
                    holder_count: 0,
                    created_at: "T".into(),
                    updated_at: "T".into(),
                },
                "role",
                ("ACCOUNT#mpdine", "ROLE#analyst"),
                None,
                None,
            ),
            row(
                "audience",
                &audience(),
                "audience",
                ("AUDIENCE#A1", "AUDIENCE#A1"),
                Some(("OWNER#mptravel", "AUDIENCE#A1")),
                None,
            ),
            row(
                "grant: its level is in its index entry",
                &grant,
                "grant",
                ("AUDIENCE#A1", "GRANT#mpdine"),
                Some(("RECEIVER#mpdine", "VIEW_ONLY#A1")),
                None,
            ),
            row(
                "sharing defaults",
                &SharingDefaultsItem {
                    account_id: acc("mptravel"),
                    version: 1,
                    defaults: vec![],
                    updated_at: "T".into(),
                    updated_by: "ana".into(),
                },
                "sharing_defaults",
                ("ACCOUNT#mptravel", "SHARING_DEFAULTS"),
                None,
                None,
            ),
            row(
                "connection",
                &connection(),
                "connection",
                ("CONNECTION#C1", "CONNECTION#C1"),
                Some(("ACCOUNT#mpdine#AUDIENCE#A1", "CONNECTION#C1")),
                Some(("CONNECTIONS#mpdine", "CONNECTION#C1")),
            ),
            row(
                "connection output",
                &ConnectionOutputItem::new(
                    &acc("mpdine"),
                    &aud("A1"),
                    "out",
                    ConnectionId::parse("C1").unwrap(),
                ),
                "connection_output",
                (output_pk, output_pk),
                None,
                None,
            ),
            row(
                "connection usage",
                &ConnectionUsageItem::of(
                    &connection(),
                    &aud("A1"),
                    &ConnectionId::parse("C1").unwrap(),
                ),
                "connection_usage",
                ("USAGE#A1", "CONNECTION#C1"),
                None,
                None,
            ),
            row(
                "pending access request: listed by both sides under its status",
                &request(RequestStatus::Pending),
                "access_request",
                ("ACCESS_REQUEST#R1", "ACCESS_REQUEST#R1"),
                Some(("REQUESTS_OUT#mpdine", "PENDING#R1")),
                Some(("REQUESTS_IN#mptravel", "PENDING#R1")),
            ),
            row(
                "denied access request: its entries move with its status",
                &request(RequestStatus::Denied),
                "access_request",
                ("ACCESS_REQUEST#R1", "ACCESS_REQUEST#R1"),
                Some(("REQUESTS_OUT#mpdine", "DENIED#R1")),
                Some(("REQUESTS_IN#mptravel", "DENIED#R1")),
            ),
            row(
                "pending request lock",
                &PendingRequestItem::new(
                    &aud("A1"),
                    &acc("mpdine"),
                    RequestId::parse("R1").unwrap(),
                ),
                "pending_request",
                ("AUDIENCE#A1", "PENDING_REQUEST#mpdine"),
                None,
                None,
            ),
            row(
                "identity grant",
                &IdentityGrantItem::new(
                    &acc("mptravel"),
                    IdentityType::IosIdfa,
                    &acc("mpdine"),
                    "mPDine",
                    "T".into(),
                    "ana",
                ),
                "identity_grant",
                ("ACCOUNT#mptravel", "IDENTITY_GRANT#ios_idfa#mpdine"),
                None,
                None,
            ),
            row(
                "an identity type granted once",
                &crate::identity_grants::IdentityGrantHistoryItem::new(
                    &acc("mptravel"),
                    IdentityType::IosIdfa,
                    &acc("mpdine"),
                    "T".into(),
                ),
                "identity_grant_history",
                ("ACCOUNT#mptravel", "IDENTITY_HISTORY#ios_idfa#mpdine"),
                None,
                None,
            ),
            row(
                "the identity types an account receives",
                &crate::identity_grants::IdentityReceivedItem::empty(&acc("mpdine")),
                "identity_received",
                ("ACCOUNT#mpdine", "IDENTITY_RECEIVED"),
                None,
                None,
            ),
            row(
                "pending email: in the sweep's list",
                &outbox(OutboxStatus::Pending),
                "outbox_email",
                ("OUTBOX#E1", "OUTBOX#E1"),
                Some(("OUTBOX_UNSENT", "E1")),
                None,
            ),
            row(
                "email being sent: still in the sweep's list",
                &outbox(OutboxStatus::Sending),
                "outbox_email",
                ("OUTBOX#E1", "OUTBOX#E1"),
                Some(("OUTBOX_UNSENT", "E1")),
                None,
            ),
            row(
                "sent email: out of the sweep's list because its status says so",
                &outbox(OutboxStatus::Sent),
                "outbox_email",
                ("OUTBOX#E1", "OUTBOX#E1"),
                None,
                None,
            ),
            row(
                "failed email: out of the sweep's list",
                &outbox(OutboxStatus::Failed),
                "outbox_email",
                ("OUTBOX#E1", "OUTBOX#E1"),
                None,
                None,
            ),
            row(
                "audience member",
                &AudienceMemberItem::new(&aud("A1"), "u1", BTreeMap::new(), "T".into()),
                "audience_member",
                ("AUDIENCE_MEMBERS#A1", member_sk),
                None,
                None,
            ),
            row(
                "seen profile",
                &SeenProfileItem::new(
                    &acc("mpdine"),
                    "u1",
                    &std::collections::BTreeMap::from([(IdentityType::Email, "e".to_owned())]),
                    "T".into(),
                ),
                "seen_profile",
                (profile_pk, "PROFILE"),
                None,
                None,
            ),
        ];
        for r in &rows {
            let it = &r.item;
            assert_eq!(
                s(it, "entityType").as_deref(),
                Some(r.entity_type),
                "{}",
                r.name
            );
            assert_eq!(s(it, "PK").as_deref(), Some(r.pk), "{}", r.name);
            assert_eq!(s(it, "SK").as_deref(), Some(r.sk), "{}", r.name);
            let gsi1 = s(it, "GSI1PK").zip(s(it, "GSI1SK"));
            assert_eq!(
                gsi1.as_ref().map(|(p, k)| (p.as_str(), k.as_str())),
                r.gsi1,
                "{}",
                r.name
            );
            let gsi2 = s(it, "GSI2PK").zip(s(it, "GSI2SK"));
            assert_eq!(
                gsi2.as_ref().map(|(p, k)| (p.as_str(), k.as_str())),
                r.gsi2,
                "{}",
                r.name
            );
            // Half an index entry is never written.
            for (p, k) in [("GSI1PK", "GSI1SK"), ("GSI2PK", "GSI2SK")] {
                assert_eq!(it.contains_key(p), it.contains_key(k), "{}", r.name);
            }
        }
    }

    #[test]
    fn stored_attributes_stay_as_they_were() {
        // The items already in tables, infra/TABLE.md and the tests that read raw items
        // depend on these names and values: ids are plain strings, no key attribute is
        // written twice, and nothing but the declared ones is added.
        let m = to_item(&membership("analyst")).unwrap();
        let mut names: Vec<_> = m.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "GSI1PK",
                "GSI1SK",
                "GSI2PK",
                "GSI2SK",
                "PK",
                "SK",
                "accountId",
                "accountName",
                "email",
                "entityType",
                "firstName",
                "lastName",
                "organizationId",
                "role",
                "userId",
            ]
        );
        assert_eq!(s(&m, "accountId").as_deref(), Some("mpdine"));
        assert_eq!(s(&m, "userId").as_deref(), Some("dan"));
        assert_eq!(s(&m, "role").as_deref(), Some("analyst"));

        let c = to_item(&connection()).unwrap();
        assert_eq!(s(&c, "id").as_deref(), Some("C1"));
        assert_eq!(s(&c, "ownerAccountId").as_deref(), Some("mptravel"));
        assert_eq!(s(&c, "createdBy").as_deref(), Some("dan"));

        let r = to_item(&request(RequestStatus::Pending)).unwrap();
        assert_eq!(s(&r, "id").as_deref(), Some("R1"));
        assert_eq!(s(&r, "requesterAccountId").as_deref(), Some("mpdine"));
        assert_eq!(s(&r, "status").as_deref(), Some("pending"));

        // An item read back is the entity it was written from.
        let back: AudienceItem = serde_dynamo::from_item(to_item(&audience()).unwrap()).unwrap();
        assert_eq!(to_item(&back).unwrap(), to_item(&audience()).unwrap());
    }

    #[test]
    fn an_update_moves_an_item_in_and_out_of_an_index_as_declared() {
        let out = Update::new().index(
            Index::Gsi1,
            OutboxItem::unsent_entry("E1", OutboxStatus::Sent),
        );
        assert_eq!(
            out.actions,
            vec![
                Action::Remove("GSI1PK".into()),
                Action::Remove("GSI1SK".into())
            ]
        );
        let back = Update::new().index(
            Index::Gsi1,
            OutboxItem::unsent_entry("E1", OutboxStatus::Pending),
        );
        assert_eq!(
            back.actions,
            vec![
                Action::Set("GSI1PK".into(), Value::S("OUTBOX_UNSENT".into())),
                Action::Set("GSI1SK".into(), Value::S("E1".into())),
            ]
        );
    }

    #[test]
    fn an_upsert_writes_the_declared_item_and_keeps_what_it_is_told_to() {
        let account = AccountItem {
            id: acc("mptravel"),
            name: "mPTravel".into(),
            organization_id: org("mparticle"),
            admin_count: 0,
        };
        let u = Update::upsert(&account, &AccountItem::KEPT).unwrap();
        let s = |v: &str| Value::S(v.into());
        assert_eq!(
            u.actions,
            vec![
                Action::Set("GSI1PK".into(), s("ORG#mparticle")),
                Action::Set("GSI1SK".into(), s("ACCOUNT#mptravel")),
                Action::SetIfAbsent("adminCount".into(), Value::N("0".into())),
                Action::Set("entityType".into(), s("account")),
                Action::Set("id".into(), s("mptravel")),
                Action::Set("name".into(), s("mPTravel")),
                Action::Set("organizationId".into(), s("mparticle")),
                // Not in GSI2: nothing there to keep.
                Action::Remove("GSI2PK".into()),
                Action::Remove("GSI2SK".into()),
            ]
        );
        let user = UserItem {
            id: user("dan"),
            email: "dan@mpdine.example".into(),
            first_name: "Dan".into(),
            last_name: "D".into(),
        };
        let u = Update::upsert(&user, &UserItem::KEPT).unwrap();
        assert!(u.actions.contains(&Action::SetIfAbsent(
            "email".into(),
            s("dan@mpdine.example")
        )));
        assert!(
            u.actions
                .contains(&Action::Set("entityType".into(), s("user")))
        );
        assert!(
            !u.actions
                .iter()
                .any(|a| matches!(a, Action::Set(n, _) if n == "PK" || n == "SK"))
        );
    }
}
