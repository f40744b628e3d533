/** A finished job's results: fan chart, score histogram, metric table, single series, downloads. */
import { useEffect, useMemo, useState } from "react";
import { api, ApiError, withToken } from "../lib/api";
import type { Job, JobResults, Options, Series } from "../lib/types";
import { formatCount, formatMetric, summary } from "../lib/format";
import CandleChart from "./CandleChart";
import FanChart from "./FanChart";
import MetricsTable from "./MetricsTable";
import ScoreHistogram from "./ScoreHistogram";

export const ARTIFACTS: { name: string; label: string; hint: string }[] = [
  { name: "csv.zip", label: "CSV", hint: "ZIP of one CSV per series" },
  { name: "xlsx.zip", label: "XLSX", hint: "ZIP of one workbook per series" },
  { name: "parquet", label: "Parquet", hint: "ZIP of the Parquet files" },
  { name: "manifest.json", label: "Manifest", hint: "run metadata, scores and metrics (JSON)" },
];

export function Downloads({ job }: { job: Job }) {
  const available = ARTIFACTS.filter((a) => job.artifacts?.includes(a.name));
  if (available.length === 0) return <p className="muted small">No files to download.</p>;
  return (
    <div className="downloads" data-testid="downloads">
      {available.map((a) => (
        // Downloads accept ?token= (a link cannot send an Authorization header).
        <a
          key={a.name}
          className="btn download"
          href={withToken(api.downloadUrl(job.id, a.name))}
          download
          data-artifact={a.name}
          title={a.hint}
        >
          <svg viewBox="0 0 24 24" width="15" height="15" aria-hidden="true">
            <path d="M12 4v12m0 0-4-4m4 4 4-4M5 20h14" fill="none" stroke="currentColor" strokeWidth="2" strokeLinecap="round" strokeLinejoin="round" />
          </svg>
          {a.label}
          <span className="ext">{a.name}</span>
        </a>
      ))}
    </div>
  );
}

interface Props {
  job: Job;
  options: Options | null;
}

export default function ResultsView({ job, options }: Props) {
  const [results, setResults] = useState<JobResults | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [scenario, setScenario] = useState<number | null>(null);
  const [series, setSeries] = useState<Series | null>(null);
  const [seriesError, setSeriesError] = useState<string | null>(null);

  useEffect(() => {
    let stale = false;
    setResults(null);
    setError(null);
    setScenario(null);
    api
      .results(job.id)
      .then((r) => {
        if (stale) return;
        setResults(r);
        const best = [...r.scenarios].sort((a, b) => b.score - a.score)[0];
        setScenario(best ? best.scenario : null);
      })
      .catch((err) => !stale && setError(err instanceof ApiError ? err.detail : String(err)));
    return () => {
      stale = true;
    };
  }, [job.id]);

  useEffect(() => {
    if (scenario == null) return undefined;
    let stale = false;
    setSeries(null);
    setSeriesError(null);
    api
      .series(job.id, scenario)
      .then((s) => !stale && setSeries(s))
      .catch((err) => !stale && setSeriesError(err instanceof ApiError ? err.detail : String(err)));
    return () => {
      stale = true;
    };
  }, [job.id, scenario]);

  const scores = useMemo(() => results?.scenarios.map((s) => s.score) ?? [], [results]);
  const scoreStats = summary(scores);
  const meanAttempts = results?.scenarios.length
    ? results.scenarios.reduce((a, s) => a + s.attempt + 1, 0) / results.scenarios.length
    : null;
  const threshold = typeof job.request.min_fidelity === "number" ? job.request.min_fidelity : null;

  if (error) {
    return (
      <div className="alert error" role="alert" data-testid="results-error">
        {error}
      </div>
    );
  }
  if (!results) return <div className="loading">Loading results…</div>;

  return (
    <div className="results" data-testid="results">
      <div className="kpis">
        <div className="kpi">
          <span className="label">Accepted scenarios</span>
          <span className="value">{formatCount(results.scenarios.length)}</span>
        </div>
        <div className="kpi">
          <span className="label">Median fidelity</span>
          <span className="value">{scoreStats ? scoreStats.median.toFixed(1) : "—"}</span>
        </div>
        <div className="kpi">
          <span className="label">Fidelity range</span>
          <span className="value">
            {scoreStats ? `${scoreStats.min.toFixed(1)} – ${scoreStats.max.toFixed(1)}` : "—"}
          </span>
        </div>
        <div className="kpi">
          <span className="label">Candidates / scenario</span>
          <span className="value">{meanAttempts == null ? "—" : formatMetric(meanAttempts)}</span>
        </div>
      </div>

      <section className="card">
        <header className="card-head">
          <h3>Synthetic close paths vs. original</h3>
          <span className="muted small">
            {results.fan.samples.length} sample paths · bands from up to 200 series
          </span>
        </header>
        <FanChart fan={results.fan} />
      </section>

      <div className="grid-2">
        <section className="card">
          <header className="card-head">
            <h3>Fidelity scores</h3>
            <span className="muted small">
              {scores.length} accepted{threshold != null ? ` · threshold ${threshold}` : ""}
            </span>
          </header>
          <ScoreHistogram scores={scores} threshold={threshold} />
        </section>
        <section className="card">
          <header className="card-head">
            <h3>Downloads</h3>
          </header>
          <Downloads job={job} />
          <dl className="request-summary">
            {Object.entries(job.request)
              .filter(([k, v]) => k !== "dataset_id" && v !== null && !(typeof v === "object" && !Array.isArray(v) && Object.keys(v as object).length === 0))
              .map(([k, v]) => (
                <div key={k}>
                  <dt className="mono">{k}</dt>
                  <dd>{Array.isArray(v) ? v.join(", ") : typeof v === "object" ? JSON.stringify(v) : String(v)}</dd>
                </div>
              ))}
          </dl>
        </section>
      </div>

      <section className="card">
        <header className="card-head">
          <h3>Metrics: original vs. synthetic</h3>
        </header>
        <MetricsTable
          reference={results.reference_metrics}
          metrics={options?.metrics}
          weights={results.weights}
          scenarios={results.scenarios}
          scored={results.scored_metrics}
        />
      </section>

      <section className="card">
        <header className="card-head">
          <h3>Single series</h3>
          <label className="inline">
            <span className="muted small">Scenario</span>
            <select
              data-testid="scenario-select"
              value={scenario ?? ""}
              onChange={(e) => setScenario(Number(e.target.value))}
            >
              {[...results.scenarios]
                .sort((a, b) => a.scenario - b.scenario)
                .map((s) => (
                  <option key={s.scenario} value={s.scenario}>
                    #{s.scenario} · score {s.score.toFixed(1)}
                  </option>
                ))}
            </select>
          </label>
        </header>
        {seriesError ? (
          <div className="alert error" role="alert">{seriesError}</div>
        ) : series ? (
          <CandleChart series={series} testId="series-chart" height={340} />
        ) : (
          <div className="loading" style={{ height: 340 }}>Loading series…</div>
        )}
      </section>
    </div>
  );
}
