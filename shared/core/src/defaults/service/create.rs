//! `POST /accounts/{a}/audiences`: a new audience takes the account's sharing defaults
//! (the grants' source `default`) and writes their change events (cause
//! `default_applied`) with it. It lives here, above audiences and changes, because it
//! uses both while changes uses audiences (no import cycle).

use crate::audiences::{
    AudienceDetail, AudienceItem, NewAudience, check_item_size, detail, grant_item,
    validate_definition, validate_description,
};
use crate::changes::pending::PendingEventsItem;
use crate::entity::Entity;
use crate::error::{Error, Result};
use crate::grants::{GrantItem, GrantSource, SharingEntry};
use crate::ids::{AccountId, AudienceId};
use crate::keys::{self, Key};
use crate::validate;
use crate::write::{Cond, MAX_TX_OPS, Tx, TxError};
use crate::{Caller, Core, Input};
use sharing_policy::{AccessLevel, Action, Resource, ShareLevel};

/// The grants a new audience's transaction holds: all but the audience, the
/// Idempotency-Key's answer and a pending events item.
const FIRST_GRANTS: usize = MAX_TX_OPS - 3;

impl Core {
    /// `POST /accounts/{a}/audiences`.
    /// The membership and the account's sharing defaults are read in one round trip,
    /// then one transaction writes the audience.
    pub async fn create_audience(
        &self,
        caller: &Caller,
        account_id: &AccountId,
        input: Input<NewAudience>,
    ) -> Result<AudienceDetail> {
        // A retry of an attempt whose write landed: its answer, without a second write,
        // once the grants the first attempt may not have got to are there.
        if let Some(done) = crate::idempotency::landed::<AudienceDetail>()? {
            self.finish_created_grants(&done.id).await?;
            return Ok(done);
        }
        let (member, defaults) = self.member_and_defaults(caller, account_id).await?;
        let member = &member;
        member.require(Action::CreateAudience, &Resource::Account, String::new)?;
        let input = &input.checked()?;
        validate::single_line("name", &input.name, 200)?;
        validate_description(&input.description)?;
        let definition = validate_definition(&input.definition)?;

        let id = AudienceId::parse(&self.ids.new_id())?;
        let now = self.now_rfc3339();
        let sharing = defaults
            .map(|d| d.defaults)
            .unwrap_or_default()
            .into_iter()
            .filter(|d| d.level != ShareLevel::Private)
            .map(|d| {
                (
                    d.account_id,
                    SharingEntry {
                        source: GrantSource::Default,
                        granted_by: Some(member.user_id.to_string()),
                        granted_at: Some(now.clone()),
                        ..SharingEntry::plain(d.level, d.account_name)
                    },
                )
            })
            .collect();
        let audience = AudienceItem {
            id: id.clone(),
            name: input.name.clone(),
            description: input.description.clone().filter(|d| !d.is_empty()),
            definition,
            owner_account_id: member.account_id.clone(),
            owner_account_name: member.account_name.clone(),
            organization_id: member.organization_id.clone(),
            created_by: member.user_id.clone(),
            created_by_email: member.email.clone(),
            created_at: now.clone(),
            updated_at: now,
            version: 1,
            sharing_version: 1,
            sharing,
            edited_accounts: Default::default(),
        };
        // The audience and the snapshot of the defaults go in one transaction (with the
        // Idempotency-Key's fence); an organization with more receiving accounts than a
        // transaction holds gets the rest of the grants in batched writes right after.
        check_item_size(&audience)?;
        let grants = audience
            .sharing
            .iter()
            .map(|(r, e)| grant_item(&audience, r, e))
            .collect::<Vec<_>>();
        let (first, rest) = grants.split_at(grants.len().min(FIRST_GRANTS));
        // The defaults' change events (cause default_applied, from private): in the
        // audience's transaction when they fit with its grants (up to 24 receivers);
        // beyond that, the transaction holds them as one pending item, written into the
        // feeds right after (changes::pending), so none is lost if this stops there.
        let stamp = self.stamp();
        let events = crate::changes::access_events(
            stamp,
            &AudienceItem {
                sharing: Default::default(),
                ..audience.clone()
            },
            &audience,
            audience.sharing.keys(),
            &crate::changes::Cause {
                kind: crate::changes::CauseKind::DefaultApplied,
                actor_user_id: Some(member.user_id.clone()),
                request_id: None,
            },
        );
        let in_tx = 1 + first.len() + 3 * events.len() + 1 < MAX_TX_OPS;
        let pending =
            (!in_tx).then(|| PendingEventsItem::new(&audience.id, events.clone(), stamp.epoch()));
        if let Some(p) = &pending {
            let size = crate::write::item_size(&crate::entity::to_item(p)?);
            if size > crate::write::MAX_ITEM_BYTES {
                return Err(Error::Conflict(format!(
                    "the account's sharing defaults name {} receiving accounts: their change \
                     events would be {size} bytes stored with the new audience, over the 400 KB \
                     one item holds; create the audience with fewer accounts in the defaults \
                     and share it with the others afterwards",
                    events.len()
                )));
            }
        }
        let answer = detail(&audience, AccessLevel::Owner);
        // No other writer knows the new audience: a moved sequence is another
        // audience's event; read it again and try again.
        let mut retry = crate::write::Retry::new(crate::changes::service::SEQUENCE_TRIES);
        loop {
            if !retry.next().await {
                return Err(Error::Conflict(
                    "the audience's change events could not be numbered; try again".to_owned(),
                ));
            }
            let mut tx = Tx::new();
            tx.put_if(Created::Audience, &audience, Cond::absent())?;
            for g in first {
                tx.put(g)?;
            }
            tx.answers(&answer)?;
            if let Some(p) = &pending {
                tx.put(p)?;
            } else if !events.is_empty() {
                let accounts: Vec<_> = events
                    .iter()
                    .flat_map(crate::changes::ChangeEvent::concerned)
                    .collect();
                let mut sequences = self.change_sequences(&accounts).await?;
                crate::changes::add_events(
                    &mut tx,
                    Created::Sequences,
                    &mut sequences,
                    &events,
                    stamp.epoch(),
                )?;
            }
            match self.commit(tx).await {
                Ok(()) => break,
                Err(TxError::Guard(Created::Sequences)) => continue,
                Err(TxError::Guard(Created::Audience)) => {
                    return Err(Error::Conflict(
                        "an audience with this id already exists".to_owned(),
                    ));
                }
                Err(TxError::Store(e)) => return Err(e.into()),
            }
        }
        self.table.batch_put(rest).await?;
        if pending.is_some() {
            self.finish_pending_events(&audience.id).await?;
        }
        Ok(answer)
    }

    /// After a create's transaction landed, the grants beyond what it held (an
    /// organization with more receiving accounts than one transaction holds) are batched
    /// right after it; if that batch was cut off, a retry with the same Idempotency-Key
    /// writes the ones still missing here. They come from the audience as it is now
    /// (a sharing change since then wrote its own grants with it) and are put only where
    /// none exists, so nothing newer is overwritten. Nothing to do when the first
    /// transaction held every grant. The change events still pending are written first.
    async fn finish_created_grants(&self, audience_id: &str) -> Result<()> {
        let id = AudienceId::parse(audience_id)?;
        self.finish_pending_events(&id).await?;
        let Some(audience) = self.table.get::<AudienceItem>(&keys::audience(&id)).await? else {
            return Ok(());
        };
        if audience.sharing.len() <= FIRST_GRANTS {
            return Ok(());
        }
        let grants = audience
            .sharing
            .iter()
            .map(|(r, e)| grant_item(&audience, r, e))
            .collect::<Vec<_>>();
        let keys: Vec<Key> = grants.iter().map(Entity::key).collect();
        let present: std::collections::HashSet<String> = self
            .table
            .batch_get::<GrantItem>(&keys)
            .await?
            .into_iter()
            .map(|g| g.key().sk)
            .collect();
        for g in grants.iter().filter(|g| !present.contains(&g.key().sk)) {
            self.table.put(g, Some(Cond::absent())).await?;
        }
        Ok(())
    }
}

/// The guarded steps of creating an audience.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Created {
    /// Its id is new.
    Audience,
    /// The change sequences of its defaults' events did not move.
    Sequences,
}
