//! The access requests service: its `impl Core` methods (the routes' entry points).

use super::*;

impl Core {
    /// `POST /accounts/{b}/access-requests`.
    /// One round trip of reads (the membership, with its names for the email, and the
    /// audience), then one transaction.
    pub async fn create_access_request(
        &self,
        caller: &Caller,
        account_id: &AccountId,
        input: Input<NewAccessRequest>,
    ) -> Result<AccessRequestView> {
        // A retry of an attempt whose write landed: its answer, without a second write.
        if let Some(done) = crate::idempotency::landed()? {
            return Ok(done);
        }
        // A non-member learns about the account first, whatever the body.
        let input = &input.or_after(self.member(caller, account_id)).await?;
        let audience_id = match input.audience() {
            Ok(a) => a,
            Err(e) => {
                // A non-member learns about the account first, whatever the body.
                self.member(caller, account_id).await?;
                return Err(e);
            }
        };
        let (audience_key, membership_key) = (
            keys::audience(&audience_id),
            keys::membership(account_id, &caller.user_id),
        );
        let (member, (first_read, membership)) = self
            .member_and(caller, account_id, async {
                tokio::try_join!(
                    self.table.get::<AudienceItem>(&audience_key),
                    self.table.get::<MembershipItem>(&membership_key)
                )
            })
            .await?;
        let member = &member;
        let requester_name = membership
            .as_ref()
            .map(|m| {
                format!("{} {}", m.first_name, m.last_name)
                    .trim()
                    .to_owned()
            })
            .unwrap_or_default();
        // The Reply-To: the address in the caller's token, else the one of its membership.
        let requester_email = usable_address(&member.email)
            .map(str::to_owned)
            .or_else(|| {
                membership
                    .as_ref()
                    .and_then(|m| usable_address(&m.email))
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| member.email.clone());

        let first = self.audience_to_ask(first_read).await?;
        let mut planner = CreateRequest {
            member,
            input,
            audience_id: &audience_id,
            requester_name,
            requester_email,
            events: Default::default(),
        };
        self.execute(&mut planner, first, || async {
            let found = self.table.get(&keys::audience(&audience_id)).await?;
            self.audience_to_ask(found).await
        })
        .await
    }

    /// The audience a request is for, with the address its own account holds for its
    /// creator; when there is none usable (or the creator left the account), the
    /// addresses of that account's admins instead.
    pub(super) async fn audience_to_ask(
        &self,
        audience: Option<AudienceItem>,
    ) -> Result<AudienceToAsk> {
        let Some(a) = &audience else {
            return Ok(AudienceToAsk::default());
        };
        let creator: Option<MembershipItem> = self
            .table
            .get(&keys::membership(&a.owner_account_id, &a.created_by))
            .await?;
        let owner_email = creator
            .as_ref()
            .and_then(|m| usable_address(&m.email))
            .map(str::to_owned);
        let instead = match (&owner_email, &creator) {
            (Some(_), _) => None,
            (None, creator) => {
                let admins = self.admin_addresses(&a.owner_account_id).await?;
                let why = match creator {
                    None => "the audience's creator is no longer a member of the owner account",
                    Some(_) => {
                        "the owner account holds no usable email address for the audience's creator"
                    }
                };
                let then = if admins.is_empty() {
                    "and none of its admins has one either: nobody was emailed"
                } else {
                    "so the account's admins were emailed instead"
                };
                Some(NotifyInstead {
                    reason: format!("{why}, {then}"),
                    admins,
                })
            }
        };
        Ok(AudienceToAsk {
            audience,
            owner_email,
            instead,
        })
    }

    /// The usable addresses of `account`'s admins (the roles that manage users), in
    /// user id order, at most [`MAX_ADMINS_NOTIFIED`]. One Query of the account's
    /// memberships: only when an audience's creator cannot be emailed.
    pub(super) async fn admin_addresses(&self, account: &AccountId) -> Result<Vec<String>> {
        let q = Query::table(keys::account_pk(account))
            .prefix(keys::MEMBER_PREFIX)
            .of::<MembershipItem>();
        let members: Vec<MembershipItem> = self.table.query_all(&q).await?;
        let mut out: Vec<String> = Vec::new();
        for m in members
            .iter()
            .filter(|m| crate::accounts::counts_as_admin(&m.role))
        {
            if let Some(e) = usable_address(&m.email)
                && !out.iter().any(|o| o == e)
                && out.len() < MAX_ADMINS_NOTIFIED
            {
                out.push(e.to_owned());
            }
        }
        Ok(out)
    }

    /// The caller's address: the one in its token, else the one of its membership.
    pub(super) async fn member_email(&self, member: &AccountMember) -> Result<String> {
        if let Some(e) = usable_address(&member.email) {
            return Ok(e.to_owned());
        }
        let m: Option<MembershipItem> = self
            .table
            .get(&keys::membership(&member.account_id, &member.user_id))
            .await?;
        Ok(m.map(|m| m.email).unwrap_or_else(|| member.email.clone()))
    }

    /// `GET /accounts/{a}/access-requests`.
    pub async fn list_access_requests(
        &self,
        member: &AccountMember,
        query: Input<(Direction, Option<RequestStatus>, PageRequest)>,
    ) -> Result<Page<AccessRequestView>> {
        member.require(Action::ListAccessRequests, &Resource::Account, String::new)?;
        let (direction, status, page) = &query.checked()?;
        let (direction, status) = (*direction, *status);
        let mut q = match direction {
            Direction::Incoming => {
                Query::index(keys::GSI2, keys::incoming_requests(&member.account_id))
            }
            Direction::Outgoing => {
                Query::index(keys::GSI1, keys::outgoing_requests(&member.account_id))
            }
        }
        .newest_first();
        if let Some(s) = status {
            q = q.prefix(keys::status_prefix(s.as_str()));
        }
        let p: Page<AccessRequestItem> = self.table.query(&q, page).await?;
        Ok(Page {
            items: p
                .items
                .into_iter()
                .map(|i| seen_by(i.into_view(), &member.account_id))
                .collect(),
            next_cursor: p.next_cursor,
        })
    }

    /// A request as `member`'s account may see it, already read (its fields as that
    /// side sees them: [`seen_by`]).
    pub(super) fn visible_request(
        member: &AccountMember,
        id: &RequestId,
        found: Option<AccessRequestItem>,
    ) -> Result<AccessRequestItem> {
        let mine = &member.account_id;
        found
            .filter(|i| i.owner_account_id == *mine || i.requester_account_id == *mine)
            .ok_or_else(|| not_found(id.as_str()))
    }

    /// `GET /accounts/{a}/access-requests/{r}` (either side): one round trip.
    pub async fn get_access_request(
        &self,
        caller: &Caller,
        account_id: &AccountId,
        id: &RequestId,
    ) -> Result<AccessRequestView> {
        let (member, found) = self
            .member_and(
                caller,
                account_id,
                // Eventually consistent: which two accounts a request is between never
                // changes; only its status may lag a decision by a moment.
                self.table
                    .get_eventually::<AccessRequestItem>(&keys::access_request(id)),
            )
            .await?;
        Ok(seen_by(
            Self::visible_request(&member, id, found)?.into_view(),
            &member.account_id,
        ))
    }

    /// `POST /accounts/{a}/access-requests/{r}/approve`.
    pub async fn approve_access_request(
        &self,
        caller: &Caller,
        account_id: &AccountId,
        id: &RequestId,
        input: Input<Approval>,
    ) -> Result<AccessRequestView> {
        self.decide_access_request(caller, account_id, id, input.map(Decision::Approve))
            .await
    }

    /// `POST /accounts/{a}/access-requests/{r}/deny`.
    pub async fn deny_access_request(
        &self,
        caller: &Caller,
        account_id: &AccountId,
        id: &RequestId,
        input: Input<Denial>,
    ) -> Result<AccessRequestView> {
        self.decide_access_request(caller, account_id, id, input.map(Decision::Deny))
            .await
    }

    /// The membership, the request and the audience its id names in one round trip,
    /// then one transaction: two round trips. A request whose id does not name its
    /// audience (made before ids did, or one whose hint is wrong) has its audience read
    /// once the request is: three.
    pub(super) async fn decide_access_request(
        &self,
        caller: &Caller,
        account_id: &AccountId,
        id: &RequestId,
        decision: Input<Decision>,
    ) -> Result<AccessRequestView> {
        // A retry of an attempt whose write landed: its answer, without a second write.
        if let Some(done) = crate::idempotency::landed()? {
            return Ok(done);
        }
        let hint = id.audience_hint();
        let (member, (found, hinted)) = self
            .member_and(
                caller,
                account_id,
                self.request_and_hinted_audience(id, &hint),
            )
            .await?;
        let member = &member;
        // The decider's address (read only when the token has none usable) beside the
        // audience when that is still to be read: no extra round trip.
        let (first, decided_by_email) = tokio::try_join!(
            self.request_to_decide(member, id, found, hint.as_ref(), hinted),
            self.member_email(member)
        )?;
        // The body is told once the request is visible and the caller may decide it.
        let mut planner = DecideRequest {
            member,
            id,
            decided_by_email,
            body: Some(decision),
            decision: None,
            events: Default::default(),
        };
        self.execute(&mut planner, first, || async {
            let (found, hinted) = self.request_and_hinted_audience(id, &hint).await?;
            self.request_to_decide(member, id, found, hint.as_ref(), hinted)
                .await
        })
        .await
    }

    /// The request and, together with it, the audience its id names (if it names one).
    pub(super) async fn request_and_hinted_audience(
        &self,
        id: &RequestId,
        hint: &Option<AudienceId>,
    ) -> Result<(Option<AccessRequestItem>, Option<AudienceItem>)> {
        let key = keys::access_request(id);
        tokio::try_join!(self.table.get(&key), async {
            match hint {
                Some(a) => self.table.get::<AudienceItem>(&keys::audience(a)).await,
                None => Ok(None),
            }
        })
    }

    /// The request as `member`'s account may see it and the audience it is for: the one
    /// read with it when the id named that audience, else read now (only once the
    /// request is visible).
    pub(super) async fn request_to_decide(
        &self,
        member: &AccountMember,
        id: &RequestId,
        found: Option<AccessRequestItem>,
        hint: Option<&AudienceId>,
        hinted: Option<AudienceItem>,
    ) -> Result<ToDecide> {
        let request = Self::visible_request(member, id, found).ok();
        let audience = match &request {
            Some(r) if hint == Some(&r.audience_id) => hinted,
            Some(r) => self.table.get(&keys::audience(&r.audience_id)).await?,
            None => None,
        };
        Ok(ToDecide { request, audience })
    }
}
