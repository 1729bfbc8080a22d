//! The identity grants service: its `impl Core` methods (the routes' entry points).

use super::*;
use sharing_policy::ParseError;

impl Core {
    /// `GET /accounts/{a}/identity-sharing`: admin-level users; one Query.
    pub async fn identity_grants(&self, member: &AccountMember) -> Result<IdentityGrantsView> {
        member.require(Action::ViewIdentitySharing, &Resource::Account, String::new)?;
        let q =
            Query::table(keys::account_pk(&member.account_id)).prefix(keys::IDENTITY_GRANT_PREFIX);
        let grants: Vec<IdentityGrantItem> = self.table.query_all(&q).await?;
        Ok(summarize(&grants))
    }

    /// `PUT /accounts/{a}/identity-sharing/{type}/accounts/{b}`: allows or stops one
    /// identity type for one receiving account of the organization. Setting the current
    /// value again writes nothing.
    /// One round trip of reads (membership, receiving account, current grant), then one
    /// transaction.
    pub async fn set_identity_grant(
        &self,
        caller: &Caller,
        account_id: &AccountId,
        identity_type: std::result::Result<IdentityType, ParseError>,
        receiver: PathId<AccountId>,
        input: Input<IdentityGrantInput>,
    ) -> Result<IdentityGrantView> {
        let parsed_type = identity_type.map_err(|e| Error::Validation(format!("{e}")));
        // An id that cannot be an account is not in the organization, like any unknown one.
        let parsed_receiver = receiver.map_err(|raw| {
            Error::CrossOrganization(format!(
                "account '{}' is not in your organization; identities are only sent within it",
                raw.chars().take(64).collect::<String>()
            ))
        });
        let (identity_type, receiver) = match (parsed_type, parsed_receiver) {
            (Ok(t), Ok(r)) => (t, r),
            (t, r) => {
                // The membership and the role first, so that a user who may not change
                // identity sharing learns only that; then the identity type and the body
                // (400), then the account (422).
                self.member(caller, account_id).await?.require(
                    Action::ChangeIdentitySharing,
                    &Resource::Account,
                    String::new,
                )?;
                t?;
                input.checked()?;
                r?;
                return Err(Error::defect("an identity grant's ids were both valid"));
            }
        };
        let receiver = &receiver;
        let key = keys::identity_grant(account_id, identity_type, receiver);
        let copy_key = keys::identity_received(receiver);
        let (member, (accounts, current, copy)) = self
            .member_and(caller, account_id, async {
                tokio::try_join!(
                    self.accounts(std::slice::from_ref(receiver)),
                    self.table.get::<IdentityGrantItem>(&key),
                    self.table.get::<IdentityReceivedItem>(&copy_key),
                )
            })
            .await?;
        let member = &member;
        member.require(
            Action::ChangeIdentitySharing,
            &Resource::Account,
            String::new,
        )?;
        let input = input.checked()?;
        if receiver == &member.account_id {
            return Err(Error::Validation(format!(
                "account '{receiver}' is this account itself; identity types are granted to the other accounts of the organization"
            )));
        }
        Core::allow_receivers(member, std::slice::from_ref(receiver), &accounts)?;
        let receiver_name = accounts
            .get(receiver.as_str())
            .map(|a| a.name.clone())
            .unwrap_or_default();
        let mut planner = SetIdentityGrant {
            member,
            identity_type,
            receiver,
            receiver_name,
            allowed: input.allowed,
        };
        self.execute(&mut planner, (current, copy), || async {
            tokio::try_join!(
                self.table.get::<IdentityGrantItem>(&key),
                self.table.get::<IdentityReceivedItem>(&copy_key),
            )
        })
        .await
    }

    /// The identity types `owner` sends to `receiver`: one BatchGetItem of one key per
    /// identity type, independent of the number of accounts in the organization.
    pub async fn identity_types_granted(
        &self,
        owner: &AccountId,
        receiver: &AccountId,
    ) -> Result<BTreeSet<IdentityType>> {
        let keys: Vec<_> = IdentityType::ALL
            .iter()
            .map(|t| keys::identity_grant(owner, *t, receiver))
            .collect();
        let grants: Vec<IdentityGrantItem> = self.table.batch_get(&keys).await?;
        Ok(grants
            .into_iter()
            .filter(|g| g.owner_account_id == *owner && g.receiver_account_id == *receiver)
            .map(|g| g.identity_type)
            .collect())
    }

    /// The identity types `owner` sends to `receiver` now and those it ever granted it:
    /// one BatchGetItem of the 11 grant keys and the 11 history keys.
    pub async fn identity_grants_of(
        &self,
        owner: &AccountId,
        receiver: &AccountId,
    ) -> Result<IdentityGrantsOf> {
        let keys: Vec<_> = IdentityType::ALL
            .iter()
            .flat_map(|t| {
                [
                    keys::identity_grant(owner, *t, receiver),
                    keys::identity_grant_history(owner, *t, receiver),
                ]
            })
            .collect();
        let found: Vec<GrantOrHistory> = self.table.batch_get(&keys).await?;
        let mut out = IdentityGrantsOf::default();
        for g in found
            .into_iter()
            .filter(|g| g.owner_account_id == *owner && g.receiver_account_id == *receiver)
        {
            if g.entity_type == entity::IDENTITY_GRANT {
                out.now.insert(g.identity_type);
            }
            out.ever.insert(g.identity_type);
        }
        Ok(out)
    }
}
