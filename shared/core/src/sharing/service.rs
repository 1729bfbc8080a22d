//! The sharing service: its `impl Core` methods (the routes' entry points).

use super::*;

impl Core {
    /// [`add_sharing_change`] now, with the core's ids.
    pub fn add_sharing_change<W>(
        &self,
        tx: &mut Tx<W>,
        audience_step: W,
        change: SharingChange<'_>,
    ) -> Result<AudienceItem> {
        add_sharing_change(self.stamp(), tx, audience_step, change)
    }

    /// `GET /accounts/{a}/audiences/{id}/sharing`: one round trip.
    pub async fn get_sharing(
        &self,
        caller: &Caller,
        account_id: &AccountId,
        id: &AudienceId,
    ) -> Result<SharingView> {
        let (_, audience, _) = self
            .member_and_audience(caller, account_id, id, Action::ViewSharing)
            .await?;
        Ok(sharing_view(&audience, self.now_epoch()))
    }

    /// Runs a [`ChangeSharing`] on the audience already read; a lost race reads it again.
    pub(super) async fn change_sharing(
        &self,
        member: &AccountMember,
        id: &AudienceId,
        first_read: AudienceItem,
        if_match: Option<i64>,
        desire: Desire,
    ) -> Result<SharingView> {
        let mut planner = ChangeSharing {
            actor: member.user_id.as_str(),
            if_match,
            desire,
            events: Default::default(),
        };
        self.execute(&mut planner, first_read, || async {
            Ok(self
                .audience_for(member, id, Action::ChangeSharing)
                .await?
                .0)
        })
        .await
    }

    /// The membership, the audience and the named receiving accounts, read in one round
    /// trip. Only the audience's visibility and the caller's role are decided here; the
    /// receivers (422) are checked by the caller with [`Core::allow_receivers`] after the
    /// body (400) and the precondition (412), so that a receiver learns nothing from the
    /// body check and the order of checks is the one of every write.
    pub(super) async fn read_for_change(
        &self,
        caller: &Caller,
        account_id: &AccountId,
        id: &AudienceId,
        receivers: &[AccountId],
    ) -> Result<(AccountMember, AudienceItem, HashMap<String, AccountItem>)> {
        let key = keys::audience(id);
        let (member, (found, accounts)) = self
            .member_and(caller, account_id, async {
                tokio::try_join!(
                    self.table.get::<AudienceItem>(&key),
                    self.accounts(receivers)
                )
            })
            .await?;
        let (audience, _) = self.authorize_audience(&member, id, Action::ChangeSharing, found)?;
        Ok((member, audience, accounts))
    }

    /// `PUT /accounts/{a}/audiences/{id}/sharing`: declarative; unlisted accounts are
    /// private.
    pub async fn put_sharing(
        &self,
        caller: &Caller,
        account_id: &AccountId,
        id: &AudienceId,
        input: Input<SharingInput>,
        if_match: Option<i64>,
    ) -> Result<SharingView> {
        // Visibility and role come first (read with the receivers in one round trip): a
        // caller who may not change this sharing learns nothing from the body check.
        let input = &input
            .or_after(self.read_for_change(caller, account_id, id, &[]))
            .await?;
        // An over-long list is refused below, after the role check: it is not read.
        let listed: Vec<AccountId> = input.grants.iter().map(|g| g.account_id.clone()).collect();
        let to_read = if listed.len() > MAX_ENTRIES {
            &[][..]
        } else {
            &listed[..]
        };
        let (member, audience, accounts) = self
            .read_for_change(caller, account_id, id, to_read)
            .await?;
        if input.grants.len() > MAX_ENTRIES {
            return Err(Error::Validation(format!(
                "at most {MAX_ENTRIES} grants are allowed"
            )));
        }
        let mut seen = BTreeSet::new();
        for g in &input.grants {
            if !seen.insert(&g.account_id) {
                return Err(Error::Validation(format!(
                    "account '{}' is listed twice",
                    g.account_id
                )));
            }
        }
        let member = &member;
        let now = self.now_epoch();
        let provenance = self.provenance(member);
        // Then the request's own validity (400), then the precondition (412), then the
        // stored state (the receivers' organization: 422).
        let mut parsed = input
            .grants
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let grant = build_grant(g.level, &g.terms(), "", &provenance, now).map_err(
                    |e| match e {
                        Error::Validation(d) => Error::Validation(format!("grants[{i}]: {d}")),
                        other => other,
                    },
                )?;
                Ok((g.account_id.clone(), grant))
            })
            .collect::<Result<Desired>>()?;
        check_if_match(if_match, audience.sharing_version)?;
        Core::allow_receivers(member, &listed, &accounts)?;
        for (receiver, grant) in parsed.iter_mut() {
            if let (Some(g), Some(a)) = (grant.as_mut(), accounts.get(receiver.as_str())) {
                g.account_name = a.name.clone();
            }
        }
        self.change_sharing(member, id, audience, if_match, Desire::Exactly(parsed))
            .await
    }

    /// `PUT /accounts/{a}/audiences/{id}/sharing/{receiver}`.
    /// One round trip of reads (membership, audience, receiver), then one transaction.
    pub async fn put_grant(
        &self,
        caller: &Caller,
        account_id: &AccountId,
        id: &AudienceId,
        receiver: PathId<AccountId>,
        input: Input<OneGrantInput>,
        if_match: Option<i64>,
    ) -> Result<SharingView> {
        // A receiver id that cannot be an account is outside the organization like any
        // unknown account: told with the other receivers' checks (422), last.
        let parsed = receiver;
        let receivers = parsed.as_ref().map(std::slice::from_ref).unwrap_or(&[]);
        let (member, audience, accounts) = self
            .read_for_change(caller, account_id, id, receivers)
            .await?;
        let member = &member;
        let input = input.checked()?;
        let mut grant = build_grant(
            input.level,
            &input.terms(),
            "",
            &self.provenance(member),
            self.now_epoch(),
        )?;
        check_if_match(if_match, audience.sharing_version)?;
        let receiver = &parsed.map_err(|raw| {
            Error::CrossOrganization(format!(
                "account '{}' is not in your organization; sharing never leaves the organization",
                raw.chars().take(64).collect::<String>()
            ))
        })?;
        Core::allow_receivers(member, std::slice::from_ref(receiver), &accounts)?;
        if let (Some(g), Some(a)) = (grant.as_mut(), accounts.get(receiver.as_str())) {
            g.account_name = a.name.clone();
        }
        let desired: Desired = BTreeMap::from([(receiver.clone(), grant)]);
        self.change_sharing(member, id, audience, if_match, Desire::These(desired))
            .await
    }

    /// A grant made by `member` now, on the audience itself.
    pub(super) fn provenance(&self, member: &AccountMember) -> Provenance {
        Provenance {
            source: GrantSource::Grant,
            request_id: None,
            granted_by: member.user_id.to_string(),
            granted_at: self.now_rfc3339(),
        }
    }
}
