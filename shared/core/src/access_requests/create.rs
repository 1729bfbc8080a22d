//! Creating an access request, planned on the audience.

use super::*;
use crate::changes::{self, Change, ChangeEvent, Subject};

/// At most this many admins of the owner account are emailed a request whose audience's
/// creator cannot be.
pub const MAX_ADMINS_NOTIFIED: usize = 10;

/// The guarded steps of creating an access request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Create {
    /// The request's id is new.
    Request,
    /// No other request of the account for the audience is pending.
    Lock,
    /// The audience's sharing is still the one the request was decided on.
    Audience,
    /// The notification's id is new.
    Outbox,
}

/// What creating a request reads: the audience and its creator's address.
#[derive(Debug, Clone, Default)]
pub struct AudienceToAsk {
    pub audience: Option<AudienceItem>,
    /// Where the request's email goes: the address the owner account holds for the
    /// audience's creator (`None`: it has none usable, or the creator left it).
    pub owner_email: Option<String>,
    /// Without `owner_email`: why, and the owner account's admins emailed instead.
    pub instead: Option<NotifyInstead>,
}

/// The request's email when the audience's creator cannot be reached.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotifyInstead {
    /// Recorded on the request as its `access_request_created` notification failure.
    pub reason: String,
    /// The usable addresses of the owner account's admins (at most
    /// [`MAX_ADMINS_NOTIFIED`]).
    pub admins: Vec<String>,
}

/// Creating an access request (the body already read), planned on the audience: the
/// request, the lock that keeps it the only pending one, the check that the sharing is
/// the one decided on, the owner's email and both accounts' activity.
pub(super) struct CreateRequest<'a> {
    pub(super) member: &'a AccountMember,
    pub(super) input: &'a NewAccessRequest,
    pub(super) audience_id: &'a AudienceId,
    /// As the requester's membership has it, for the owner's email.
    pub(super) requester_name: String,
    /// The Reply-To of the owner's email.
    pub(super) requester_email: String,
    /// The change events of the last plan that commits.
    pub(super) events: Vec<ChangeEvent>,
}

impl Planner for CreateRequest<'_> {
    type State = AudienceToAsk;
    type Step = Create;
    type Answer = AccessRequestView;

    /// Its change events take turns on the accounts' sequences with every other write
    /// of those accounts: a burst needs more attempts than a sharing race alone.
    const TRIES: u32 = crate::changes::service::SEQUENCE_TRIES;

    fn plan(
        &mut self,
        state: &AudienceToAsk,
        at: Stamp<'_>,
    ) -> Result<Plan<Create, AccessRequestView>> {
        let (member, input, audience_id) = (self.member, self.input, self.audience_id);
        let audience = state
            .audience
            .as_ref()
            .ok_or_else(|| Error::NotFound(format!("audience '{audience_id}' was not found")))?;
        let access = access_of(audience, &member.account_id, at.epoch());
        // The order of checks: visibility and role (404, 403), then the request's own
        // validity (400), then the stored state (409 already_granted).
        let decided = member.require(
            Action::RequestAccess,
            &Resource::Audience { access },
            || match access {
                AccessLevel::Private => format!("audience '{audience_id}' was not found"),
                AccessLevel::Owner => format!(
                    "your account owns audience '{audience_id}'; there is nothing to request"
                ),
                _ => format!(
                    "your account already holds {access} access to audience '{audience_id}'"
                ),
            },
        );
        match decided {
            Err(e @ (Error::AlreadyGranted(_) | Error::Conflict(_))) => {
                input.validate_rest()?;
                return Err(e);
            }
            other => other?,
        }
        input.validate_rest()?;

        let id = RequestId::for_audience(&at.new_id(), &audience.id)?;
        let view = AccessRequestView {
            id: id.clone(),
            audience_id: audience.id.clone(),
            audience_name: audience.name.clone(),
            owner_account_id: audience.owner_account_id.clone(),
            owner_account_name: audience.owner_account_name.clone(),
            requester_account_id: member.account_id.clone(),
            requester_account_name: member.account_name.clone(),
            requested_by: UserRef {
                user_id: member.user_id.clone(),
                email: self.requester_email.clone(),
            },
            requested_level: ShareLevel::Usable,
            campaign: Campaign {
                details: normalize_newlines(&input.campaign.details),
                ..input.campaign.clone()
            },
            activation_platforms: input.activation_platforms.clone(),
            held_level: match access {
                AccessLevel::Usable => ShareLevel::Usable,
                AccessLevel::Private => ShareLevel::Private,
                _ => ShareLevel::ViewOnly,
            },
            status: RequestStatus::Pending,
            created_at: at.rfc3339(),
            decided_at: None,
            decided_by: None,
            granted_level: None,
            starts_at: None,
            expires_at: None,
            fallback_level: None,
            allowed_platforms: None,
            reason: None,
            // The creator cannot be emailed: said on the request from the start.
            notification_failures: match (&state.owner_email, &state.instead) {
                (None, Some(instead)) => vec![crate::notify::outbox::NotificationFailure {
                    email: EmailKind::AccessRequestCreated,
                    reason: instead.reason.clone(),
                    failed_at: at.rfc3339(),
                }],
                _ => Vec::new(),
            },
        };
        let item = AccessRequestItem::new(view, self.requester_name.clone());
        let lock = PendingRequestItem::new(audience_id, &member.account_id, id.clone());

        let mut tx = Tx::new();
        tx.put_if(Create::Request, &item, Cond::absent())?;
        tx.put_if(Create::Lock, &lock, Cond::absent())?;
        // The decision above holds only for the sharing it was made on.
        tx.check(
            Create::Audience,
            keys::audience(audience_id),
            Cond::eq("sharingVersion", &audience.sharing_version)?,
        );
        let to: Vec<&String> = match (&state.owner_email, &state.instead) {
            (Some(to), _) => vec![to],
            (None, Some(instead)) => instead.admins.iter().collect(),
            (None, None) => Vec::new(),
        };
        if state.owner_email.is_none() {
            tracing::warn!(
                request_id = %id,
                admins = to.len(),
                "the audience's creator cannot be emailed; the owner account's admins are"
            );
        }
        for to in to {
            add_email(
                at,
                &mut tx,
                Create::Outbox,
                to,
                usable_address(&self.requester_email),
                facts(EmailKind::AccessRequestCreated, &item),
            )?;
        }
        let owner = audience.owner_account_id.clone();
        Entry {
            actor_user_id: member.user_id.to_string(),
            action: action::ACCESS_REQUEST_CREATED,
            audience_id: Some(audience.id.clone()),
            before: Some(json!(access)),
            after: Some(json!(ShareLevel::Usable)),
            request_id: Some(id.clone()),
            ..Default::default()
        }
        .add_between_at(at, &mut tx, &owner, &member.account_id)?;
        self.events = vec![changes::event(
            at,
            Subject::of(audience, &member.account_id),
            Change::AccessRequestCreated {
                request_id: id.clone(),
            },
        )];

        let view = item.into_view();
        tx.answers(&view)?;
        Ok(Plan::Commit(tx, view))
    }

    fn add_outbox<'a>(
        &'a mut self,
        core: &'a Core,
        tx: &'a mut Tx<Create>,
        at: Stamp<'a>,
    ) -> impl Future<Output = Result<()>> + Send + 'a {
        let events = std::mem::take(&mut self.events);
        // A sequence that moved is a lost race like a moved sharing: plan again.
        async move {
            core.add_outbox(tx, Create::Audience, at, events, None)
                .await
        }
    }

    fn on_guard(&self, step: Create) -> Conflict {
        match step {
            Create::Lock => Conflict::Fail(Error::Conflict(format!(
                "your account already has a pending request for audience '{}'; \
                 wait for the owner's decision",
                self.audience_id
            ))),
            Create::Audience => Conflict::Retry,
            Create::Request | Create::Outbox => Conflict::Fail(Error::Conflict(
                "the request could not be saved because of a concurrent change; try again"
                    .to_owned(),
            )),
        }
    }

    fn gave_up(&self) -> Error {
        Error::Conflict(
            "the sharing of this audience kept changing while the request was being saved; try again"
                .to_owned(),
        )
    }
}
