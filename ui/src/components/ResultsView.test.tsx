import { afterEach, describe, expect, it, vi } from "vitest";
import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import ResultsView, { requestEntries } from "./ResultsView";
import type { Job, JobResults, Series } from "../lib/types";
import { OPTIONS, fanData, jobResults, jsonResponse, mockFetch, scenarioPage } from "../test/helpers";

// The charts draw on canvas, which jsdom has not: stand-ins that show what they were given.
vi.mock("./CandleChart", () => ({
  default: ({ series, testId }: { series: Series; testId?: string }) => (
    <div data-testid={testId ?? "candle-chart"} data-bars={series.bars} data-close={series.close.join(",")} />
  ),
}));
vi.mock("./FanChart", () => ({
  default: ({ fan }: { fan: { symbol?: string | null } }) => <div data-testid="fan-chart" data-symbol={fan.symbol ?? ""} />,
}));
vi.mock("./ScoreHistogram", () => ({ default: () => <div data-testid="score-histogram" /> }));

afterEach(() => vi.unstubAllGlobals());

function job(request: Record<string, unknown>, over: Partial<Job> = {}): Job {
  return {
    id: "job_1",
    dataset_id: "ds_1",
    status: "succeeded",
    created_at: "2024-01-01T00:00:00Z",
    started_at: null,
    finished_at: null,
    request: { dataset_id: "ds_1", n_samples: 2, min_fidelity: 80, ...request },
    progress: { stage: "done", accepted: 2, requested: 2, attempts: 3, failed: 0, resumed: 0, elapsed_seconds: 1 },
    error: null,
    run_id: "abc",
    artifacts: ["csv.zip", "manifest.json"],
    cancel_requested: false,
    ...over,
  };
}

const FAN = fanData();

function results(over: Partial<JobResults>): JobResults {
  return jobResults({
    reference_metrics: { volatility: 0.01 },
    weights: { volatility: 3 },
    scored_metrics: ["volatility"],
    n_scenarios: 2,
    score_summary: { count: 2, min: 91, median: 93, max: 95, mean: 93, mean_attempts: 1.5, best_scenario: 2 },
    score_histogram: { centers: [91.5, 95.5], counts: [1, 1], width: 1 },
    metric_spreads: { volatility: { min: 0.009, median: 0.01, max: 0.011 } },
    scenarios: [
      { scenario: 1, score: 91, attempt: 0, metrics: { volatility: 0.011 } },
      { scenario: 2, score: 95, attempt: 1, metrics: { volatility: 0.009 } },
    ],
    fan: FAN,
    method: "stationary",
    reference: "original",
    symbols: null,
    symbol: null,
    correlations: [],
    timeframes: {},
    regimes: null,
    ...over,
  });
}

function series(over: Partial<Series> = {}): Series {
  return { index: ["2016-01-08"], open: [1], high: [1], low: [1], close: [1], volume: null, bars: 1, step: 1, ...over };
}

/** Answers results, scenario pages and series requests; records the URLs asked for. */
function serve(res: JobResults | ((url: string) => JobResults), ser: (url: string) => Series) {
  const answer = (url: string) => (typeof res === "function" ? res(url) : res);
  return mockFetch((url) => {
    if (url.includes("/results")) return jsonResponse(answer(url));
    if (url.includes("/scenarios?")) return jsonResponse(scenarioPage(answer(url).scenarios, url));
    if (url.includes("/series/")) return jsonResponse(ser(url));
    return jsonResponse({ detail: "unexpected" }, 404);
  });
}

const MULTI = results({
  symbols: ["NDX", "SPX"],
  symbol: "NDX",
  reference_metrics: { "NDX:volatility": 0.02, "SPX:volatility": 0.01, "corr:NDX|SPX": 0.94, "abs_corr:NDX|SPX": 0.91 },
  weights: { "NDX:volatility": 3, "SPX:volatility": 3, "corr:NDX|SPX": 1 },
  scored_metrics: ["NDX:volatility", "SPX:volatility", "corr:NDX|SPX"],
  metric_spreads: {
    "NDX:volatility": { min: 0.019, median: 0.02, max: 0.021 },
    "SPX:volatility": { min: 0.011, median: 0.0115, max: 0.012 },
    "corr:NDX|SPX": { min: 0.93, median: 0.94, max: 0.95 },
  },
  scenarios: [
    { scenario: 1, score: 91, attempt: 0, metrics: { "NDX:volatility": 0.021, "SPX:volatility": 0.011, "corr:NDX|SPX": 0.93 } },
    { scenario: 2, score: 95, attempt: 0, metrics: { "NDX:volatility": 0.019, "SPX:volatility": 0.012, "corr:NDX|SPX": 0.95 } },
  ],
  fan: { ...FAN, symbol: "NDX" },
  correlations: [
    {
      pair: "NDX|SPX",
      symbols: ["NDX", "SPX"],
      corr: { original: 0.94, min: 0.93, median: 0.94, max: 0.95 },
      abs_corr: { original: 0.91, min: 0.8, median: 0.85, max: 0.9 },
    },
  ],
});

describe("ResultsView", () => {
  it("switches between the assets of a multi-asset run and shows their correlations", async () => {
    const user = userEvent.setup();
    const fetch = serve(
      (url) => (url.includes("symbol=SPX") ? { ...MULTI, symbol: "SPX", fan: { ...FAN, symbol: "SPX" } } : MULTI),
      (url) => series({ close: [url.includes("symbol=SPX") ? 2 : 3] }),
    );
    render(<ResultsView job={job({ dataset_ids: { NDX: "ds_1", SPX: "ds_2" } })} options={OPTIONS} />);
    const switcher = await screen.findByTestId("symbol-switcher");
    expect(within(switcher).getByRole("button", { name: "NDX" })).toHaveAttribute("aria-pressed", "true");
    // One asset's metrics, without the prefix.
    const table = screen.getByTestId("metrics-table");
    await waitFor(() => expect(screen.getByTestId("series-chart")).toHaveAttribute("data-close", "3"));
    expect(table.querySelector('[data-metric="volatility"] td.ref')).toHaveTextContent("0.02");
    expect(table.querySelector('[data-metric="corr:NDX|SPX"]')).toBeNull();
    const corr = within(screen.getByTestId("correlations"));
    const row = corr.getByText("NDX · SPX").closest("tr")!;
    expect(within(row).getAllByRole("cell").map((c) => c.textContent)).toEqual([
      "0.94",
      "0.94",
      "0.93 – 0.95",
      "0.91",
      "0.85",
      "0.8 – 0.9",
    ]);
    expect(within(row).getAllByRole("cell")[3]).toHaveClass("outside"); // 0.91 above the synthetic max
    expect(within(row).getAllByRole("cell")[0]).not.toHaveClass("outside");

    await user.click(within(switcher).getByRole("button", { name: "SPX" }));
    await waitFor(() => expect(screen.getByTestId("series-chart")).toHaveAttribute("data-close", "2"));
    await waitFor(() => expect(screen.getByTestId("fan-chart")).toHaveAttribute("data-symbol", "SPX"));
    expect(screen.getByTestId("metrics-table").querySelector('[data-metric="volatility"] td.ref')).toHaveTextContent("0.01");
    const urls = fetch.mock.calls.map((c) => c[0]);
    expect(urls).toContain("/api/jobs/job_1/results?max_points=500&symbol=SPX&limit=0");
    expect(urls).toContain("/api/jobs/job_1/series/2?max_points=1000&symbol=SPX");
  });

  it("shows a series at each timeframe and the timeframe scores", async () => {
    const user = userEvent.setup();
    const fetch = serve(
      results({ timeframes: { W: { bars: 157, scored_metrics: ["volatility"], score: { min: 82, median: 85.7, max: 88.6 } } } }),
      (url) => series({ bars: url.includes("timeframe=W") ? 157 : 750 }),
    );
    render(<ResultsView job={job({ timeframes: ["W"] })} options={OPTIONS} />);
    await waitFor(() => expect(screen.getByTestId("series-chart")).toHaveAttribute("data-bars", "750"));
    expect(screen.getByTestId("timeframe-scores")).toHaveTextContent("W (157 bars): fidelity 82 – 85.7 – 88.6");
    expect(screen.queryByTestId("symbol-switcher")).toBeNull();
    await user.selectOptions(screen.getByTestId("timeframe-select"), "W");
    await waitFor(() => expect(screen.getByTestId("series-chart")).toHaveAttribute("data-bars", "157"));
    expect(fetch.mock.calls.map((c) => c[0])).toContain("/api/jobs/job_1/series/2?max_points=1000&timeframe=W");
  });

  it("draws the regime path under the series and lists the fitted regimes", async () => {
    const bands = [
      { regime: 1, start: "2016-01-08T00:00:00", end: "2016-01-20T00:00:00", bars: 30 },
      { regime: 0, start: "2016-01-21T00:00:00", end: "2016-02-08T00:00:00", bars: 10 },
    ];
    serve(
      results({
        method: "regime",
        reference: "conditioned",
        regimes: { labelling: "quantile", n_regimes: 2, volatility: [0.006, 0.018], input_shares: [0.65, 0.35] },
        regime_shares: [0.3, 0.7],
        scenarios: [
          { scenario: 1, score: 91, attempt: 0, metrics: {}, regime_shares: [0.25, 0.75] },
          { scenario: 2, score: 95, attempt: 0, metrics: {}, regime_shares: [0.35, 0.65] },
        ],
      }),
      () => series({ bars: 40, regimes: bands }),
    );
    render(<ResultsView job={job({ method: "regime" })} options={OPTIONS} />);
    const strip = await screen.findByTestId("regime-strip");
    const spans = strip.querySelectorAll(".band");
    expect([...spans].map((b) => b.getAttribute("data-regime"))).toEqual(["1", "0"]);
    expect((spans[0] as HTMLElement).style.flexGrow).toBe("30");
    const card = within(screen.getByTestId("regimes"));
    expect(card.getByText(/scored against the conditioned mix/)).toBeInTheDocument();
    const calm = card.getByText(/regime 0/).closest("tr")!;
    expect(within(calm).getAllByRole("cell").map((c) => c.textContent)).toEqual(["0.006", "65.0 %", "30.0 %"]);
    // The metric table says it compares with the conditioned reference, not the original.
    const table = screen.getAllByTestId("metrics-table").at(-1)!;
    expect(within(table).getByRole("columnheader", { name: "Conditioned ref." })).toBeInTheDocument();
    expect(within(table).queryByRole("columnheader", { name: "Original" })).toBeNull();
  });

  it("lists the scenarios a page at a time and opens one from a later page", async () => {
    const user = userEvent.setup();
    const many = Array.from({ length: 120 }, (_, i) => ({
      scenario: i + 1,
      score: i + 1 === 111 ? 99.9 : 90 + (i % 90) / 10,
      attempt: 0,
      metrics: { volatility: 0.01 },
    }));
    const fetch = serve(
      results({
        n_scenarios: 120,
        score_summary: { count: 120, min: 90, median: 95, max: 99.9, mean: 95, mean_attempts: 1, best_scenario: 111 },
        // What the mock pages (the view asks for none in the results).
        scenarios: many,
      }),
      (url) => series({ bars: Number(url.split("/series/")[1].split("?")[0]) }),
    );
    render(<ResultsView job={job({})} options={OPTIONS} />);
    // The best scenario is shown first, named while the first page is listed.
    await waitFor(() => expect(screen.getByTestId("series-chart")).toHaveAttribute("data-bars", "111"));
    await waitFor(() => expect(screen.getByTestId("scenario-range")).toHaveTextContent("1–50 of 120"));
    const select = screen.getByTestId("scenario-select");
    expect(within(select).getAllByRole("option")).toHaveLength(51);
    expect(within(select).getAllByRole("option")[0]).toHaveTextContent("#111 (another page)");
    expect(screen.getByTestId("kpi-accepted")).toHaveTextContent("120");
    expect(screen.getByTestId("scenario-prev")).toBeDisabled();

    await user.click(screen.getByTestId("scenario-next"));
    await waitFor(() => expect(screen.getByTestId("scenario-range")).toHaveTextContent("51–100 of 120"));
    await user.click(screen.getByTestId("scenario-next"));
    await waitFor(() => expect(screen.getByTestId("scenario-range")).toHaveTextContent("101–120 of 120"));
    expect(screen.getByTestId("scenario-next")).toBeDisabled();
    // Scenario 111 is on this page: no stand-in option.
    expect(within(select).getAllByRole("option")).toHaveLength(20);
    await user.selectOptions(select, "117");
    await waitFor(() => expect(screen.getByTestId("series-chart")).toHaveAttribute("data-bars", "117"));

    await user.selectOptions(screen.getByTestId("scenario-sort"), "-score");
    await waitFor(() => expect(screen.getByTestId("scenario-range")).toHaveTextContent("1–50 of 120"));
    const urls = fetch.mock.calls.map((c) => c[0]);
    expect(urls).toContain("/api/jobs/job_1/results?max_points=500&limit=0");
    expect(urls).toContain("/api/jobs/job_1/scenarios?offset=100&limit=50&sort=scenario");
    expect(urls).toContain("/api/jobs/job_1/scenarios?offset=0&limit=50&sort=-score");
    const best = within(select).getAllByRole("option").map((o) => o.textContent);
    expect(best.slice(0, 2)).toEqual(["#117 (another page)", "#111 · score 99.9"]);
  });

  it("summarizes the request without other methods' sections", () => {
    const entries = requestEntries(
      job({
        method: "garch",
        garch: { vol: "egarch", dist: "t" },
        regime: { labels: "markov", condition: null },
        timeframes: [],
        weights: { hurst: 0 },
        dataset_ids: { SPX: "ds_1", NDX: "ds_2" },
        input_layout: null,
      }, { dataset_ids: { SPX: "ds_1", NDX: "ds_2" } }),
      OPTIONS.method_sections,
    );
    expect(entries).toEqual([
      ["assets", "SPX, NDX"],
      ["n_samples", "2"],
      ["min_fidelity", "80"],
      ["method", "garch"],
      ["garch", "vol=egarch, dist=t"],
      ["weights", "hurst 0"],
    ]);
  });
});
