//! The usage service: `impl Core` methods for an audience's usage registry and its
//! delivery counters (the planner-free reads; the stored shapes live in `usage.rs`).

use crate::audiences::{access_of, effective_sharing, platform_allowed};
use crate::connections::ConnectionItem;
use crate::connections::usage::{
    ConnectionUsageItem, DeliveryCountItem, UsageConnection, UsageItem, UsageView,
};
use crate::connections::{ConnectionStatus, connection_state};
use crate::cursor;
use crate::entity;
use crate::error::{Error, Result};
use crate::ids::{AccountId, AudienceId, ConnectionId};
use crate::keys;
use crate::store::{PageRequest, Query};
use crate::write::Update;
use crate::{Caller, Core, Input};
use aws_sdk_dynamodb::types::AttributeValue;
use sharing_policy::{AccessLevel, Action};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

impl Core {
    /// Adds `count` delivered members to the connection's tally, in the background: the
    /// caller does not wait for it (a failure is logged; the tally then undercounts).
    pub fn count_delivery(&self, audience: &AudienceId, c: &ConnectionItem, count: usize) {
        if count == 0 {
            return;
        }
        let cid = c.id.clone();
        let shard = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % keys::USAGE_SHARDS;
        let key = keys::delivery_count(audience, shard, &cid);
        let update = Update::new()
            .add("membersDelivered", i64::try_from(count).unwrap_or(i64::MAX))
            .set(crate::entity::ENTITY_TYPE, entity::DELIVERY_COUNT)
            .and_then(|u| u.set("connectionId", &c.id))
            .and_then(|u| u.set("accountId", &c.account_id))
            .and_then(|u| u.set("lastDeliveredAt", &self.now_rfc3339()));
        let table = self.table.clone();
        let connection = c.id.clone();
        tokio::spawn(async move {
            let result = match update {
                Ok(u) => table.update(&key, &u, None).await.map(|_| ()),
                Err(e) => Err(e.into()),
            };
            if let Err(e) = result {
                tracing::warn!(connection_id = %connection, error = %e, "delivery count not recorded");
            }
        });
    }

    /// `GET /accounts/{a}/audiences/{id}/usage`: admin-level users of the owner account.
    /// Access first: the membership and the audience (one round trip), decided by the
    /// policy (`view_usage`) before anything else is read, so a caller who may not see
    /// the usage (a receiver, a user without the permission, a non-member) reads the
    /// registry and counters of no one. Then the connection registry (at most
    /// [`crate::connections::MAX_CONNECTIONS_PER_ACCOUNT`] per account) and the eight
    /// counter shards, together; a BatchGetItem of names only when an account of the page
    /// has a connection and no grant. The accounts come in pages of `limit`, by account
    /// id, resumed after the cursor's account.
    pub async fn usage(
        &self,
        caller: &Caller,
        account_id: &AccountId,
        id: &AudienceId,
        page: Input<PageRequest>,
    ) -> Result<UsageView> {
        let (_, audience, _) = self
            .member_and_audience(caller, account_id, id, Action::ViewUsage)
            .await?;
        let page = page.checked()?;
        let scope = format!("USAGE|{id}");
        let registry_pk = keys::usage_registry(id);
        let list = cursor::List {
            scope: &scope,
            partition_attribute: keys::PK,
            partition: &registry_pk,
            sort_attribute: keys::SK,
            sort_prefix: Some("ACCOUNT#"),
        };
        let after = match &page.cursor {
            Some(c) => {
                let key = cursor::decode(self.table.cursor_key(), c, &list)?;
                let last = key
                    .get(keys::SK)
                    .and_then(|v| v.as_s().ok())
                    .and_then(|sk| sk.strip_prefix("ACCOUNT#"))
                    .and_then(|a| AccountId::parse(a).ok())
                    .ok_or_else(|| {
                        Error::Validation("the cursor is not one this list handed out".to_owned())
                    })?;
                Some(last)
            }
            None => None,
        };
        let registry =
            Query::table(keys::usage_registry(id)).prefix(keys::USAGE_CONNECTIONS_PREFIX);
        let shards = (0..keys::USAGE_SHARDS).map(|s| {
            let q = Query::table(keys::usage_shard(id, s));
            let table = self.table.clone();
            async move { table.query_all::<DeliveryCountItem>(&q).await }
        });
        let (connections, counts) = tokio::try_join!(
            self.table.query_all::<ConnectionUsageItem>(&registry),
            futures::future::try_join_all(shards),
        )?;
        let now = self.now_epoch();
        let mut accounts: BTreeMap<String, String> = effective_sharing(&audience, now)
            .map(|(a, e)| (a.to_string(), e.account_name.clone()))
            .collect();
        for c in &connections {
            let name = if c.account_id == audience.owner_account_id {
                audience.owner_account_name.clone()
            } else {
                String::new()
            };
            accounts.entry(c.account_id.to_string()).or_insert(name);
        }
        // The page: the accounts after the cursor's, `limit` of them.
        let limit = usize::try_from(page.limit.clamp(1, 100)).unwrap_or(50);
        let mut rest = accounts
            .into_iter()
            .filter(|(a, _)| after.as_ref().is_none_or(|l| a.as_str() > l.as_str()));
        let mut accounts: BTreeMap<String, String> = rest.by_ref().take(limit).collect();
        let next_cursor = match accounts.keys().next_back() {
            Some(last) if rest.next().is_some() => {
                let last = AccountId::parse(last)?;
                let key = keys::usage_account_count(id, &last);
                Some(cursor::encode(
                    self.table.cursor_key(),
                    &list,
                    &std::collections::HashMap::from([
                        (keys::PK.to_owned(), AttributeValue::S(key.pk)),
                        (keys::SK.to_owned(), AttributeValue::S(key.sk)),
                    ]),
                )?)
            }
            _ => None,
        };
        let unnamed: Vec<AccountId> = accounts
            .iter()
            .filter(|(_, n)| n.is_empty())
            .filter_map(|(a, _)| AccountId::parse(a).ok())
            .collect();
        let ids: Vec<ConnectionId> = connections
            .iter()
            .map(|c| c.connection_id.clone())
            .collect();
        // The accounts' names and the connections' delivery states, both named by the
        // registry's Query, read at once.
        let (named, states) = tokio::try_join!(
            async {
                if unnamed.is_empty() {
                    Ok(std::collections::HashMap::new())
                } else {
                    self.accounts(&unnamed).await
                }
            },
            self.delivery_states(&ids),
        )?;
        for (id, a) in named {
            accounts.insert(id.to_string(), a.name);
        }
        let mut delivered: BTreeMap<String, (i64, Option<String>)> = BTreeMap::new();
        for d in counts.into_iter().flatten() {
            let e = delivered.entry(d.account_id.to_string()).or_default();
            e.0 += d.members_delivered;
            if e.1
                .as_deref()
                .is_none_or(|t| t < d.last_delivered_at.as_str())
            {
                e.1 = Some(d.last_delivered_at);
            }
        }
        let items = accounts
            .into_iter()
            .map(|(account, account_name)| {
                let id = AccountId::parse(&account);
                let access = id
                    .as_ref()
                    .map_or(AccessLevel::Private, |a| access_of(&audience, a, now));
                let connections = connections
                    .iter()
                    .filter(|c| c.account_id.as_str() == account)
                    .map(|c| {
                        let allowed = id
                            .as_ref()
                            .map_or(true, |a| platform_allowed(&audience, a, &c.platform));
                        let (status, suspended_reason) = connection_state(access, allowed);
                        UsageConnection {
                            id: c.connection_id.to_string(),
                            output_id: c.output_id.clone(),
                            platform: c.platform.clone(),
                            delivery: crate::connections::delivery_state::DeliveryView::of(
                                states.get(&c.connection_id),
                                status == ConnectionStatus::Active,
                            ),
                            status,
                            suspended_reason,
                            created_at: c.created_at.clone(),
                            created_by: c.created_by.to_string(),
                        }
                    })
                    .collect();
                let (members_delivered, last_delivered_at) =
                    delivered.remove(&account).unwrap_or_default();
                UsageItem {
                    account_id: account,
                    account_name,
                    access,
                    connections,
                    members_delivered,
                    last_delivered_at,
                }
            })
            .collect();
        Ok(UsageView { items, next_cursor })
    }
}
