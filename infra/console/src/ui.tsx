import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useState } from "preact/hooks";
import { ApiError } from "./api";

/** Loads `fn` when `deps` change; `reload` loads again. */
export function useLoad<T>(fn: () => Promise<T>, deps: unknown[]) {
  const [state, setState] = useState<{ data?: T; error?: string; loading: boolean }>({
    loading: true,
  });
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    fn().then(
      (data) => live && setState({ data, loading: false }),
      (e: unknown) => live && setState({ error: message(e), loading: false }),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, n]);
  const reload = useCallback(() => setN((x) => x + 1), []);
  return { ...state, reload };
}

export function message(e: unknown): string {
  if (e instanceof ApiError) return e.detail;
  if (e instanceof Error) return e.message;
  return String(e);
}

/** Runs an action, keeping its error (an API error's `detail`) and busy state. */
export function useAction() {
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const run = useCallback(async (fn: () => Promise<void>) => {
    setBusy(true);
    setError(undefined);
    try {
      await fn();
    } catch (e) {
      setError(message(e));
    } finally {
      setBusy(false);
    }
  }, []);
  return { error, busy, run, setError };
}

export function ErrorBox({ error }: { error?: string }) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {error}
    </p>
  );
}

export function Notice({ children }: { children: ComponentChildren }) {
  return (
    <p class="notice" role="status">
      {children}
    </p>
  );
}

export function Loading<T>({
  state,
  children,
}: {
  state: { data?: T; error?: string; loading: boolean };
  children: (data: T) => ComponentChildren;
}) {
  if (state.error) return <ErrorBox error={state.error} />;
  if (state.data === undefined) return <p aria-busy="true">Loading…</p>;
  return <>{children(state.data)}</>;
}

const LEVEL_WORDS: Record<string, string> = {
  owner: "Owner",
  usable: "Usable",
  view_only: "View only",
  private: "Private",
};

export function level(l: string | undefined): string {
  return l ? (LEVEL_WORDS[l] ?? l) : "";
}

export function Level({ value }: { value: string }) {
  return <span class={`level level-${value}`}>{level(value)}</span>;
}

export function when(ts: string | undefined | null): string {
  if (!ts) return "";
  const d = new Date(ts);
  return Number.isNaN(d.getTime()) ? ts : d.toISOString().replace("T", " ").replace(/:00\.000Z$|\.\d+Z$|Z$/, " UTC");
}

/** A date-time-local input value to RFC 3339 (UTC), or undefined when empty. */
export function toRfc3339(local: string): string | undefined {
  if (!local) return undefined;
  const d = new Date(local.length === 10 ? `${local}T00:00:00Z` : `${local}:00Z`);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString().replace(/\.000Z$/, "Z");
}

export function fromRfc3339(ts: string | undefined): string {
  return ts ? ts.slice(0, 16) : "";
}

export function platformsText(p: string[] | undefined): string {
  return p && p.length ? p.join(", ") : "any platform";
}

export function parsePlatforms(text: string): string[] | undefined {
  const list = text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  return list.length ? Array.from(new Set(list)) : undefined;
}

/** One column of a [`DataTable`]: its heading and what a row shows in it. */
export interface Column<T> {
  header: string;
  /** The heading is for screen readers only (an actions column). */
  hidden?: boolean;
  /** The cell names the row (a `th scope="row"`). */
  rowHeader?: boolean;
  class?: string;
  cell: (row: T) => ComponentChildren;
}

/** A table of `rows` with a caption and one column heading each. */
export function DataTable<T>({
  caption,
  columns,
  rows,
  rowKey,
}: {
  caption: string;
  columns: (Column<T> | false | null | undefined)[];
  rows: T[];
  rowKey: (row: T) => string;
}) {
  const cols = columns.filter((c): c is Column<T> => !!c);
  return (
    <table>
      <caption>{caption}</caption>
      <thead>
        <tr>
          {cols.map((c) => (
            <th scope="col" key={c.header}>
              {c.hidden ? <span class="sr-only">{c.header}</span> : c.header}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr key={rowKey(r)}>
            {cols.map((c) =>
              c.rowHeader ? (
                <th scope="row" key={c.header} class={c.class}>
                  {c.cell(r)}
                </th>
              ) : (
                <td key={c.header} class={c.class}>
                  {c.cell(r)}
                </td>
              ),
            )}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** One page of a list answer (`{items, nextCursor}`). */
export interface Page<T> {
  items: T[];
  nextCursor?: string | null;
}

/** How many items a list page asks for (the contract's default and most lists' usual). */
export const PAGE_SIZE = 50;

/**
 * A list read page by page: the first page when `deps` change, the next ones (following
 * `nextCursor`) appended by `more()`.
 */
export function usePaged<T>(fn: (cursor: string | undefined) => Promise<Page<T> | undefined>, deps: unknown[]) {
  const first = useLoad(() => fn(undefined), deps);
  const [more, setMore] = useState<{ of: unknown; items: T[]; next: string | null | undefined }>();
  const [moreError, setMoreError] = useState<string>();
  const [busy, setBusy] = useState(false);
  // Pages loaded after a first page that has since been reloaded are dropped.
  const extra = more && more.of === first.data ? more : undefined;
  const items = first.data ? [...first.data.items, ...(extra?.items ?? [])] : undefined;
  const next = extra ? extra.next : first.data?.nextCursor;
  const loadMore = async () => {
    if (!next) return;
    setBusy(true);
    setMoreError(undefined);
    try {
      const page = await fn(next);
      setMore({ of: first.data, items: [...(extra?.items ?? []), ...(page?.items ?? [])], next: page?.nextCursor });
    } catch (e) {
      setMoreError(message(e));
    } finally {
      setBusy(false);
    }
  };
  return {
    /** undefined while the first page loads, or when `fn` answered nothing (not shown). */
    items,
    absent: first.data === undefined && !first.loading && !first.error,
    error: first.error,
    loading: first.loading,
    moreError,
    next,
    busy,
    loadMore,
    reload: first.reload,
  };
}

export type Paged<T> = ReturnType<typeof usePaged<T>>;

/**
 * The list pages' one shape: a [`DataTable`] of every page loaded so far, and "Load more"
 * while the API answers a `nextCursor`; `empty` when the list has no item.
 */
export function PagedTable<T>({
  list,
  empty,
  ...table
}: {
  list: Paged<T>;
  empty: string;
  caption: string;
  columns: (Column<T> | false | null | undefined)[];
  rowKey: (row: T) => string;
}) {
  if (list.error) return <ErrorBox error={list.error} />;
  if (list.items === undefined) return list.absent ? null : <p aria-busy="true">Loading…</p>;
  if (list.items.length === 0) return <p>{empty}</p>;
  return (
    <>
      <DataTable {...table} rows={list.items} />
      <ErrorBox error={list.moreError} />
      {list.next ? (
        <p>
          <button type="button" disabled={list.busy} onClick={() => void list.loadMore()}>
            Load more<span class="sr-only"> ({table.caption})</span>
          </button>{" "}
          <span class="muted">{list.items.length} shown</span>
        </p>
      ) : null}
    </>
  );
}

/** A form's end: the action's error (an API error's `detail`), then its submit button. */
export function Submit({
  act,
  label,
  primary = true,
  disabled = false,
  children,
}: {
  act: { error?: string; busy: boolean };
  label: string;
  primary?: boolean;
  disabled?: boolean;
  children?: ComponentChildren;
}) {
  return (
    <>
      <ErrorBox error={act.error} />
      <div>
        <button type="submit" class={primary ? "primary" : undefined} disabled={act.busy || disabled}>
          {label}
        </button>
        {children ? <> {children}</> : null}
      </div>
    </>
  );
}
