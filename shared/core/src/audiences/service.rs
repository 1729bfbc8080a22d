//! The audiences service: its `impl Core` methods (the routes' entry points).

use super::*;

impl Core {
    /// Loads an audience as `member`'s account sees it and asks the policy about
    /// `action`. Missing and private read the same.
    pub async fn audience_for(
        &self,
        member: &AccountMember,
        id: &AudienceId,
        action: Action,
    ) -> Result<(AudienceItem, AccessLevel)> {
        let found = self.table.get(&keys::audience(id)).await?;
        self.authorize_audience(member, id, action, found)
    }

    /// The caller as a member of `account_id` and audience `id` as that account sees it,
    /// in one round trip (the membership and the audience read together, see
    /// [`Core::member_and`]); the policy decides `action` before anything is returned.
    pub async fn member_and_audience(
        &self,
        caller: &Caller,
        account_id: &AccountId,
        id: &AudienceId,
        action: Action,
    ) -> Result<(AccountMember, AudienceItem, AccessLevel)> {
        let (member, found) = self
            .member_and(caller, account_id, self.table.get(&keys::audience(id)))
            .await?;
        let (audience, access) = self.authorize_audience(&member, id, action, found)?;
        Ok((member, audience, access))
    }

    /// [`Core::member_and_audience`] with one more read in the same round trip (e.g. the
    /// connection a route names); its answer comes back only once access is decided.
    pub async fn member_and_audience_with<T>(
        &self,
        caller: &Caller,
        account_id: &AccountId,
        id: &AudienceId,
        action: Action,
        read: impl std::future::Future<Output = Result<T>>,
    ) -> Result<(AccountMember, AudienceItem, AccessLevel, T)> {
        let key = keys::audience(id);
        let (member, (found, extra)) = self
            .member_and(caller, account_id, async {
                tokio::try_join!(self.table.get::<AudienceItem>(&key), read)
            })
            .await?;
        let (audience, access) = self.authorize_audience(&member, id, action, found)?;
        Ok((member, audience, access, extra))
    }

    /// Asks the policy about `action` on an audience already read (`None`: not there).
    /// Missing and private read the same.
    pub fn authorize_audience(
        &self,
        member: &AccountMember,
        id: &AudienceId,
        action: Action,
        found: Option<AudienceItem>,
    ) -> Result<(AudienceItem, AccessLevel)> {
        let audience =
            found.ok_or_else(|| Error::NotFound(format!("audience '{id}' was not found")))?;
        let access = access_of(&audience, &member.account_id, self.now_epoch());
        member.require(action, &Resource::Audience { access }, || match (access, action) {
            (AccessLevel::Private, _) => format!("audience '{id}' was not found"),
            (_, Action::RequestAccess) => format!(
                "your account already holds {access} access to audience '{id}'; there is nothing to request"
            ),
            (AccessLevel::ViewOnly, Action::ConnectAudience) => format!(
                "your account holds view_only access to audience '{id}'; connecting needs usable access (request it from the owner)"
            ),
            (AccessLevel::ViewOnly, _) => format!(
                "your account holds view_only access to audience '{id}'; only the owner account can do this"
            ),
            _ => format!("only the owner account of audience '{id}' can do this"),
        })?;
        Ok((audience, access))
    }

    /// `GET /accounts/{a}/audiences`: the audiences the account owns, newest first.
    pub async fn list_audiences(
        &self,
        member: &AccountMember,
        page: Input<PageRequest>,
    ) -> Result<Page<AudienceSummary>> {
        let page = &page.checked()?;
        let q = Query::index(keys::GSI1, keys::owned_audiences(&member.account_id)).newest_first();
        let p: Page<AudienceItem> = self.table.query(&q, page).await?;
        let now = self.now_epoch();
        Ok(Page {
            items: p
                .items
                .iter()
                .map(|a| AudienceSummary {
                    id: a.id.to_string(),
                    name: a.name.clone(),
                    created_by: a.created_by.to_string(),
                    created_at: a.created_at.clone(),
                    shared_with: counts(a, now),
                })
                .collect(),
            next_cursor: p.next_cursor,
        })
    }

    /// `GET /accounts/{a}/audiences/{id}`: one round trip.
    pub async fn get_audience(
        &self,
        caller: &Caller,
        account_id: &AccountId,
        id: &AudienceId,
    ) -> Result<AudienceDetail> {
        let (_, audience, access) = self
            .member_and_audience(caller, account_id, id, Action::ViewAudience)
            .await?;
        Ok(detail(&audience, access))
    }

    /// `PATCH /accounts/{a}/audiences/{id}`: owner account only. A new name reaches the
    /// receivers' "Shared with me" in the same transaction.
    /// The first read is the membership and the audience together, then one
    /// transaction; a concurrent edit is retried from a fresh read of the audience.
    pub async fn patch_audience(
        &self,
        caller: &Caller,
        account_id: &AccountId,
        id: &AudienceId,
        patch: Input<AudiencePatch>,
        if_match: Option<i64>,
    ) -> Result<AudienceDetail> {
        let (member, audience, _) = self
            .member_and_audience(caller, account_id, id, Action::EditAudience)
            .await?;
        let patch = &patch.checked()?;
        if patch.name.is_none() && patch.description.is_none() && patch.definition.is_none() {
            return Err(Error::Validation(
                "give at least one of name, description, definition".to_owned(),
            ));
        }
        if let Some(n) = &patch.name {
            validate::single_line("name", n, 200)?;
        }
        if let Some(d) = &patch.description {
            validate_description(d)?;
        }
        let definition = patch
            .definition
            .as_ref()
            .map(validate_definition)
            .transpose()?;
        let mut planner = EditAudience {
            patch,
            definition,
            if_match,
            read_version: None,
        };
        self.execute(&mut planner, audience, || async {
            Ok(self
                .audience_for(&member, id, Action::EditAudience)
                .await?
                .0)
        })
        .await
    }
}
