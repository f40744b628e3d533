/**
 * A finished job's results: fan chart, score histogram, metric table, single series, downloads;
 * every count and spread comes summed up from the server and the scenarios a page at a time, however many;
 * for multi-asset runs a symbol switcher and the assets' correlations, for timeframe runs a
 * timeframe switcher, for regime runs the fitted regimes and each series' regime path.
 */
import { useEffect, useMemo, useState } from "react";
import { api, ApiError, withToken } from "../lib/api";
import type { FanData, Job, JobResults, Options, Series } from "../lib/types";
import { formatCount, formatMetric, formatPercent } from "../lib/format";
import { regimeColors, symbolView } from "../lib/results";
import BlockChoiceCard from "./BlockChoiceCard";
import CandleChart from "./CandleChart";
import CorrelationTable from "./CorrelationTable";
import FanChart from "./FanChart";
import MetricsTable from "./MetricsTable";
import RegimeStrip from "./RegimeStrip";
import ScenarioPicker, { pageSizeFromUrl } from "./ScenarioPicker";
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

/** The request's entries worth showing: no nulls, empties, or sections of another method. */
export function requestEntries(job: Job, sections: Record<string, string> = {}): [string, string][] {
  const method = String(job.request.method ?? "");
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(job.request)) {
    if (k === "dataset_id" || k === "dataset_ids" || v === null || v === undefined) continue;
    if (k in sections && sections[k] !== method) continue;
    if (Array.isArray(v)) {
      if (v.length) out.push([k, v.join(", ")]);
    } else if (typeof v === "object") {
      const parts = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== null);
      if (parts.length) out.push([k, parts.map(([a, b]) => (k === "weights" ? `${a} ${b}` : `${a}=${b}`)).join(", ")]);
    } else {
      out.push([k, String(v)]);
    }
  }
  if (job.dataset_ids) out.unshift(["assets", Object.keys(job.dataset_ids).join(", ")]);
  return out;
}

/** Buttons choosing one of a few values (assets). */
function Switcher({
  label,
  values,
  value,
  onChange,
  testId,
}: {
  label: string;
  values: string[];
  value: string | null;
  onChange: (v: string) => void;
  testId: string;
}) {
  return (
    <div className="switcher" role="group" aria-label={label} data-testid={testId}>
      <span className="muted small">{label}</span>
      {values.map((v) => (
        <button key={v} type="button" className="btn ghost small" aria-pressed={v === value} onClick={() => onChange(v)}>
          {v}
        </button>
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
  const [symbol, setSymbol] = useState<string | null>(null);
  const [timeframe, setTimeframe] = useState<string>("");
  const [fan, setFan] = useState<FanData | null>(null);

  useEffect(() => {
    let stale = false;
    setResults(null);
    setError(null);
    setScenario(null);
    setTimeframe("");
    api
      .results(job.id)
      .then((r) => {
        if (stale) return;
        setResults(r);
        setFan(r.fan);
        setSymbol(r.symbol ?? r.symbols?.[0] ?? null);
        setScenario(r.score_summary.best_scenario ?? null);
      })
      .catch((err) => !stale && setError(err instanceof ApiError ? err.detail : String(err)));
    return () => {
      stale = true;
    };
  }, [job.id]);

  // Another asset's fan chart (the results carry the first asset's).
  useEffect(() => {
    if (!results || !symbol || (fan?.symbol ?? null) === symbol) return undefined;
    let stale = false;
    api
      .results(job.id, 500, symbol)
      .then((r) => !stale && setFan(r.fan))
      .catch((err) => !stale && setError(err instanceof ApiError ? err.detail : String(err)));
    return () => {
      stale = true;
    };
  }, [job.id, results, symbol, fan?.symbol]);

  useEffect(() => {
    if (scenario == null) return undefined;
    let stale = false;
    setSeries(null);
    setSeriesError(null);
    api
      .series(job.id, scenario, 1000, { symbol, timeframe: timeframe || null })
      .then((s) => !stale && setSeries(s))
      .catch((err) => !stale && setSeriesError(err instanceof ApiError ? err.detail : String(err)));
    return () => {
      stale = true;
    };
  }, [job.id, scenario, symbol, timeframe]);

  const pageSize = useMemo(() => pageSizeFromUrl(), []);
  const threshold = typeof job.request.min_fidelity === "number" ? job.request.min_fidelity : null;

  if (error) {
    return (
      <div className="alert error" role="alert" data-testid="results-error">
        {error}
      </div>
    );
  }
  if (!results) return <div className="loading">Loading results…</div>;

  const symbols = results.symbols ?? [];
  const view = symbolView(results, symbol);
  const timeframes = Object.entries(results.timeframes ?? {});
  const correlations = results.correlations ?? [];
  const regimes = results.regimes ?? null;
  const conditioned = results.reference === "conditioned";
  const scoreStats = results.score_summary;
  const shares = results.regime_shares ?? null;
  const colors = regimes ? regimeColors(regimes.n_regimes) : [];

  return (
    <div className="results" data-testid="results">
      {symbols.length > 0 && (
        <div className="view-bar">
          <Switcher label="Asset" values={symbols} value={symbol} onChange={setSymbol} testId="symbol-switcher" />
          <span className="muted small">
            {symbols.length} assets generated together · charts and metrics of <strong>{symbol}</strong>
          </span>
        </div>
      )}
      <div className="kpis">
        <div className="kpi" data-testid="kpi-accepted">
          <span className="label">Accepted scenarios{results.partial ? " (partial)" : ""}</span>
          <span className="value">
            {formatCount(results.n_scenarios)}
            {results.partial && (
              <span className="small muted"> / {formatCount(results.partial.accepted + results.partial.failed)}</span>
            )}
          </span>
        </div>
        <div className="kpi">
          <span className="label">Median fidelity</span>
          <span className="value">{scoreStats.median == null ? "—" : scoreStats.median.toFixed(1)}</span>
        </div>
        <div className="kpi">
          <span className="label">Fidelity range</span>
          <span className="value">
            {scoreStats.min == null || scoreStats.max == null
              ? "—"
              : `${scoreStats.min.toFixed(1)} – ${scoreStats.max.toFixed(1)}`}
          </span>
        </div>
        <div className="kpi">
          <span className="label">Candidates / scenario</span>
          <span className="value">{scoreStats.mean_attempts == null ? "—" : formatMetric(scoreStats.mean_attempts)}</span>
        </div>
      </div>

      <section className="card">
        <header className="card-head">
          <h3>Synthetic close paths vs. original{symbol ? ` · ${symbol}` : ""}</h3>
          <span className="muted small">
            {(fan ?? results.fan).samples.length} sample paths · bands from up to 200 series
          </span>
        </header>
        <FanChart fan={fan ?? results.fan} />
      </section>

      {correlations.length > 0 && (
        <section className="card">
          <header className="card-head">
            <h3>Correlations: original vs. synthetic</h3>
            <span className="muted small">{correlations.length} pair{correlations.length === 1 ? "" : "s"}</span>
          </header>
          <CorrelationTable correlations={correlations} />
        </section>
      )}

      {regimes && (
        <section className="card" data-testid="regimes">
          <header className="card-head">
            <h3>Regimes</h3>
            <span className="muted small">
              {regimes.labelling} labelling · scored against the {results.reference === "conditioned" ? "conditioned" : "original"} mix
            </span>
          </header>
          <div className="table-wrap">
            <table className="metrics">
              <thead>
                <tr>
                  <th scope="col">Regime</th>
                  <th scope="col" className="num">Volatility</th>
                  <th scope="col" className="num">Share in the input</th>
                  <th scope="col" className="num">Share in the series (mean)</th>
                </tr>
              </thead>
              <tbody>
                {regimes.volatility.map((v, r) => (
                  <tr key={r} data-regime={r}>
                    <th scope="row">
                      <i className="swatch" style={{ background: colors[r] }} /> regime {r}
                      {r === 0 ? " (calmest)" : r === regimes.n_regimes - 1 ? " (most volatile)" : ""}
                    </th>
                    <td className="num">{formatMetric(v)}</td>
                    <td className="num">{formatPercent(regimes.input_shares[r])}</td>
                    <td className="num strong">{formatPercent(shares?.[r])}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>
      )}

      <div className="grid-2">
        <section className="card">
          <header className="card-head">
            <h3>Fidelity scores</h3>
            <span className="muted small">
              {formatCount(results.n_scenarios)} accepted{threshold != null ? ` · threshold ${threshold}` : ""}
            </span>
          </header>
          <ScoreHistogram bins={results.score_histogram} threshold={threshold} />
          {timeframes.length > 0 && (
            <ul className="timeframe-scores" data-testid="timeframe-scores">
              {timeframes.map(([rule, tf]) => (
                <li key={rule}>
                  <span className="mono">{rule}</span> ({formatCount(tf.bars)} bars): fidelity {formatMetric(tf.score.min)} –{" "}
                  <strong>{formatMetric(tf.score.median)}</strong> – {formatMetric(tf.score.max)}
                </li>
              ))}
            </ul>
          )}
        </section>
        <section className="card">
          <header className="card-head">
            <h3>Downloads</h3>
          </header>
          <Downloads job={job} />
          <dl className="request-summary">
            {requestEntries(job, options?.method_sections).map(([k, v]) => (
              <div key={k}>
                <dt className="mono">{k}</dt>
                <dd title={v}>{v}</dd>
              </div>
            ))}
          </dl>
        </section>
      </div>

      {results.block_choice && <BlockChoiceCard choice={results.block_choice} />}

      <section className="card">
        <header className="card-head">
          <h3>
            Metrics: {conditioned ? "conditioned reference" : "original"} vs. synthetic{symbol ? ` · ${symbol}` : ""}
          </h3>
        </header>
        {conditioned && (
          <p className="muted small">
            A conditioned regime run is scored against the typical metrics of the conditioned generator (the median of
            its replicates built from the input's bars), not against the original.
          </p>
        )}
        <MetricsTable
          referenceLabel={conditioned ? "Conditioned ref." : "Original"}
          reference={view.reference}
          metrics={options?.metrics}
          weights={view.weights}
          spreads={view.spreads}
          scored={view.scored}
        />
      </section>

      <section className="card">
        <header className="card-head">
          <h3>Single series{symbol ? ` · ${symbol}` : ""}</h3>
          <div className="card-tools">
          {timeframes.length > 0 && (
            <label className="inline">
              <span className="muted small">Timeframe</span>
              <select data-testid="timeframe-select" value={timeframe} onChange={(e) => setTimeframe(e.target.value)}>
                <option value="">base bars</option>
                {timeframes.map(([rule]) => (
                  <option key={rule} value={rule}>
                    {rule}
                  </option>
                ))}
              </select>
            </label>
          )}
          <ScenarioPicker
            key={job.id /* another job starts at its first page */}
            jobId={job.id}
            total={results.n_scenarios}
            value={scenario}
            onChange={setScenario}
            pageSize={pageSize}
          />
          </div>
        </header>
        {seriesError ? (
          <div className="alert error" role="alert">{seriesError}</div>
        ) : series ? (
          <>
            <CandleChart series={series} testId="series-chart" height={340} />
            {series.regimes && series.regimes.length > 0 && (
              <RegimeStrip bands={series.regimes} nRegimes={regimes?.n_regimes} />
            )}
          </>
        ) : (
          <div className="loading" style={{ height: 340 }}>Loading series…</div>
        )}
      </section>
    </div>
  );
}
