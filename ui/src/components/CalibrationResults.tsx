/**
 * A finished calibration: how many origins, the coverage table, the PIT histograms per statistic and method, the
 * verdicts in words, and links to the report page and the table.
 */
import { api } from "../lib/api";
import type { Calibration } from "../lib/types";
import CoverageTable from "./CoverageTable";
import PitHistogram from "./PitHistogram";

export default function CalibrationResults({ calibration }: { calibration: Calibration }) {
  const summary = calibration.summary;
  if (!summary) return null;
  const statistics = [...new Set(summary.rows.map((r) => r.statistic))];
  const failed = Object.entries(calibration.failed_fits ?? {});
  return (
    <div className="results calibration-results" data-testid="calibration-results">
      <div className="kpis">
        <div className="kpi">
          <span className="label">Origins</span>
          <span className="value" data-testid="calibration-origins">
            {calibration.origins?.count ?? "–"}
          </span>
        </div>
        <div className="kpi">
          <span className="label">First → last origin</span>
          <span className="value small-value">
            {calibration.origins ? `${calibration.origins.first.slice(0, 10)} → ${calibration.origins.last.slice(0, 10)}` : "–"}
          </span>
        </div>
        <div className="kpi">
          <span className="label">Horizon</span>
          <span className="value">{summary.horizon} bars</span>
        </div>
        <div className="kpi">
          <span className="label">Methods</span>
          <span className="value small-value">{summary.methods.join(", ")}</span>
        </div>
      </div>
      {summary.overlapping && (
        <div className="alert warn" role="note">
          Origins are closer together than the horizon, so their outcomes overlap: the tests below are more confident
          than the data allows. A step of at least the horizon avoids that.
        </div>
      )}
      {failed.length > 0 && (
        <div className="alert warn" role="note" data-testid="failed-fits">
          {failed.map(([method, f]) => (
            <div key={method}>
              {method}: the fit failed at {f.origins} origin{f.origins === 1 ? "" : "s"} (first {f.first_error})
            </div>
          ))}
        </div>
      )}
      <div className="downloads">
        <a className="btn download" href={api.calibrationFileUrl(calibration.id, "report")} target="_blank" rel="noreferrer" data-testid="calibration-report-link">
          Report page <span className="ext">.html</span>
        </a>
        <a className="btn download" href={api.calibrationFileUrl(calibration.id, "table")} download data-testid="calibration-table-link">
          Table <span className="ext">.parquet</span>
        </a>
      </div>
      <section className="card">
        <header className="card-head">
          <h3>Coverage of the central intervals</h3>
          <span className="muted small">share of origins inside · the range a calibrated forecast gives</span>
        </header>
        <CoverageTable summary={summary} />
      </section>
      <section className="card">
        <header className="card-head">
          <h3>PIT histograms</h3>
          <span className="muted small">rank of what happened among the scenarios · dashed: uniform</span>
        </header>
        <div className="pit-grid">
          {statistics.map((stat) => {
            const rows = summary.rows.filter((r) => r.statistic === stat);
            return (
              <div key={stat} className="pit-group" data-statistic={stat}>
                <h4>{rows[0].label}</h4>
                <div className="pit-row">
                  {rows.map((r) => (
                    <PitHistogram key={r.method} counts={r.histogram} title={`${r.method} · ${r.verdict}`} verdict={r.verdict} />
                  ))}
                </div>
              </div>
            );
          })}
        </div>
      </section>
      <section className="card">
        <header className="card-head">
          <h3>Verdicts</h3>
        </header>
        <ul className="verdicts" data-testid="calibration-verdicts">
          {summary.rows.map((r) => (
            <li key={`${r.method}|${r.statistic}`}>
              {/* The sentence names the method and the statistic itself. */}
              <span className={`badge verdict ${r.verdict.replace(/ /g, "-")}`}>{r.verdict}</span> {r.sentence}
            </li>
          ))}
        </ul>
      </section>
    </div>
  );
}
