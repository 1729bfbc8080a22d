import { useEffect, useState } from "preact/hooks";
import { api, ApiError, type Delivery, idempotencyKey, ok, type S, withEtag } from "./api";
import { type Action, can } from "./perms";
import {
  ErrorBox,
  Level,
  Loading,
  Notice,
  fromRfc3339,
  level,
  parsePlatforms,
  platformsText,
  toRfc3339,
  useAction,
  useLoad,
  when,
} from "./ui";

export interface PageProps {
  accountId: string;
  role: string;
  custom?: string[];
  me: S["Me"];
}

const enc = encodeURIComponent;
const acct = (accountId: string) => ({ params: { path: { accountId } } });

function useTitle(t: string) {
  useEffect(() => {
    document.title = `${t} · Audience sharing`;
  }, [t]);
}

function mayDo(p: PageProps, a: Action) {
  return can(p.role, a, p.custom);
}

function Tabs({ items }: { items: [string, string, boolean][] }) {
  return (
    <nav class="tabs" aria-label="Tabs">
      <ul>
        {items.map(([href, label, current]) => (
          <li key={href}>
            <a href={href} aria-current={current ? "page" : undefined}>
              {label}
            </a>
          </li>
        ))}
      </ul>
    </nav>
  );
}

function AudienceTabs({ accountId, current }: { accountId: string; current: "mine" | "shared" }) {
  const a = `#/accounts/${enc(accountId)}`;
  return (
    <Tabs
      items={[
        [`${a}/audiences`, "My audiences", current === "mine"],
        [`${a}/shared-with-me`, "Shared with me", current === "shared"],
      ]}
    />
  );
}

// ---------------------------------------------------------------------------------------
// Audiences (owner): the list with its sharing summary
// ---------------------------------------------------------------------------------------
export function Audiences(p: PageProps) {
  useTitle("Audiences");
  const list = useLoad(() => ok(api.GET("/accounts/{accountId}/audiences", acct(p.accountId))), [p.accountId]);
  return (
    <>
      <h1>Audiences</h1>
      <AudienceTabs accountId={p.accountId} current="mine" />
      <Loading state={list}>
        {(l) =>
          l.items.length === 0 ? (
            <p>This account owns no audience.</p>
          ) : (
            <table>
              <caption>Audiences owned by this account, and with how many accounts each is shared</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Shared: view only</th>
                  <th scope="col">Shared: usable</th>
                  <th scope="col">Created</th>
                </tr>
              </thead>
              <tbody>
                {l.items.map((a) => (
                  <tr key={a.id}>
                    <td>
                      <a href={`#/accounts/${enc(p.accountId)}/audiences/${enc(a.id)}`}>{a.name}</a>
                    </td>
                    <td>{a.sharedWith.viewOnly}</td>
                    <td>{a.sharedWith.usable}</td>
                    <td>
                      {when(a.createdAt)} by {a.createdBy}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Loading>
    </>
  );
}

// ---------------------------------------------------------------------------------------
// Audience details: owner -> Access Levels; receiver -> access, request, connections
// ---------------------------------------------------------------------------------------
export function AudienceDetails(p: PageProps & { audienceId: string }) {
  const path = { params: { path: { accountId: p.accountId, audienceId: p.audienceId } } };
  const detail = useLoad(() => ok(api.GET("/accounts/{accountId}/audiences/{audienceId}", path)), [p.accountId, p.audienceId]);
  const why = useLoad(() => ok(api.GET("/accounts/{accountId}/audiences/{audienceId}/access", path)), [p.accountId, p.audienceId]);
  useTitle(detail.data?.name ?? "Audience details");
  const actions = new Map<string, S["ActionAnswer"]>((why.data?.actions ?? []).map((a) => [a.action, a]));
  const allowed = (a: string) => actions.get(a)?.allowed === true;
  return (
    <Loading state={detail}>
      {(d) => (
        <>
          <p class="crumbs">
            <a href={`#/accounts/${enc(p.accountId)}/${d.access === "owner" ? "audiences" : "shared-with-me"}`}>
              {d.access === "owner" ? "Audiences" : "Shared with me"}
            </a>{" "}
            › Audience Details
          </p>
          <h1>{d.name}</h1>
          <dl class="facts">
            <dt>Owner</dt>
            <dd>{d.ownerAccountName}</dd>
            <dt>Your access</dt>
            <dd>
              <Level value={d.access} />
            </dd>
            {d.description ? (
              <>
                <dt>Description</dt>
                <dd>{d.description}</dd>
              </>
            ) : null}
            <dt>Created</dt>
            <dd>
              {when(d.createdAt)} by {d.createdBy}
            </dd>
          </dl>
          <Loading state={why}>
            {(w) => (
              <section aria-labelledby="why">
                <h2 id="why">Why this account holds what it holds</h2>
                <Explanation e={w} />
                {allowed("request_access") ? (
                  <p>
                    <a class="button primary" href={`#/accounts/${enc(p.accountId)}/audiences/${enc(p.audienceId)}/request`}>
                      Request access
                    </a>
                  </p>
                ) : null}
              </section>
            )}
          </Loading>
          {d.access === "owner" && mayDo(p, "view_sharing") ? (
            <AccessLevels {...p} audienceId={p.audienceId} mayChange={allowed("change_sharing")} onSaved={why.reload} />
          ) : null}
          {why.data && (allowed("connect_audience") || mayDo(p, "view_connections")) ? (
            <Connections {...p} audienceId={p.audienceId} mayConnect={allowed("connect_audience")} onChange={why.reload} />
          ) : null}
        </>
      )}
    </Loading>
  );
}

function Explanation({ e }: { e: S["AccessExplanation"] }) {
  const g = e.grant;
  return (
    <dl class="facts">
      <dt>Access</dt>
      <dd>
        <Level value={e.access} />
      </dd>
      <dt>Source</dt>
      <dd>{sourceWords(e.source, g?.requestId)}</dd>
      {g ? (
        <>
          <dt>Grant</dt>
          <dd>
            {level(g.level)}
            {g.startsAt ? ` from ${when(g.startsAt)}` : ""}
            {g.expiresAt ? ` until ${when(g.expiresAt)}` : ""}, then {level(g.fallbackLevel)}; set by {g.grantedBy ?? "—"}
            {g.grantedAt ? ` on ${when(g.grantedAt)}` : ""}
          </dd>
          <dt>Allowed platforms</dt>
          <dd>{platformsText(g.allowedPlatforms)}</dd>
        </>
      ) : null}
      {e.changesAt ? (
        <>
          <dt>Changes at</dt>
          <dd>{when(e.changesAt)}</dd>
        </>
      ) : null}
      <dt>Identity types received</dt>
      <dd>{e.identityTypes.length ? e.identityTypes.join(", ") : "none yet (identity sharing grants none)"}</dd>
      <dt>Connections</dt>
      <dd>
        {e.connections.active} active, {e.connections.suspended} suspended
      </dd>
    </dl>
  );
}

function sourceWords(source: string, requestId?: string): string {
  switch (source) {
    case "owner":
      return "this account owns the audience";
    case "grant":
      return "set on this audience by its owner";
    case "default":
      return "the owner's sharing defaults";
    case "access_request":
      return `an approved access request${requestId ? ` (${requestId})` : ""}`;
    default:
      return "no grant: private";
  }
}

interface Row {
  accountId: string;
  accountName: string;
  level: "private" | "view_only" | "usable";
  startsAt: string;
  expiresAt: string;
  fallbackLevel: "private" | "view_only";
  platforms: string;
  effective?: string;
  source?: string;
}

function rowsOf(s: S["Sharing"]): Row[] {
  return s.grants.map((g) => ({
    accountId: g.accountId,
    accountName: g.accountName,
    level: g.level,
    startsAt: fromRfc3339(g.startsAt),
    expiresAt: fromRfc3339(g.expiresAt),
    fallbackLevel: g.fallbackLevel === "view_only" ? "view_only" : "private",
    platforms: (g.allowedPlatforms ?? []).join(", "),
    effective: g.effectiveLevel,
    source: g.source,
  }));
}

function AccessLevels(p: PageProps & { audienceId: string; mayChange: boolean; onSaved: () => void }) {
  const path = { params: { path: { accountId: p.accountId, audienceId: p.audienceId } } };
  const sharing = useLoad(() => withEtag(api.GET("/accounts/{accountId}/audiences/{audienceId}/sharing", path)), [p.accountId, p.audienceId]);
  const org = useLoad(() => ok(api.GET("/accounts/{accountId}/organization", acct(p.accountId))), [p.accountId]);
  const [rows, setRows] = useState<Row[]>([]);
  const [etag, setEtag] = useState<string>();
  const [adding, setAdding] = useState("");
  const [saved, setSaved] = useState<string>();
  const [explain, setExplain] = useState<{ accountId: string; e?: S["AccessExplanation"]; error?: string }>();
  const act = useAction();
  useEffect(() => {
    if (sharing.data) {
      setRows(rowsOf(sharing.data.data));
      setEtag(sharing.data.etag);
    }
  }, [sharing.data]);
  const candidates = (org.data?.accounts ?? []).filter(
    (a) => a.accountId !== p.accountId && !rows.some((r) => r.accountId === a.accountId),
  );
  const set = (i: number, patch: Partial<Row>) => setRows(rows.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  const save = () =>
    act.run(async () => {
      setSaved(undefined);
      const grants = rows
        .filter((r) => r.level !== "private")
        .map((r) => ({
          accountId: r.accountId,
          level: r.level,
          ...(toRfc3339(r.startsAt) ? { startsAt: toRfc3339(r.startsAt) } : {}),
          ...(toRfc3339(r.expiresAt) ? { expiresAt: toRfc3339(r.expiresAt) } : {}),
          ...(r.level === "usable" && r.fallbackLevel === "view_only" ? { fallbackLevel: r.fallbackLevel } : {}),
          ...(parsePlatforms(r.platforms) ? { allowedPlatforms: parsePlatforms(r.platforms) } : {}),
        }));
      try {
        const r = await withEtag(
          api.PUT("/accounts/{accountId}/audiences/{audienceId}/sharing", {
            params: { ...path.params, header: etag ? { "If-Match": etag } : {} },
            body: { grants } as S["SharingUpdate"],
          }),
        );
        setRows(rowsOf(r.data));
        setEtag(r.etag);
        setSaved(`Saved (version ${r.data.version}).`);
        p.onSaved();
      } catch (e) {
        if (e instanceof ApiError && e.status === 412) {
          sharing.reload();
          throw new Error(
            "These access levels were changed by someone else since you opened them. The current settings are shown below; make your change again and save.",
          );
        }
        throw e;
      }
    });
  const showWhy = async (accountId: string) => {
    setExplain({ accountId });
    try {
      const e = await ok(
        api.GET("/accounts/{accountId}/audiences/{audienceId}/sharing/{receiverAccountId}", {
          params: { path: { accountId: p.accountId, audienceId: p.audienceId, receiverAccountId: accountId } },
        }),
      );
      setExplain({ accountId, e });
    } catch (err) {
      setExplain({ accountId, error: err instanceof Error ? err.message : String(err) });
    }
  };
  return (
    <section aria-labelledby="access-levels">
      <h2 id="access-levels">Access Levels</h2>
      <ErrorBox error={sharing.error ?? org.error} />
      <ErrorBox error={act.error} />
      {saved ? <Notice>{saved}</Notice> : null}
      <table class="grants">
        <caption>The level each account of the organization holds on this audience</caption>
        <thead>
          <tr>
            <th scope="col">Account</th>
            <th scope="col">Shared Level</th>
            <th scope="col">From</th>
            <th scope="col">Until</th>
            <th scope="col">Then</th>
            <th scope="col">Platforms</th>
            <th scope="col">Now</th>
            <th scope="col">
              <span class="sr-only">Why</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r, i) => (
            <tr key={r.accountId}>
              <th scope="row">{r.accountName}</th>
              <td>
                {p.mayChange ? (
                  <select
                    aria-label={`Shared Level for ${r.accountName}`}
                    value={r.level}
                    onChange={(e) => set(i, { level: e.currentTarget.value as Row["level"] })}
                  >
                    <option value="private">Private</option>
                    <option value="view_only">View only</option>
                    <option value="usable">Usable</option>
                  </select>
                ) : (
                  <Level value={r.level} />
                )}
              </td>
              <td>
                {p.mayChange && r.level !== "private" ? (
                  <input type="datetime-local" aria-label={`Window start for ${r.accountName} (UTC)`} value={r.startsAt} onInput={(e) => set(i, { startsAt: e.currentTarget.value })} />
                ) : (
                  r.startsAt
                )}
              </td>
              <td>
                {p.mayChange && r.level !== "private" ? (
                  <input type="datetime-local" aria-label={`Window end for ${r.accountName} (UTC)`} value={r.expiresAt} onInput={(e) => set(i, { expiresAt: e.currentTarget.value })} />
                ) : (
                  r.expiresAt
                )}
              </td>
              <td>
                {p.mayChange && r.level === "usable" ? (
                  <select aria-label={`Level after the window for ${r.accountName}`} value={r.fallbackLevel} onChange={(e) => set(i, { fallbackLevel: e.currentTarget.value as Row["fallbackLevel"] })}>
                    <option value="private">Private</option>
                    <option value="view_only">View only</option>
                  </select>
                ) : (
                  level(r.level === "private" ? "" : r.fallbackLevel)
                )}
              </td>
              <td>
                {p.mayChange && r.level !== "private" ? (
                  <input aria-label={`Allowed platforms for ${r.accountName} (comma separated; empty: any)`} value={r.platforms} placeholder="any" onInput={(e) => set(i, { platforms: e.currentTarget.value })} />
                ) : (
                  r.platforms || "any"
                )}
              </td>
              <td>{r.effective ? <Level value={r.effective} /> : "—"}</td>
              <td>
                <button type="button" onClick={() => showWhy(r.accountId)}>
                  Why?<span class="sr-only"> ({r.accountName})</span>
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {p.mayChange ? (
        <div class="row">
          <label>
            Account{" "}
            <select aria-label="Account to add" value={adding} onChange={(e) => setAdding(e.currentTarget.value)}>
              <option value="">choose an account…</option>
              {candidates.map((a) => (
                <option key={a.accountId} value={a.accountId}>
                  {a.accountName}
                </option>
              ))}
            </select>
          </label>{" "}
          <button
            type="button"
            aria-label="Add the account"
            disabled={!adding}
            onClick={() => {
              const a = candidates.find((c) => c.accountId === adding);
              if (a) setRows([...rows, { accountId: a.accountId, accountName: a.accountName, level: "view_only", startsAt: "", expiresAt: "", fallbackLevel: "private", platforms: "" }]);
              setAdding("");
            }}
          >
            +
          </button>{" "}
          <button type="button" class="primary" disabled={act.busy} onClick={save}>
            Save
          </button>
        </div>
      ) : null}
      {explain ? (
        <div class="panel" role="region" aria-label={`Why ${explain.accountId} holds what it holds`}>
          <h3>Why {explain.accountId} holds what it holds</h3>
          <ErrorBox error={explain.error} />
          {explain.e ? <Explanation e={explain.e} /> : explain.error ? null : <p>Loading…</p>}
        </div>
      ) : null}
    </section>
  );
}

function DeliveryText({ d }: { d?: Delivery }) {
  if (!d) return <>—</>;
  return (
    <>
      {d.state.replace(/_/g, " ")}, {d.membersDelivered} members
      {d.lastDeliveredAt ? `, last ${when(d.lastDeliveredAt)}` : ""}
      {d.lastError ? <span class="error-text"> — {d.lastError}</span> : null}
    </>
  );
}

function Connections(p: PageProps & { audienceId: string; mayConnect: boolean; onChange: () => void }) {
  const path = { params: { path: { accountId: p.accountId, audienceId: p.audienceId } } };
  const conns = useLoad(() => ok(api.GET("/accounts/{accountId}/audiences/{audienceId}/connections", path)), [p.accountId, p.audienceId]);
  const outputs = useLoad(
    async () => (p.mayConnect ? ok(api.GET("/accounts/{accountId}/outputs", acct(p.accountId))) : undefined),
    [p.accountId, p.mayConnect],
  );
  const [outputId, setOutputId] = useState("");
  const act = useAction();
  const mayDelete = mayDo(p, "delete_connection");
  const connect = () =>
    act.run(async () => {
      await ok(
        api.POST("/accounts/{accountId}/audiences/{audienceId}/connections", {
          params: { ...path.params, header: { "Idempotency-Key": idempotencyKey() } },
          body: { outputId },
        }),
      );
      setOutputId("");
      conns.reload();
      p.onChange();
    });
  const remove = (connectionId: string) =>
    act.run(async () => {
      await ok(
        api.DELETE("/accounts/{accountId}/audiences/{audienceId}/connections/{connectionId}", {
          params: { path: { ...path.params.path, connectionId } },
        }),
      );
      conns.reload();
      p.onChange();
    });
  return (
    <section aria-labelledby="connections">
      <h2 id="connections">Connections to outputs</h2>
      <ErrorBox error={act.error} />
      <Loading state={conns}>
        {(c) =>
          c.items.length === 0 ? (
            <p>Not connected to any output.</p>
          ) : (
            <table>
              <caption>This account's connections of this audience</caption>
              <thead>
                <tr>
                  <th scope="col">Output</th>
                  <th scope="col">Platform</th>
                  <th scope="col">Status</th>
                  <th scope="col">Delivery</th>
                  <th scope="col">Created</th>
                  {mayDelete ? <th scope="col"><span class="sr-only">Actions</span></th> : null}
                </tr>
              </thead>
              <tbody>
                {c.items.map((x) => (
                  <tr key={x.id}>
                    <td>{x.outputId}</td>
                    <td>{x.platform}</td>
                    <td>
                      {x.status}
                      {x.suspendedReason ? ` (${x.suspendedReason.replace(/_/g, " ")})` : ""}
                    </td>
                    <td>
                      <DeliveryText d={(x as { delivery?: Delivery }).delivery} />
                    </td>
                    <td>
                      {when(x.createdAt)} by {x.createdBy}
                    </td>
                    {mayDelete ? (
                      <td>
                        <button type="button" onClick={() => remove(x.id)}>
                          Disconnect<span class="sr-only"> {x.outputId}</span>
                        </button>
                      </td>
                    ) : null}
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Loading>
      {p.mayConnect ? (
        <div class="row">
          <label>
            Output{" "}
            <select aria-label="Output to connect" value={outputId} onChange={(e) => setOutputId(e.currentTarget.value)}>
              <option value="">choose an output…</option>
              {outputs.data?.items.map((o) => (
                <option key={o.id} value={o.id}>
                  {o.name} ({o.platform})
                </option>
              ))}
            </select>
          </label>{" "}
          <button type="button" class="primary" disabled={!outputId || act.busy} onClick={connect}>
            Connect
          </button>
        </div>
      ) : null}
    </section>
  );
}

// ---------------------------------------------------------------------------------------
// Shared with me (receiver)
// ---------------------------------------------------------------------------------------
export function SharedWithMe(p: PageProps) {
  useTitle("Shared with me");
  const list = useLoad(() => ok(api.GET("/accounts/{accountId}/shared-with-me", acct(p.accountId))), [p.accountId]);
  const mayRequest = mayDo(p, "request_access");
  return (
    <>
      <h1>Audiences</h1>
      <AudienceTabs accountId={p.accountId} current="shared" />
      <Loading state={list}>
        {(l) =>
          l.items.length === 0 ? (
            <p>No audience is shared with this account.</p>
          ) : (
            <table>
              <caption>Audiences other accounts of the organization share with this account</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Owner</th>
                  <th scope="col">Access</th>
                  <th scope="col">Changes at</th>
                  <th scope="col">Allowed platforms</th>
                  <th scope="col">
                    <span class="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {l.items.map((a) => (
                  <tr key={a.audienceId}>
                    <td>
                      <a href={`#/accounts/${enc(p.accountId)}/audiences/${enc(a.audienceId)}`}>{a.name}</a>
                    </td>
                    <td>{a.ownerAccountName}</td>
                    <td>
                      <Level value={a.access} />
                    </td>
                    <td>{when(a.changesAt) || "—"}</td>
                    <td>{platformsText(a.allowedPlatforms)}</td>
                    <td>
                      {a.access === "view_only" && mayRequest ? (
                        <a class="button" href={`#/accounts/${enc(p.accountId)}/audiences/${enc(a.audienceId)}/request`}>
                          Request access<span class="sr-only"> to {a.name}</span>
                        </a>
                      ) : null}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Loading>
    </>
  );
}

// ---------------------------------------------------------------------------------------
// Request access: level, campaign dates, details, platforms
// ---------------------------------------------------------------------------------------
const PLATFORMS = ["google_ads", "meta", "tiktok", "snapchat", "amazon_ads", "the_trade_desk"];

export function RequestAccess(p: PageProps & { audienceId: string }) {
  useTitle("Request access");
  const path = { params: { path: { accountId: p.accountId, audienceId: p.audienceId } } };
  const detail = useLoad(() => ok(api.GET("/accounts/{accountId}/audiences/{audienceId}", path)), [p.accountId, p.audienceId]);
  const [start, setStart] = useState("");
  const [end, setEnd] = useState("");
  const [details, setDetails] = useState("");
  const [platforms, setPlatforms] = useState<string[]>([]);
  const [other, setOther] = useState("");
  const [key] = useState(idempotencyKey);
  const act = useAction();
  const submit = (e: Event) => {
    e.preventDefault();
    act.run(async () => {
      const all = Array.from(new Set([...platforms, ...(parsePlatforms(other) ?? [])]));
      const r = await ok(
        api.POST("/accounts/{accountId}/access-requests", {
          params: { path: { accountId: p.accountId }, header: { "Idempotency-Key": key } },
          body: {
            audienceId: p.audienceId,
            requestedLevel: "usable",
            campaign: { start, end, details },
            activationPlatforms: all,
          },
        }),
      );
      location.hash = `#/accounts/${enc(p.accountId)}/access-requests/${enc(r.id)}`;
    });
  };
  return (
    <>
      <p class="crumbs">
        <a href={`#/accounts/${enc(p.accountId)}/shared-with-me`}>Shared with me</a> › Request access
      </p>
      <h1>Request access{detail.data ? ` to ${detail.data.name}` : ""}</h1>
      <ErrorBox error={detail.error} />
      {detail.data ? (
        <p>
          {detail.data.ownerAccountName} shares it with this account as <Level value={detail.data.access} />. The audience's
          creator is emailed your request and may reply to ask for details.
        </p>
      ) : null}
      <form class="stack" onSubmit={submit}>
        <label>
          Sharing level requested
          <select required value="usable">
            <option value="usable">Usable</option>
          </select>
        </label>
        <fieldset>
          <legend>Campaign dates</legend>
          <label>
            First day <input type="date" required value={start} onInput={(e) => setStart(e.currentTarget.value)} />
          </label>{" "}
          <label>
            Last day <input type="date" required value={end} onInput={(e) => setEnd(e.currentTarget.value)} />
          </label>
        </fieldset>
        <label>
          Campaign details
          <textarea required rows={4} value={details} onInput={(e) => setDetails(e.currentTarget.value)} />
        </label>
        <fieldset>
          <legend>Activation platforms</legend>
          {PLATFORMS.map((pl) => (
            <label key={pl} class="check">
              <input
                type="checkbox"
                checked={platforms.includes(pl)}
                onChange={(e) => setPlatforms(e.currentTarget.checked ? [...platforms, pl] : platforms.filter((x) => x !== pl))}
              />{" "}
              {pl}
            </label>
          ))}
          <label>
            Other platforms (comma separated) <input value={other} onInput={(e) => setOther(e.currentTarget.value)} />
          </label>
        </fieldset>
        <ErrorBox error={act.error} />
        <div>
          <button type="submit" class="primary" disabled={act.busy}>
            Send request
          </button>
        </div>
      </form>
    </>
  );
}

// ---------------------------------------------------------------------------------------
// Access requests: incoming and outgoing; one request with approve / deny
// ---------------------------------------------------------------------------------------
export function AccessRequests(p: PageProps) {
  useTitle("Access requests");
  const q = new URLSearchParams(location.hash.split("?")[1] ?? "");
  const direction = q.get("direction") === "outgoing" ? "outgoing" : "incoming";
  const status = (["pending", "approved", "denied"] as const).find((s) => s === q.get("status"));
  const list = useLoad(
    () =>
      ok(
        api.GET("/accounts/{accountId}/access-requests", {
          params: { path: { accountId: p.accountId }, query: { direction, ...(status ? { status } : {}) } },
        }),
      ),
    [p.accountId, direction, status],
  );
  const base = `#/accounts/${enc(p.accountId)}/access-requests`;
  return (
    <>
      <h1>Access requests</h1>
      <Tabs
        items={[
          [`${base}?direction=incoming`, "Incoming", direction === "incoming"],
          [`${base}?direction=outgoing`, "Outgoing", direction === "outgoing"],
        ]}
      />
      <Loading state={list}>
        {(l) =>
          l.items.length === 0 ? (
            <p>No {direction} request.</p>
          ) : (
            <table>
              <caption>{direction === "incoming" ? "Requests for this account's audiences" : "Requests this account made"}</caption>
              <thead>
                <tr>
                  <th scope="col">Audience</th>
                  <th scope="col">{direction === "incoming" ? "From" : "Owner"}</th>
                  <th scope="col">Level</th>
                  <th scope="col">Campaign</th>
                  <th scope="col">Status</th>
                  <th scope="col">Asked</th>
                </tr>
              </thead>
              <tbody>
                {l.items.map((r) => (
                  <tr key={r.id}>
                    <td>
                      <a href={`${base}/${enc(r.id)}`}>{r.audienceName}</a>
                    </td>
                    <td>{direction === "incoming" ? `${r.requesterAccountName} (${r.requestedBy.email})` : r.ownerAccountName}</td>
                    <td>{level(r.requestedLevel)}</td>
                    <td>
                      {r.campaign.start} – {r.campaign.end}
                    </td>
                    <td>{r.status}</td>
                    <td>{when(r.createdAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Loading>
    </>
  );
}

export function AccessRequestPage(p: PageProps & { requestId: string }) {
  useTitle("Access request");
  const path = { params: { path: { accountId: p.accountId, requestId: p.requestId } } };
  const req = useLoad(() => ok(api.GET("/accounts/{accountId}/access-requests/{requestId}", path)), [p.accountId, p.requestId]);
  const [lvl, setLvl] = useState<"usable" | "view_only">("usable");
  const [startsAt, setStartsAt] = useState("");
  const [expiresAt, setExpiresAt] = useState("");
  const [platforms, setPlatforms] = useState<string>();
  const [reason, setReason] = useState("");
  const act = useAction();
  const r = req.data;
  const incoming = r?.ownerAccountId === p.accountId;
  const mayDecide = incoming && r?.status === "pending" && mayDo(p, "decide_access_request");
  const approve = (e: Event) => {
    e.preventDefault();
    act.run(async () => {
      const list = platforms === undefined ? undefined : parsePlatforms(platforms);
      await ok(
        api.POST("/accounts/{accountId}/access-requests/{requestId}/approve", {
          params: { ...path.params, header: { "Idempotency-Key": idempotencyKey() } },
          body: {
            ...(lvl !== "usable" ? { level: lvl } : {}),
            ...(toRfc3339(startsAt) ? { startsAt: toRfc3339(startsAt) } : {}),
            ...(toRfc3339(expiresAt) ? { expiresAt: toRfc3339(expiresAt) } : {}),
            ...(list ? { allowedPlatforms: list } : {}),
          },
        }),
      );
      req.reload();
    });
  };
  const deny = (e: Event) => {
    e.preventDefault();
    act.run(async () => {
      await ok(
        api.POST("/accounts/{accountId}/access-requests/{requestId}/deny", {
          params: { ...path.params, header: { "Idempotency-Key": idempotencyKey() } },
          body: reason.trim() ? { reason: reason.trim() } : {},
        }),
      );
      req.reload();
    });
  };
  return (
    <>
      <p class="crumbs">
        <a href={`#/accounts/${enc(p.accountId)}/access-requests?direction=${incoming ? "incoming" : "outgoing"}`}>Access requests</a> ›
        Request
      </p>
      <Loading state={req}>
        {(r) => (
          <>
            <h1>
              {r.requesterAccountName} asks for {level(r.requestedLevel)} access to {r.audienceName}
            </h1>
            <dl class="facts">
              <dt>Status</dt>
              <dd>
                <strong>{r.status}</strong>
                {r.decidedBy ? ` by ${r.decidedBy.email} on ${when(r.decidedAt)}` : ""}
              </dd>
              <dt>Requested by</dt>
              <dd>
                {r.requestedBy.email} ({r.requesterAccountName}), {when(r.createdAt)}
              </dd>
              <dt>Audience</dt>
              <dd>
                {r.audienceName} of {r.ownerAccountName}
              </dd>
              <dt>Campaign</dt>
              <dd>
                {r.campaign.start} to {r.campaign.end}
              </dd>
              <dt>Details</dt>
              <dd class="pre">{r.campaign.details}</dd>
              <dt>Activation platforms</dt>
              <dd>{r.activationPlatforms.join(", ")}</dd>
              {r.grantedLevel ? (
                <>
                  <dt>Granted</dt>
                  <dd>
                    {level(r.grantedLevel)}
                    {r.startsAt ? ` from ${when(r.startsAt)}` : ""}
                    {r.expiresAt ? ` until ${when(r.expiresAt)}` : ""}
                    {r.fallbackLevel ? `, then ${level(r.fallbackLevel)}` : ""}; platforms: {platformsText(r.allowedPlatforms)}
                  </dd>
                </>
              ) : null}
              {r.reason ? (
                <>
                  <dt>Reason</dt>
                  <dd>{r.reason}</dd>
                </>
              ) : null}
            </dl>
            <ErrorBox error={act.error} />
            {mayDecide ? (
              <div class="columns">
                <form class="stack panel" onSubmit={approve} aria-labelledby="approve-h">
                  <h2 id="approve-h">Approve</h2>
                  <p class="muted">
                    By default: {level(r.requestedLevel)} from now until the end of the campaign's last day, for{" "}
                    {r.activationPlatforms.join(", ")} only, then back to the level held today. Override any of them:
                  </p>
                  <label>
                    Level
                    <select value={lvl} onChange={(e) => setLvl(e.currentTarget.value as "usable" | "view_only")}>
                      <option value="usable">Usable</option>
                      <option value="view_only">View only</option>
                    </select>
                  </label>
                  <label>
                    From (UTC, empty: now)
                    <input type="datetime-local" value={startsAt} onInput={(e) => setStartsAt(e.currentTarget.value)} />
                  </label>
                  <label>
                    Until (UTC, empty: the campaign's end)
                    <input type="datetime-local" value={expiresAt} onInput={(e) => setExpiresAt(e.currentTarget.value)} />
                  </label>
                  <label>
                    Allowed platforms (comma separated)
                    <input value={platforms ?? r.activationPlatforms.join(", ")} onInput={(e) => setPlatforms(e.currentTarget.value)} />
                  </label>
                  <div>
                    <button type="submit" class="primary" disabled={act.busy}>
                      Approve request
                    </button>
                  </div>
                </form>
                <form class="stack panel" onSubmit={deny} aria-labelledby="deny-h">
                  <h2 id="deny-h">Deny</h2>
                  <label>
                    Reason (shown to the requester)
                    <textarea rows={3} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
                  </label>
                  <div>
                    <button type="submit" disabled={act.busy}>
                      Deny request
                    </button>
                  </div>
                </form>
              </div>
            ) : null}
          </>
        )}
      </Loading>
    </>
  );
}

// ---------------------------------------------------------------------------------------
// Settings → Audience Settings (defaults, apply with preview) and Identity Settings
// ---------------------------------------------------------------------------------------
function SettingsTabs({ accountId, current, p }: { accountId: string; current: "audience" | "identity"; p: PageProps }) {
  const a = `#/accounts/${enc(accountId)}/settings`;
  const items: [string, string, boolean][] = [];
  if (mayDo(p, "view_sharing_defaults")) items.push([`${a}/audience`, "Audience Settings", current === "audience"]);
  if (mayDo(p, "view_identity_sharing")) items.push([`${a}/identity`, "Identity Settings", current === "identity"]);
  return <Tabs items={items} />;
}

export function AudienceSettings(p: PageProps) {
  useTitle("Audience Settings");
  const defaults = useLoad(() => withEtag(api.GET("/accounts/{accountId}/sharing-defaults", acct(p.accountId))), [p.accountId]);
  const org = useLoad(() => ok(api.GET("/accounts/{accountId}/organization", acct(p.accountId))), [p.accountId]);
  const [rows, setRows] = useState<{ accountId: string; accountName: string; level: "private" | "view_only" | "usable" }[]>([]);
  const [adding, setAdding] = useState("");
  const [saved, setSaved] = useState<string>();
  const [includeEdited, setIncludeEdited] = useState(false);
  const [preview, setPreview] = useState<S["ApplyDefaultsResult"]>();
  const [applied, setApplied] = useState<S["ApplyDefaultsResult"]>();
  const act = useAction();
  const mayChange = mayDo(p, "change_sharing_defaults");
  useEffect(() => {
    if (defaults.data) setRows(defaults.data.data.defaults.map((d) => ({ accountId: d.accountId, accountName: d.accountName, level: d.level })));
  }, [defaults.data]);
  const candidates = (org.data?.accounts ?? []).filter((a) => a.accountId !== p.accountId && !rows.some((r) => r.accountId === a.accountId));
  const save = () =>
    act.run(async () => {
      setSaved(undefined);
      try {
        await ok(
          api.PUT("/accounts/{accountId}/sharing-defaults", {
            params: { path: { accountId: p.accountId }, header: defaults.data?.etag ? { "If-Match": defaults.data.etag } : {} },
            body: { defaults: rows.map((r) => ({ accountId: r.accountId, level: r.level })) },
          }),
        );
        setSaved("Defaults saved. They apply to audiences created from now on; preview below to bring existing audiences in line.");
        setPreview(undefined);
        defaults.reload();
      } catch (e) {
        if (e instanceof ApiError && e.status === 412) {
          defaults.reload();
          throw new Error("The defaults were changed by someone else since you opened them. The current defaults are shown; make your change again.");
        }
        throw e;
      }
    });
  const apply = (dryRun: boolean) =>
    act.run(async () => {
      const r = await ok(
        api.POST("/accounts/{accountId}/sharing-defaults/apply", {
          params: { path: { accountId: p.accountId }, header: { "Idempotency-Key": idempotencyKey() } },
          body: { dryRun, includeEdited, limit: 50 },
        }),
      );
      if (dryRun) {
        setPreview(r);
        setApplied(undefined);
      } else {
        setApplied(r);
        setPreview(undefined);
      }
    });
  return (
    <>
      <h1>Settings</h1>
      <SettingsTabs accountId={p.accountId} current="audience" p={p} />
      <h2>Default audience-level sharing</h2>
      <p class="muted">Applied to each new audience when it is created. Changing them does not change existing audiences unless you apply them below.</p>
      <ErrorBox error={defaults.error ?? org.error} />
      <ErrorBox error={act.error} />
      {saved ? <Notice>{saved}</Notice> : null}
      <table>
        <caption>Default level per account</caption>
        <thead>
          <tr>
            <th scope="col">Account</th>
            <th scope="col">Default level</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r, i) => (
            <tr key={r.accountId}>
              <th scope="row">{r.accountName}</th>
              <td>
                {mayChange ? (
                  <select
                    aria-label={`Default level for ${r.accountName}`}
                    value={r.level}
                    onChange={(e) => setRows(rows.map((x, j) => (j === i ? { ...x, level: e.currentTarget.value as typeof x.level } : x)))}
                  >
                    <option value="private">Private</option>
                    <option value="view_only">View only</option>
                    <option value="usable">Usable</option>
                  </select>
                ) : (
                  <Level value={r.level} />
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {mayChange ? (
        <div class="row">
          <label>
            Account{" "}
            <select aria-label="Account to add" value={adding} onChange={(e) => setAdding(e.currentTarget.value)}>
              <option value="">choose an account…</option>
              {candidates.map((a) => (
                <option key={a.accountId} value={a.accountId}>
                  {a.accountName}
                </option>
              ))}
            </select>
          </label>{" "}
          <button
            type="button"
            aria-label="Add a default for the account"
            disabled={!adding}
            onClick={() => {
              const a = candidates.find((c) => c.accountId === adding);
              if (a) setRows([...rows, { accountId: a.accountId, accountName: a.accountName, level: "view_only" }]);
              setAdding("");
            }}
          >
            +
          </button>{" "}
          <button type="button" class="primary" disabled={act.busy} onClick={save}>
            Save defaults
          </button>
        </div>
      ) : null}
      {mayChange ? (
        <section aria-labelledby="apply-h">
          <h2 id="apply-h">Apply the defaults to existing audiences</h2>
          <label class="check">
            <input type="checkbox" checked={includeEdited} onChange={(e) => setIncludeEdited(e.currentTarget.checked)} /> Also replace
            levels set on an audience itself
          </label>
          <div class="row">
            <button type="button" disabled={act.busy} onClick={() => apply(true)}>
              Preview changes
            </button>{" "}
            {preview && preview.items.length ? (
              <button type="button" class="primary" disabled={act.busy} onClick={() => apply(false)}>
                Apply {preview.items.length} changes
              </button>
            ) : null}
          </div>
          {preview || applied ? <ApplyTable r={(preview ?? applied) as S["ApplyDefaultsResult"]} /> : null}
        </section>
      ) : null}
    </>
  );
}

function ApplyTable({ r }: { r: S["ApplyDefaultsResult"] }) {
  if (r.items.length === 0) return <Notice>{r.dryRun ? "Nothing would change." : "Nothing changed."}</Notice>;
  return (
    <table>
      <caption>{r.dryRun ? "What applying would change (nothing changed yet)" : "What was changed"}</caption>
      <thead>
        <tr>
          <th scope="col">Audience</th>
          <th scope="col">Account</th>
          <th scope="col">From</th>
          <th scope="col">To</th>
          <th scope="col">Connections suspended</th>
        </tr>
      </thead>
      <tbody>
        {r.items.map((i) => (
          <tr key={`${i.audienceId}/${i.accountId}`}>
            <td>{i.audienceName}</td>
            <td>{i.accountName}</td>
            <td>{level(i.from)}</td>
            <td>{level(i.to)}</td>
            <td>{i.connectionsSuspended}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function IdentitySettings(p: PageProps) {
  useTitle("Identity Settings");
  const ids = useLoad(() => ok(api.GET("/accounts/{accountId}/identity-sharing", acct(p.accountId))), [p.accountId]);
  const org = useLoad(() => ok(api.GET("/accounts/{accountId}/organization", acct(p.accountId))), [p.accountId]);
  const [open, setOpen] = useState<string>();
  const act = useAction();
  const mayChange = mayDo(p, "change_identity_sharing");
  const others = (org.data?.accounts ?? []).filter((a) => a.accountId !== p.accountId);
  const toggle = (identityType: S["IdentityType"], receiverAccountId: string, allowed: boolean) =>
    act.run(async () => {
      await ok(
        api.PUT("/accounts/{accountId}/identity-sharing/{identityType}/accounts/{receiverAccountId}", {
          params: { path: { accountId: p.accountId, identityType, receiverAccountId } },
          body: { allowed },
        }),
      );
      ids.reload();
    });
  return (
    <>
      <h1>Settings</h1>
      <SettingsTabs accountId={p.accountId} current="identity" p={p} />
      <h2>Identity Sharing</h2>
      <p class="muted">
        Which identity types each account receives with the audiences this account shares. They filter only users the receiving
        account has not already seen.
      </p>
      <ErrorBox error={act.error ?? org.error} />
      <Loading state={ids}>
        {(l) => (
          <table>
            <caption>Identity types and the accounts allowed to receive them</caption>
            <thead>
              <tr>
                <th scope="col">Identity type</th>
                <th scope="col">Accounts</th>
                <th scope="col">
                  <span class="sr-only">Permissions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {l.items.map((t) => (
                <>
                  <tr key={t.identityType}>
                    <th scope="row">{t.identityType}</th>
                    <td>
                      {t.grantedAccountCount}
                      {t.accounts.length ? ` (${t.accounts.map((a) => a.accountName).join(", ")})` : ""}
                    </td>
                    <td>
                      <button
                        type="button"
                        aria-expanded={open === t.identityType}
                        onClick={() => setOpen(open === t.identityType ? undefined : t.identityType)}
                      >
                        Permissions<span class="sr-only"> for {t.identityType}</span>
                      </button>
                    </td>
                  </tr>
                  {open === t.identityType ? (
                    <tr key={`${t.identityType}-open`}>
                      <td colSpan={3}>
                        <fieldset>
                          <legend>Accounts that receive {t.identityType}</legend>
                          {others.map((a) => {
                            const on = t.accounts.some((x) => x.accountId === a.accountId);
                            return (
                              <label key={a.accountId} class="check">
                                <input
                                  type="checkbox"
                                  checked={on}
                                  disabled={!mayChange || act.busy}
                                  onChange={(e) => toggle(t.identityType, a.accountId, e.currentTarget.checked)}
                                />{" "}
                                {a.accountName}
                              </label>
                            );
                          })}
                        </fieldset>
                      </td>
                    </tr>
                  ) : null}
                </>
              ))}
            </tbody>
          </table>
        )}
      </Loading>
    </>
  );
}

// ---------------------------------------------------------------------------------------
// Outputs and connections (with their delivery state)
// ---------------------------------------------------------------------------------------
export function Outputs(p: PageProps) {
  useTitle("Outputs and connections");
  const outputs = useLoad(() => ok(api.GET("/accounts/{accountId}/outputs", acct(p.accountId))), [p.accountId]);
  const conns = useLoad(
    async () => (mayDo(p, "view_connections") ? ok(api.GET("/accounts/{accountId}/connections", acct(p.accountId))) : undefined),
    [p.accountId],
  );
  const [name, setName] = useState("");
  const [platform, setPlatform] = useState("");
  const [url, setUrl] = useState("");
  const [secret, setSecret] = useState<string>();
  const act = useAction();
  const mayManage = mayDo(p, "manage_outputs");
  const create = (e: Event) => {
    e.preventDefault();
    act.run(async () => {
      const r = await ok(
        api.POST("/accounts/{accountId}/outputs", {
          params: { path: { accountId: p.accountId }, header: { "Idempotency-Key": idempotencyKey() } },
          body: { name, platform, destination: { type: "webhook", url } },
        }),
      );
      setSecret((r as { signingSecret?: string }).signingSecret);
      setName("");
      setPlatform("");
      setUrl("");
      outputs.reload();
    });
  };
  return (
    <>
      <h1>Outputs and connections</h1>
      <ErrorBox error={act.error} />
      <h2>Outputs</h2>
      <Loading state={outputs}>
        {(l) => (
          <table>
            <caption>Where this account's audience data goes</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Platform</th>
                <th scope="col">Destination</th>
              </tr>
            </thead>
            <tbody>
              {l.items.map((o) => (
                <tr key={o.id}>
                  <td>{o.name}</td>
                  <td>{o.platform}</td>
                  <td>{o.destination.type === "webhook" ? o.destination.url : o.destination.eventBusArn}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Loading>
      {secret ? <Notice>The new output's signing secret (shown once): {secret}</Notice> : null}
      {mayManage ? (
        <form class="row" onSubmit={create} aria-label="Add a webhook output">
          <label>
            Name <input required value={name} onInput={(e) => setName(e.currentTarget.value)} />
          </label>{" "}
          <label>
            Platform <input required value={platform} onInput={(e) => setPlatform(e.currentTarget.value)} />
          </label>{" "}
          <label>
            Webhook URL <input required type="url" value={url} onInput={(e) => setUrl(e.currentTarget.value)} />
          </label>{" "}
          <button type="submit" disabled={act.busy}>
            Add output
          </button>
        </form>
      ) : null}
      {conns.data || conns.error ? (
        <>
          <h2>Connections</h2>
          <Loading state={conns}>
            {(c) =>
              c && c.items.length ? (
                <table>
                  <caption>Every connection of this account, across audiences</caption>
                  <thead>
                    <tr>
                      <th scope="col">Audience</th>
                      <th scope="col">Output</th>
                      <th scope="col">Platform</th>
                      <th scope="col">Status</th>
                      <th scope="col">Delivery</th>
                      <th scope="col">Created</th>
                    </tr>
                  </thead>
                  <tbody>
                    {c.items.map((x) => (
                      <tr key={x.id}>
                        <td>
                          <a href={`#/accounts/${enc(p.accountId)}/audiences/${enc(x.audienceId)}`}>{x.audienceName}</a>
                        </td>
                        <td>{x.outputId}</td>
                        <td>{x.platform}</td>
                        <td>
                          {x.status}
                          {x.suspendedReason ? ` (${x.suspendedReason.replace(/_/g, " ")})` : ""}
                        </td>
                        <td>
                          <DeliveryText d={(x as { delivery?: Delivery }).delivery} />
                        </td>
                        <td>{when(x.createdAt)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              ) : (
                <p>No connection yet.</p>
              )
            }
          </Loading>
        </>
      ) : null}
    </>
  );
}

// ---------------------------------------------------------------------------------------
// Users and roles; Activity
// ---------------------------------------------------------------------------------------
export function Users(p: PageProps) {
  useTitle("Users and roles");
  const users = useLoad(() => ok(api.GET("/accounts/{accountId}/users", acct(p.accountId))), [p.accountId]);
  const roles = useLoad(() => ok(api.GET("/accounts/{accountId}/roles", acct(p.accountId))), [p.accountId]);
  const [form, setForm] = useState({ userId: "", email: "", firstName: "", lastName: "", role: "read_only" });
  const act = useAction();
  const mayManage = mayDo(p, "manage_users");
  const put = (u: S["UserInput"] & { userId: string }) =>
    act.run(async () => {
      const { userId, ...body } = u;
      await ok(api.PUT("/accounts/{accountId}/users/{userId}", { params: { path: { accountId: p.accountId, userId } }, body }));
      users.reload();
    });
  const roleOptions = roles.data?.items ?? [];
  return (
    <>
      <h1>Users and roles</h1>
      <ErrorBox error={act.error ?? roles.error} />
      <Loading state={users}>
        {(l) => (
          <table>
            <caption>The account's users</caption>
            <thead>
              <tr>
                <th scope="col">User</th>
                <th scope="col">Email</th>
                <th scope="col">Role</th>
              </tr>
            </thead>
            <tbody>
              {l.items.map((u) => (
                <tr key={u.userId}>
                  <th scope="row">
                    {u.firstName} {u.lastName} <span class="muted">({u.userId})</span>
                  </th>
                  <td>{u.email}</td>
                  <td>
                    {mayManage && roleOptions.length ? (
                      <select
                        aria-label={`Role of ${u.userId}`}
                        value={u.role}
                        onChange={(e) => put({ userId: u.userId, email: u.email, firstName: u.firstName, lastName: u.lastName, role: e.currentTarget.value })}
                      >
                        {roleOptions.map((r) => (
                          <option key={r.id} value={r.id}>
                            {r.name}
                          </option>
                        ))}
                      </select>
                    ) : (
                      u.role
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Loading>
      {mayManage ? (
        <form
          class="row"
          aria-label="Add a user"
          onSubmit={(e) => {
            e.preventDefault();
            void put(form).then(() => setForm({ userId: "", email: "", firstName: "", lastName: "", role: "read_only" }));
          }}
        >
          <label>
            User id <input required value={form.userId} onInput={(e) => setForm({ ...form, userId: e.currentTarget.value })} />
          </label>{" "}
          <label>
            Email <input required type="email" value={form.email} onInput={(e) => setForm({ ...form, email: e.currentTarget.value })} />
          </label>{" "}
          <label>
            First name <input required value={form.firstName} onInput={(e) => setForm({ ...form, firstName: e.currentTarget.value })} />
          </label>{" "}
          <label>
            Last name <input required value={form.lastName} onInput={(e) => setForm({ ...form, lastName: e.currentTarget.value })} />
          </label>{" "}
          <label>
            Role{" "}
            <select value={form.role} onChange={(e) => setForm({ ...form, role: e.currentTarget.value })}>
              {roleOptions.map((r) => (
                <option key={r.id} value={r.id}>
                  {r.name}
                </option>
              ))}
            </select>
          </label>{" "}
          <button type="submit" disabled={act.busy}>
            Add user
          </button>
        </form>
      ) : null}
      <h2>Roles</h2>
      <Loading state={roles}>
        {(l) => (
          <table>
            <caption>Built-in and custom roles, with what each may do</caption>
            <thead>
              <tr>
                <th scope="col">Role</th>
                <th scope="col">Kind</th>
                <th scope="col">Permissions</th>
              </tr>
            </thead>
            <tbody>
              {l.items.map((r) => (
                <tr key={r.id}>
                  <th scope="row">{r.name}</th>
                  <td>{r.builtIn ? "built-in" : "custom"}</td>
                  <td class="small">{r.permissions.join(", ")}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Loading>
    </>
  );
}

export function Activity(p: PageProps) {
  useTitle("Activity");
  const list = useLoad(() => ok(api.GET("/accounts/{accountId}/activity", acct(p.accountId))), [p.accountId]);
  return (
    <>
      <h1>Activity</h1>
      <Loading state={list}>
        {(l) =>
          l.items.length === 0 ? (
            <p>No activity yet.</p>
          ) : (
            <table>
              <caption>Changes that touched this account, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">Who</th>
                  <th scope="col">What</th>
                  <th scope="col">Audience</th>
                  <th scope="col">Account</th>
                  <th scope="col">Change</th>
                </tr>
              </thead>
              <tbody>
                {l.items.map((a) => (
                  <tr key={a.id}>
                    <td>{when(a.at)}</td>
                    <td>{a.actorUserId}</td>
                    <td>{a.action.replace(/_/g, " ")}</td>
                    <td>{a.audienceId ?? ""}</td>
                    <td>{a.accountId ?? a.userId ?? ""}</td>
                    <td class="small">
                      {a.before !== undefined ? `${JSON.stringify(a.before)} → ` : ""}
                      {a.after !== undefined ? JSON.stringify(a.after) : ""}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Loading>
    </>
  );
}
