/** Metric table: the original's values, and with the scenarios' spreads their min/median/max and each weight. */
import type { MetricInfo, MetricValues, Spread } from "../lib/types";
import { formatMetric } from "../lib/format";

interface Props {
  reference: MetricValues;
  metrics?: MetricInfo[];
  /** Weights used by the run (results), else the defaults from `metrics`. */
  weights?: Record<string, number>;
  /** Each metric's min/median/max over every accepted scenario (the results' `metric_spreads`). */
  spreads?: Record<string, Spread>;
  /** Metrics the score used; others are shown greyed. */
  scored?: string[];
  caption?: string;
  /** Heading of the reference column: "Original", or what a conditioned run is scored against. */
  referenceLabel?: string;
}

export default function MetricsTable({
  reference,
  metrics = [],
  weights,
  spreads,
  scored,
  caption,
  referenceLabel = "Original",
}: Props) {
  const info = new Map(metrics.map((m) => [m.name, m]));
  const order = metrics.length ? metrics.map((m) => m.name) : [];
  const names = [...order.filter((n) => n in reference), ...Object.keys(reference).filter((n) => !order.includes(n))];
  const weightOf = (n: string) => weights?.[n] ?? info.get(n)?.weight;
  const withSynthetic = Boolean(spreads);
  return (
    <div className="table-wrap">
      <table className="metrics" data-testid="metrics-table">
        {caption && <caption>{caption}</caption>}
        <thead>
          <tr>
            <th scope="col">Metric</th>
            <th scope="col" className="num">Weight</th>
            <th scope="col" className="num">{referenceLabel}</th>
            {withSynthetic && (
              <>
                <th scope="col" className="num">Synthetic min</th>
                <th scope="col" className="num">Median</th>
                <th scope="col" className="num">Max</th>
              </>
            )}
          </tr>
        </thead>
        <tbody>
          {names.map((name) => {
            const s = spreads?.[name] ?? null;
            const ref = reference[name];
            const unscored = scored ? !scored.includes(name) : false;
            const covered =
              s && s.min != null && s.max != null && typeof ref === "number" && Number.isFinite(ref)
                ? ref >= s.min && ref <= s.max
                : null;
            const w = weightOf(name);
            return (
              <tr key={name} className={unscored ? "unscored" : undefined} data-metric={name}>
                <th scope="row" title={info.get(name)?.description}>
                  <span className="mono">{name}</span>
                  {info.get(name)?.description && <span className="desc">{info.get(name)!.description}</span>}
                </th>
                <td className="num">{unscored ? "—" : w === undefined ? "—" : formatMetric(w)}</td>
                <td className={`num ref${covered === false ? " outside" : ""}`}>{formatMetric(ref)}</td>
                {withSynthetic && (
                  <>
                    <td className="num">{formatMetric(s?.min)}</td>
                    <td className="num strong">{formatMetric(s?.median)}</td>
                    <td className="num">{formatMetric(s?.max)}</td>
                  </>
                )}
              </tr>
            );
          })}
        </tbody>
      </table>
      {withSynthetic && (
        <p className="muted small">
          {referenceLabel} values outside the synthetic min–max range are shown in red. Unscored metrics are greyed.
        </p>
      )}
    </div>
  );
}
