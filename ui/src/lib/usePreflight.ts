/** The preflight of the form's request, asked for after the form has been still for a moment. */
import { useEffect, useState } from "react";
import { ApiError } from "./api";
import type { JobRequest, Preflight } from "./types";

/** Milliseconds the form must stay unchanged before the preflight is asked for. */
export const PREFLIGHT_DEBOUNCE_MS = 400;

export type PreflightFetcher = (request: JobRequest, signal: AbortSignal) => Promise<Preflight>;

export interface PreflightState {
  preflight: Preflight | null;
  loading: boolean;
  error: string | null;
}

/**
 * Ask `fetcher` for the preflight of `request` (null: the form is incomplete or invalid) once it
 * has not changed for `PREFLIGHT_DEBOUNCE_MS`; a newer request aborts an older one in flight.
 * The last answer stays shown (marked loading) while a new one is on its way.
 */
export function usePreflight(fetcher: PreflightFetcher | undefined, request: JobRequest | null): PreflightState {
  const key = request && fetcher ? JSON.stringify(request) : null;
  const [state, setState] = useState<PreflightState>({ preflight: null, loading: false, error: null });

  useEffect(() => {
    if (!key || !fetcher) {
      setState({ preflight: null, loading: false, error: null });
      return undefined;
    }
    const controller = new AbortController();
    setState((s) => ({ ...s, loading: true, error: null }));
    const timer = setTimeout(() => {
      fetcher(JSON.parse(key) as JobRequest, controller.signal)
        .then((preflight) => {
          if (!controller.signal.aborted) setState({ preflight, loading: false, error: null });
        })
        .catch((err) => {
          if (controller.signal.aborted) return;
          setState({ preflight: null, loading: false, error: err instanceof ApiError ? err.detail : String(err) });
        });
    }, PREFLIGHT_DEBOUNCE_MS);
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
  }, [key, fetcher]);

  return state;
}
