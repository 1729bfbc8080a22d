import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, ApiError, type Delivery, idempotencyKey, ok, type S, withEtag } from "./api";
import { type Action, GRANTABLE, can } from "./perms";
import {
  type Column,
  DataTable,
  ErrorBox,
  Level,
  Loading,
  Notice,
  PAGE_SIZE,
  type Paged,
  PagedTable,
  Submit,
  fromRfc3339,
  level,
  parsePlatforms,
  platformsText,
  toRfc3339,
  useAction,
  useLoad,
  usePaged,
  when,
} from "./ui";

export interface PageProps {
  accountId: string;
  role: string;
  permissions: string[];
  me: S["Me"];
}

const enc = encodeURIComponent;
const acct = (accountId: string) => ({ params: { path: { accountId } } });
/** An account's list route's parameters for one page. */
const page = (accountId: string, cursor: string | undefined) => ({
  params: { path: { accountId }, query: { limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) } },
});

function useTitle(t: string) {
  useEffect(() => {
    document.title = `${t} · Audience sharing`;
  }, [t]);
}

function mayDo(p: PageProps, a: Action) {
  return can(p.permissions, a);
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

const AUDIENCE_LISTS = {
  mine: {
    title: "Audiences",
    empty: "This account owns no audience.",
    caption: "Audiences owned by this account, and with how many accounts each is shared",
  },
  shared: {
    title: "Shared with me",
    empty: "No audience is shared with this account.",
    caption: "Audiences other accounts of the organization share with this account",
  },
};

/**
 * The two audience lists (My audiences, Shared with me): tabs, then one list table whose
 * first column links each audience (`ref`: its id and name) to its details.
 */
function AudienceList<T>(props: {
  accountId: string;
  current: keyof typeof AUDIENCE_LISTS;
  list: Paged<T>;
  ref_: (row: T) => { id: string; name: string };
  columns: (Column<T> | false | null | undefined)[];
  children?: ComponentChildren;
}) {
  const { accountId, current, ref_ } = props;
  const words = AUDIENCE_LISTS[current];
  const a = `#/accounts/${enc(accountId)}`;
  useTitle(words.title);
  const name: Column<T> = { header: "Name", cell: (r) => <a href={`${a}/audiences/${enc(ref_(r).id)}`}>{ref_(r).name}</a> };
  return (
    <>
      <h1>Audiences</h1>
      <Tabs
        items={[
          [`${a}/audiences`, "My audiences", current === "mine"],
          [`${a}/shared-with-me`, "Shared with me", current === "shared"],
        ]}
      />
      <PagedTable list={props.list} empty={words.empty} caption={words.caption} rowKey={(r) => ref_(r).id} columns={[name, ...props.columns]} />
      {props.children}
    </>
  );
}

// ---------------------------------------------------------------------------------------
// Audiences (owner): the list with its sharing summary
// ---------------------------------------------------------------------------------------
export function Audiences(p: PageProps) {
  const list = usePaged((c) => ok(api.GET("/accounts/{accountId}/audiences", page(p.accountId, c))), [p.accountId]);
  return (
    <AudienceList
      accountId={p.accountId}
      current="mine"
      list={list}
      ref_={(a) => a}
      columns={[
        { header: "Shared: view only", cell: (a) => a.sharedWith.viewOnly },
        { header: "Shared: usable", cell: (a) => a.sharedWith.usable },
        { header: "Created", cell: (a) => `${when(a.createdAt)} by ${a.createdBy}` },
      ]}
    >
      {mayDo(p, "create_audience") ? <CreateAudience accountId={p.accountId} /> : null}
    </AudienceList>
  );
}

/** A new audience of the account: its sharing starts as the account's defaults. */
function CreateAudience({ accountId }: { accountId: string }) {
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [definition, setDefinition] = useState('{"criteria": []}');
  const [key, setKey] = useState(idempotencyKey);
  const act = useAction();
  const submit = (e: Event) => {
    e.preventDefault();
    act.run(async () => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(definition);
      } catch {
        throw new Error("The definition is not JSON: write an object, e.g. {\"criteria\": []}.");
      }
      const a = await ok(
        api.POST("/accounts/{accountId}/audiences", {
          params: { path: { accountId }, header: { "Idempotency-Key": key } },
          body: { name, ...(description.trim() ? { description } : {}), definition: parsed as S["AudienceCreate"]["definition"] },
        }),
      );
      setKey(idempotencyKey());
      location.hash = `#/accounts/${enc(accountId)}/audiences/${enc(a.id)}`;
    });
  };
  return (
    <form class="stack panel" onSubmit={submit} aria-labelledby="create-audience-h">
      <h2 id="create-audience-h">Create an audience</h2>
      <p class="muted">Its sharing starts as this account's sharing defaults (Settings → Audience Settings).</p>
      <label>
        Name <input required value={name} onInput={(e) => setName(e.currentTarget.value)} />
      </label>
      <label>
        Description <input value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
      </label>
      <label>
        Definition (JSON object)
        <textarea required rows={3} value={definition} onInput={(e) => setDefinition(e.currentTarget.value)} />
      </label>
      <Submit act={act} label="Create audience" />
    </form>
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
          {d.access === "owner" && allowed("edit_audience") ? <EditAudience {...p} audience={d} onSaved={detail.reload} /> : null}
          {d.access === "owner" && allowed("view_sharing") ? (
            <AccessLevels {...p} audienceId={p.audienceId} mayChange={allowed("change_sharing")} onSaved={why.reload} />
          ) : null}
          {d.access === "owner" && allowed("upload_members") ? <UploadMembers {...p} audienceId={p.audienceId} /> : null}
          {d.access === "owner" && mayDo(p, "view_usage") ? <Usage {...p} audienceId={p.audienceId} /> : null}
          {why.data && (allowed("connect_audience") || mayDo(p, "view_connections")) ? (
            <Connections {...p} audienceId={p.audienceId} mayConnect={allowed("connect_audience")} onChange={why.reload} />
          ) : null}
        </>
      )}
    </Loading>
  );
}

/** Name and description of an audience the account owns (`PATCH`). */
function EditAudience(p: PageProps & { audience: S["AudienceDetail"]; onSaved: () => void }) {
  const [open, setOpen] = useState(false);
  const [name, setName] = useState(p.audience.name);
  const [description, setDescription] = useState(p.audience.description ?? "");
  const act = useAction();
  if (!open) {
    return (
      <p>
        <button type="button" onClick={() => setOpen(true)}>
          Edit name and description
        </button>
      </p>
    );
  }
  const save = (e: Event) => {
    e.preventDefault();
    act.run(async () => {
      await ok(
        api.PATCH("/accounts/{accountId}/audiences/{audienceId}", {
          params: { path: { accountId: p.accountId, audienceId: p.audience.id } },
          body: { name, description },
        }),
      );
      setOpen(false);
      p.onSaved();
    });
  };
  return (
    <form class="stack panel" onSubmit={save} aria-labelledby="edit-audience-h">
      <h2 id="edit-audience-h">Edit the audience</h2>
      <label>
        Name <input required value={name} onInput={(e) => setName(e.currentTarget.value)} />
      </label>
      <label>
        Description <input value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
      </label>
      <Submit act={act} label="Save audience">
        <button type="button" onClick={() => setOpen(false)}>
          Cancel
        </button>
      </Submit>
    </form>
  );
}

/** Members added, updated or removed (`PUT .../members`): what flows to the outputs. */
function UploadMembers(p: PageProps & { audienceId: string }) {
  const [members, setMembers] = useState("");
  const [remove, setRemove] = useState("");
  const [result, setResult] = useState<string>();
  const act = useAction();
  const submit = (e: Event) => {
    e.preventDefault();
    act.run(async () => {
      setResult(undefined);
      let list: S["AudienceMember"][] | undefined;
      if (members.trim()) {
        try {
          list = JSON.parse(members) as S["AudienceMember"][];
        } catch {
          throw new Error('The members are not JSON: write an array like [{"userId": "u1", "identities": {"email": "a@example.com"}}].');
        }
      }
      const gone = parsePlatforms(remove);
      const r = await ok(
        api.PUT("/accounts/{accountId}/audiences/{audienceId}/members", {
          params: { path: { accountId: p.accountId, audienceId: p.audienceId } },
          body: { ...(list ? { members: list } : {}), ...(gone ? { remove: gone } : {}) } as S["MembersUpdate"],
        }),
      );
      setResult(`${r.upserted} members added or updated, ${r.removed} removed.`);
      setMembers("");
      setRemove("");
    });
  };
  return (
    <form class="stack panel" onSubmit={submit} aria-labelledby="members-h">
      <h2 id="members-h">Members</h2>
      <p class="muted">Up to 1000 in one call; each connection's output receives them as its account may have them.</p>
      <label>
        Members to add or update (JSON array of {"{userId, identities}"})
        <textarea rows={3} value={members} onInput={(e) => setMembers(e.currentTarget.value)} />
      </label>
      <label>
        User ids to remove (comma separated)
        <input value={remove} onInput={(e) => setRemove(e.currentTarget.value)} />
      </label>
      {result ? <Notice>{result}</Notice> : null}
      <Submit act={act} label="Upload members" primary={false} disabled={!members.trim() && !remove.trim()} />
    </form>
  );
}

/** Who holds and uses the audience, and how much was delivered to each account. */
function Usage(p: PageProps & { audienceId: string }) {
  const usage = usePaged(
    (cursor) =>
      ok(
        api.GET("/accounts/{accountId}/audiences/{audienceId}/usage", {
          params: { path: { accountId: p.accountId, audienceId: p.audienceId }, query: { limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) } },
        }),
      ),
    [p.accountId, p.audienceId],
  );
  return (
    <section aria-labelledby="usage-h">
      <h2 id="usage-h">Usage</h2>
      <PagedTable
        list={usage}
        empty="No account holds or uses this audience."
        caption="Each account that holds a grant on this audience or connects it, with what was delivered"
        rowKey={(u) => u.accountId}
        columns={[
          { header: "Account", rowHeader: true, cell: (u) => u.accountName },
          { header: "Access", cell: (u) => <Level value={u.access} /> },
          {
            header: "Connections",
            cell: (u) =>
              u.connections.length
                ? u.connections.map((c) => `${c.outputId ?? c.id} (${c.platform}, ${c.status})`).join("; ")
                : "none",
          },
          { header: "Members delivered", cell: (u) => u.membersDelivered },
          { header: "Last delivered", cell: (u) => when(u.lastDeliveredAt) || "—" },
        ]}
      />
    </section>
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
        <AddAccount
          candidates={candidates}
          label="Add the account"
          onAdd={(a) =>
            setRows([...rows, { accountId: a.accountId, accountName: a.accountName, level: "view_only", startsAt: "", expiresAt: "", fallbackLevel: "private", platforms: "" }])
          }
        >
          <button type="button" class="primary" disabled={act.busy} onClick={save}>
            Save
          </button>
        </AddAccount>
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

function ConnectionStatus({ x }: { x: { status: string; suspendedReason?: string | null } }) {
  return (
    <>
      {x.status}
      {x.suspendedReason ? ` (${x.suspendedReason.replace(/_/g, " ")})` : ""}
    </>
  );
}

/** Every item of a list, page after page (for a choice among them, e.g. a select). */
async function allPages<T>(fn: (cursor: string | undefined) => Promise<{ items: T[]; nextCursor?: string | null }>): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 100; i++) {
    const r = await fn(cursor);
    items.push(...r.items);
    if (!r.nextCursor) break;
    cursor = r.nextCursor;
  }
  return items;
}

type Account = { accountId: string; accountName: string };

/** The organization's accounts not listed yet, one to add (**+**), then the form's own buttons. */
function AddAccount({
  candidates,
  label,
  onAdd,
  children,
}: {
  candidates: Account[];
  label: string;
  onAdd: (a: Account) => void;
  children: ComponentChildren;
}) {
  const [adding, setAdding] = useState("");
  return (
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
        aria-label={label}
        disabled={!adding}
        onClick={() => {
          const a = candidates.find((c) => c.accountId === adding);
          if (a) onAdd(a);
          setAdding("");
        }}
      >
        +
      </button>{" "}
      {children}
    </div>
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
  const conns = usePaged(
    (cursor) =>
      ok(
        api.GET("/accounts/{accountId}/audiences/{audienceId}/connections", {
          params: { path: path.params.path, query: { limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) } },
        }),
      ),
    [p.accountId, p.audienceId],
  );
  const outputs = useLoad(
    async () => (p.mayConnect ? allPages((c) => ok(api.GET("/accounts/{accountId}/outputs", page(p.accountId, c)))) : undefined),
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
      <PagedTable
        list={conns}
        empty="Not connected to any output."
        caption="This account's connections of this audience"
        rowKey={(x) => x.id}
        columns={[
          { header: "Output", cell: (x) => x.outputId },
          { header: "Platform", cell: (x) => x.platform },
          { header: "Status", cell: (x) => <ConnectionStatus x={x} /> },
          { header: "Delivery", cell: (x) => <DeliveryText d={(x as { delivery?: Delivery }).delivery} /> },
          { header: "Created", cell: (x) => `${when(x.createdAt)} by ${x.createdBy}` },
          mayDelete && {
            header: "Actions",
            hidden: true,
            cell: (x) => (
              <button type="button" onClick={() => remove(x.id)}>
                Disconnect<span class="sr-only"> {x.outputId}</span>
              </button>
            ),
          },
        ]}
      />
      {p.mayConnect ? (
        <div class="row">
          <label>
            Output{" "}
            <select aria-label="Output to connect" value={outputId} onChange={(e) => setOutputId(e.currentTarget.value)}>
              <option value="">choose an output…</option>
              {outputs.data?.map((o) => (
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
  const list = usePaged((c) => ok(api.GET("/accounts/{accountId}/shared-with-me", page(p.accountId, c))), [p.accountId]);
  return (
    <AudienceList
      accountId={p.accountId}
      current="shared"
      list={list}
      ref_={(a) => ({ id: a.audienceId, name: a.name })}
      columns={[
        { header: "Owner", cell: (a) => a.ownerAccountName },
        { header: "Access", cell: (a) => <Level value={a.access} /> },
        { header: "Changes at", cell: (a) => when(a.changesAt) || "—" },
        { header: "Allowed platforms", cell: (a) => platformsText(a.allowedPlatforms) },
        mayDo(p, "request_access") && {
          header: "Actions",
          hidden: true,
          cell: (a) =>
            a.access === "view_only" ? (
              <a class="button" href={`#/accounts/${enc(p.accountId)}/audiences/${enc(a.audienceId)}/request`}>
                Request access<span class="sr-only"> to {a.name}</span>
              </a>
            ) : null,
        },
      ]}
    />
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
        <Submit act={act} label="Send request" />
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
  const list = usePaged(
    (cursor) =>
      ok(
        api.GET("/accounts/{accountId}/access-requests", {
          params: {
            path: { accountId: p.accountId },
            query: { direction, limit: PAGE_SIZE, ...(status ? { status } : {}), ...(cursor ? { cursor } : {}) },
          },
        }),
      ),
    [p.accountId, direction, status],
  );
  const base = `#/accounts/${enc(p.accountId)}/access-requests`;
  const incoming = direction === "incoming";
  return (
    <>
      <h1>Access requests</h1>
      <Tabs
        items={[
          [`${base}?direction=incoming`, "Incoming", incoming],
          [`${base}?direction=outgoing`, "Outgoing", !incoming],
        ]}
      />
      <PagedTable
        list={list}
        empty={`No ${direction} request.`}
        caption={incoming ? "Requests for this account's audiences" : "Requests this account made"}
        rowKey={(r) => r.id}
        columns={[
          { header: "Audience", cell: (r) => <a href={`${base}/${enc(r.id)}`}>{r.audienceName}</a> },
          {
            header: incoming ? "From" : "Owner",
            cell: (r) => (incoming ? `${r.requesterAccountName} (${r.requestedBy.email})` : r.ownerAccountName),
          },
          { header: "Level", cell: (r) => level(r.requestedLevel) },
          { header: "Campaign", cell: (r) => `${r.campaign.start} – ${r.campaign.end}` },
          { header: "Status", cell: (r) => r.status },
          { header: "Asked", cell: (r) => when(r.createdAt) },
        ]}
      />
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
  // The API brings `limit` audiences in line per call; the preview and the apply both go
  // through every page (following `nextCursor`), so what is applied is what was shown.
  const apply = (dryRun: boolean) =>
    act.run(async () => {
      const skipped: string[] = [];
      const items = await allPages(async (cursor) => {
        const r = await ok(
          api.POST("/accounts/{accountId}/sharing-defaults/apply", {
            params: { path: { accountId: p.accountId }, header: { "Idempotency-Key": idempotencyKey() } },
            body: { dryRun, includeEdited, limit: 100, ...(cursor ? { cursor } : {}) },
          }),
        );
        skipped.push(...r.skippedAudienceIds);
        return r;
      });
      const r: S["ApplyDefaultsResult"] = { dryRun, items, skippedAudienceIds: skipped, nextCursor: null };
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
        <AddAccount
          candidates={candidates}
          label="Add a default for the account"
          onAdd={(a) => setRows([...rows, { accountId: a.accountId, accountName: a.accountName, level: "view_only" }])}
        >
          <button type="button" class="primary" disabled={act.busy} onClick={save}>
            Save defaults
          </button>
        </AddAccount>
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
  const skipped = r.skippedAudienceIds.length ? (
    <Notice>
      {r.skippedAudienceIds.length} audiences changed meanwhile and were skipped ({r.skippedAudienceIds.join(", ")}): apply again to
      bring them in line.
    </Notice>
  ) : null;
  if (r.items.length === 0) return skipped ?? <Notice>{r.dryRun ? "Nothing would change." : "Nothing changed."}</Notice>;
  return (
    <>
      {skipped}
      <DataTable
      caption={r.dryRun ? "What applying would change (nothing changed yet)" : "What was changed"}
      rows={r.items}
      rowKey={(i) => `${i.audienceId}/${i.accountId}`}
      columns={[
        { header: "Audience", cell: (i) => i.audienceName },
        { header: "Account", cell: (i) => i.accountName },
        { header: "From", cell: (i) => level(i.from) },
        { header: "To", cell: (i) => level(i.to) },
        { header: "Connections suspended", cell: (i) => i.connectionsSuspended },
      ]}
      />
    </>
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
  const outputs = usePaged((c) => ok(api.GET("/accounts/{accountId}/outputs", page(p.accountId, c))), [p.accountId]);
  const conns = usePaged(
    async (c) => (mayDo(p, "view_connections") ? ok(api.GET("/accounts/{accountId}/connections", page(p.accountId, c))) : undefined),
    [p.accountId],
  );
  const [name, setName] = useState("");
  const [platform, setPlatform] = useState("");
  const [url, setUrl] = useState("");
  const [secret, setSecret] = useState<{ name: string; secret: string; rotated: boolean }>();
  const act = useAction();
  const mayManage = mayDo(p, "manage_outputs");
  const outputPath = (outputId: string) => ({ path: { accountId: p.accountId, outputId } });
  // Saving an output again (PUT, If-Match) also retries its connections' failing deliveries.
  const [editing, setEditing] = useState<{ id: string; etag?: string }>();
  const edit = (o: S["Output"]) =>
    act.run(async () => {
      const r = await withEtag(api.GET("/accounts/{accountId}/outputs/{outputId}", { params: outputPath(o.id) }));
      setEditing({ id: o.id, etag: r.etag });
      setName(r.data.name);
      setPlatform(r.data.platform);
      setUrl(r.data.destination.type === "webhook" ? r.data.destination.url : "");
    });
  const done = () => {
    setEditing(undefined);
    setName("");
    setPlatform("");
    setUrl("");
    outputs.reload();
  };
  const create = (e: Event) => {
    e.preventDefault();
    act.run(async () => {
      const body = { name, platform, destination: { type: "webhook" as const, url } };
      if (editing) {
        try {
          await ok(
            api.PUT("/accounts/{accountId}/outputs/{outputId}", {
              params: { ...outputPath(editing.id), header: editing.etag ? { "If-Match": editing.etag } : {} },
              body,
            }),
          );
        } catch (err) {
          if (err instanceof ApiError && err.status === 412) {
            done();
            throw new Error("The output was changed by someone else since you opened it; the list shows it as it is now. Edit it again.");
          }
          throw err;
        }
        done();
        return;
      }
      const r = await ok(
        api.POST("/accounts/{accountId}/outputs", {
          params: { path: { accountId: p.accountId }, header: { "Idempotency-Key": idempotencyKey() } },
          body,
        }),
      );
      if (r.signingSecret) setSecret({ name: r.name, secret: r.signingSecret, rotated: false });
      done();
    });
  };
  const rotate = (o: S["Output"]) =>
    act.run(async () => {
      setSecret(undefined);
      const r = await ok(
        api.POST("/accounts/{accountId}/outputs/{outputId}/rotate-secret", {
          params: { ...outputPath(o.id), header: { "Idempotency-Key": idempotencyKey() } },
        }),
      );
      if (r.signingSecret) setSecret({ name: r.name, secret: r.signingSecret, rotated: true });
    });
  const remove = (o: S["Output"]) =>
    act.run(async () => {
      setSecret(undefined);
      await ok(api.DELETE("/accounts/{accountId}/outputs/{outputId}", { params: outputPath(o.id) }));
      outputs.reload();
    });
  return (
    <>
      <h1>Outputs and connections</h1>
      <ErrorBox error={act.error} />
      <h2>Outputs</h2>
      <PagedTable
        list={outputs}
        empty="This account has no output yet."
        caption="Where this account's audience data goes"
        rowKey={(o) => o.id}
        columns={[
          { header: "Name", rowHeader: true, cell: (o) => o.name },
          { header: "Id", cell: (o) => o.id },
          { header: "Platform", cell: (o) => o.platform },
          { header: "Destination", cell: (o) => (o.destination.type === "webhook" ? o.destination.url : o.destination.eventBusArn) },
          mayManage && {
            header: "Actions",
            hidden: true,
            cell: (o) => (
              <>
                {o.destination.type === "webhook" ? (
                  <>
                    <button type="button" disabled={act.busy} onClick={() => edit(o)}>
                      Edit<span class="sr-only"> {o.name}</span>
                    </button>{" "}
                    <button type="button" disabled={act.busy} onClick={() => rotate(o)}>
                      Rotate secret<span class="sr-only"> of {o.name}</span>
                    </button>
                  </>
                ) : null}{" "}
                <button type="button" disabled={act.busy} onClick={() => remove(o)}>
                  Delete<span class="sr-only"> {o.name}</span>
                </button>
              </>
            ),
          },
        ]}
      />
      {secret ? (
        <Notice>
          {secret.rotated
            ? `${secret.name}'s new signing secret (shown once; the previous one keeps signing for 24 hours): `
            : `${secret.name}'s signing secret (shown once): `}
          <code>{secret.secret}</code>
        </Notice>
      ) : null}
      {mayManage ? (
        <form class="row" onSubmit={create} aria-label={editing ? `Edit the output ${editing.id}` : "Add a webhook output"}>
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
            {editing ? "Save output" : "Add output"}
          </button>
          {editing ? (
            <>
              {" "}
              <button type="button" onClick={done}>
                Cancel
              </button>
            </>
          ) : null}
        </form>
      ) : null}
      {conns.absent ? null : (
        <>
          <h2>Connections</h2>
          <PagedTable
            list={conns}
            empty="No connection yet."
            caption="Every connection of this account, across audiences"
            rowKey={(x) => x.id}
            columns={[
              { header: "Audience", cell: (x) => <a href={`#/accounts/${enc(p.accountId)}/audiences/${enc(x.audienceId)}`}>{x.audienceName}</a> },
              { header: "Output", cell: (x) => x.outputId },
              { header: "Platform", cell: (x) => x.platform },
              { header: "Status", cell: (x) => <ConnectionStatus x={x} /> },
              { header: "Delivery", cell: (x) => <DeliveryText d={(x as { delivery?: Delivery }).delivery} /> },
              { header: "Created", cell: (x) => when(x.createdAt) },
            ]}
          />
        </>
      )}
    </>
  );
}

// ---------------------------------------------------------------------------------------
// Users and roles; Activity
// ---------------------------------------------------------------------------------------
export function Users(p: PageProps) {
  useTitle("Users and roles");
  const users = usePaged((c) => ok(api.GET("/accounts/{accountId}/users", page(p.accountId, c))), [p.accountId]);
  const roles = usePaged(() => ok(api.GET("/accounts/{accountId}/roles", acct(p.accountId))), [p.accountId]);
  const empty = { userId: "", email: "", firstName: "", lastName: "", role: "read_only" };
  const [form, setForm] = useState(empty);
  const act = useAction();
  const mayManage = mayDo(p, "manage_users");
  const put = (u: S["UserInput"] & { userId: string }) =>
    act.run(async () => {
      const { userId, ...body } = u;
      await ok(api.PUT("/accounts/{accountId}/users/{userId}", { params: { path: { accountId: p.accountId, userId } }, body }));
      users.reload();
    });
  const remove = (userId: string) =>
    act.run(async () => {
      await ok(api.DELETE("/accounts/{accountId}/users/{userId}", { params: { path: { accountId: p.accountId, userId } } }));
      users.reload();
    });
  const roleOptions = roles.items ?? [];
  return (
    <>
      <h1>Users and roles</h1>
      <ErrorBox error={act.error} />
      <PagedTable
        list={users}
        empty="The account has no user."
        caption="The account's users"
        rowKey={(u) => u.userId}
        columns={[
          {
            header: "User",
            rowHeader: true,
            cell: (u) => (
              <>
                {u.firstName} {u.lastName} <span class="muted">({u.userId})</span>
              </>
            ),
          },
          { header: "Email", cell: (u) => u.email },
          {
            header: "Role",
            cell: (u) =>
              mayManage && roleOptions.length ? (
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
              ),
          },
          mayManage && {
            header: "Actions",
            hidden: true,
            cell: (u) => (
              <button type="button" disabled={act.busy} onClick={() => remove(u.userId)}>
                Remove<span class="sr-only"> {u.userId}</span>
              </button>
            ),
          },
        ]}
      />
      {mayManage ? (
        <form
          class="row"
          aria-label="Add a user"
          onSubmit={(e) => {
            e.preventDefault();
            void put(form).then(() => setForm(empty));
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
      <Roles {...p} roles={roles} mayManage={mayManage} onChange={() => { roles.reload(); users.reload(); }} />
    </>
  );
}

type RoleForm = { id: string; name: string; permissions: S["Permission"][]; editing: boolean };
const NEW_ROLE: RoleForm = { id: "", name: "", permissions: [], editing: false };

/** The roles, and a custom role created or replaced (`PUT .../roles/{roleId}`), or deleted. */
function Roles(p: PageProps & { roles: ReturnType<typeof usePaged<S["RoleDetail"]>>; mayManage: boolean; onChange: () => void }) {
  const [form, setForm] = useState<RoleForm>(NEW_ROLE);
  const [saved, setSaved] = useState<string>();
  const act = useAction();
  const rolePath = (roleId: string) => ({ params: { path: { accountId: p.accountId, roleId } } });
  const save = (e: Event) => {
    e.preventDefault();
    act.run(async () => {
      setSaved(undefined);
      const r = await ok(api.PUT("/accounts/{accountId}/roles/{roleId}", { ...rolePath(form.id), body: { name: form.name, permissions: form.permissions } }));
      setSaved(`Role ${r.name} saved; its users hold its permissions from their next call.`);
      setForm(NEW_ROLE);
      p.onChange();
    });
  };
  const remove = (roleId: string) =>
    act.run(async () => {
      setSaved(undefined);
      await ok(api.DELETE("/accounts/{accountId}/roles/{roleId}", rolePath(roleId)));
      p.onChange();
    });
  const toggle = (a: S["Permission"], on: boolean) =>
    setForm({ ...form, permissions: on ? [...form.permissions, a] : form.permissions.filter((x) => x !== a) });
  const columns: (Column<S["RoleDetail"]> | false)[] = [
    { header: "Role", rowHeader: true, cell: (r) => r.name },
    { header: "Id", cell: (r) => r.id },
    { header: "Kind", cell: (r) => (r.builtIn ? "built-in" : "custom") },
    { header: "Permissions", class: "small", cell: (r) => r.permissions.join(", ") },
    p.mayManage && {
      header: "Actions",
      hidden: true,
      cell: (r) =>
        r.builtIn ? null : (
          <>
            <button
              type="button"
              onClick={() =>
                setForm({ id: r.id, name: r.name, permissions: r.permissions.filter((x): x is S["Permission"] => (GRANTABLE as string[]).includes(x)), editing: true })
              }
            >
              Edit<span class="sr-only"> role {r.name}</span>
            </button>{" "}
            <button type="button" disabled={act.busy} onClick={() => remove(r.id)}>
              Delete<span class="sr-only"> role {r.name}</span>
            </button>
          </>
        ),
    },
  ];
  return (
    <>
      <h2>Roles</h2>
      <ErrorBox error={act.error} />
      {saved ? <Notice>{saved}</Notice> : null}
      <PagedTable list={p.roles} empty="No role." caption="Built-in and custom roles, with what each may do" rowKey={(r) => r.id} columns={columns} />
      {p.mayManage ? (
        <form class="stack panel" onSubmit={save} aria-labelledby="role-form-h">
          <h3 id="role-form-h">{form.editing ? `Edit the custom role ${form.id}` : "Create a custom role"}</h3>
          <label>
            Role id (lowercase letters, digits and _)
            <input
              required
              pattern="[a-z0-9_]+"
              readOnly={form.editing}
              value={form.id}
              onInput={(e) => setForm({ ...form, id: e.currentTarget.value })}
            />
          </label>
          <label>
            Role name <input required value={form.name} onInput={(e) => setForm({ ...form, name: e.currentTarget.value })} />
          </label>
          <fieldset>
            <legend>Permissions</legend>
            {GRANTABLE.map((a) => (
              <label key={a} class="check">
                <input type="checkbox" checked={form.permissions.includes(a)} onChange={(e) => toggle(a, e.currentTarget.checked)} /> {a}
              </label>
            ))}
          </fieldset>
          <Submit act={{ busy: act.busy }} label="Save role">
            {form.editing ? (
              <button type="button" onClick={() => setForm(NEW_ROLE)}>
                Cancel
              </button>
            ) : null}
          </Submit>
        </form>
      ) : null}
    </>
  );
}

export function Activity(p: PageProps) {
  useTitle("Activity");
  const list = usePaged((c) => ok(api.GET("/accounts/{accountId}/activity", page(p.accountId, c))), [p.accountId]);
  return (
    <>
      <h1>Activity</h1>
      <PagedTable
        list={list}
        empty="No activity yet."
        caption="Changes that touched this account, newest first"
        rowKey={(a) => a.id}
        columns={[
          { header: "When", cell: (a) => when(a.at) },
          { header: "Who", cell: (a) => a.actorUserId },
          { header: "What", cell: (a) => a.action.replace(/_/g, " ") },
          { header: "Audience", cell: (a) => a.audienceId ?? "" },
          { header: "Account", cell: (a) => a.accountId ?? a.userId ?? "" },
          {
            header: "Change",
            class: "small",
            cell: (a) => `${a.before !== undefined ? `${JSON.stringify(a.before)} → ` : ""}${a.after !== undefined ? JSON.stringify(a.after) : ""}`,
          },
        ]}
      />
    </>
  );
}
