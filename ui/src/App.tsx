import { useCallback, useEffect, useMemo, useState } from "react";
import { api, ApiError, getToken, onUnauthorized, setToken } from "./lib/api";
import type { Dataset, Health, Job, JobRequest, Options, Series } from "./lib/types";
import { hasResults, isTerminal } from "./lib/types";
import { formatCount, formatDate, formatMetric } from "./lib/format";
import { useJobEvents } from "./lib/useJobEvents";
import CalibrationView from "./components/CalibrationView";
import CandleChart from "./components/CandleChart";
import JobForm from "./components/JobForm";
import JobsList from "./components/JobsList";
import MetricsTable from "./components/MetricsTable";
import PartialBanner from "./components/PartialBanner";
import ProgressPanel from "./components/ProgressPanel";
import ResultsView from "./components/ResultsView";
import TokenPrompt from "./components/TokenPrompt";
import ReadReportView from "./components/ReadReportView";
import UploadPanel from "./components/UploadPanel";

type Tab = "dataset" | "job" | "calibration";

function upsert(jobs: Job[], job: Job): Job[] {
  const i = jobs.findIndex((j) => j.id === job.id);
  if (i < 0) return [job, ...jobs];
  const next = jobs.slice();
  next[i] = job;
  return next;
}

export default function App() {
  const [reloadKey, setReloadKey] = useState(0);
  const [needToken, setNeedToken] = useState(false);
  const [health, setHealth] = useState<Health | null>(null);
  const [options, setOptions] = useState<Options | null>(null);
  const [fatal, setFatal] = useState<string | null>(null);
  const [datasets, setDatasets] = useState<Dataset[]>([]);
  const [dataset, setDataset] = useState<Dataset | null>(null);
  const [ohlcv, setOhlcv] = useState<Series | null>(null);
  const [ohlcvError, setOhlcvError] = useState<string | null>(null);
  const [datasetSymbol, setDatasetSymbol] = useState<string | null>(null);
  const [jobs, setJobs] = useState<Job[]>([]);
  const [job, setJob] = useState<Job | null>(null);
  const [cancelling, setCancelling] = useState(false);
  const [tab, setTab] = useState<Tab>("dataset");

  useEffect(() => onUnauthorized(() => setNeedToken(true)), []);

  useEffect(() => {
    setFatal(null);
    api.health().then(setHealth).catch(() => setHealth(null));
    api
      .options()
      .then(setOptions)
      .catch((err) => {
        if (!(err instanceof ApiError && err.status === 401)) setFatal(err instanceof ApiError ? err.detail : String(err));
      });
    api
      .datasets()
      .then((list) => {
        setDatasets(list);
        setDataset((cur) => cur ?? list[0] ?? null);
      })
      .catch(() => undefined);
    api.jobs().then(setJobs).catch(() => undefined);
  }, [reloadKey]);

  useEffect(() => setDatasetSymbol(dataset?.symbols?.[0] ?? null), [dataset]);

  useEffect(() => {
    if (!dataset) {
      setOhlcv(null);
      return undefined;
    }
    // A multi-asset table: wait for its first symbol to be chosen.
    if (dataset.symbols?.length && !(datasetSymbol && dataset.symbols.includes(datasetSymbol))) return undefined;
    let stale = false;
    setOhlcv(null);
    setOhlcvError(null);
    api
      .ohlcv(dataset.id, 1000, dataset.symbols?.length ? datasetSymbol : null)
      .then((s) => !stale && setOhlcv(s))
      .catch((err) => !stale && setOhlcvError(err instanceof ApiError ? err.detail : String(err)));
    return () => {
      stale = true;
    };
  }, [dataset, datasetSymbol]);

  const anyRunning = jobs.some((j) => !isTerminal(j.status));
  useEffect(() => {
    if (!anyRunning) return undefined;
    const t = setInterval(() => api.jobs().then(setJobs).catch(() => undefined), 4000);
    return () => clearInterval(t);
  }, [anyRunning]);

  const onJobUpdate = useCallback((j: Job) => {
    setJob((cur) => (cur && cur.id === j.id ? j : cur));
    setJobs((list) => upsert(list, j));
    if (isTerminal(j.status)) setCancelling(false);
  }, []);
  const live = useJobEvents(job, onJobUpdate);

  const loadDataset = (ds: Dataset) => {
    setDataset(ds);
    setDatasets((list) => [ds, ...list.filter((d) => d.id !== ds.id)]);
    setTab("dataset");
  };

  const startJob = async (request: JobRequest) => {
    const created = await api.createJob(request);
    setJob(created);
    setJobs((list) => upsert(list, created));
    setTab("job");
  };

  const openJob = (j: Job) => {
    setJob(j);
    setTab("job");
    if (j.dataset_id !== dataset?.id) {
      const known = datasets.find((d) => d.id === j.dataset_id);
      if (known) setDataset(known);
      else api.dataset(j.dataset_id).then(setDataset).catch(() => undefined);
    }
    // The list may be stale; fetch the job itself.
    api.job(j.id).then(onJobUpdate).catch(() => undefined);
  };

  const cancel = async () => {
    if (!job) return;
    setCancelling(true);
    try {
      const res = await api.cancelJob(job.id);
      if (res) onJobUpdate(res);
    } catch (err) {
      setCancelling(false);
      window.alert(err instanceof ApiError ? err.detail : String(err));
    }
  };

  const datasetNames = useMemo(() => Object.fromEntries(datasets.map((d) => [d.id, d.name])), [datasets]);

  return (
    <div className="app">
      <header className="topbar">
        <div className="brand">
          <svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true">
            <path d="M3 17l5-6 4 3 5-8 4 5" fill="none" stroke="currentColor" strokeWidth="2" strokeLinecap="round" strokeLinejoin="round" />
          </svg>
          <h1>Synthetic Market Engine</h1>
        </div>
        <div className="topbar-right">
          {health ? (
            <span className="health ok" title="API health">
              API {health.version} · {health.workers} worker{health.workers === 1 ? "" : "s"}
            </span>
          ) : (
            <span className="health">API unreachable</span>
          )}
          <a href="/docs" target="_blank" rel="noreferrer">
            API docs
          </a>
        </div>
      </header>

      {needToken && (
        <TokenPrompt
          initial={getToken()}
          onSave={(t) => {
            setToken(t);
            setNeedToken(false);
            setReloadKey((k) => k + 1);
          }}
        />
      )}
      {fatal && (
        <div className="alert error banner" role="alert">
          {fatal}
        </div>
      )}

      <div className="layout">
        <aside className="sidebar">
          <section className="panel">
            <h2>
              <span className="step">1</span>Data
            </h2>
            <UploadPanel
              samples={options?.samples ?? []}
              maxUploadMb={options?.limits.max_upload_mb}
              onLoaded={loadDataset}
            />
            {datasets.length > 1 && (
              <label className="inline recent">
                <span className="muted small">Recent</span>
                <select
                  value={dataset?.id ?? ""}
                  onChange={(e) => {
                    const d = datasets.find((x) => x.id === e.target.value);
                    if (d) loadDataset(d);
                  }}
                >
                  {datasets.map((d) => (
                    <option key={d.id} value={d.id}>
                      {d.name} ({formatCount(d.rows)} rows)
                    </option>
                  ))}
                </select>
              </label>
            )}
          </section>
          <section className="panel">
            <h2>
              <span className="step">2</span>Configure run
            </h2>
            {dataset && (
              <p className="muted small current-ds">
                on <strong>{dataset.name}</strong> · {formatCount(dataset.rows)} bars
              </p>
            )}
            {options ? (
              <JobForm
                options={options}
                datasetId={dataset?.id ?? null}
                dataset={dataset}
                datasets={datasets}
                onSubmit={startJob}
                preflight={api.preflight}
              />
            ) : (
              <div className="loading">{needToken ? "Enter the access token above to load the form." : "Loading form…"}</div>
            )}
          </section>
          <section className="panel">
            <h2>
              <span className="step">3</span>Jobs
            </h2>
            <JobsList jobs={jobs} selectedId={job?.id ?? null} datasetNames={datasetNames} onOpen={openJob} />
          </section>
        </aside>

        <main className="main">
          <nav className="tabs" role="tablist">
            <button type="button" role="tab" aria-selected={tab === "dataset"} onClick={() => setTab("dataset")}>
              Dataset
            </button>
            <button
              type="button"
              role="tab"
              aria-selected={tab === "job"}
              disabled={!job}
              onClick={() => setTab("job")}
            >
              Run &amp; results
              {job && !isTerminal(job.status) && <span className="dot" />}
            </button>
            <button
              type="button"
              role="tab"
              aria-selected={tab === "calibration"}
              onClick={() => setTab("calibration")}
              data-testid="tab-calibration"
            >
              Calibration
            </button>
          </nav>

          {tab === "dataset" && (
            <div className="tab-body" role="tabpanel">
              {dataset ? (
                <DatasetView
                  dataset={dataset}
                  ohlcv={ohlcv}
                  ohlcvError={ohlcvError}
                  options={options}
                  symbol={datasetSymbol}
                  onSymbol={setDatasetSymbol}
                />
              ) : (
                <div className="empty">
                  <h2>Start with a historical OHLCV file</h2>
                  <p className="muted">
                    Drop a CSV, XLSX or Parquet file with Date, Open, High, Low, Close (and Volume) columns on the
                    left, or load one of the built-in samples. You will see its chart and statistics here, then
                    generate synthetic scenarios that keep its character.
                  </p>
                </div>
              )}
            </div>
          )}

          {/* Kept mounted while hidden so a running calibration keeps its form and progress across tabs. */}
          <div className="tab-body" role="tabpanel" hidden={tab !== "calibration"}>
            <CalibrationView dataset={dataset} />
          </div>

          {tab === "job" && job && (
            <div className="tab-body" role="tabpanel">
              <div className="job-title">
                <h2>
                  Job <span className="mono">{job.id}</span>
                </h2>
                <span className="muted small">
                  {job.dataset_ids ? job.dataset_name ?? Object.keys(job.dataset_ids).join(", ") : datasetNames[job.dataset_id] ?? job.dataset_id}
                  {job.run_id ? ` · run ${job.run_id}` : ""}
                </span>
              </div>
              <ProgressPanel job={job} onCancel={cancel} cancelling={cancelling} live={live} />
              {job.status === "partial" && <PartialBanner job={job} onRerun={startJob} />}
              {hasResults(job.status) || (isTerminal(job.status) && (job.artifacts?.length ?? 0) > 0) ? (
                <ResultsView key={job.id} job={job} options={options} />
              ) : (
                <p className="muted note">
                  {isTerminal(job.status)
                    ? `This job ${job.status === "failed" ? "failed" : "was cancelled"}; it has no results to show.`
                    : "Charts, metrics and downloads appear here when the run finishes."}
                </p>
              )}
            </div>
          )}
        </main>
      </div>
    </div>
  );
}

function DatasetView({
  dataset,
  ohlcv,
  ohlcvError,
  options,
  symbol,
  onSymbol,
}: {
  dataset: Dataset;
  ohlcv: Series | null;
  ohlcvError: string | null;
  options: Options | null;
  symbol: string | null;
  onSymbol: (symbol: string) => void;
}) {
  const symbols = dataset.symbols ?? [];
  const prefix = symbol && symbols.length ? `${symbol}:` : "";
  const reference = prefix
    ? Object.fromEntries(
        Object.entries(dataset.reference_metrics)
          .filter(([k]) => k.startsWith(prefix))
          .map(([k, v]) => [k.slice(prefix.length), v]),
      )
    : dataset.reference_metrics;
  const pairs = Object.entries(dataset.reference_metrics).filter(([k]) => k.startsWith("corr:"));
  return (
    <div className="dataset-view" data-testid="dataset-view">
      <div className="kpis">
        <div className="kpi">
          <span className="label">Dataset</span>
          <span className="value name" title={dataset.name} data-testid="dataset-name">
            {dataset.name}
          </span>
        </div>
        <div className="kpi">
          <span className="label">Rows</span>
          <span className="value" data-testid="dataset-rows">
            {formatCount(dataset.rows)}
          </span>
        </div>
        <div className="kpi">
          <span className="label">Range</span>
          <span className="value small-value">
            <span className="nowrap">{formatDate(dataset.start)}</span> →{" "}
            <span className="nowrap">{formatDate(dataset.end)}</span>
          </span>
        </div>
        <div className="kpi">
          <span className="label">Frequency</span>
          <span className="value small-value">{dataset.frequency}</span>
        </div>
      </div>
      {symbols.length > 0 && (
        <div className="view-bar">
          <div className="switcher" role="group" aria-label="Asset" data-testid="dataset-symbols">
            <span className="muted small">{dataset.layout} table · asset</span>
            {symbols.map((s) => (
              <button key={s} type="button" className="btn ghost small" aria-pressed={s === symbol} onClick={() => onSymbol(s)}>
                {s}
              </button>
            ))}
          </div>
          {pairs.length > 0 && (
            <span className="muted small">
              Return correlation:{" "}
              {pairs.map(([k, v]) => `${k.slice(5).replace("|", " · ")} ${formatMetric(v)}`).join(", ")}
            </span>
          )}
        </div>
      )}
      <section className="card">
        <header className="card-head">
          <h3>Price and volume{prefix ? ` · ${symbol}` : ""}</h3>
          <span className="muted small">
            {dataset.columns.join(", ")}
            {dataset.has_volume ? "" : " · no volume"}
          </span>
        </header>
        {ohlcvError ? (
          <div className="alert error" role="alert">{ohlcvError}</div>
        ) : ohlcv ? (
          <CandleChart series={ohlcv} testId="dataset-chart" height={420} />
        ) : (
          <div className="loading" style={{ height: 420 }}>Loading chart…</div>
        )}
      </section>
      {(() => {
        const report = (symbol ? dataset.read_reports?.[symbol] : null) ?? dataset.read_report;
        return report ? <ReadReportView report={report} /> : null;
      })()}
      <section className="card">
        <header className="card-head">
          <h3>Reference metrics</h3>
          <span className="muted small">what every synthetic series is scored against</span>
        </header>
        <MetricsTable reference={reference} metrics={options?.metrics} />
      </section>
    </div>
  );
}
