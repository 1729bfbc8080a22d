//! The activity service: its `impl Core` methods (the routes' entry points).

use super::*;

impl Core {
    /// `GET /accounts/{a}/activity`: admin-level users, newest first.
    pub async fn list_activity(
        &self,
        member: &AccountMember,
        page: Input<PageRequest>,
    ) -> Result<Page<ActivityView>> {
        member.require(Action::ViewActivity, &Resource::Account, String::new)?;
        let page = &page.checked()?;
        let q = Query::table(keys::account_pk(&member.account_id))
            .prefix(keys::ACTIVITY_PREFIX)
            .newest_first();
        let p: Page<ActivityItem> = self.table.query(&q, page).await?;
        Ok(Page {
            items: p.items.into_iter().map(ActivityView::from).collect(),
            next_cursor: p.next_cursor,
        })
    }
}
