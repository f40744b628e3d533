import { describe, expect, it } from "vitest";
import { meanShares, symbolView } from "./results";
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
  fan: fanData({ index: [], original: null, original_index: null }),
});

describe("symbolView", () => {
  it("keeps one asset's metrics without their prefix", () => {
    const v = symbolView(RESULTS, "SPX");
    expect(v.reference).toEqual({ volatility: 0.01, hurst: 0.5 });
    expect(v.weights).toEqual({ volatility: 1.5 });
    expect(v.scored).toEqual(["volatility"]);
    expect(v.scenarios.map((s) => s.metrics)).toEqual([{ volatility: 0.011 }, { volatility: 0.009 }]);
    expect(v.scenarios[0].score).toBe(90);
  });

  it("leaves a one-series run as it is", () => {
    const v = symbolView(RESULTS, null);
    expect(v.reference).toBe(RESULTS.reference_metrics);
    expect(v.scenarios).toBe(RESULTS.scenarios);
  });
});

describe("meanShares", () => {
  it("averages the scenarios' regime shares", () => {
    const shares = meanShares(RESULTS.scenarios)!;
    expect(shares[0]).toBeCloseTo(0.3);
    expect(shares[1]).toBeCloseTo(0.7);
    expect(meanShares([{ scenario: 1, score: 1, attempt: 0, metrics: {} }])).toBeNull();
  });
});
