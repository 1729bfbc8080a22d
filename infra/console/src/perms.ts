// What a role may do, to offer only what the caller may do. The built-in roles' table is
// the one of shared/policy (seeds/users-and-roles.txt); a custom role's permissions are
// read from GET /roles when the caller may read them, and otherwise every action stays
// offered and the API's answer (its `detail`) is shown. On an audience, the access
// explanation's `actions` decide instead.

export type Action =
  | "list_shared_with_me" | "list_access_requests" | "view_audience" | "create_audience"
  | "edit_audience" | "connect_audience" | "view_connections" | "delete_connection"
  | "upload_members" | "request_access" | "manage_outputs" | "record_profiles"
  | "view_activity" | "view_sharing_defaults" | "change_sharing_defaults"
  | "view_identity_sharing" | "change_identity_sharing" | "view_sharing" | "change_sharing"
  | "decide_access_request" | "view_usage" | "read_delivered_members" | "list_users"
  | "manage_users";

const EVERYONE: Action[] = ["list_shared_with_me", "list_access_requests", "view_audience"];
const MANAGE_AUDIENCES: Action[] = [
  "create_audience", "edit_audience", "connect_audience", "view_connections",
  "delete_connection", "upload_members", "request_access",
];
const CONFIGURE_OUTPUTS: Action[] = ["manage_outputs"];
const ADMIN_LEVEL: Action[] = [
  "record_profiles", "view_activity", "view_sharing_defaults", "change_sharing_defaults",
  "view_identity_sharing", "change_identity_sharing", "view_sharing", "change_sharing",
  "decide_access_request", "view_usage",
];
const PERSONAL_DATA: Action[] = ["read_delivered_members"];
const USERS: Action[] = ["list_users", "manage_users"];

const BUILT_IN: Record<string, Action[]> = {
  admin: [...EVERYONE, ...MANAGE_AUDIENCES, ...CONFIGURE_OUTPUTS, ...ADMIN_LEVEL, ...PERSONAL_DATA, ...USERS],
  admin_compliance: [...EVERYONE, ...MANAGE_AUDIENCES, ...CONFIGURE_OUTPUTS, ...ADMIN_LEVEL, ...PERSONAL_DATA, ...USERS],
  support_access: [...EVERYONE, ...MANAGE_AUDIENCES, ...CONFIGURE_OUTPUTS, ...ADMIN_LEVEL, ...PERSONAL_DATA],
  user: [...EVERYONE, ...MANAGE_AUDIENCES, ...CONFIGURE_OUTPUTS],
  audiences_only: [...EVERYONE, ...MANAGE_AUDIENCES],
  read_only: [...EVERYONE],
  compliance: [...EVERYONE],
};

export function isBuiltIn(role: string): boolean {
  return role in BUILT_IN;
}

/** true / false for a built-in role; for a custom role, what `customPermissions` says,
 * or true (offered; the API decides) when they could not be read. */
export function can(role: string, action: Action, customPermissions?: string[]): boolean {
  const builtIn = BUILT_IN[role];
  if (builtIn) return builtIn.includes(action);
  if (customPermissions) return customPermissions.includes(action);
  return action !== "list_users" && action !== "manage_users";
}
