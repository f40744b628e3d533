/**
 * The coverage of a calibration: for each method and path statistic, the share of origins whose realized value
 * fell inside the central 50/80/90/95 % interval of the scenarios, against the range a calibrated forecast gives
 * with that many origins (the band). Below the band the scenarios were too narrow, above it too wide.
 */
import type { CalibrationSummary, CoverageLevel } from "../lib/types";

function percent(v: number | null | undefined, digits = 0): string {
  return v == null || !Number.isFinite(v) ? "–" : `${(v * 100).toFixed(digits)} %`;
}

function Cell({ cov }: { cov: CoverageLevel }) {
  const [lo, hi] = cov.band;
  const flag = cov.verdict === "too narrow" || cov.verdict === "too wide";
  return (
    <td
      className={`num cov ${flag ? "flag" : ""} ${cov.verdict.replace(/ /g, "-")}`}
      data-verdict={cov.verdict}
      title={`${cov.hits} of ${cov.n} origins inside; a calibrated forecast: ${percent(lo)} to ${percent(hi)}`}
    >
      <span className="share">{percent(cov.share)}</span>
      <span className="band">
        {percent(lo)}–{percent(hi)}
      </span>
      {flag && <span className="cov-flag">{cov.verdict}</span>}
    </td>
  );
}

export default function CoverageTable({ summary }: { summary: CalibrationSummary }) {
  const levels = summary.rows[0]?.coverage.map((c) => c.level) ?? [];
  return (
    <div className="table-wrap">
      <table className="metrics coverage" data-testid="coverage-table">
        <thead>
          <tr>
            <th>Method</th>
            <th>Statistic</th>
            {levels.map((l) => (
              <th key={l} className="num">
                {percent(l)} interval
              </th>
            ))}
            <th>Verdict</th>
          </tr>
        </thead>
        <tbody>
          {summary.rows.map((row) => (
            <tr key={`${row.method}|${row.statistic}`} data-method={row.method} data-statistic={row.statistic}>
              <th>{row.method}</th>
              <td>{row.label}</td>
              {row.coverage.map((cov) => (
                <Cell key={cov.level} cov={cov} />
              ))}
              <td>
                <span className={`badge verdict ${row.verdict.replace(/ /g, "-")}`}>{row.verdict}</span>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
