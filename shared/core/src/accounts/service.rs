//! The accounts service: its `impl Core` methods (the routes' entry points).

use super::*;

mod roles;

impl Core {
    /// The caller as a member of `account_id`. Not a member: the account is not there
    /// for them (404).
    pub async fn member(&self, caller: &Caller, account_id: &AccountId) -> Result<AccountMember> {
        let m: Option<MembershipItem> = self
            .table
            .get(&keys::membership(account_id, &caller.user_id))
            .await?;
        let m =
            m.ok_or_else(|| Error::NotFound(format!("account '{account_id}' was not found")))?;
        let permissions = permissions_of(&m)?;
        Ok(AccountMember {
            user_id: caller.user_id.clone(),
            email: caller.email.clone(),
            account_id: account_id.clone(),
            account_name: m.account_name,
            organization_id: m.organization_id,
            role: m.role,
            permissions,
        })
    }

    /// The caller as a member of `account_id` and what `read` answers, in one round trip:
    /// the membership `GetItem` and `read` are in flight together. Membership is decided
    /// first (a caller who is not a member gets its 404 whatever `read` found), and what
    /// `read` answered only comes back beside the [`AccountMember`], for the caller to ask the
    /// policy before it uses or returns any of it.
    pub async fn member_and<T>(
        &self,
        caller: &Caller,
        account_id: &AccountId,
        read: impl std::future::Future<Output = Result<T>>,
    ) -> Result<(AccountMember, T)> {
        // Boxed: the reads joined here are SDK futures, large enough together to overflow
        // a 2 MB worker stack when polled inline in debug builds.
        let (member, read) =
            tokio::join!(Box::pin(self.member(caller, account_id)), Box::pin(read));
        Ok((member?, read?))
    }

    /// `GET /me`.
    pub async fn me(&self, caller: &Caller) -> Result<MeView> {
        let q = Query::index(keys::GSI1, keys::user_memberships(&caller.user_id))
            .of::<MembershipItem>();
        let items: Vec<MembershipItem> = self.table.query_all(&q).await?;
        Ok(MeView {
            user_id: caller.user_id.to_string(),
            email: caller.email.clone(),
            memberships: items
                .into_iter()
                .map(|m| {
                    Ok(MembershipView {
                        permissions: permissions_of(&m)?.names(),
                        account_id: m.account_id.to_string(),
                        account_name: m.account_name,
                        organization_id: m.organization_id.to_string(),
                        role: m.role,
                    })
                })
                .collect::<Result<_>>()?,
        })
    }

    /// Looks up accounts by id; unknown ids are absent from the map. Eventually
    /// consistent: an account's organization never changes once it exists, and its name
    /// is only shown.
    pub async fn accounts(&self, ids: &[AccountId]) -> Result<HashMap<String, AccountItem>> {
        let keys: Vec<_> = ids.iter().map(keys::account).collect();
        let items: Vec<AccountItem> = self.table.batch_get_eventually(&keys).await?;
        Ok(items.into_iter().map(|a| (a.id.to_string(), a)).collect())
    }

    /// The policy's view of a receiving account named by `member`'s account: `None` when
    /// it does not exist, so that it reads exactly like another organization's.
    pub fn receiver_ref(
        found: &HashMap<String, AccountItem>,
        id: &AccountId,
    ) -> Option<AccountRef> {
        found
            .get(id.as_str())
            .map(|a| AccountRef::new(a.id.as_str(), a.organization_id.as_str()))
    }

    /// Checks that `member` may name each receiving account (same organization, not its
    /// own), and answers their names.
    pub async fn check_receivers(
        &self,
        member: &AccountMember,
        receivers: &[AccountId],
    ) -> Result<HashMap<String, AccountItem>> {
        let found = self.accounts(receivers).await?;
        Self::allow_receivers(member, receivers, &found)?;
        Ok(found)
    }

    /// [`Core::check_receivers`] on accounts already read with [`Core::accounts`].
    pub fn allow_receivers(
        member: &AccountMember,
        receivers: &[AccountId],
        found: &HashMap<String, AccountItem>,
    ) -> Result<()> {
        for r in receivers {
            let resource = Resource::Receiver(Self::receiver_ref(found, r));
            member.require(Action::ShareWith, &resource, || {
                if r == &member.account_id {
                    format!("account '{r}' is your own account; name another account of your organization")
                } else {
                    format!(
                        "account '{r}' is not in your organization; sharing never leaves the organization"
                    )
                }
            })?;
        }
        Ok(())
    }

    /// `GET /accounts/{a}/users`.
    pub async fn list_users(
        &self,
        member: &AccountMember,
        page: Input<PageRequest>,
    ) -> Result<Page<UserView>> {
        member.require(Action::ListUsers, &Resource::Account, String::new)?;
        let page = &page.checked()?;
        let q = Query::table(keys::account_pk(&member.account_id)).prefix(keys::MEMBER_PREFIX);
        let p: Page<MembershipItem> = self.table.query(&q, page).await?;
        Ok(Page {
            items: p.items.into_iter().map(UserView::from).collect(),
            next_cursor: p.next_cursor,
        })
    }

    /// `PUT /accounts/{a}/users/{userId}`: adds the user to the account or changes it.
    /// Answers the user and whether it was added.
    /// The caller's membership and the user's are read in one round trip, then one
    /// transaction.
    pub async fn put_user(
        &self,
        caller: &Caller,
        account_id: &AccountId,
        user_id: &str,
        input: Input<UserInput>,
    ) -> Result<(UserView, bool)> {
        // The membership (404) and the role (403) before the path's user id and the body
        // (400): both are needed to know what to read.
        let access = || async {
            self.member(caller, account_id).await?.require(
                Action::ManageUsers,
                &Resource::Account,
                String::new,
            )
        };
        let user_id = &match UserId::parse(user_id) {
            Ok(u) => u,
            Err(e) => {
                access().await?;
                return Err(e);
            }
        };
        let input = &input.or_after(access()).await?;
        let (member, reads) = self
            .member_and(
                caller,
                account_id,
                self.membership_write_reads(account_id, user_id, input),
            )
            .await?;
        member.require(Action::ManageUsers, &Resource::Account, String::new)?;
        input.validate()?;
        self.write_membership_over(
            reads,
            MembershipWrite {
                by_ops: false,
                actor: member.user_id.as_str(),
                account_id: &member.account_id,
                account_name: &member.account_name,
                organization_id: &member.organization_id,
                user_id,
                input,
            },
        )
        .await
    }

    /// The write behind `put_user`, also used by the fixture loader (as ops).
    pub(crate) async fn write_membership(
        &self,
        write: MembershipWrite<'_>,
    ) -> Result<(UserView, bool)> {
        let reads = self
            .membership_write_reads(write.account_id, write.user_id, write.input)
            .await?;
        self.write_membership_over(reads, write).await
    }

    /// What a membership write stands on, read together: the membership as it is, and
    /// the custom role it names (none for a built-in role).
    pub(super) async fn membership_write_reads(
        &self,
        account_id: &AccountId,
        user_id: &UserId,
        input: &UserInput,
    ) -> Result<(Option<MembershipItem>, Option<RoleItem>)> {
        let key = keys::membership(account_id, user_id);
        let role_key = keys::role(account_id, &input.role);
        tokio::try_join!(self.table.get::<MembershipItem>(&key), async {
            match input.role.built_in() {
                Some(_) => Ok(None),
                None => self.table.get::<RoleItem>(&role_key).await,
            }
        })
    }

    /// [`Core::write_membership`] over what [`Core::membership_write_reads`] read.
    pub(super) async fn write_membership_over(
        &self,
        (before, role): (Option<MembershipItem>, Option<RoleItem>),
        write: MembershipWrite<'_>,
    ) -> Result<(UserView, bool)> {
        let MembershipWrite {
            by_ops,
            actor,
            account_id,
            account_name,
            organization_id,
            user_id,
            input,
        } = write;
        let role_key = keys::role(account_id, &input.role);
        if input.role.built_in().is_none() && role.is_none() {
            return Err(unknown_role(account_id, &input.role));
        }
        let item = MembershipItem {
            account_id: account_id.clone(),
            account_name: account_name.to_owned(),
            organization_id: organization_id.clone(),
            user_id: user_id.clone(),
            email: input.email.clone(),
            first_name: input.first_name.clone(),
            last_name: input.last_name.clone(),
            role: input.role.clone(),
            permissions: role.as_ref().map(|r| r.permissions.clone()),
        };
        let view = UserView::from(item.clone());
        if let Some(b) = &before
            && b.role == item.role
            && b.email == item.email
            && b.first_name == item.first_name
            && b.last_name == item.last_name
            && b.account_name == item.account_name
        {
            return Ok((view, false));
        }

        let mut tx = Tx::new();
        let user = UserItem {
            id: user_id.clone(),
            email: input.email.clone(),
            first_name: input.first_name.clone(),
            last_name: input.last_name.clone(),
        };
        if by_ops {
            tx.update(user.key(), Update::upsert(&user, &UserItem::KEPT)?);
        }
        let guard = match &before {
            Some(b) => Cond::eq("role", &b.role)?,
            None => Cond::absent(),
        };
        tx.put_if(SetUser::Membership, &item, guard)?;
        let was_admin = before.as_ref().is_some_and(|b| counts_as_admin(&b.role));
        let is_admin = counts_as_admin(&input.role);
        admin_count_change(
            &mut tx,
            SetUser::AdminCount,
            account_id,
            was_admin,
            is_admin,
        )?;
        let old_role = before.as_ref().map(|b| &b.role);
        let role_changed = old_role != Some(&input.role);
        if let Some(r) = &role {
            // The permissions copied above are the role's at `version` (and generation):
            // a concurrent change of the role, or its deletion and re-creation, fails
            // this write instead of leaving them stale.
            if role_changed {
                tx.update_if(
                    SetUser::Role,
                    role_key,
                    Update::new().add("holderCount", 1),
                    r.as_read()?
                        .and(Cond::lt("holderCount", &MAX_ROLE_HOLDERS)?),
                );
            } else {
                tx.check(SetUser::Role, role_key, r.as_read()?);
            }
        }
        if let Some(old) = old_role.filter(|o| o.built_in().is_none() && role_changed) {
            release_role(&mut tx, SetUser::OldRole, account_id, old);
        }
        if role_changed {
            Entry {
                actor_user_id: actor.to_owned(),
                action: action::USER_ROLE_CHANGED,
                user_id: Some(user_id.clone()),
                before: before.as_ref().map(|b| json!(b.role)),
                after: Some(json!(input.role)),
                role_id: role.as_ref().map(|r| r.id.clone()),
                ..Default::default()
            }
            .add_to(self, &mut tx, &[account_id])?;
        }
        match self.commit(tx).await {
            Ok(()) => Ok((view, before.is_none())),
            Err(TxError::Guard(SetUser::AdminCount)) => Err(last_admin(account_id)),
            Err(TxError::Guard(SetUser::Role)) => {
                Err(self.role_write_conflict(account_id, &input.role).await)
            }
            Err(TxError::Guard(SetUser::Membership | SetUser::OldRole)) => Err(Error::Conflict(
                "this user was changed at the same time; read it again and retry".to_owned(),
            )),
            Err(TxError::Store(e)) => Err(e.into()),
        }
    }

    /// `DELETE /accounts/{a}/users/{userId}`.
    /// Both memberships in one round trip, then one transaction.
    pub async fn remove_user(
        &self,
        caller: &Caller,
        account_id: &AccountId,
        user_id: &UserId,
    ) -> Result<()> {
        let key = keys::membership(account_id, user_id);
        let (member, found) = self
            .member_and(caller, account_id, self.table.get::<MembershipItem>(&key))
            .await?;
        let member = &member;
        member.require(Action::ManageUsers, &Resource::Account, String::new)?;
        let before: MembershipItem = found.ok_or_else(|| {
            Error::NotFound(format!("user '{user_id}' is not a member of this account"))
        })?;
        let mut tx = Tx::new();
        tx.delete_if(RemoveUser::Membership, key, Cond::eq("role", &before.role)?);
        admin_count_change(
            &mut tx,
            RemoveUser::AdminCount,
            &member.account_id,
            counts_as_admin(&before.role),
            false,
        )?;
        if before.role.built_in().is_none() {
            release_role(
                &mut tx,
                RemoveUser::OldRole,
                &member.account_id,
                &before.role,
            );
        }
        Entry {
            actor_user_id: member.user_id.to_string(),
            action: action::USER_REMOVED,
            user_id: Some(user_id.clone()),
            before: Some(json!(before.role)),
            ..Default::default()
        }
        .add_to(self, &mut tx, &[&member.account_id])?;
        match self.commit(tx).await {
            Ok(()) => Ok(()),
            Err(TxError::Guard(RemoveUser::AdminCount)) => Err(last_admin(&member.account_id)),
            Err(TxError::Guard(RemoveUser::Membership | RemoveUser::OldRole)) => {
                Err(Error::Conflict(
                    "this user was changed at the same time; read it again and retry".to_owned(),
                ))
            }
            Err(TxError::Store(e)) => Err(e.into()),
        }
    }

    /// Creates or renames an organization (fixture loading by ops).
    pub async fn put_organization(&self, id: &OrganizationId, name: &str) -> Result<()> {
        let item = OrganizationItem {
            id: id.clone(),
            name: name.to_owned(),
        };
        self.table.put(&item, None).await?;
        Ok(())
    }

    /// Creates or renames an account (fixture loading by ops). Keeps its admin count.
    pub async fn put_account(
        &self,
        org: &OrganizationId,
        id: &AccountId,
        name: &str,
    ) -> Result<()> {
        let item = AccountItem {
            id: id.clone(),
            name: name.to_owned(),
            organization_id: org.clone(),
            admin_count: 0,
        };
        let (key, account) = (item.key(), Update::upsert(&item, &AccountItem::KEPT)?);
        // The account's copy of the identity types it is sent starts empty; a reload
        // keeps the one there (the condition fails, and that is the point).
        let copy = IdentityReceivedItem::empty(id);
        tokio::try_join!(
            self.table.update(&key, &account, None),
            self.table.put(&copy, Some(Cond::absent())),
        )?;
        Ok(())
    }
}

impl Core {
    /// Why a membership write guarded by its custom role failed: the role went away, is
    /// held by as many users as a role can be, or changed at that moment.
    pub(super) async fn role_write_conflict(&self, account: &AccountId, role: &RoleId) -> Error {
        match self.table.get::<RoleItem>(&keys::role(account, role)).await {
            Ok(None) => unknown_role(account, role),
            Ok(Some(r)) if r.holder_count >= MAX_ROLE_HOLDERS => Error::Conflict(format!(
                "role '{role}' is already held by {MAX_ROLE_HOLDERS} users, the most one custom role can have; create another role with the same permissions"
            )),
            Ok(Some(_)) => Error::Conflict(format!(
                "role '{role}' was changed at the same time; try again"
            )),
            Err(e) => e,
        }
    }
}
