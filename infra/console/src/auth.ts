// Sign-in. The bearer token lives in this module's memory only (never in localStorage or
// a cookie); a reload signs in again. Two ways, chosen by /console/config.json:
// - "local": the local stack's sign-in page lists the demo users and mints their local
//   tokens (a route of `cargo xtask up` only, never deployed);
// - "oidc": OpenID Connect authorization code with PKCE against the issuer the HTTP API's
//   JWT authorizer trusts. Only the PKCE verifier, the state and the page to come back to
//   are kept in sessionStorage for the round trip; the token never is.

export interface LocalConfig {
  signIn: "local";
}
export interface OidcConfig {
  signIn: "oidc";
  clientId: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  scope: string;
  /** Which token the API's authorizer takes: "access_token" (default) or "id_token". */
  bearer?: "access_token" | "id_token";
}
export type Config = LocalConfig | OidcConfig;

let token: string | null = null;
const listeners = new Set<() => void>();

export const session = {
  token: () => token,
  signIn(t: string) {
    token = t;
    listeners.forEach((l) => l());
  },
  signOut() {
    token = null;
    listeners.forEach((l) => l());
  },
  /** A 401: the token expired or was refused; sign in again, then come back here. */
  expired() {
    rememberPage();
    token = null;
    listeners.forEach((l) => l());
  },
  subscribe(l: () => void) {
    listeners.add(l);
    return () => listeners.delete(l);
  },
};

const RETURN_TO = "console.returnTo";
const PKCE = "console.pkce";

export function rememberPage() {
  if (location.hash && !location.hash.startsWith("#/signin")) {
    sessionStorage.setItem(RETURN_TO, location.hash);
  }
}

export function takeReturnTo(): string {
  const to = sessionStorage.getItem(RETURN_TO);
  sessionStorage.removeItem(RETURN_TO);
  return to && to.startsWith("#/") ? to : "#/";
}

export async function loadConfig(): Promise<Config> {
  const r = await fetch(new URL("config.json", document.baseURI), { cache: "no-store" });
  if (!r.ok) throw new Error(`config.json: ${r.status}`);
  return (await r.json()) as Config;
}

/** The local stack's demo users (local sign-in only). */
export interface DemoUser {
  userId: string;
  name: string;
  email: string;
  memberships: { accountId: string; role: string }[];
}

export async function localUsers(): Promise<DemoUser[]> {
  const r = await fetch("/local/sign-in/users");
  if (!r.ok) throw new Error(`the local sign-in answered ${r.status}`);
  return ((await r.json()) as { users: DemoUser[] }).users;
}

export async function localSignIn(userId: string): Promise<void> {
  const r = await fetch("/local/sign-in/token", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ userId }),
  });
  const body = (await r.json()) as { token?: string; detail?: string };
  if (!r.ok || !body.token) throw new Error(body.detail ?? `the local sign-in answered ${r.status}`);
  session.signIn(body.token);
}

function base64url(bytes: Uint8Array): string {
  let s = "";
  bytes.forEach((b) => (s += String.fromCharCode(b)));
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function redirectUri(): string {
  return new URL(".", document.baseURI).href;
}

/** Starts the authorization code flow with PKCE (S256). */
export async function oidcSignIn(cfg: OidcConfig): Promise<void> {
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const state = base64url(crypto.getRandomValues(new Uint8Array(16)));
  const challenge = base64url(
    new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))),
  );
  sessionStorage.setItem(PKCE, JSON.stringify({ verifier, state }));
  const u = new URL(cfg.authorizationEndpoint);
  u.search = new URLSearchParams({
    response_type: "code",
    client_id: cfg.clientId,
    redirect_uri: redirectUri(),
    scope: cfg.scope,
    state,
    code_challenge: challenge,
    code_challenge_method: "S256",
  }).toString();
  location.assign(u.href);
}

/** Back from the issuer with ?code=&state=: exchanges the code (once) for the token. */
export async function oidcCallback(cfg: OidcConfig): Promise<boolean> {
  const q = new URLSearchParams(location.search);
  const code = q.get("code");
  const error = q.get("error");
  if (!code && !error) return false;
  const saved = JSON.parse(sessionStorage.getItem(PKCE) ?? "null") as {
    verifier: string;
    state: string;
  } | null;
  sessionStorage.removeItem(PKCE);
  history.replaceState(null, "", location.pathname + (sessionStorage.getItem(RETURN_TO) ?? "#/"));
  if (error) throw new Error(`sign-in failed: ${q.get("error_description") ?? error}`);
  if (!saved || saved.state !== q.get("state")) throw new Error("sign-in failed: state mismatch");
  const r = await fetch(cfg.tokenEndpoint, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code: code ?? "",
      redirect_uri: redirectUri(),
      client_id: cfg.clientId,
      code_verifier: saved.verifier,
    }),
  });
  const t = (await r.json()) as { access_token?: string; id_token?: string; error?: string };
  const bearer = cfg.bearer === "id_token" ? t.id_token : t.access_token;
  if (!r.ok || !bearer) throw new Error(`sign-in failed: ${t.error ?? r.status}`);
  session.signIn(bearer);
  return true;
}
