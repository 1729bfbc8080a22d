//! The members service: its `impl Core` methods (the routes' entry points).

use super::*;

impl Core {
    /// `PUT /accounts/{a}/audiences/{id}/members`: the owner account adds or replaces up
    /// to 1000 members (batched writes of 25).
    /// Membership and audience in one round trip, then the writes.
    pub async fn upsert_members(
        &self,
        caller: &Caller,
        account_id: &AccountId,
        id: &AudienceId,
        input: Input<MembersInput>,
    ) -> Result<MembersResult> {
        self.member_and_audience(caller, account_id, id, Action::UploadMembers)
            .await?;
        let input = input.checked()?;
        let (members, removed) = validate_members(&input)?;
        let now = self.now_rfc3339();
        let items: Vec<AudienceMemberItem> = members
            .into_iter()
            .map(|(user, identities)| AudienceMemberItem::new(id, user, identities, now.clone()))
            .collect();
        let gone: Vec<Key> = removed
            .iter()
            .map(|user| keys::audience_member(id, user))
            .collect();
        self.table.batch_write(&items, &gone).await?;
        Ok(MembersResult {
            upserted: items.len(),
            removed: gone.len(),
        })
    }

    /// `PUT /accounts/{b}/profiles`: records the users the account has seen, with the
    /// identities it holds for them (each user's profile is replaced), then logs the call
    /// with its count in the account's activity.
    pub async fn record_profiles(
        &self,
        member: &AccountMember,
        input: Input<ProfilesInput>,
    ) -> Result<ProfilesResult> {
        member.require(Action::RecordProfiles, &Resource::Account, String::new)?;
        let input = input.checked()?;
        let users = validate_profiles(&input)?;
        let now = self.now_rfc3339();
        let items: Vec<SeenProfileItem> = users
            .into_iter()
            .map(|(u, ids)| SeenProfileItem::new(&member.account_id, u, &ids, now.clone()))
            .collect();
        // The call's entry in the account's log, written beside the profiles (same
        // round trip): a call cut off halfway is retried whole (a PUT) and logged again.
        let mut tx: Tx<()> = Tx::new();
        Entry {
            actor_user_id: member.user_id.to_string(),
            action: action::PROFILES_RECORDED,
            after: Some(json!({ "count": items.len() })),
            ..Default::default()
        }
        .add_to(self, &mut tx, &[&member.account_id])?;
        tokio::try_join!(self.table.batch_put(&items), async {
            self.commit(tx).await.map_err(|e| match e {
                crate::write::TxError::Store(e) => e.into(),
                crate::write::TxError::Guard(()) => {
                    Error::defect("an unguarded activity write failed a guard")
                }
            })
        })?;
        Ok(ProfilesResult {
            recorded: items.len(),
        })
    }

    /// `GET /accounts/{b}/connections/{cid}/members`: one page of the connection's
    /// audience, as delivered to its output. Three round trips: the membership and the
    /// connection; the audience, the page of members and the owner's identity grants
    /// (the connection names the owner); the profiles the account has seen among them.
    pub async fn delivered_members(
        &self,
        caller: &Caller,
        account_id: &AccountId,
        cid: &ConnectionId,
        page: Input<PageRequest>,
    ) -> Result<Page<DeliveredMember>> {
        let (member, found) = self
            .member_and(
                caller,
                account_id,
                self.table.get::<ConnectionItem>(&keys::connection(cid)),
            )
            .await?;
        let member = &member;
        let connection = found
            .filter(|c| c.account_id == member.account_id)
            .ok_or_else(|| connection_not_found(cid))?;
        let audience_id = connection.audience_id.clone();
        // A bad page (limit, cursor) is told after the access decision.
        let inner = page.checked().and_then(|page| {
            page.cursor
                .as_deref()
                .map(|c| unwrap_cursor(cid, c))
                .transpose()
                .map(|cursor| PageRequest {
                    limit: page.limit,
                    cursor,
                })
        });
        let q =
            Query::table(keys::audience_members(&audience_id)).prefix(keys::AUDIENCE_MEMBER_PREFIX);
        let hinted_owner = connection.owner_account_id.clone();
        let grants_of = hinted_owner.clone().filter(|o| o != &member.account_id);
        // The grants now and every type ever granted (what proves nothing), together.
        let audience_key = keys::audience(&audience_id);
        let (audience, members, granted) = tokio::try_join!(
            self.table.get::<AudienceItem>(&audience_key),
            async {
                match &inner {
                    Ok(inner) => self
                        .table
                        .query::<AudienceMemberItem>(&q, inner)
                        .await
                        .map(Some),
                    Err(_) => Ok(None),
                }
            },
            async {
                match &grants_of {
                    Some(owner) => self
                        .identity_grants_of(owner, &member.account_id)
                        .await
                        .map(Some),
                    None => Ok(None),
                }
            },
        )?;
        let now = self.now_epoch();
        let (access, allowed) = audience.as_ref().map_or((AccessLevel::Private, true), |a| {
            (
                access_of(a, &member.account_id, now),
                platform_allowed(a, &member.account_id, &connection.platform),
            )
        });
        member.require(
            Action::ReadDeliveredMembers,
            &Resource::Activation {
                access,
                platform_allowed: allowed,
            },
            || {
                if access >= AccessLevel::Usable {
                    format!(
                        "connection '{cid}' is suspended: your account's grant on audience '{audience_id}' no longer allows platform '{}', so it delivers nothing; ask the owner account to allow it",
                        connection.platform
                    )
                } else {
                    format!(
                        "connection '{cid}' is suspended: your account no longer holds usable access to audience '{audience_id}', so it delivers nothing; ask the owner account for usable access"
                    )
                }
            },
        )?;
        let Some(audience) = audience else {
            return Err(Error::NotFound(format!("connection '{cid}' was not found")));
        };
        let inner = inner?;
        let members = match members {
            Some(m) => m,
            None => self.table.query::<AudienceMemberItem>(&q, &inner).await?,
        };
        let owner = audience.owner_account_id.clone();
        let granted = match granted {
            Some(g) => Some(g),
            // A connection made before it named the owner: the grants now.
            None if hinted_owner.is_none() && owner != member.account_id => {
                Some(self.identity_grants_of(&owner, &member.account_id).await?)
            }
            None => None,
        };
        let seen = match &granted {
            Some(g) if !members.items.is_empty() => {
                self.seen_by(&member.account_id, &members.items, g).await?
            }
            _ => HashSet::new(),
        };
        let items = deliver_page(members.items, &seen, granted.as_ref().map(|g| &g.now));
        // Counted where it happens, without waiting for the write (see `usage`).
        self.count_delivery(&audience_id, &connection, items.len());
        Ok(Page {
            items,
            next_cursor: wrap_cursor(cid, members.next_cursor),
        })
    }

    /// Which of `members` account `b` has proven it saw ([`proven_seen`]): one
    /// BatchGetItem (a page holds at most 100 members, the most one BatchGetItem takes).
    pub(crate) async fn seen_by(
        &self,
        account: &AccountId,
        members: &[AudienceMemberItem],
        grants: &IdentityGrantsOf,
    ) -> Result<HashSet<String>> {
        let found = self.seen_profiles(account, members).await?;
        Ok(seen_with(members, &found, grants))
    }

    /// The profiles account `account` recorded of `members` (one BatchGetItem per 100),
    /// read without its grants: what [`seen_with`] decides on.
    pub(crate) async fn seen_profiles(
        &self,
        account: &AccountId,
        members: &[AudienceMemberItem],
    ) -> Result<Vec<SeenProfileItem>> {
        let keys: Vec<_> = members
            .iter()
            .map(|m| keys::seen_profile(account, &m.user_id))
            .collect();
        // Eventually consistent: a profile is only ever added, and one not yet visible
        // gets fewer identities (the granted types), never more.
        let found: Vec<SeenProfileItem> = self.table.batch_get_eventually(&keys).await?;
        Ok(found
            .into_iter()
            .filter(|p| p.account_id == *account)
            .collect())
    }
}

/// Which of `members` the account whose `profiles` these are has proven it saw, under
/// the owner's identity `grants` ([`proven_seen`]).
pub(crate) fn seen_with(
    members: &[AudienceMemberItem],
    profiles: &[SeenProfileItem],
    grants: &IdentityGrantsOf,
) -> HashSet<String> {
    // A type sent now counts as ever granted, also for grants given before their
    // history was recorded.
    let ever: BTreeSet<IdentityType> = grants.ever.union(&grants.now).copied().collect();
    proven_seen(members, profiles, &ever)
}
