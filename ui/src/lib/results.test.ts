import { describe, expect, it } from "vitest";
import { symbolView } from "./results";
import type { JobResults } from "./types";
import { fanData, jobResults } from "../test/helpers";

const RESULTS: JobResults = jobResults({
  reference_metrics: { "SPX:volatility": 0.01, "NDX:volatility": 0.02, "SPX:hurst": 0.5, "corr:NDX|SPX": 0.9 },
  weights: { "SPX:volatility": 1.5, "NDX:volatility": 1.5, "corr:NDX|SPX": 1 },
  scored_metrics: ["SPX:volatility", "NDX:volatility", "corr:NDX|SPX"],
  scenarios: [
    { scenario: 1, score: 90, attempt: 0, metrics: { "SPX:volatility": 0.011, "NDX:volatility": 0.021 }, regime_shares: [0.2, 0.8] },
    { scenario: 2, score: 92, attempt: 0, metrics: { "SPX:volatility": 0.009, "NDX:volatility": 0.019 }, regime_shares: [0.4, 0.6] },
  ],
  metric_spreads: {
    "SPX:volatility": { min: 0.009, median: 0.01, max: 0.011 },
    "NDX:volatility": { min: 0.019, median: 0.02, max: 0.021 },
  },
  fan: fanData({ index: [], original: null, original_index: null }),
});

describe("symbolView", () => {
  it("keeps one asset's metrics without their prefix", () => {
    const v = symbolView(RESULTS, "SPX");
    expect(v.reference).toEqual({ volatility: 0.01, hurst: 0.5 });
    expect(v.weights).toEqual({ volatility: 1.5 });
    expect(v.scored).toEqual(["volatility"]);
    expect(v.spreads).toEqual({ volatility: { min: 0.009, median: 0.01, max: 0.011 } });
  });

  it("leaves a one-series run as it is", () => {
    const v = symbolView(RESULTS, null);
    expect(v.reference).toBe(RESULTS.reference_metrics);
    expect(v.spreads).toBe(RESULTS.metric_spreads);
  });
});
