/** Views of a job's results: one asset's metrics of a multi-asset run, regime colours. */
import type { JobResults, MetricValues, Spread } from "./types";

/**
 * The metrics of one asset (keys "SYM:metric" → "metric"): the reference, weights, scored metrics and
 * each metric's spread over every scenario; everything as is without a symbol.
 */
export function symbolView(
  results: JobResults,
  symbol: string | null | undefined,
): { reference: MetricValues; weights: Record<string, number>; scored: string[]; spreads: Record<string, Spread> } {
  if (!symbol) {
    return {
      reference: results.reference_metrics,
      weights: results.weights,
      scored: results.scored_metrics,
      spreads: results.metric_spreads,
    };
  }
  const prefix = `${symbol}:`;
  const strip = <T,>(o: Record<string, T> | null | undefined): Record<string, T> =>
    Object.fromEntries(
      Object.entries(o ?? {})
        .filter(([k]) => k.startsWith(prefix))
        .map(([k, v]) => [k.slice(prefix.length), v]),
    );
  return {
    reference: strip(results.reference_metrics),
    weights: strip(results.weights),
    scored: results.scored_metrics.filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length)),
    spreads: strip(results.metric_spreads),
  };
}

const CALM = [22, 163, 74];
const MID = [217, 119, 6];
const VOLATILE = [220, 38, 38];

/** Colours of regimes 0 (calmest, green) … n−1 (most volatile, red). */
export function regimeColors(n: number): string[] {
  const mix = (a: number[], b: number[], t: number) => a.map((x, i) => Math.round(x + (b[i] - x) * t));
  return [...Array(Math.max(n, 1)).keys()].map((r) => {
    const t = n <= 1 ? 0 : r / (n - 1);
    const rgb = t <= 0.5 ? mix(CALM, MID, t * 2) : mix(MID, VOLATILE, (t - 0.5) * 2);
    return `rgb(${rgb.join(", ")})`;
  });
}
