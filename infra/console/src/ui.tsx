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
