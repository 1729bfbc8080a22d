//! Deciding an access request (approve or deny), planned on the request and its audience.

use super::*;
use crate::changes::{self, Change, Subject};

/// What an approval or a denial does.
pub(super) enum Decision {
    Approve(Approval),
    Deny(Denial),
}

/// A decision once checked: the grant an approval gives, or a denial's reason.
pub(super) enum Verdict {
    Grant(SharingEntry),
    Deny(Option<String>),
}

/// The guarded steps of deciding an access request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Decide {
    /// The request is still pending.
    Request,
    /// The audience's sharing is still the one the decision was made on.
    Audience,
    /// The notification's id is new.
    Outbox,
}

/// What deciding a request reads: the request (when the caller's account may see it)
/// and the audience it names.
#[derive(Debug, Clone)]
pub struct ToDecide {
    pub request: Option<AccessRequestItem>,
    pub audience: Option<AudienceItem>,
}

/// Approving or denying a request, planned on the request and its audience: the decided
/// request (guarded by its still being pending), an approval's sharing change, the lock
/// released, the requester's email and both accounts' activity.
pub(super) struct DecideRequest<'a> {
    pub(super) member: &'a AccountMember,
    pub(super) id: &'a RequestId,
    /// The decider's address, shown to the requester.
    pub(super) decided_by_email: String,
    /// The body, not yet told: its fault is answered after the access checks.
    pub(super) body: Option<Input<Decision>>,
    /// The body once told (a replan after a lost race reuses it).
    pub(super) decision: Option<Decision>,
    /// The change events of the last plan that commits.
    pub(super) events: changes::Pending,
}

impl Planner for DecideRequest<'_> {
    type State = ToDecide;
    type Step = Decide;
    type Answer = AccessRequestView;

    /// Its change events take turns on the accounts' sequences with every other write
    /// of those accounts: a burst needs more attempts than a sharing race alone.
    const TRIES: u32 = crate::changes::service::SEQUENCE_TRIES;

    fn plan(&mut self, state: &ToDecide, at: Stamp<'_>) -> Result<Plan<Decide, AccessRequestView>> {
        let (member, id) = (self.member, self.id);
        let item = Core::visible_request(member, id, state.request.clone())?;
        let audience_id = item.audience_id.clone();
        let audience = state.audience.as_ref().ok_or_else(|| {
            Error::NotFound(format!(
                "audience '{audience_id}' of this request no longer exists"
            ))
        })?;
        let now = at.epoch();
        // The request is visible to both sides; only the owner account decides.
        let access = access_of(audience, &member.account_id, now).max(AccessLevel::ViewOnly);
        member.require(
            Action::DecideAccessRequest,
            &Resource::Audience { access },
            || {
                format!(
                    "only account '{}', which owns the audience, can approve or deny this request",
                    item.owner_account_id
                )
            },
        )?;
        if let Some(body) = self.body.take() {
            self.decision = Some(body.checked()?);
        }
        let decision = self
            .decision
            .as_ref()
            .ok_or_else(|| Error::defect("the decision's body was not read".to_owned()))?;
        // The request's own validity (400) before the stored state (409).
        let verdict = match decision {
            Decision::Approve(input) => Verdict::Grant(approved_grant(
                &item.view(),
                input,
                &Provenance {
                    source: GrantSource::AccessRequest,
                    request_id: Some(id.clone()),
                    granted_by: member.user_id.to_string(),
                    granted_at: at.rfc3339(),
                },
                now,
            )?),
            Decision::Deny(input) => {
                let reason = input
                    .reason
                    .as_deref()
                    .filter(|r| !r.is_empty())
                    .map(normalize_newlines);
                if let Some(r) = &reason {
                    crate::validate::text("reason", r, MAX_REASON_CHARS)?;
                }
                Verdict::Deny(reason)
            }
        };
        if item.status != RequestStatus::Pending {
            return Err(Error::Conflict(format!(
                "access request '{id}' was already {}",
                item.status.as_str()
            )));
        }
        let requester = item.requester_account_id.clone();
        let owner = item.owner_account_id.clone();

        let mut decided = item.view();
        decided.decided_at = Some(at.rfc3339());
        decided.decided_by = Some(UserRef {
            user_id: member.user_id.clone(),
            email: self.decided_by_email.clone(),
        });
        let mut tx = Tx::new();
        // An approval's sharing change (the audience after it, its cause): its events
        // are told after the decision's own, with ids taken last.
        let mut approved_change = None;
        let (kind, activity_action, before, after) = match verdict {
            Verdict::Grant(entry) => {
                let level = entry.level;
                let desired: Desired = BTreeMap::from([(requester.clone(), Some(entry.clone()))]);
                let changes = plan_changes(audience, &desired, now);
                if changes.is_empty() {
                    // Already exactly that: still decided against the sharing read.
                    tx.check(
                        Decide::Audience,
                        keys::audience(&audience_id),
                        Cond::eq("sharingVersion", &audience.sharing_version)?,
                    );
                } else {
                    let change = SharingChange {
                        actor: member.user_id.as_str(),
                        audience,
                        changes: &changes,
                        request_id: Some(id),
                        source: GrantSource::AccessRequest,
                    };
                    let after = add_sharing_change(at, &mut tx, Decide::Audience, change)?;
                    approved_change = Some((after, crate::sharing::cause_of(&change)));
                }
                decided.status = RequestStatus::Approved;
                decided.granted_level = Some(level);
                decided.starts_at = entry.starts_at.clone();
                decided.expires_at = entry.expires_at.clone();
                decided.fallback_level = Some(entry.fallback_level);
                decided.allowed_platforms = entry.allowed_platforms.clone();
                (
                    EmailKind::AccessRequestApproved,
                    action::ACCESS_REQUEST_APPROVED,
                    json!(access_of(audience, &requester, now)),
                    json!(level),
                )
            }
            Verdict::Deny(reason) => {
                decided.status = RequestStatus::Denied;
                decided.reason = reason;
                let current = json!(access_of(audience, &requester, now));
                (
                    EmailKind::AccessRequestDenied,
                    action::ACCESS_REQUEST_DENIED,
                    current.clone(),
                    current,
                )
            }
        };
        let new_item = AccessRequestItem::new(decided, item.requester_name.clone());
        tx.put_if(
            Decide::Request,
            &new_item,
            Cond::eq("status", &RequestStatus::Pending)?,
        )?;
        tx.delete(keys::pending_request(&audience_id, &requester));
        match usable_address(&new_item.requested_by.email) {
            Some(to) => {
                add_email(
                    at,
                    &mut tx,
                    Decide::Outbox,
                    to,
                    None,
                    facts(kind, &new_item),
                )?;
            }
            None => tracing::warn!(
                request_id = %id,
                "the requester has no usable email address; no notification"
            ),
        }
        Entry {
            actor_user_id: member.user_id.to_string(),
            action: activity_action,
            audience_id: Some(audience.id.clone()),
            before: Some(before),
            after: Some(after),
            request_id: Some(id.clone()),
            expires_at: new_item.expires_at.clone(),
            starts_at: new_item.starts_at.clone(),
            fallback_level: new_item.fallback_level,
            allowed_platforms: new_item.allowed_platforms.clone(),
            source: (new_item.status == RequestStatus::Approved)
                .then_some(GrantSource::AccessRequest),
            ..Default::default()
        }
        .add_between_at(at, &mut tx, &owner, &requester)?;
        let decided_change = match new_item.status {
            RequestStatus::Approved => Change::AccessRequestApproved {
                request_id: id.clone(),
            },
            _ => Change::AccessRequestDenied {
                request_id: id.clone(),
            },
        };
        self.events = changes::Pending {
            events: vec![changes::event(
                at,
                Subject::of(audience, &requester),
                decided_change,
            )],
            shift: None,
        };
        if let Some((after, cause)) = approved_change {
            let receivers = std::slice::from_ref(&requester);
            self.events.events.extend(changes::access_events(
                at, audience, &after, receivers, &cause,
            ));
            self.events.shift = Some(changes::AccessShift {
                before: audience.clone(),
                after,
                accounts: vec![requester.clone()],
            });
        }

        let view = new_item.into_view();
        tx.answers(&view)?;
        Ok(Plan::Commit(tx, view))
    }

    fn add_outbox<'a>(
        &'a mut self,
        core: &'a Core,
        tx: &'a mut Tx<Decide>,
        at: Stamp<'a>,
    ) -> impl Future<Output = Result<()>> + Send + 'a {
        let shift = self.events.shift.take();
        let events = std::mem::take(&mut self.events.events);
        // A sequence that moved is a lost race like a moved sharing: decide again.
        async move {
            core.add_outbox(tx, Decide::Audience, at, events, shift.as_ref())
                .await
        }
    }

    fn on_guard(&self, step: Decide) -> Conflict {
        match step {
            // The sharing moved since it was read: decide again on a fresh read. A
            // request decided meanwhile is read again too, and answered as such (409).
            Decide::Audience | Decide::Request => Conflict::Retry,
            Decide::Outbox => Conflict::Fail(Error::Conflict(
                "the decision could not be saved because of a concurrent change; try again"
                    .to_owned(),
            )),
        }
    }

    fn gave_up(&self) -> Error {
        Error::Conflict(
            "the sharing of this audience kept changing while the decision was being saved; try again"
                .to_owned(),
        )
    }
}

/// The grant an approval gives: by default the requested level from now until the end
/// of the campaign's last day, for the request's activation platforms only, falling back
/// to the level the account held when it asked (or private, when that is not lower than
/// the approved level). `input` overrides the level, the window and the platforms.
pub fn approved_grant(
    request: &AccessRequestView,
    input: &Approval,
    provenance: &Provenance,
    now: i64,
) -> Result<SharingEntry> {
    let level = input.level.unwrap_or(request.requested_level);
    if level == ShareLevel::Private {
        return Err(Error::Validation(
            "level must be view_only or usable; to refuse the request, deny it".to_owned(),
        ));
    }
    let expires_at = match &input.expires_at {
        Some(raw) => raw.clone(),
        None => default_expiry(&request.campaign, now)?,
    };
    let starts_at = input
        .starts_at
        .clone()
        .unwrap_or_else(|| crate::clock::rfc3339_epoch(now));
    let fallback = if request.held_level < level {
        request.held_level
    } else {
        ShareLevel::Private
    };
    let terms = GrantTerms {
        starts_at: Some(starts_at),
        expires_at: Some(expires_at),
        fallback_level: Some(fallback),
        allowed_platforms: Some(
            input
                .allowed_platforms
                .clone()
                .unwrap_or_else(|| request.activation_platforms.clone()),
        ),
    };
    build_grant(
        level,
        &terms,
        &request.requester_account_name,
        provenance,
        now,
    )?
    .ok_or_else(|| Error::Validation("level must be view_only or usable".to_owned()))
}

/// The default end of an approved grant: the end of the campaign's last day.
pub(super) fn default_expiry(campaign: &Campaign, now: i64) -> Result<String> {
    let end = parse_date("campaign.end", &campaign.end)?;
    let t = campaign_expiry(end)
        .ok_or_else(|| Error::Validation("campaign.end is out of range".to_owned()))?;
    if t.unix_timestamp() <= now {
        return Err(Error::Validation(format!(
            "the campaign ended on {}; send an expiresAt in the future to approve it anyway",
            campaign.end
        )));
    }
    Ok(crate::clock::rfc3339(t))
}

/// A request as `account` sees it: the requesting side is not shown which user of the
/// owner account decided it (an identity provider's subject and address are the owner's
/// to keep); the decision, its time and its grant stay.
pub(super) fn seen_by(mut view: AccessRequestView, account: &AccountId) -> AccessRequestView {
    if view.owner_account_id != *account {
        view.decided_by = None;
    }
    view
}
