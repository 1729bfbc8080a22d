//! Reading a connection's phase now, and the schedule's list of connections that came
//! due: the `impl Core` methods of `delivery/reconcile.rs`.

use crate::Core;
use crate::audiences::AudienceItem;
use crate::audiences::{access_of, platform_allowed};
use crate::connections::ConnectionItem;
use crate::delivery::ledger::DeliveryStateItem;
use crate::delivery::plan::{Grantee, Phase};
use crate::delivery::reconcile::Reading;
use crate::error::Result;
use crate::ids::{AccountId, AudienceId, ConnectionId, OutputId};
use crate::keys;
use crate::outputs::OutputItem;
use crate::store::Query;
use crate::usage::ConnectionUsageItem;
use sharing_policy::AccessLevel;

impl Core {
    /// Connection `cid`'s phase now, from strong reads.
    pub async fn delivery_phase(&self, cid: &ConnectionId) -> Result<Reading> {
        let connection: Option<ConnectionItem> = self.table.get(&keys::connection(cid)).await?;
        let Some(connection) = connection else {
            return Ok(Reading {
                connection: None,
                phase: Phase::Stopped,
                wake_at: None,
            });
        };
        let b = &connection.account_id;
        let output_key = OutputId::parse(&connection.output_id)
            .ok()
            .map(|o| keys::output(b, &o));
        let read_output = async {
            match &output_key {
                Some(k) => self.table.get::<OutputItem>(k).await,
                None => Ok(None),
            }
        };
        let audience_key = keys::audience(&connection.audience_id);
        let (audience, output) =
            tokio::try_join!(self.table.get::<AudienceItem>(&audience_key), read_output,)?;
        let now = self.now_epoch();
        let Some(audience) = audience else {
            return Ok(Reading {
                connection: Some(connection),
                phase: Phase::Stopped,
                wake_at: None,
            });
        };
        let wake_at = audience
            .sharing
            .get(b)
            .and_then(|e| e.window().changes_at(now));
        let delivers = output.is_some()
            && access_of(&audience, b, now) >= AccessLevel::Usable
            && platform_allowed(&audience, b, &connection.platform);
        if !delivers {
            return Ok(Reading {
                connection: Some(connection),
                phase: Phase::Stopped,
                wake_at,
            });
        }
        let grantee = if audience.owner_account_id == *b {
            Grantee::Owner
        } else {
            Grantee::Receiver {
                granted: self
                    .identity_grants_of(&audience.owner_account_id, b)
                    .await?
                    .now,
            }
        };
        Ok(Reading {
            connection: Some(connection),
            phase: Phase::Active(grantee),
            wake_at,
        })
    }

    /// Every connection to audience `id`, whichever account made it (its usage
    /// registry).
    pub async fn connections_to_audience(&self, id: &AudienceId) -> Result<Vec<ConnectionId>> {
        let q = Query::table(keys::usage_registry(id)).prefix(keys::USAGE_CONNECTIONS_PREFIX);
        let items: Vec<ConnectionUsageItem> = self.table.query_all(&q).await?;
        Ok(items.into_iter().map(|c| c.connection_id).collect())
    }

    /// Every connection of account `b` (GSI2).
    pub async fn connections_of_account(&self, b: &AccountId) -> Result<Vec<ConnectionItem>> {
        let q = Query::index(keys::GSI2, keys::account_connections(b));
        self.table.query_all(&q).await
    }

    /// The connections whose grant came due by `now` (at most `limit`, soonest first),
    /// and deleted connections whose exit is pending (`PendingExitItem`, due at once).
    pub async fn due_deliveries(&self, now: i64, limit: i32) -> Result<Vec<ConnectionId>> {
        /// What both kinds of entry in the index say.
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Due {
            connection_id: ConnectionId,
            wake_at: Option<i64>,
        }
        let q = Query::index(keys::GSI2, keys::DELIVERY_WAKE.to_owned());
        let due: Vec<Due> = self.table.query_first(&q, limit).await?;
        Ok(due
            .into_iter()
            .take_while(|s| s.wake_at.is_some_and(|at| at <= now))
            .map(|s| s.connection_id)
            .collect())
    }
}

impl Core {
    /// The delivery states of these connections (one BatchGetItem per 100).
    pub async fn delivery_states(
        &self,
        cids: &[ConnectionId],
    ) -> Result<std::collections::HashMap<ConnectionId, DeliveryStateItem>> {
        let mut out = std::collections::HashMap::new();
        for chunk in cids.chunks(100) {
            let keys: Vec<_> = chunk.iter().map(keys::delivery_state).collect();
            if keys.is_empty() {
                continue;
            }
            let found: Vec<DeliveryStateItem> = self.table.batch_get_eventually(&keys).await?;
            for s in found {
                out.insert(s.connection_id.clone(), s);
            }
        }
        Ok(out)
    }
}
