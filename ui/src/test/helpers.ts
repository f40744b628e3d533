import { vi } from "vitest";
import optionsJson from "./fixtures/options.json";
import type { FanData, JobResults, Options, Scenario, ScenarioPage, ScenarioSort } from "../lib/types";

/** `GET /api/options` as the API answered it (saved from a live `sme serve`). */
export const OPTIONS = optionsJson as unknown as Options;

export function jsonResponse(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

/** Replace fetch by a mock answering with `handler(url, init)`. */
export function mockFetch(handler: (url: string, init?: RequestInit) => Response | Promise<Response>) {
  const fn = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) =>
    handler(typeof input === "string" ? input : input.toString(), init),
  );
  vi.stubGlobal("fetch", fn);
  return fn;
}

/** A fan chart with one point and no scenarios; tests override what they check. */
export function fanData(over: Partial<FanData> = {}): FanData {
  return { index: ["2016-01-08"], percentiles: {}, samples: [], n_series: 0, original: [1], original_index: ["2016-01-08"], symbol: null, ...over };
}

/** `GET /api/jobs/{id}/results` of a one-series run with no scenarios; tests override what they check. */
export function jobResults(over: Partial<JobResults> = {}): JobResults {
  return {
    run_id: "abc",
    status: "complete",
    summary: {},
    partial: null,
    preflight: null,
    block_choice: null,
    method: "stationary",
    reference: "original",
    reference_metrics: {},
    weights: {},
    scored_metrics: [],
    block_size: 20,
    symbols: null,
    symbol: null,
    correlations: [],
    timeframes: {},
    regimes: null,
    garch: null,
    n_scenarios: 0,
    score_summary: { count: 0, min: null, median: null, max: null, mean: null, mean_attempts: null, best_scenario: null },
    score_histogram: { centers: [], counts: [], width: 1 },
    metric_spreads: {},
    scenarios: [],
    fan: fanData(),
    ...over,
  };
}

/** `GET /api/jobs/{id}/scenarios?offset=&limit=&sort=` over `scenarios`, as the API pages them. */
export function scenarioPage(scenarios: Scenario[], url: string): ScenarioPage {
  const q = new URL(url, "http://x").searchParams;
  const offset = Number(q.get("offset") ?? 0);
  const limit = Number(q.get("limit") ?? 100);
  const sort = (q.get("sort") ?? "scenario") as ScenarioSort;
  const key = sort.replace("-", "") as "scenario" | "score";
  const sign = sort.startsWith("-") ? -1 : 1;
  const ordered = [...scenarios].sort((a, b) => sign * (a[key] - b[key]) || a.scenario - b.scenario);
  return { total: scenarios.length, offset, limit, sort, scenarios: ordered.slice(offset, offset + limit) };
}
