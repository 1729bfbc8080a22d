//! `/accounts/{b}/outputs`: an account's outputs, configured by the roles that may
//! (`manage_outputs`), read by every member. Saving (replace, delete, rotate) is a pure
//! planner on the output read, run by the one executor.

use super::destination::{self, Destination, DestinationInput};
use super::item::{OutputItem, OutputView, OutputWithSecret, PENDING_EXITS, SigningSecret};
use crate::audiences::check_if_match;
use crate::clock::rfc3339_epoch;
use crate::error::{Error, Result};
use crate::ids::{AccountId, OutputId};
use crate::keys;
use crate::plan::{Plan, Planner, Stamp};
use crate::store::{Page, PageRequest, Query};
use crate::validate;
use crate::write::{Cond, Tx, TxError, Update};
use crate::{AccountMember, Caller, Core, Input};
use base64::Engine;
use serde::Deserialize;
use sharing_policy::{Action, Resource};

/// How long a rotated-out secret keeps signing beside the new one.
pub const PREVIOUS_SECRET_SECONDS: i64 = 24 * 60 * 60;
/// An output's name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// A platform's name, in characters (the names a grant's `allowedPlatforms` uses).
pub const MAX_PLATFORM_CHARS: usize = 64;

/// `POST` and `PUT /accounts/{b}/outputs[/{id}]` body.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutputInput {
    pub name: String,
    pub platform: String,
    pub destination: DestinationInput,
}

/// An output's configuration, checked (its webhook's host resolved).
#[derive(Debug, Clone, PartialEq)]
pub struct OutputConfig {
    pub name: String,
    pub platform: String,
    pub destination: Destination,
}

impl Core {
    async fn check_output(&self, input: &OutputInput) -> Result<OutputConfig> {
        validate::single_line("name", &input.name, MAX_NAME_CHARS)?;
        validate::single_line("platform", &input.platform, MAX_PLATFORM_CHARS)?;
        let destination = destination::check(&input.destination, self.reach).await?;
        Ok(OutputConfig {
            name: input.name.clone(),
            platform: input.platform.clone(),
            destination,
        })
    }

    /// `POST /accounts/{b}/outputs`: 201 with the webhook's signing secret, shown this
    /// once. The membership was resolved by the caller; one write.
    pub async fn create_output(
        &self,
        member: &AccountMember,
        input: Input<OutputInput>,
    ) -> Result<OutputWithSecret> {
        // A retry of an attempt whose write landed: its answer, without a second write.
        if let Some(done) = crate::idempotency::landed()? {
            return Ok(done);
        }
        member.require(Action::ManageOutputs, &Resource::Account, String::new)?;
        let config = self.check_output(&input.checked()?).await?;
        let at = self.stamp();
        let secret = config
            .destination
            .is_webhook()
            .then(new_signing_secret)
            .transpose()?;
        let item = OutputItem {
            id: OutputId::parse(&at.new_id().to_ascii_lowercase())?,
            account_id: member.account_id.clone(),
            name: config.name,
            platform: config.platform,
            destination: config.destination,
            created_at: at.rfc3339(),
            created_by: member.user_id.clone(),
            version: 1,
            updated_at: at.rfc3339(),
            connections: 0,
            pending_exits: 0,
            signing_secret: secret,
            previous_signing_secret: None,
            previous_secret_expires_at: None,
        };
        let answer = OutputWithSecret {
            output: OutputView::from(&item),
            signing_secret: item.signing_secret.as_ref().map(|s| s.reveal().to_owned()),
            previous_secret_expires_at: None,
        };
        let mut tx = Tx::new();
        tx.put_if(OutputIsNew, &item, Cond::absent())?;
        tx.answers(&answer)?;
        match self.commit(tx).await {
            Ok(()) => Ok(answer),
            Err(TxError::Guard(OutputIsNew)) => Err(Error::Conflict(
                "a new output's id was already taken; try again".to_owned(),
            )),
            Err(TxError::Store(e)) => Err(e.into()),
        }
    }

    /// `GET /accounts/{b}/outputs`: one Query of the account's partition.
    pub async fn list_outputs(
        &self,
        member: &AccountMember,
        page: Input<PageRequest>,
    ) -> Result<Page<OutputView>> {
        let page = &page.checked()?;
        let q = Query::table(keys::account_pk(&member.account_id))
            .prefix(keys::OUTPUT_PREFIX)
            .of::<OutputItem>();
        let p: Page<OutputItem> = self.table.query(&q, page).await?;
        Ok(Page {
            items: p.items.iter().map(OutputView::from).collect(),
            next_cursor: p.next_cursor,
        })
    }

    /// The membership and the output together (one round trip).
    async fn member_and_output(
        &self,
        caller: &Caller,
        account_id: &AccountId,
        id: &OutputId,
    ) -> Result<(AccountMember, Option<OutputItem>)> {
        self.member_and(caller, account_id, self.read_output(account_id, id))
            .await
    }

    async fn read_output(
        &self,
        account_id: &AccountId,
        id: &OutputId,
    ) -> Result<Option<OutputItem>> {
        self.table.get(&keys::output(account_id, id)).await
    }

    /// `GET /accounts/{b}/outputs/{id}` (with its `ETag`): every member.
    pub async fn get_output(
        &self,
        caller: &Caller,
        account_id: &AccountId,
        id: &OutputId,
    ) -> Result<OutputView> {
        let (_, output) = self.member_and_output(caller, account_id, id).await?;
        output
            .as_ref()
            .map(OutputView::from)
            .ok_or_else(|| output_not_found(id))
    }

    /// `PUT /accounts/{b}/outputs/{id}` (If-Match): the configuration replaced; its
    /// connections and its secret stay.
    pub async fn replace_output(
        &self,
        caller: &Caller,
        account_id: &AccountId,
        id: &OutputId,
        input: Input<OutputInput>,
        if_match: Option<i64>,
    ) -> Result<OutputView> {
        let (member, output) = self.member_and_output(caller, account_id, id).await?;
        member.require(Action::ManageOutputs, &Resource::Account, String::new)?;
        if output.is_none() {
            return Err(output_not_found(id));
        }
        let config = self.check_output(&input.checked()?).await?;
        let mut planner = ReplaceOutput {
            id,
            config: &config,
            if_match,
        };
        self.execute(&mut planner, output, || self.read_output(account_id, id))
            .await
    }

    /// `DELETE /accounts/{b}/outputs/{id}`: 409 while a connection uses it.
    pub async fn delete_output(
        &self,
        caller: &Caller,
        account_id: &AccountId,
        id: &OutputId,
    ) -> Result<()> {
        let (member, output) = self.member_and_output(caller, account_id, id).await?;
        member.require(Action::ManageOutputs, &Resource::Account, String::new)?;
        let mut planner = DeleteOutput { id };
        self.execute(&mut planner, output, || self.read_output(account_id, id))
            .await
    }

    /// `POST /accounts/{b}/outputs/{id}/rotate-secret`: a new signing secret, shown
    /// once; the previous one keeps signing beside it for 24 hours.
    pub async fn rotate_output_secret(
        &self,
        caller: &Caller,
        account_id: &AccountId,
        id: &OutputId,
    ) -> Result<OutputWithSecret> {
        if let Some(done) = crate::idempotency::landed()? {
            return Ok(done);
        }
        let (member, output) = self.member_and_output(caller, account_id, id).await?;
        member.require(Action::ManageOutputs, &Resource::Account, String::new)?;
        let mut planner = RotateSecret {
            id,
            new: new_signing_secret()?,
        };
        self.execute(&mut planner, output, || self.read_output(account_id, id))
            .await
    }
}

impl Core {
    /// An output with this id, written as ops would (a fixture, a test's setup) unless
    /// one is there already: `true` when it wrote it. Not checked against [`Core::reach`].
    pub async fn put_output_if_absent(
        &self,
        account_id: &AccountId,
        id: &OutputId,
        name: &str,
        platform: &str,
        destination: &Destination,
        created_by: &str,
    ) -> Result<bool> {
        let at = self.stamp();
        let item = OutputItem {
            id: id.clone(),
            account_id: account_id.clone(),
            name: name.to_owned(),
            platform: platform.to_owned(),
            destination: destination.clone(),
            created_at: at.rfc3339(),
            created_by: crate::ids::UserId::parse(created_by)?,
            version: 1,
            updated_at: at.rfc3339(),
            connections: 0,
            pending_exits: 0,
            signing_secret: destination
                .is_webhook()
                .then(new_signing_secret)
                .transpose()?,
            previous_signing_secret: None,
            previous_secret_expires_at: None,
        };
        self.table.put(&item, Some(Cond::absent())).await
    }
}

/// A fresh signing secret: 32 random bytes from the system's CSPRNG, as `whsec_` and
/// URL-safe base64.
pub fn new_signing_secret() -> Result<SigningSecret> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::defect("the system's random source failed"))?;
    Ok(SigningSecret::new(format!(
        "whsec_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )))
}

pub(crate) fn output_not_found(id: &OutputId) -> Error {
    Error::NotFound(format!("output '{id}' was not found in this account"))
}

/// The one guard of creating an output: its id is new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct OutputIsNew;

/// The one guard of saving an output: it is as it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct AsRead;

/// Replacing an output's configuration, planned on the output read.
struct ReplaceOutput<'a> {
    id: &'a OutputId,
    config: &'a OutputConfig,
    if_match: Option<i64>,
}

impl Planner for ReplaceOutput<'_> {
    type State = Option<OutputItem>;
    type Step = AsRead;
    type Answer = OutputView;

    fn plan(
        &mut self,
        read: &Option<OutputItem>,
        at: Stamp<'_>,
    ) -> Result<Plan<AsRead, OutputView>> {
        let read = read.as_ref().ok_or_else(|| output_not_found(self.id))?;
        check_if_match(self.if_match, read.version)?;
        let c = self.config;
        if c.destination.kind() != read.destination.kind() {
            return Err(Error::Conflict(format!(
                "output '{}' is a {} output; a destination's type cannot change: create another output",
                self.id,
                read.destination.kind()
            )));
        }
        // A connection's platform is its output's: moving it would change what the
        // grants' allowed platforms decide for connections already made.
        let platform_moves = c.platform != read.platform;
        if platform_moves && read.connections > 0 {
            return Err(Error::Conflict(format!(
                "output '{}' is used by {} connection(s) on platform '{}': delete them before changing its platform",
                self.id, read.connections, read.platform
            )));
        }
        let mut saved = read.clone();
        saved.name = c.name.clone();
        saved.platform = c.platform.clone();
        saved.destination = c.destination.clone();
        saved.version += 1;
        saved.updated_at = at.rfc3339();
        let update = Update::new()
            .set("name", &saved.name)?
            .set("platform", &saved.platform)?
            .set("destination", &saved.destination)?
            .set("version", &saved.version)?
            .set("updatedAt", &saved.updated_at)?;
        let mut guard = Cond::version(read.version);
        if platform_moves {
            guard = guard.and(Cond::eq("connections", &0)?);
        }
        let mut tx = Tx::new();
        tx.update_if(
            AsRead,
            keys::output(&read.account_id, &read.id),
            update,
            guard,
        );
        Ok(Plan::Commit(tx, OutputView::from(&saved)))
    }

    fn gave_up(&self) -> Error {
        Error::Conflict("the output kept changing while it was being saved; try again".to_owned())
    }
}

/// Deleting an output that no connection uses.
struct DeleteOutput<'a> {
    id: &'a OutputId,
}

impl Planner for DeleteOutput<'_> {
    type State = Option<OutputItem>;
    type Step = AsRead;
    type Answer = ();

    fn plan(&mut self, read: &Option<OutputItem>, _: Stamp<'_>) -> Result<Plan<AsRead, ()>> {
        let read = read.as_ref().ok_or_else(|| output_not_found(self.id))?;
        if read.connections > 0 {
            return Err(Error::Conflict(format!(
                "output '{}' is used by {} connection(s): delete them first",
                self.id, read.connections
            )));
        }
        if read.pending_exits > 0 {
            return Err(Error::Conflict(format!(
                "output '{}' still has to take back what it was sent for {} deleted connection(s) (their exits are signed with its secret): try again once they are delivered",
                self.id, read.pending_exits
            )));
        }
        let mut tx = Tx::new();
        tx.delete_if(
            AsRead,
            keys::output(&read.account_id, &read.id),
            Cond::version(read.version)
                .and(Cond::eq("connections", &0)?)
                .and(Cond::not_exists(PENDING_EXITS).or(Cond::le(PENDING_EXITS, &0)?)),
        );
        Ok(Plan::Commit(tx, ()))
    }

    fn gave_up(&self) -> Error {
        Error::Conflict("the output kept changing while it was being deleted; try again".to_owned())
    }
}

/// A webhook's secret rotated: the new one current, the one read signing beside it for
/// [`PREVIOUS_SECRET_SECONDS`].
struct RotateSecret<'a> {
    id: &'a OutputId,
    new: SigningSecret,
}

impl Planner for RotateSecret<'_> {
    type State = Option<OutputItem>;
    type Step = AsRead;
    type Answer = OutputWithSecret;

    fn plan(
        &mut self,
        read: &Option<OutputItem>,
        at: Stamp<'_>,
    ) -> Result<Plan<AsRead, OutputWithSecret>> {
        let read = read.as_ref().ok_or_else(|| output_not_found(self.id))?;
        if !read.destination.is_webhook() {
            return Err(Error::Conflict(format!(
                "output '{}' is a {} output: only webhooks have a signing secret",
                self.id,
                read.destination.kind()
            )));
        }
        let until = at.epoch() + PREVIOUS_SECRET_SECONDS;
        let mut update = Update::new()
            .set("signingSecret", &self.new)?
            .set("updatedAt", &at.rfc3339())?;
        let guard = match &read.signing_secret {
            Some(old) => {
                update = update
                    .set("previousSigningSecret", old)?
                    .set("previousSecretExpiresAt", &until)?;
                Cond::eq("signingSecret", old)?
            }
            None => Cond::present().and(Cond::not_exists("signingSecret")),
        };
        let mut tx = Tx::new();
        tx.update_if(
            AsRead,
            keys::output(&read.account_id, &read.id),
            update,
            guard,
        );
        let mut view = OutputView::from(read);
        view.updated_at = at.rfc3339();
        let answer = OutputWithSecret {
            output: view,
            signing_secret: Some(self.new.reveal().to_owned()),
            previous_secret_expires_at: read.signing_secret.as_ref().map(|_| rfc3339_epoch(until)),
        };
        tx.answers(&answer)?;
        Ok(Plan::Commit(tx, answer))
    }

    fn gave_up(&self) -> Error {
        Error::Conflict("the output's secret kept changing; try again".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, FixedClock};
    use crate::ids::UserId;
    use crate::plan::Conflict;
    use crate::plan::testing::{Numbered, committed, guard, writes};

    fn webhook(url: &str) -> Destination {
        Destination::Webhook { url: url.into() }
    }

    fn output(connections: i64) -> OutputItem {
        OutputItem {
            id: OutputId::parse("o1").unwrap(),
            account_id: AccountId::parse("b").unwrap(),
            name: "Google Ads".into(),
            platform: "google_ads".into(),
            destination: webhook("https://93.184.216.34/a"),
            created_at: "1970-01-01T00:00:00Z".into(),
            created_by: UserId::parse("dina").unwrap(),
            version: 3,
            updated_at: "1970-01-01T00:00:00Z".into(),
            connections,
            pending_exits: 0,
            signing_secret: Some(SigningSecret::new("whsec_old".into())),
            previous_signing_secret: None,
            previous_secret_expires_at: None,
        }
    }

    fn config(platform: &str, destination: Destination) -> OutputConfig {
        OutputConfig {
            name: "Ads".into(),
            platform: platform.into(),
            destination,
        }
    }

    fn err<T: std::fmt::Debug>(r: Result<T>) -> (crate::policy::Code, String) {
        let e = r.unwrap_err();
        (e.code(), e.to_string())
    }

    /// (stored, config, If-Match) → the writes and guard and the saved view, or the error.
    #[test]
    fn a_replacement_is_planned_on_the_output_read() {
        use crate::policy::Code;
        let clock = FixedClock::at(time::OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(100));
        let id = OutputId::parse("o1").unwrap();
        let eventbridge = Destination::AmazonEventbridge {
            event_bus_arn: "arn:aws:events:eu-west-1:123456789012:event-bus/x".into(),
        };
        let moved = webhook("https://93.184.216.35/b");
        type Row = (
            Option<OutputItem>,
            OutputConfig,
            Option<i64>,
            std::result::Result<Cond, Code>,
        );
        let table: Vec<Row> = vec![
            // Same platform: the version is the guard, connections or not.
            (
                Some(output(2)),
                config("google_ads", moved.clone()),
                Some(3),
                Ok(Cond::version(3)),
            ),
            (
                Some(output(0)),
                config("google_ads", moved.clone()),
                None,
                Ok(Cond::version(3)),
            ),
            // A new platform only while no connection uses it, which the guard holds.
            (
                Some(output(0)),
                config("meta", moved.clone()),
                None,
                Ok(Cond::version(3).and(Cond::eq("connections", &0).unwrap())),
            ),
            (
                Some(output(1)),
                config("meta", moved.clone()),
                None,
                Err(Code::Conflict),
            ),
            (
                Some(output(0)),
                config("google_ads", eventbridge),
                None,
                Err(Code::Conflict),
            ),
            (
                Some(output(0)),
                config("google_ads", moved.clone()),
                Some(2),
                Err(Code::PreconditionFailed),
            ),
            (None, config("google_ads", moved), None, Err(Code::NotFound)),
        ];
        for (read, config, if_match, expected) in table {
            let ids = Numbered::default();
            let mut p = ReplaceOutput {
                id: &id,
                config: &config,
                if_match,
            };
            let planned = p.plan(&read, Stamp::new(clock.now(), &ids));
            match expected {
                Ok(cond) => {
                    let (tx, view) = committed(planned.unwrap());
                    assert_eq!(writes(&tx), vec!["update ACCOUNT#b OUTPUT#o1 ?AsRead"]);
                    assert_eq!(guard(&tx, AsRead), cond);
                    assert_eq!(
                        (view.version, view.platform.as_str()),
                        (4, config.platform.as_str())
                    );
                    assert_eq!(view.updated_at, "1970-01-01T00:01:40Z");
                    assert!(matches!(p.on_guard(AsRead), Conflict::Retry));
                }
                Err(code) => assert_eq!(err(planned).0, code, "{config:?} {if_match:?}"),
            }
        }
    }

    #[test]
    fn deleting_waits_for_the_last_connection_and_rotating_keeps_the_old_secret() {
        use crate::policy::Code;
        let clock = FixedClock::at(time::OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(100));
        let id = OutputId::parse("o1").unwrap();
        let ids = Numbered::default();
        let at = Stamp::new(clock.now(), &ids);

        let (tx, ()) = committed(DeleteOutput { id: &id }.plan(&Some(output(0)), at).unwrap());
        assert_eq!(writes(&tx), vec!["delete ACCOUNT#b OUTPUT#o1 ?AsRead"]);
        assert_eq!(
            guard(&tx, AsRead),
            Cond::version(3)
                .and(Cond::eq("connections", &0).unwrap())
                .and(Cond::not_exists(PENDING_EXITS).or(Cond::le(PENDING_EXITS, &0).unwrap()))
        );
        let (code, detail) = err(DeleteOutput { id: &id }.plan(&Some(output(2)), at));
        assert_eq!(code, Code::Conflict);
        assert!(detail.contains("2 connection(s)"), "{detail}");
        // A deleted connection's exit not yet delivered holds it too: it is signed with
        // the output's secret.
        let mut exiting = output(0);
        exiting.pending_exits = 1;
        let (code, detail) = err(DeleteOutput { id: &id }.plan(&Some(exiting), at));
        assert_eq!(code, Code::Conflict);
        assert!(detail.contains("1 deleted connection(s)"), "{detail}");
        assert_eq!(
            err(DeleteOutput { id: &id }.plan(&None, at)).0,
            Code::NotFound
        );

        let mut rotate = RotateSecret {
            id: &id,
            new: SigningSecret::new("whsec_new".into()),
        };
        let (tx, answer) = committed(rotate.plan(&Some(output(1)), at).unwrap());
        assert_eq!(writes(&tx), vec!["update ACCOUNT#b OUTPUT#o1 ?AsRead"]);
        assert_eq!(
            guard(&tx, AsRead),
            Cond::eq("signingSecret", &SigningSecret::new("whsec_old".into())).unwrap()
        );
        assert_eq!(answer.signing_secret.as_deref(), Some("whsec_new"));
        assert_eq!(
            answer.previous_secret_expires_at.as_deref(),
            Some("1970-01-02T00:01:40Z")
        );
        let mut bus = output(0);
        bus.destination = Destination::AmazonEventbridge {
            event_bus_arn: "arn:aws:events:eu-west-1:123456789012:event-bus/x".into(),
        };
        bus.signing_secret = None;
        assert_eq!(err(rotate.plan(&Some(bus), at)).0, Code::Conflict);
    }

    #[test]
    fn secrets_are_fresh_and_never_printed() {
        let a = new_signing_secret().unwrap();
        let b = new_signing_secret().unwrap();
        assert_ne!(a, b);
        assert!(a.reveal().starts_with("whsec_") && a.reveal().len() == 6 + 43);
        let mut o = output(0);
        o.signing_secret = Some(a.clone());
        assert!(!format!("{o:?}").contains(a.reveal()));
        // Until it expires, the previous secret signs beside the current one.
        o.previous_signing_secret = Some(b.clone());
        o.previous_secret_expires_at = Some(200);
        assert_eq!(o.signing_secrets(199), vec![&a, &b]);
        assert_eq!(o.signing_secrets(200), vec![&a]);
        // Views never carry a secret.
        let json = serde_json::to_string(&OutputView::from(&o)).unwrap();
        assert!(!json.contains("whsec_"), "{json}");
    }
}
