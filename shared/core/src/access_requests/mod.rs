//! Access requests (seed: "Request 'usable' access for a 'view only' audience" and
//! "Respond to an access request"). A receiving account that holds `view_only` asks the
//! owner for `usable`, giving the requested level, the campaign's date range, its details
//! and the activation platforms. The audience's creator is emailed; the owner's
//! admin-level users approve (which grants through the same code path as a sharing
//! change) or deny, and the requester is emailed the outcome.
//!
//! Every write is one transaction with its email in the outbox and its activity, so a
//! request or a decision never exists without its notification.

mod service;

use crate::activity::{Entry, action};
use crate::audiences::access_of;
use crate::entity::Entity;
use crate::error::{Error, Result};
use crate::ids::{AccountId, AudienceId, RequestId, UserId};
use crate::items::{AudienceItem, GrantSource, MembershipItem, SharingEntry, entity};
use crate::keys::{self, Key};
use crate::notify::email::{EmailFacts, EmailKind};
use crate::notify::outbox::add_email;
use crate::plan::{Conflict, Plan, Planner, Stamp};
use crate::sharing::{
    Desired, GrantTerms, Provenance, add_sharing_change, build_grant, plan_changes,
};
use crate::store::{Page, PageRequest, Query};
use crate::write::{Cond, Tx};
use crate::{AccountMember, Caller, Core, Input, validate};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sharing_policy::{AccessLevel, Action, Resource, ShareLevel};
use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

pub const MAX_DETAILS_CHARS: usize = 4000;
pub const MAX_PLATFORMS: usize = 20;
pub const MAX_PLATFORM_CHARS: usize = 100;
pub const MAX_REASON_CHARS: usize = 2000;

/// Where a request is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    Pending,
    Approved,
    Denied,
}

impl RequestStatus {
    pub const NAMES: &'static str = "pending, approved, denied";

    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Approved => "approved",
            RequestStatus::Denied => "denied",
        }
    }
}

impl FromStr for RequestStatus {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "pending" => Ok(RequestStatus::Pending),
            "approved" => Ok(RequestStatus::Approved),
            "denied" => Ok(RequestStatus::Denied),
            _ => Err(Error::Validation(format!(
                "status '{}' is not valid; use one of: {}",
                s.chars().take(64).collect::<String>(),
                RequestStatus::NAMES
            ))),
        }
    }
}

/// Which side of the requests an account lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Requests for audiences the account owns.
    #[default]
    Incoming,
    /// Requests the account made.
    Outgoing,
}

impl FromStr for Direction {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "incoming" => Ok(Direction::Incoming),
            "outgoing" => Ok(Direction::Outgoing),
            _ => Err(Error::Validation(format!(
                "direction '{}' is not valid; use one of: incoming, outgoing",
                s.chars().take(64).collect::<String>()
            ))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Campaign {
    /// First day, `YYYY-MM-DD`.
    pub start: String,
    /// Last day, `YYYY-MM-DD`, not before `start`.
    pub end: String,
    pub details: String,
}

/// `POST /accounts/{b}/access-requests` body: all four parts are required.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewAccessRequest {
    pub audience_id: String,
    pub requested_level: String,
    pub campaign: Campaign,
    pub activation_platforms: Vec<String>,
}

/// `POST .../approve` body: each part overrides the default grant (the requested level
/// from now until the end of the campaign's last day, for the request's activation
/// platforms).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Approval {
    #[serde(default, deserialize_with = "crate::validate::not_null")]
    pub level: Option<ShareLevel>,
    #[serde(default, deserialize_with = "crate::validate::not_null")]
    pub starts_at: Option<String>,
    #[serde(default, deserialize_with = "crate::validate::not_null")]
    pub expires_at: Option<String>,
    #[serde(default, deserialize_with = "crate::validate::not_null")]
    pub allowed_platforms: Option<Vec<String>>,
}

/// `POST .../deny` body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Denial {
    #[serde(default, deserialize_with = "crate::validate::not_null")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRef {
    pub user_id: UserId,
    pub email: String,
}

/// An access request as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessRequestView {
    pub id: RequestId,
    pub audience_id: AudienceId,
    pub audience_name: String,
    pub owner_account_id: AccountId,
    pub owner_account_name: String,
    pub requester_account_id: AccountId,
    pub requester_account_name: String,
    pub requested_by: UserRef,
    pub requested_level: ShareLevel,
    pub campaign: Campaign,
    pub activation_platforms: Vec<String>,
    /// The level the account held when it asked: the approved grant falls back to it.
    /// Requests stored before this was recorded read as `view_only`, the only level a
    /// request can be made from.
    #[serde(default = "view_only")]
    pub held_level: ShareLevel,
    pub status: RequestStatus,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<UserRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granted_level: Option<ShareLevel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_level: Option<ShareLevel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_platforms: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The emails about this request that could not be sent (absent when none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notification_failures: Vec<crate::notify::outbox::NotificationFailure>,
}

fn view_only() -> ShareLevel {
    ShareLevel::ViewOnly
}

/// The stored access request: `ACCESS_REQUEST#{r}`, listed by the requester on GSI1
/// (`REQUESTS_OUT#{b}` / `{STATUS}#{r}`) and by the owner on GSI2 (`REQUESTS_IN#{a}` /
/// `{STATUS}#{r}`). The status is in both sort keys, so they change with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessRequestItem {
    /// The requester's name as their membership had it (for the owner's email).
    #[serde(default)]
    pub requester_name: String,
    #[serde(flatten)]
    pub request: AccessRequestView,
}

impl AccessRequestItem {
    /// The item of `request` (its keys follow from its status, see the declaration).
    pub fn new(request: AccessRequestView, requester_name: String) -> Self {
        AccessRequestItem {
            requester_name,
            request,
        }
    }

    fn sort(&self) -> String {
        keys::request_sort(self.request.status.as_str(), &self.request.id)
    }
}

impl Entity for AccessRequestItem {
    const TYPE: &'static str = entity::ACCESS_REQUEST;
    fn key(&self) -> Key {
        keys::access_request(&self.request.id)
    }
    fn gsi1(&self) -> Option<Key> {
        Some(Key {
            pk: keys::outgoing_requests(&self.request.requester_account_id),
            sk: self.sort(),
        })
    }
    fn gsi2(&self) -> Option<Key> {
        Some(Key {
            pk: keys::incoming_requests(&self.request.owner_account_id),
            sk: self.sort(),
        })
    }
}

/// Held while a request of an account for an audience is pending (`AUDIENCE#{id}` /
/// `PENDING_REQUEST#{b}`): a second one cannot be written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingRequestItem {
    /// `AUDIENCE#{id}` / `PENDING_REQUEST#{b}`: not one of its attributes, so set by
    /// [`PendingRequestItem::new`] and empty when read.
    #[serde(skip)]
    pub key: Key,
    pub request_id: RequestId,
}

impl PendingRequestItem {
    pub fn new(audience: &AudienceId, requester: &AccountId, request: RequestId) -> Self {
        PendingRequestItem {
            key: keys::pending_request(audience, requester),
            request_id: request,
        }
    }
}

impl Entity for PendingRequestItem {
    const TYPE: &'static str = entity::PENDING_REQUEST;
    fn key(&self) -> Key {
        self.key.clone()
    }
}

/// At most this many admins of the owner account are emailed a request whose audience's
/// creator cannot be.
pub const MAX_ADMINS_NOTIFIED: usize = 10;

/// Multi-line text as a form may send it (`\r\n`) is stored with `\n` line breaks; a
/// lone `\r` stays and is refused as a control character.
pub fn normalize_newlines(text: &str) -> String {
    text.replace("\r\n", "\n")
}

/// A campaign date, `YYYY-MM-DD` exactly.
pub fn parse_date(field: &str, value: &str) -> Result<time::Date> {
    let b = value.as_bytes();
    let shaped = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        });
    let bad = || {
        Error::Validation(format!(
            "{field} '{}' is not a date like 2027-07-01 (YYYY-MM-DD)",
            value.chars().take(40).collect::<String>()
        ))
    };
    if !shaped {
        return Err(bad());
    }
    time::Date::parse(
        value,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|_| bad())
}

/// The end of the campaign's last day: the next day at 00:00:00Z.
pub fn campaign_expiry(end: time::Date) -> Option<time::OffsetDateTime> {
    end.next_day().map(|d| d.midnight().assume_utc())
}

impl NewAccessRequest {
    /// Checks every part; answers the audience id.
    pub fn validate(&self) -> Result<AudienceId> {
        let audience = self.audience()?;
        self.validate_rest()?;
        Ok(audience)
    }

    /// The audience asked for: an id that cannot be one names nothing (404).
    pub fn audience(&self) -> Result<AudienceId> {
        if self.audience_id.is_empty() {
            return Err(Error::Validation("audienceId must not be empty".to_owned()));
        }
        AudienceId::parse(&self.audience_id).map_err(|_| {
            Error::NotFound(format!(
                "audience '{}' was not found",
                self.audience_id.chars().take(64).collect::<String>()
            ))
        })
    }

    /// Everything but the audience: checked once the audience is known to be visible.
    pub fn validate_rest(&self) -> Result<()> {
        if self.requested_level != ShareLevel::Usable.as_str() {
            return Err(Error::Validation(format!(
                "requestedLevel '{}' cannot be requested; only usable can",
                self.requested_level.chars().take(40).collect::<String>()
            )));
        }
        self.campaign.validate()?;
        validate_platforms("activationPlatforms", &self.activation_platforms)?;
        Ok(())
    }
}

impl Campaign {
    pub fn validate(&self) -> Result<()> {
        let start = parse_date("campaign.start", &self.start)?;
        let end = parse_date("campaign.end", &self.end)?;
        if end < start {
            return Err(Error::Validation(format!(
                "campaign.end {} is before campaign.start {}",
                self.end, self.start
            )));
        }
        validate::text(
            "campaign.details",
            &normalize_newlines(&self.details),
            MAX_DETAILS_CHARS,
        )
    }
}

/// A list of activation platforms (a request's, or a grant's `allowedPlatforms`): 1 to
/// 20 distinct single-line names of at most 100 characters.
pub(crate) fn validate_platforms(field: &str, platforms: &[String]) -> Result<()> {
    if platforms.is_empty() {
        return Err(Error::Validation(format!(
            "{field} must name at least one platform"
        )));
    }
    if platforms.len() > MAX_PLATFORMS {
        return Err(Error::Validation(format!(
            "{field} has {} entries; at most {MAX_PLATFORMS} are allowed",
            platforms.len()
        )));
    }
    let mut seen = BTreeSet::new();
    for (i, p) in platforms.iter().enumerate() {
        validate::single_line(&format!("{field}[{i}]"), p, MAX_PLATFORM_CHARS)?;
        if !seen.insert(p.as_str()) {
            return Err(Error::Validation(format!(
                "{field} lists '{p}' more than once"
            )));
        }
    }
    Ok(())
}

fn facts(kind: EmailKind, item: &AccessRequestItem) -> EmailFacts {
    let r = &item.request;
    EmailFacts {
        kind,
        request_id: r.id.to_string(),
        audience_id: r.audience_id.to_string(),
        audience_name: r.audience_name.clone(),
        owner_account_id: r.owner_account_id.to_string(),
        owner_account_name: r.owner_account_name.clone(),
        requester_account_id: r.requester_account_id.to_string(),
        requester_account_name: r.requester_account_name.clone(),
        requester_name: item.requester_name.clone(),
        requester_email: r.requested_by.email.clone(),
        requested_level: r.requested_level,
        campaign_start: r.campaign.start.clone(),
        campaign_end: r.campaign.end.clone(),
        campaign_details: r.campaign.details.clone(),
        activation_platforms: r.activation_platforms.clone(),
        granted_level: r.granted_level,
        starts_at: r.starts_at.clone(),
        expires_at: r.expires_at.clone(),
        fallback_level: r.fallback_level,
        allowed_platforms: r.allowed_platforms.clone(),
        reason: r.reason.clone(),
        decided_by_email: r.decided_by.as_ref().map(|d| d.email.clone()),
    }
}

fn usable_address(email: &str) -> Option<&str> {
    validate::email("email", email).ok().map(|()| email)
}

fn not_found(id: &str) -> Error {
    Error::NotFound(format!("access request '{id}' was not found"))
}

/// What an approval or a denial does.
enum Decision {
    Approve(Approval),
    Deny(Denial),
}

/// A decision once checked: the grant an approval gives, or a denial's reason.
enum Verdict {
    Grant(SharingEntry),
    Deny(Option<String>),
}

/// The guarded steps of creating an access request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Create {
    /// The request's id is new.
    Request,
    /// No other request of the account for the audience is pending.
    Lock,
    /// The audience's sharing is still the one the request was decided on.
    Audience,
    /// The notification's id is new.
    Outbox,
}

/// The guarded steps of deciding an access request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decide {
    /// The request is still pending.
    Request,
    /// The audience's sharing is still the one the decision was made on.
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
struct CreateRequest<'a> {
    member: &'a AccountMember,
    input: &'a NewAccessRequest,
    audience_id: &'a AudienceId,
    /// As the requester's membership has it, for the owner's email.
    requester_name: String,
    /// The Reply-To of the owner's email.
    requester_email: String,
}

impl Planner for CreateRequest<'_> {
    type State = AudienceToAsk;
    type Step = Create;
    type Answer = AccessRequestView;

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

        tx.answers(&item.request)?;
        Ok(Plan::Commit(tx, item.request))
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
struct DecideRequest<'a> {
    member: &'a AccountMember,
    id: &'a RequestId,
    /// The decider's address, shown to the requester.
    decided_by_email: String,
    /// The body, not yet told: its fault is answered after the access checks.
    body: Option<Input<Decision>>,
    /// The body once told (a replan after a lost race reuses it).
    decision: Option<Decision>,
}

impl Planner for DecideRequest<'_> {
    type State = ToDecide;
    type Step = Decide;
    type Answer = AccessRequestView;

    fn plan(&mut self, state: &ToDecide, at: Stamp<'_>) -> Result<Plan<Decide, AccessRequestView>> {
        let (member, id) = (self.member, self.id);
        let item = Core::visible_request(member, id, state.request.clone())?;
        let audience_id = item.request.audience_id.clone();
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
                    item.request.owner_account_id
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
                &item.request,
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
                    validate::text("reason", r, MAX_REASON_CHARS)?;
                }
                Verdict::Deny(reason)
            }
        };
        if item.request.status != RequestStatus::Pending {
            return Err(Error::Conflict(format!(
                "access request '{id}' was already {}",
                item.request.status.as_str()
            )));
        }
        let requester = item.request.requester_account_id.clone();
        let owner = item.request.owner_account_id.clone();

        let mut decided = item.request.clone();
        decided.decided_at = Some(at.rfc3339());
        decided.decided_by = Some(UserRef {
            user_id: member.user_id.clone(),
            email: self.decided_by_email.clone(),
        });
        let mut tx = Tx::new();
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
                    add_sharing_change(
                        at,
                        &mut tx,
                        Decide::Audience,
                        member.user_id.as_str(),
                        audience,
                        &changes,
                        Some(id),
                        GrantSource::AccessRequest,
                    )?;
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
        match usable_address(&new_item.request.requested_by.email) {
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
            expires_at: new_item.request.expires_at.clone(),
            starts_at: new_item.request.starts_at.clone(),
            fallback_level: new_item.request.fallback_level,
            allowed_platforms: new_item.request.allowed_platforms.clone(),
            source: (new_item.request.status == RequestStatus::Approved)
                .then_some(GrantSource::AccessRequest),
            ..Default::default()
        }
        .add_between_at(at, &mut tx, &owner, &requester)?;

        tx.answers(&new_item.request)?;
        Ok(Plan::Commit(tx, new_item.request))
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
fn default_expiry(campaign: &Campaign, now: i64) -> Result<String> {
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
fn seen_by(mut view: AccessRequestView, account: &AccountId) -> AccessRequestView {
    if view.owner_account_id != *account {
        view.decided_by = None;
    }
    view
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> NewAccessRequest {
        NewAccessRequest {
            audience_id: "aud1".into(),
            requested_level: "usable".into(),
            campaign: Campaign {
                start: "2027-07-01".into(),
                end: "2027-08-31".into(),
                details: "Summer".into(),
            },
            activation_platforms: vec!["meta".into()],
        }
    }

    fn fails(f: impl FnOnce(&mut NewAccessRequest)) -> String {
        let mut i = input();
        f(&mut i);
        match i.validate() {
            Err(Error::Validation(d)) => d,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn a_complete_request_is_valid() {
        assert_eq!(input().validate().unwrap().as_str(), "aud1");
    }

    #[test]
    fn every_part_is_checked() {
        assert!(fails(|i| i.requested_level = "view_only".into()).contains("requestedLevel"));
        assert!(fails(|i| i.campaign.start = "2027-7-1".into()).contains("campaign.start"));
        assert!(fails(|i| i.campaign.end = "2027-02-30".into()).contains("campaign.end"));
        assert!(fails(|i| i.campaign.end = "+2027-08-3".into()).contains("campaign.end"));
        assert!(fails(|i| i.campaign.end = "2027-06-30".into()).contains("before"));
        assert!(fails(|i| i.campaign.details = " ".into()).contains("details"));
        assert!(fails(|i| i.campaign.details = "x".repeat(4001)).contains("4000"));
        assert!(fails(|i| i.activation_platforms.clear()).contains("at least one"));
        assert!(fails(|i| i.activation_platforms = vec!["a".into(); 2]).contains("more than once"));
        assert!(
            fails(|i| i.activation_platforms = (0..21).map(|n| n.to_string()).collect())
                .contains("at most 20")
        );
        assert!(
            fails(|i| i.activation_platforms = vec!["meta\r\nBcc: x".into()])
                .contains("activationPlatforms[0]")
        );
        assert!(fails(|i| i.activation_platforms = vec!["x".repeat(101)]).contains("100"));
        assert!(fails(|i| i.audience_id = String::new()).contains("audienceId"));
        // A one-day campaign is fine; details may have several lines.
        let mut i = input();
        i.campaign.end = i.campaign.start.clone();
        i.campaign.details = "line one\nline two\r\nline three".into();
        assert!(i.validate().is_ok());
        assert!(fails(|i| i.campaign.details = "a\rb".into()).contains("control"));
    }

    #[test]
    fn unknown_fields_are_refused() {
        let body = r#"{"audienceId":"a","requestedLevel":"usable","campaign":{"start":"2027-01-01","end":"2027-01-02","details":"d","budget":1},"activationPlatforms":["meta"]}"#;
        assert!(serde_json::from_str::<NewAccessRequest>(body).is_err());
        let body = r#"{"audienceId":"a","requestedLevel":"usable","campaign":{"start":"2027-01-01","end":"2027-01-02","details":"d"},"activationPlatforms":["meta"],"x":1}"#;
        assert!(serde_json::from_str::<NewAccessRequest>(body).is_err());
        let body = r#"{"audienceId":"a","requestedLevel":"usable","activationPlatforms":["meta"]}"#;
        assert!(serde_json::from_str::<NewAccessRequest>(body).is_err());
    }

    #[test]
    fn default_expiry_is_the_end_of_the_last_day() {
        let c = input().campaign;
        assert_eq!(default_expiry(&c, 0).unwrap(), "2027-09-01T00:00:00Z");
        assert!(default_expiry(&c, 1_819_756_800).is_err());
    }

    fn request() -> AccessRequestView {
        AccessRequestView {
            id: RequestId::parse("01JREQ").unwrap(),
            audience_id: AudienceId::parse("aud1").unwrap(),
            audience_name: "Aspiring Athenians".into(),
            owner_account_id: AccountId::parse("mptravel").unwrap(),
            owner_account_name: "mPTravel".into(),
            requester_account_id: AccountId::parse("mpdine").unwrap(),
            requester_account_name: "mPDine".into(),
            requested_by: UserRef {
                user_id: UserId::parse("dan").unwrap(),
                email: "dan@mpdine.example".into(),
            },
            requested_level: ShareLevel::Usable,
            campaign: input().campaign,
            activation_platforms: vec!["meta".into()],
            held_level: ShareLevel::ViewOnly,
            status: RequestStatus::Pending,
            created_at: "2026-11-23T10:00:00Z".into(),
            decided_at: None,
            decided_by: None,
            granted_level: None,
            starts_at: None,
            expires_at: None,
            fallback_level: None,
            allowed_platforms: None,
            reason: None,
            notification_failures: Vec::new(),
        }
    }

    /// The approval planner on a stepped clock: what an approval grants by default, what
    /// each override changes, and what it refuses.
    #[test]
    fn an_approval_is_planned_against_the_clock() {
        use crate::clock::{Clock, FixedClock, rfc3339};
        let clock = FixedClock::at(time::macros::datetime!(2027-06-15 12:00 UTC));
        let by = Provenance {
            source: GrantSource::AccessRequest,
            request_id: Some(RequestId::parse("01JREQ").unwrap()),
            granted_by: "ana".into(),
            granted_at: rfc3339(clock.now()),
        };
        let approval = |level, expires: Option<&str>, platforms: Option<&[&str]>| Approval {
            level,
            starts_at: None,
            expires_at: expires.map(str::to_owned),
            allowed_platforms: platforms.map(|p| p.iter().map(|s| (*s).to_owned()).collect()),
        };
        // (clock, approval, granted level, expiresAt, allowed platforms) or a refusal.
        type Row<'a> = (
            time::OffsetDateTime,
            Approval,
            Option<(ShareLevel, &'a str, Vec<&'a str>)>,
        );
        let june = clock.now();
        let october = time::macros::datetime!(2027-10-01 00:00 UTC);
        let table: Vec<Row> = vec![
            (
                june,
                approval(None, None, None),
                Some((ShareLevel::Usable, "2027-09-01T00:00:00Z", vec!["meta"])),
            ),
            (
                june,
                approval(Some(ShareLevel::ViewOnly), None, Some(&["google_ads"])),
                Some((
                    ShareLevel::ViewOnly,
                    "2027-09-01T00:00:00Z",
                    vec!["google_ads"],
                )),
            ),
            (
                june,
                approval(None, Some("2027-12-01T00:00:00Z"), None),
                Some((ShareLevel::Usable, "2027-12-01T00:00:00Z", vec!["meta"])),
            ),
            (june, approval(Some(ShareLevel::Private), None, None), None),
            // The campaign is over: only an explicit expiresAt approves it.
            (october, approval(None, None, None), None),
            (
                october,
                approval(None, Some("2027-12-01T00:00:00Z"), None),
                Some((ShareLevel::Usable, "2027-12-01T00:00:00Z", vec!["meta"])),
            ),
        ];
        for (at, approval, expected) in table {
            clock.set(at);
            let now = clock.now().unix_timestamp();
            let planned = approved_grant(&request(), &approval, &by, now);
            match (planned, expected) {
                (Ok(g), Some((level, expires, platforms))) => {
                    assert_eq!(g.level, level, "{approval:?} at {at}");
                    assert_eq!(
                        g.expires_at.as_deref(),
                        Some(expires),
                        "{approval:?} at {at}"
                    );
                    // Back to the level held when asking (view_only), if that is lower.
                    let fallback = if level > ShareLevel::ViewOnly {
                        ShareLevel::ViewOnly
                    } else {
                        ShareLevel::Private
                    };
                    assert_eq!(g.fallback_level, fallback, "{approval:?} at {at}");
                    assert_eq!(g.starts_at.as_deref(), Some(rfc3339(at).as_str()));
                    let want: Vec<String> = platforms.iter().map(|p| (*p).to_owned()).collect();
                    assert_eq!(g.allowed_platforms, Some(want), "{approval:?} at {at}");
                }
                (Err(Error::Validation(_)), None) => {}
                (other, want) => panic!("{approval:?} at {at}: {other:?}, expected {want:?}"),
            }
        }
    }

    #[test]
    fn item_keys_follow_the_status() {
        let view = request();
        let item = AccessRequestItem::new(view.clone(), "Dan".into());
        let stored = crate::entity::to_item(&item).unwrap();
        let s = |stored: &crate::write::Item, k: &str| match stored.get(k) {
            Some(crate::write::Value::S(v)) => v.clone(),
            other => panic!("{k}: {other:?}"),
        };
        assert_eq!(s(&stored, "PK"), "ACCESS_REQUEST#01JREQ");
        assert_eq!(s(&stored, "SK"), "ACCESS_REQUEST#01JREQ");
        assert_eq!(s(&stored, "GSI1PK"), "REQUESTS_OUT#mpdine");
        assert_eq!(s(&stored, "GSI1SK"), "PENDING#01JREQ");
        assert_eq!(s(&stored, "GSI2PK"), "REQUESTS_IN#mptravel");
        assert_eq!(s(&stored, "GSI2SK"), "PENDING#01JREQ");
        let stored: crate::store::Item = stored.into();
        assert!(stored.contains_key("campaign") && stored.contains_key("requestedBy"));
        let back: AccessRequestItem = serde_dynamo::from_item(stored).unwrap();
        assert_eq!(back, item);

        let mut approved = view;
        approved.status = RequestStatus::Approved;
        let stored =
            crate::entity::to_item(&AccessRequestItem::new(approved, "Dan".into())).unwrap();
        assert_eq!(s(&stored, "GSI1SK"), "APPROVED#01JREQ");
        assert_eq!(s(&stored, "GSI2SK"), "APPROVED#01JREQ");
    }

    mod planners {
        use super::*;
        use crate::clock::{Clock, FixedClock, rfc3339};
        use crate::plan::testing::{Numbered, committed, guard, member, writes};
        use sharing_policy::Role;

        fn june() -> FixedClock {
            FixedClock::at(time::macros::datetime!(2027-06-15 12:00 UTC))
        }

        /// Audience `aud1` of mPTravel, shared as `sharing` says.
        fn aud1(sharing: &[(&str, SharingEntry)]) -> AudienceItem {
            AudienceItem {
                id: AudienceId::parse("aud1").unwrap(),
                name: "Aspiring Athenians".into(),
                owner_account_id: AccountId::parse("mptravel").unwrap(),
                owner_account_name: "mPTravel".into(),
                ..crate::sharing::tests::audience(sharing)
            }
        }

        fn plain(level: ShareLevel) -> SharingEntry {
            SharingEntry::plain(level, "mPDine")
        }

        /// A grant of `level` over at `end` (epoch seconds), then `fallback`.
        fn window(level: ShareLevel, start: i64, end: i64, fallback: ShareLevel) -> SharingEntry {
            SharingEntry {
                starts_at: Some(crate::clock::rfc3339_epoch(start)),
                starts_at_epoch: Some(start),
                expires_at: Some(crate::clock::rfc3339_epoch(end)),
                expires_at_epoch: Some(end),
                fallback_level: fallback,
                ..plain(level)
            }
        }

        fn create(
            member: &AccountMember,
            input: &NewAccessRequest,
            state: AudienceToAsk,
            clock: &FixedClock,
        ) -> Result<Plan<Create, AccessRequestView>> {
            let ids = Numbered::default();
            let audience_id = AudienceId::parse("aud1").unwrap();
            CreateRequest {
                member,
                input,
                audience_id: &audience_id,
                requester_name: "Dan Diner".into(),
                requester_email: "dan@mpdine.example".into(),
            }
            .plan(&state, Stamp::new(clock.now(), &ids))
        }

        /// The creator cannot be emailed: the request records it from the start and one
        /// email goes to each admin address read (none: nobody, still recorded).
        #[test]
        fn a_request_whose_creator_cannot_be_emailed_goes_to_the_admins() {
            let clock = june();
            let dan = member("dan", "mpdine", Role::User);
            for admins in [vec!["ada@mptravel.example", "al@mptravel.example"], vec![]] {
                let state = AudienceToAsk {
                    audience: Some(aud1(&[("mpdine", plain(ShareLevel::ViewOnly))])),
                    owner_email: None,
                    instead: Some(NotifyInstead {
                        reason: "the creator left".into(),
                        admins: admins.iter().map(|a| (*a).to_owned()).collect(),
                    }),
                };
                let (tx, view) = committed(create(&dan, &input(), state, &clock).unwrap());
                assert_eq!(view.notification_failures.len(), 1);
                assert_eq!(
                    view.notification_failures[0].email,
                    EmailKind::AccessRequestCreated
                );
                assert_eq!(view.notification_failures[0].reason, "the creator left");
                let outbox = writes(&tx)
                    .iter()
                    .filter(|w| w.starts_with("put OUTBOX#"))
                    .count();
                assert_eq!(outbox, admins.len(), "{admins:?}");
            }
        }

        /// (who asks, what mPDine holds at the clock, the creator's address, the input)
        /// → the writes, keys and guards, or the answer.
        #[test]
        fn a_request_is_planned_on_the_audience_read() {
            let clock = june();
            let now = clock.now().unix_timestamp();
            let dan = member("dan", "mpdine", Role::User);
            let owner_mail = Some("ana@mptravel.example".to_owned());
            let ask = |sharing: &[(&str, SharingEntry)], mail: &Option<String>| AudienceToAsk {
                audience: Some(aud1(sharing)),
                owner_email: mail.clone(),
                instead: None,
            };
            let full = vec![
                "put ACCESS_REQUEST#ID01.aud1 ACCESS_REQUEST#ID01.aud1 ?Request",
                "put AUDIENCE#aud1 PENDING_REQUEST#mpdine ?Lock",
                "check AUDIENCE#aud1 AUDIENCE#aud1 ?Audience",
                "put OUTBOX#ID02 OUTBOX#ID02 ?Outbox",
                "put ACCOUNT#mptravel ACTIVITY#ID03",
                "put ACCOUNT#mpdine ACTIVITY#ID04",
            ];
            let no_mail = vec![
                "put ACCESS_REQUEST#ID01.aud1 ACCESS_REQUEST#ID01.aud1 ?Request",
                "put AUDIENCE#aud1 PENDING_REQUEST#mpdine ?Lock",
                "check AUDIENCE#aud1 AUDIENCE#aud1 ?Audience",
                "put ACCOUNT#mptravel ACTIVITY#ID02",
                "put ACCOUNT#mpdine ACTIVITY#ID03",
            ];
            let mut bad_dates = input();
            bad_dates.campaign.end = "2027-06-30".into();
            // (state, input, Ok((writes, held level)) / Err(the error's code))
            type Row = (
                AudienceToAsk,
                NewAccessRequest,
                std::result::Result<(Vec<&'static str>, ShareLevel), &'static str>,
            );
            let table: Vec<Row> = vec![
                (
                    ask(&[("mpdine", plain(ShareLevel::ViewOnly))], &owner_mail),
                    input(),
                    Ok((full.clone(), ShareLevel::ViewOnly)),
                ),
                (
                    ask(&[("mpdine", plain(ShareLevel::ViewOnly))], &None),
                    input(),
                    Ok((no_mail, ShareLevel::ViewOnly)),
                ),
                // usable that has not started yet: view_only now, so it may ask
                (
                    ask(
                        &[(
                            "mpdine",
                            window(ShareLevel::Usable, now + 10, now + 20, ShareLevel::ViewOnly),
                        )],
                        &owner_mail,
                    ),
                    input(),
                    Ok((full, ShareLevel::ViewOnly)),
                ),
                (
                    ask(&[("mpdine", plain(ShareLevel::Usable))], &owner_mail),
                    input(),
                    Err("already_granted"),
                ),
                // The request's own validity (400) before the stored state (409).
                (
                    ask(&[("mpdine", plain(ShareLevel::Usable))], &owner_mail),
                    bad_dates.clone(),
                    Err("validation_failed"),
                ),
                (
                    ask(&[("mpdine", plain(ShareLevel::ViewOnly))], &owner_mail),
                    bad_dates,
                    Err("validation_failed"),
                ),
                // Nothing shared, or shared no more: the audience is not visible.
                (ask(&[], &owner_mail), input(), Err("not_found")),
                (
                    ask(
                        &[(
                            "mpdine",
                            window(
                                ShareLevel::ViewOnly,
                                now - 20,
                                now - 10,
                                ShareLevel::Private,
                            ),
                        )],
                        &owner_mail,
                    ),
                    input(),
                    Err("not_found"),
                ),
                (AudienceToAsk::default(), input(), Err("not_found")),
            ];
            for (state, input, expected) in table {
                let row = format!(
                    "{:?} / {:?}",
                    state.audience.as_ref().map(|a| &a.sharing),
                    input.campaign
                );
                match (create(&dan, &input, state, &clock), expected) {
                    (Ok(plan), Ok((expected, held))) => {
                        let (tx, view) = committed(plan);
                        assert_eq!(writes(&tx), expected, "{row}");
                        assert_eq!(guard(&tx, Create::Request), Cond::absent(), "{row}");
                        assert_eq!(guard(&tx, Create::Lock), Cond::absent(), "{row}");
                        assert_eq!(
                            guard(&tx, Create::Audience),
                            Cond::eq("sharingVersion", &1i64).unwrap(),
                            "{row}"
                        );
                        assert_eq!(view.id.as_str(), "ID01.aud1");
                        assert_eq!(view.status, RequestStatus::Pending);
                        assert_eq!(view.held_level, held, "{row}");
                        assert_eq!(view.created_at, rfc3339(clock.now()));
                        assert_eq!(view.requested_by.email, "dan@mpdine.example");
                        // The answer rides in the transaction (Idempotency-Key).
                        assert_eq!(
                            tx.answer,
                            Some(crate::idempotency::answer_of(&view).unwrap()),
                            "{row}"
                        );
                    }
                    (Err(e), Err(code)) => assert_eq!(e.code().name(), code, "{row}: {e}"),
                    (got, want) => panic!("{row}: got {got:?}, expected {want:?}"),
                }
            }
            // The owner itself has nothing to ask.
            let ana = member("ana", "mptravel", Role::Admin);
            let own = create(&ana, &input(), ask(&[], &owner_mail), &clock);
            assert!(matches!(own, Err(Error::AlreadyGranted(d)) if d.contains("owns")));
        }

        #[test]
        fn a_lost_race_of_a_request_is_told_by_its_step() {
            let dan = member("dan", "mpdine", Role::User);
            let input = input();
            let aud = AudienceId::parse("aud1").unwrap();
            let planner = CreateRequest {
                member: &dan,
                input: &input,
                audience_id: &aud,
                requester_name: String::new(),
                requester_email: String::new(),
            };
            // A duplicate: another request of the account is pending.
            assert!(matches!(
                planner.on_guard(Create::Lock),
                Conflict::Fail(Error::Conflict(d)) if d.contains("already has a pending request")
            ));
            assert!(matches!(
                planner.on_guard(Create::Audience),
                Conflict::Retry
            ));
            assert!(matches!(
                planner.on_guard(Create::Request),
                Conflict::Fail(Error::Conflict(_))
            ));
            assert!(matches!(
                planner.on_guard(Create::Outbox),
                Conflict::Fail(Error::Conflict(_))
            ));
        }

        fn decide(
            member: &AccountMember,
            body: Input<Decision>,
            state: ToDecide,
            clock: &FixedClock,
        ) -> Result<Plan<Decide, AccessRequestView>> {
            let ids = Numbered::default();
            let id = RequestId::parse("01JREQ").unwrap();
            DecideRequest {
                member,
                id: &id,
                decided_by_email: "ana@mptravel.example".into(),
                body: Some(body),
                decision: None,
            }
            .plan(&state, Stamp::new(clock.now(), &ids))
        }

        fn pending(sharing: &[(&str, SharingEntry)]) -> ToDecide {
            with_status(RequestStatus::Pending, sharing)
        }

        fn with_status(status: RequestStatus, sharing: &[(&str, SharingEntry)]) -> ToDecide {
            let view = AccessRequestView {
                status,
                ..request()
            };
            ToDecide {
                request: Some(AccessRequestItem::new(view, "Dan Diner".into())),
                audience: Some(aud1(sharing)),
            }
        }

        fn approve(level: Option<ShareLevel>) -> Input<Decision> {
            Input::valid(Decision::Approve(Approval {
                level,
                ..Approval::default()
            }))
        }

        fn deny(reason: &str) -> Input<Decision> {
            Input::valid(Decision::Deny(Denial {
                reason: Some(reason.into()),
            }))
        }

        /// (clock, decision, request and audience read) → the writes, keys and guards
        /// and the decided request, or the error.
        #[test]
        fn a_decision_is_planned_on_the_request_and_its_audience() {
            let ana = member("ana", "mptravel", Role::Admin);
            let view_only = [("mpdine", plain(ShareLevel::ViewOnly))];
            let approved = vec![
                "update AUDIENCE#aud1 AUDIENCE#aud1 ?Audience",
                "put AUDIENCE#aud1 GRANT#mpdine",
                "put ACCOUNT#mptravel ACTIVITY#ID01",
                "put ACCOUNT#mpdine ACTIVITY#ID02",
                "put ACCESS_REQUEST#01JREQ ACCESS_REQUEST#01JREQ ?Request",
                "delete AUDIENCE#aud1 PENDING_REQUEST#mpdine",
                "put OUTBOX#ID03 OUTBOX#ID03 ?Outbox",
                "put ACCOUNT#mptravel ACTIVITY#ID04",
                "put ACCOUNT#mpdine ACTIVITY#ID05",
            ];
            let denied = vec![
                "put ACCESS_REQUEST#01JREQ ACCESS_REQUEST#01JREQ ?Request",
                "delete AUDIENCE#aud1 PENDING_REQUEST#mpdine",
                "put OUTBOX#ID01 OUTBOX#ID01 ?Outbox",
                "put ACCOUNT#mptravel ACTIVITY#ID02",
                "put ACCOUNT#mpdine ACTIVITY#ID03",
            ];
            let october = FixedClock::at(time::macros::datetime!(2027-10-01 00:00 UTC));
            // The grant a default approval gives in June, already in place.
            let in_place = {
                let clock = june();
                approved_grant(
                    &request(),
                    &Approval::default(),
                    &Provenance {
                        source: GrantSource::AccessRequest,
                        request_id: Some(RequestId::parse("01JREQ").unwrap()),
                        granted_by: "someone".into(),
                        granted_at: rfc3339(clock.now()),
                    },
                    clock.now().unix_timestamp(),
                )
                .unwrap()
            };
            let already = vec![
                "check AUDIENCE#aud1 AUDIENCE#aud1 ?Audience",
                "put ACCESS_REQUEST#01JREQ ACCESS_REQUEST#01JREQ ?Request",
                "delete AUDIENCE#aud1 PENDING_REQUEST#mpdine",
                "put OUTBOX#ID01 OUTBOX#ID01 ?Outbox",
                "put ACCOUNT#mptravel ACTIVITY#ID02",
                "put ACCOUNT#mpdine ACTIVITY#ID03",
            ];
            // (clock, decision, read, Ok((writes, status, granted, fallback)) / Err(code))
            type Row = (
                FixedClock,
                Input<Decision>,
                ToDecide,
                std::result::Result<
                    (
                        Vec<&'static str>,
                        RequestStatus,
                        Option<ShareLevel>,
                        Option<ShareLevel>,
                    ),
                    &'static str,
                >,
            );
            let table: Vec<Row> = vec![
                // approve as asked: usable, back to view_only after the campaign
                (
                    june(),
                    approve(None),
                    pending(&view_only),
                    Ok((
                        approved.clone(),
                        RequestStatus::Approved,
                        Some(ShareLevel::Usable),
                        Some(ShareLevel::ViewOnly),
                    )),
                ),
                // approve at the level already held: a window that ends in private
                (
                    june(),
                    approve(Some(ShareLevel::ViewOnly)),
                    pending(&view_only),
                    Ok((
                        approved,
                        RequestStatus::Approved,
                        Some(ShareLevel::ViewOnly),
                        Some(ShareLevel::Private),
                    )),
                ),
                // the very grant is already in place: no sharing change, still guarded
                (
                    june(),
                    approve(None),
                    pending(&[("mpdine", in_place)]),
                    Ok((
                        already,
                        RequestStatus::Approved,
                        Some(ShareLevel::Usable),
                        Some(ShareLevel::ViewOnly),
                    )),
                ),
                (
                    june(),
                    deny("not this season"),
                    pending(&view_only),
                    Ok((denied, RequestStatus::Denied, None, None)),
                ),
                (
                    june(),
                    approve(Some(ShareLevel::Private)),
                    pending(&view_only),
                    Err("validation_failed"),
                ),
                // the campaign is over: an approval must say until when
                (
                    october,
                    approve(None),
                    pending(&view_only),
                    Err("validation_failed"),
                ),
                (
                    june(),
                    approve(None),
                    with_status(RequestStatus::Approved, &view_only),
                    Err("conflict"),
                ),
                (
                    june(),
                    deny("no"),
                    with_status(RequestStatus::Denied, &view_only),
                    Err("conflict"),
                ),
                // a bad body of a decided request: 400 before 409
                (
                    june(),
                    approve(Some(ShareLevel::Private)),
                    with_status(RequestStatus::Denied, &view_only),
                    Err("validation_failed"),
                ),
                (
                    june(),
                    approve(None),
                    ToDecide {
                        request: None,
                        audience: None,
                    },
                    Err("not_found"),
                ),
                (
                    june(),
                    approve(None),
                    ToDecide {
                        audience: None,
                        ..pending(&view_only)
                    },
                    Err("not_found"),
                ),
            ];
            for (clock, body, state, expected) in table {
                let row = format!(
                    "at {}, {:?} with {:?}",
                    clock.now(),
                    state.request.as_ref().map(|r| r.request.status),
                    state.audience.as_ref().map(|a| &a.sharing)
                );
                match (decide(&ana, body, state, &clock), expected) {
                    (Ok(plan), Ok((expected, status, granted, fallback))) => {
                        let (tx, view) = committed(plan);
                        assert_eq!(writes(&tx), expected, "{row}");
                        assert_eq!(
                            guard(&tx, Decide::Request),
                            Cond::eq("status", &RequestStatus::Pending).unwrap(),
                            "{row}"
                        );
                        assert_eq!(view.status, status, "{row}");
                        assert_eq!(view.granted_level, granted, "{row}");
                        assert_eq!(view.fallback_level, fallback, "{row}");
                        assert_eq!(view.decided_at, Some(rfc3339(clock.now())), "{row}");
                        assert_eq!(
                            view.decided_by.as_ref().map(|d| d.email.as_str()),
                            Some("ana@mptravel.example")
                        );
                        assert_eq!(
                            tx.answer,
                            Some(crate::idempotency::answer_of(&view).unwrap()),
                            "{row}"
                        );
                    }
                    (Err(e), Err(code)) => assert_eq!(e.code().name(), code, "{row}: {e}"),
                    (got, want) => panic!("{row}: got {got:?}, expected {want:?}"),
                }
            }
        }

        #[test]
        fn only_the_owner_decides_and_a_bad_body_is_told_after_that() {
            let clock = june();
            let view_only = [("mpdine", plain(ShareLevel::ViewOnly))];
            let bad = || Input::read(Err(Error::Validation("bad body".into())));
            let dan = member("dan", "mpdine", Role::Admin);
            let ana = member("ana", "mptravel", Role::Admin);
            let requester = decide(&dan, bad(), pending(&view_only), &clock).unwrap_err();
            assert!(
                requester.to_string().contains("only account 'mptravel'"),
                "{requester}"
            );
            let owner = decide(&ana, bad(), pending(&view_only), &clock).unwrap_err();
            assert!(matches!(owner, Error::Validation(d) if d == "bad body"));
            // A lost race: the sharing or the request moved, read again; a clash of
            // outbox ids is answered.
            let id = RequestId::parse("01JREQ").unwrap();
            let planner = DecideRequest {
                member: &ana,
                id: &id,
                decided_by_email: String::new(),
                body: None,
                decision: None,
            };
            assert!(matches!(
                planner.on_guard(Decide::Audience),
                Conflict::Retry
            ));
            assert!(matches!(planner.on_guard(Decide::Request), Conflict::Retry));
            assert!(matches!(
                planner.on_guard(Decide::Outbox),
                Conflict::Fail(Error::Conflict(_))
            ));
        }
    }
}
