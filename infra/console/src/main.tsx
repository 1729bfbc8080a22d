import "./style.css";
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, ok, type S } from "./api";
import {
  type Config,
  type DemoUser,
  loadConfig,
  localSignIn,
  localUsers,
  oidcCallback,
  oidcSignIn,
  rememberPage,
  session,
  takeReturnTo,
} from "./auth";
import { can } from "./perms";
import * as P from "./pages";
import { ErrorBox, message, useLoad } from "./ui";

function useHash(): string {
  const [hash, setHash] = useState(location.hash || "#/");
  useEffect(() => {
    const on = () => setHash(location.hash || "#/");
    addEventListener("hashchange", on);
    on(); // a change made before this effect ran (e.g. a redirect while rendering)
    return () => removeEventListener("hashchange", on);
  }, []);
  return hash;
}

function useSignedIn(): boolean {
  const [, set] = useState(0);
  useEffect(() => {
    const off = session.subscribe(() => set((n) => n + 1));
    return () => {
      off();
    };
  }, []);
  return session.token() !== null;
}

function SignIn({ config }: { config: Config }) {
  const [error, setError] = useState<string>();
  const [users, setUsers] = useState<DemoUser[]>();
  const [other, setOther] = useState("");
  useEffect(() => {
    document.title = "Sign in · Audience sharing";
    if (config.signIn === "local") localUsers().then(setUsers, (e: unknown) => setError(message(e)));
  }, [config]);
  // Once signed in, App goes back to the page that asked for it.
  const go = (userId: string) => localSignIn(userId).catch((e: unknown) => setError(message(e)));
  return (
    <main id="main" class="signin">
      <h1>Sign in to Audience sharing</h1>
      <ErrorBox error={error} />
      {config.signIn === "oidc" ? (
        <>
          <p>You sign in with your organization's identity provider.</p>
          <button type="button" class="primary" onClick={() => oidcSignIn(config).catch((e: unknown) => setError(message(e)))}>
            Sign in
          </button>
        </>
      ) : (
        <>
          <p>
            Local stack: choose a demo user. Their token is minted by this machine's{" "}
            <code>cargo xtask up</code> (a local-only route, never deployed).
          </p>
          <ul class="users">
            {users?.map((u) => (
              <li key={u.userId}>
                <button type="button" onClick={() => go(u.userId)}>
                  Sign in as {u.name}
                </button>{" "}
                <span class="muted">
                  {u.userId} · {u.memberships.map((m) => `${m.role} of ${m.accountId}`).join(", ")}
                </span>
              </li>
            ))}
          </ul>
          <form
            onSubmit={(e) => {
              e.preventDefault();
              if (other.trim()) go(other.trim());
            }}
          >
            <label>
              Another user id{" "}
              <input value={other} onInput={(e) => setOther(e.currentTarget.value)} autocomplete="off" />
            </label>{" "}
            <button type="submit">Sign in</button>
          </form>
        </>
      )}
    </main>
  );
}

interface Ctx {
  me: S["Me"];
  accountId: string;
  role: string;
  permissions: string[];
}

function Shell({ me }: { me: S["Me"] }) {
  const hash = useHash();
  const parts = hash.replace(/^#\/?/, "").split("?")[0]?.split("/").filter(Boolean).map(decodeURIComponent) ?? [];
  const first = me.memberships[0];
  const accountId = parts[0] === "accounts" && parts[1] ? parts[1] : first?.accountId;
  const membership = me.memberships.find((m) => m.accountId === accountId);
  const role = membership?.role ?? "";
  if (!accountId || !membership) {
    return (
      <main id="main">
        <h1>No account</h1>
        <ErrorBox error={`${me.userId} is not a member of ${accountId ?? "any account"}.`} />
      </main>
    );
  }
  if (parts[0] !== "accounts") {
    location.replace(`#/accounts/${encodeURIComponent(accountId)}/audiences`);
    return null;
  }
  const ctx: Ctx = { me, accountId, role, permissions: membership.permissions };
  const a = `#/accounts/${encodeURIComponent(accountId)}`;
  const section = parts[2] ?? "audiences";
  const allowed = (x: Parameters<typeof can>[1]) => can(ctx.permissions, x);
  const nav: [string, string, string, boolean][] = [
    ["audiences", `${a}/audiences`, "Audiences", true],
    ["shared-with-me", `${a}/shared-with-me`, "Shared with me", allowed("list_shared_with_me")],
    ["access-requests", `${a}/access-requests`, "Access requests", allowed("list_access_requests")],
    ["outputs", `${a}/outputs`, "Outputs and connections", true],
    [
      "settings",
      `${a}/settings/${allowed("view_sharing_defaults") ? "audience" : "identity"}`,
      "Settings",
      allowed("view_sharing_defaults") || allowed("view_identity_sharing"),
    ],
    ["users", `${a}/users`, "Users and roles", allowed("list_users")],
    ["activity", `${a}/activity`, "Activity", allowed("view_activity")],
  ];
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById("main")?.focus(); }}>
        Skip to content
      </a>
      <header class="top">
        <span class="brand">Audience sharing</span>
        <nav aria-label="Sections">
          <ul>
            {nav
              .filter(([, , , show]) => show)
              .map(([key, href, label]) => (
                <li key={key}>
                  <a href={href} aria-current={section === key ? "page" : undefined}>
                    {label}
                  </a>
                </li>
              ))}
          </ul>
        </nav>
        <div class="who">
          {me.memberships.length > 1 ? (
            <label>
              Account{" "}
              <select
                value={accountId}
                onChange={(e) => (location.hash = `#/accounts/${encodeURIComponent(e.currentTarget.value)}/audiences`)}
              >
                {me.memberships.map((m) => (
                  <option key={m.accountId} value={m.accountId}>
                    {m.accountName}
                  </option>
                ))}
              </select>
            </label>
          ) : (
            <span>{membership.accountName}</span>
          )}{" "}
          <span class="muted">
            {me.email} ({role})
          </span>{" "}
          <button type="button" onClick={() => { session.signOut(); location.hash = "#/signin"; }}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Route parts={parts} ctx={ctx} />
      </main>
    </>
  );
}

function Route({ parts, ctx }: { parts: string[]; ctx: Ctx }) {
  const [, , section, id, sub] = parts;
  const props = { accountId: ctx.accountId, role: ctx.role, permissions: ctx.permissions, me: ctx.me };
  switch (section) {
    case "audiences":
      if (id && sub === "request") return <P.RequestAccess {...props} audienceId={id} />;
      if (id) return <P.AudienceDetails {...props} audienceId={id} />;
      return <P.Audiences {...props} />;
    case "shared-with-me":
      return <P.SharedWithMe {...props} />;
    case "access-requests":
      return id ? <P.AccessRequestPage {...props} requestId={id} /> : <P.AccessRequests {...props} />;
    case "outputs":
      return <P.Outputs {...props} />;
    case "settings":
      return id === "identity" ? <P.IdentitySettings {...props} /> : <P.AudienceSettings {...props} />;
    case "users":
      return <P.Users {...props} />;
    case "activity":
      return <P.Activity {...props} />;
    default:
      return <P.Audiences {...props} />;
  }
}

function App({ config }: { config: Config }) {
  const signedIn = useSignedIn();
  const hash = useHash();
  const me = useLoad(async () => (signedIn ? ok(api.GET("/me")) : undefined), [signedIn]);
  if (!signedIn) {
    if (!hash.startsWith("#/signin")) {
      rememberPage();
      location.replace("#/signin");
      return null;
    }
    return <SignIn config={config} />;
  }
  if (hash.startsWith("#/signin")) {
    location.replace(takeReturnTo());
    return null;
  }
  if (me.error) return <main id="main"><ErrorBox error={me.error} /></main>;
  if (!me.data) return <main id="main"><p aria-busy="true">Loading…</p></main>;
  return <Shell me={me.data} />;
}

async function start() {
  const root = document.getElementById("app");
  if (!root) return;
  try {
    const config = await loadConfig();
    if (config.signIn === "oidc") await oidcCallback(config);
    render(<App config={config} />, root);
  } catch (e) {
    render(<main id="main"><h1>Audience sharing</h1><ErrorBox error={message(e)} /></main>, root);
  }
}

void start();
