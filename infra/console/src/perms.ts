// What the caller may do in an account, to offer only that: `GET /me` names, for each
// membership, the actions its role allows there (`permissions`: a built-in role's from the
// service's policy table, a custom role's as saved). On one audience the access
// explanation's `actions` decide instead, since they also weigh the account's level.
import type { S } from "./api";

export type Action = S["Permission"] | "list_users" | "manage_users";

/** The actions a custom role may hold, in the order the role form lists them. */
export const GRANTABLE: S["Permission"][] = [
  "view_audience", "create_audience", "edit_audience", "connect_audience", "view_connections",
  "delete_connection", "upload_members", "record_profiles", "read_delivered_members",
  "request_access", "list_shared_with_me", "list_access_requests", "view_sharing",
  "change_sharing", "decide_access_request", "view_sharing_defaults", "change_sharing_defaults",
  "view_identity_sharing", "change_identity_sharing", "view_activity", "view_usage",
  "manage_outputs", "view_changes",
];

/** Whether the membership's `permissions` hold `action`. */
export function can(permissions: readonly string[], action: Action): boolean {
  return permissions.includes(action);
}
