//! The connections service: its `impl Core` methods (the routes' entry points).

use super::*;

mod usage;

impl Core {
    /// `GET /accounts/{b}/shared-with-me[?access=]`: one Query on the receiver index;
    /// expired grants are filtered out on read.
    pub async fn shared_with_me(
        &self,
        member: &AccountMember,
        query: Input<(Option<ShareLevel>, PageRequest)>,
    ) -> Result<Page<SharedAudienceView>> {
        member.require(Action::ListSharedWithMe, &Resource::Account, String::new)?;
        let (access, page) = &query.checked()?;
        let access = *access;
        if access == Some(ShareLevel::Private) {
            return Err(Error::Validation(
                "access must be view_only or usable: private audiences are never listed".to_owned(),
            ));
        }
        let now = self.now_epoch();
        let q = Query::index(keys::GSI1, keys::received_grants(&member.account_id))
            .filter(shared_with_me_filter(access, now)?);
        let p: Page<GrantItem> = self.table.query(&q, page).await?;
        Ok(Page {
            items: p
                .items
                .into_iter()
                .filter_map(|g| {
                    let level = g.grant.effective(now);
                    let listed = level != ShareLevel::Private && access.is_none_or(|a| a == level);
                    listed.then(|| SharedAudienceView {
                        changes_at: g.grant.window().changes_at(now).map(rfc3339_epoch),
                        audience_id: g.audience_id.to_string(),
                        name: g.audience_name,
                        owner_account_id: g.owner_account_id.to_string(),
                        owner_account_name: g.owner_account_name,
                        access: level,
                        expires_at: g.grant.expires_at,
                        allowed_platforms: g.grant.allowed_platforms,
                    })
                })
                .collect(),
            next_cursor: p.next_cursor,
        })
    }

    /// `POST /accounts/{b}/audiences/{id}/connections`: the owner or a `usable` holder.
    /// One round trip of reads (membership and audience), then one transaction.
    pub async fn create_connection(
        &self,
        caller: &Caller,
        account_id: &AccountId,
        id: &AudienceId,
        input: Input<NewConnection>,
    ) -> Result<ConnectionView> {
        // A retry of an attempt whose write landed: its answer, without a second write.
        if let Some(done) = crate::idempotency::landed()? {
            return Ok(done);
        }
        // The body names the output to read: a bad one is told after the access checks.
        let input = &input
            .or_after(self.member_and_audience(caller, account_id, id, Action::ConnectAudience))
            .await?;
        let output_id = OutputId::parse(&input.output_id).ok();
        let read_output = async {
            match &output_id {
                Some(o) => {
                    self.table
                        .get::<OutputItem>(&keys::output(account_id, o))
                        .await
                }
                None => Ok(None),
            }
        };
        let (member, audience, access, output) = self
            .member_and_audience_with(caller, account_id, id, Action::ConnectAudience, read_output)
            .await?;
        let member = &member;
        let (Some(output_id), Some(output)) = (output_id, output) else {
            return Err(Error::NotFound(format!(
                "output '{}' was not found in this account: connect one of GET /accounts/{account_id}/outputs",
                input.output_id.chars().take(128).collect::<String>()
            )));
        };
        let platform = &output.platform;
        let allowed = platform_allowed(&audience, &member.account_id, platform);
        member.require(
            Action::ConnectAudience,
            &Resource::Activation {
                access,
                platform_allowed: allowed,
            },
            || {
                let names = audience
                    .sharing
                    .get(&member.account_id)
                    .and_then(|e| e.allowed_platforms.clone())
                    .unwrap_or_default()
                    .join(", ");
                format!(
                    "your account's grant on audience '{id}' allows only these activation platforms: {names}; '{platform}' (the platform of output '{output_id}') is not one of them"
                )
            },
        )?;
        if let Some(given) = &input.platform
            && given != platform
        {
            return Err(Error::Validation(format!(
                "platform '{}' is not output '{output_id}''s platform ('{platform}'): a connection takes its output's platform; leave platform out",
                given.chars().take(64).collect::<String>()
            )));
        }
        let cid = ConnectionId::parse(&self.ids.new_id())?;
        let item = ConnectionItem {
            id: cid.clone(),
            account_id: member.account_id.clone(),
            audience_id: id.clone(),
            output_id: output_id.to_string(),
            platform: platform.clone(),
            created_at: self.now_rfc3339(),
            created_by: member.user_id.clone(),
            owner_account_id: Some(audience.owner_account_id.clone()),
        };
        let place =
            ConnectionOutputItem::new(&member.account_id, id, output_id.as_str(), cid.clone());
        let mut tx = Tx::new();
        tx.put_if(Connect::Output, &place, Cond::absent())?;
        tx.put_if(Connect::Connection, &item, Cond::absent())?;
        tx.update_if(
            Connect::OutputExists,
            keys::output(&member.account_id, &output_id),
            Update::new().add("connections", 1),
            Cond::present(),
        );
        tx.put(&crate::connections::usage::ConnectionUsageItem::of(
            &item, id, &cid,
        ))?;
        tx.update_if(
            Connect::Limit,
            keys::usage_account_count(id, &member.account_id),
            Update::new()
                .add("connections", 1)
                .set(crate::entity::ENTITY_TYPE, entity::CONNECTION_COUNT)?,
            Cond::not_exists("connections")
                .or(Cond::lt("connections", &MAX_CONNECTIONS_PER_ACCOUNT)?),
        );
        let view = connection_view(&item, &audience, &member.account_id, self.now_epoch());
        tx.answers(&view)?;
        match self.commit(tx).await {
            Ok(()) => Ok(view),
            Err(TxError::Guard(Connect::Output | Connect::Connection)) => Err(Error::Conflict(
                format!("output '{output_id}' is already connected to audience '{id}'"),
            )),
            Err(TxError::Guard(Connect::OutputExists)) => {
                Err(crate::outputs::service::output_not_found(&output_id))
            }
            Err(TxError::Guard(Connect::Limit)) => Err(Error::Conflict(format!(
                "your account already holds {MAX_CONNECTIONS_PER_ACCOUNT} connections to audience '{id}', the most it may; delete one first"
            ))),
            Err(TxError::Store(e)) => Err(e.into()),
        }
    }

    /// `GET /accounts/{b}/audiences/{id}/connections`.
    /// Membership and audience in one round trip, then the page.
    pub async fn list_connections(
        &self,
        caller: &Caller,
        account_id: &AccountId,
        id: &AudienceId,
        page: Input<PageRequest>,
    ) -> Result<Page<ConnectionView>> {
        let (member, audience, _) = self
            .member_and_audience(caller, account_id, id, Action::ViewConnections)
            .await?;
        let page = &page.checked()?;
        let q = Query::index(
            keys::GSI1,
            keys::audience_connections(&member.account_id, id),
        );
        let p: Page<ConnectionItem> = self.table.query(&q, page).await?;
        let now = self.now_epoch();
        let ids: Vec<ConnectionId> = p.items.iter().map(|c| c.id.clone()).collect();
        let states = self.delivery_states(&ids).await?;
        Ok(Page {
            items: p
                .items
                .iter()
                .map(|c| {
                    let mut view = connection_view(c, &audience, &member.account_id, now);
                    view.delivery = DeliveryView::of(
                        states.get(&c.id),
                        view.status == ConnectionStatus::Active,
                    );
                    view
                })
                .collect(),
            next_cursor: p.next_cursor,
        })
    }

    /// `GET /accounts/{b}/connections`: every connection of the account across
    /// audiences, oldest first. Two round trips: the membership and one Query of a page
    /// of the account's connections together; then one BatchGetItem of the page's
    /// audiences (their names, owners and the grants the status is derived from). An
    /// audience that no longer exists reads as private.
    pub async fn account_connections(
        &self,
        caller: &Caller,
        account_id: &AccountId,
        page: Input<PageRequest>,
    ) -> Result<Page<AccountConnectionView>> {
        // A bad page is told after the membership and the role (it says what to read).
        let page = &page
            .or_after(async {
                self.member(caller, account_id).await?.require(
                    Action::ViewConnections,
                    &Resource::Account,
                    String::new,
                )
            })
            .await?;
        let q = Query::index(keys::GSI2, keys::account_connections(account_id));
        let (member, p) = self
            .member_and(
                caller,
                account_id,
                self.table.query::<ConnectionItem>(&q, page),
            )
            .await?;
        member.require(Action::ViewConnections, &Resource::Account, String::new)?;
        let audience_keys = p
            .items
            .iter()
            .map(|c| keys::audience(&c.audience_id))
            .collect::<Vec<_>>();
        // The audiences and the connections' delivery states in one BatchGetItem.
        let all_keys: Vec<keys::Key> = audience_keys
            .iter()
            .cloned()
            .chain(p.items.iter().map(|c| keys::delivery_state(&c.id)))
            .collect();
        let found: Vec<serde_json::Value> = if all_keys.is_empty() {
            Vec::new()
        } else {
            self.table.batch_get(&all_keys).await?
        };
        let of_type = |t: &'static str| {
            found
                .iter()
                .filter(move |v| {
                    v.get(crate::entity::ENTITY_TYPE).and_then(|e| e.as_str()) == Some(t)
                })
                .cloned()
        };
        let audiences: Vec<AudienceItem> = of_type(entity::AUDIENCE)
            .filter_map(|v| serde_json::from_value(v).ok())
            .collect();
        let states: std::collections::HashMap<ConnectionId, DeliveryStateItem> =
            of_type(entity::DELIVERY_STATE)
                .filter_map(|v| serde_json::from_value::<DeliveryStateItem>(v).ok())
                .map(|s| (s.connection_id.clone(), s))
                .collect();
        let now = self.now_epoch();
        Ok(Page {
            items: p
                .items
                .iter()
                .map(|c| {
                    let audience = audiences.iter().find(|a| a.id == c.audience_id);
                    let (status, suspended_reason) = match audience {
                        Some(a) => connection_state(
                            access_of(a, &member.account_id, now),
                            platform_allowed(a, &member.account_id, &c.platform),
                        ),
                        None => connection_state(AccessLevel::Private, true),
                    };
                    AccountConnectionView {
                        id: c.id.to_string(),
                        audience_id: c.audience_id.to_string(),
                        audience_name: audience.map(|a| a.name.clone()).unwrap_or_default(),
                        owner_account_id: audience
                            .map(|a| a.owner_account_id.to_string())
                            .unwrap_or_default(),
                        output_id: c.output_id.clone(),
                        platform: c.platform.clone(),
                        delivery: DeliveryView::of(
                            states.get(&c.id),
                            status == ConnectionStatus::Active,
                        ),
                        status,
                        suspended_reason,
                        created_at: c.created_at.clone(),
                    }
                })
                .collect(),
            next_cursor: p.next_cursor,
        })
    }

    /// `DELETE /accounts/{b}/audiences/{id}/connections/{cid}`.
    /// Membership, audience and connection in one round trip, then one transaction.
    pub async fn delete_connection(
        &self,
        caller: &Caller,
        account_id: &AccountId,
        id: &AudienceId,
        cid: &ConnectionId,
    ) -> Result<()> {
        let (member, _, _, found) = self
            .member_and_audience_with(
                caller,
                account_id,
                id,
                Action::DeleteConnection,
                self.table.get::<ConnectionItem>(&keys::connection(cid)),
            )
            .await?;
        let member = &member;
        let c = found
            .filter(|c| c.account_id == member.account_id)
            .ok_or_else(|| connection_not_found(cid))?;
        if c.audience_id != *id {
            return Err(connection_not_found(cid));
        }
        let now = self.now_epoch();
        let disconnect = |count_down: bool, exit_owed: bool| -> Result<Tx<Disconnect>> {
            let mut tx = Tx::new();
            if exit_owed {
                // The exit is durable from the moment the connection is gone: due at
                // once in the schedule's index, whatever becomes of the stream
                // record's job.
                tx.put(&PendingExitItem {
                    connection_id: cid.clone(),
                    connection: c.clone(),
                    counted: count_down,
                    wake_at: Some(now),
                })?;
            } else {
                tx.check(
                    Disconnect::NothingDelivered,
                    keys::delivery_state(cid),
                    Cond::absent(),
                );
            }
            tx.delete_if(
                Disconnect::StillConnected,
                keys::connection(cid),
                Cond::present(),
            );
            tx.delete(keys::connection_output(
                &member.account_id,
                id,
                &c.output_id,
            ));
            tx.delete(keys::usage_connection(id, cid));
            tx.update(
                keys::usage_account_count(id, &member.account_id),
                Update::new().add("connections", -1),
            );
            if let (true, Ok(output_id)) = (count_down, OutputId::parse(&c.output_id)) {
                // Counted down as a connection, counted up as an exit to send: the
                // output is not deleted before its exits are (they are signed with it).
                let mut update = Update::new().add("connections", -1);
                if exit_owed {
                    update = update.add(PENDING_EXITS, 1);
                }
                tx.update_if(
                    Disconnect::OutputExists,
                    keys::output(&member.account_id, &output_id),
                    update,
                    Cond::present(),
                );
            }
            Ok(tx)
        };
        let (mut count_down, mut exit_owed) = (true, false);
        let result = loop {
            match self.commit(disconnect(count_down, exit_owed)?).await {
                // An output is not deleted while connected: only a connection made
                // before outputs existed names none, and has nothing to count down.
                Err(TxError::Guard(Disconnect::OutputExists)) if count_down => {
                    count_down = false;
                }
                // Delivery acted on it: its exit is owed, and written with it.
                Err(TxError::Guard(Disconnect::NothingDelivered)) if !exit_owed => {
                    exit_owed = true;
                }
                other => break other,
            }
        };
        match result {
            Ok(()) => Ok(()),
            Err(TxError::Guard(_)) => Err(connection_not_found(cid)),
            Err(TxError::Store(e)) => Err(e.into()),
        }
    }

    /// One of `member`'s account's connections (another account's reads as missing).
    pub async fn own_connection(
        &self,
        member: &AccountMember,
        cid: &ConnectionId,
    ) -> Result<ConnectionItem> {
        let c: Option<ConnectionItem> = self.table.get(&keys::connection(cid)).await?;
        c.filter(|c| c.account_id == member.account_id)
            .ok_or_else(|| connection_not_found(cid))
    }
}
