/**
 * The calibration view: a small form for a walk-forward calibration of the current dataset, the progress of the
 * running calibration (polled from GET /api/calibrations/{id}), and its results once it succeeded.
 */
import { useEffect, useState } from "react";
import { api, ApiError } from "../lib/api";
import type { Calibration, CalibrationRequest, Dataset } from "../lib/types";
import CalibrationResults from "./CalibrationResults";

type Method = NonNullable<CalibrationRequest["methods"]>[number];

const METHODS: readonly Method[] = ["stationary", "garch", "regime", "iid"];
const DEFAULT_METHODS: readonly Method[] = ["stationary", "garch", "regime"];
/** How often a running calibration is polled; origins take a second or more each, so faster buys nothing. */
const POLL_MS = 1500;

function isFinished(status: Calibration["status"]): boolean {
  return status === "succeeded" || status === "failed" || status === "cancelled";
}

function message(err: unknown): string {
  return err instanceof ApiError ? err.detail : String(err);
}

export default function CalibrationView({ dataset }: { dataset: Dataset | null }) {
  const [methods, setMethods] = useState<Method[]>([...DEFAULT_METHODS]);
  const [horizon, setHorizon] = useState(21);
  const [scenarios, setScenarios] = useState(500);
  const [step, setStep] = useState(21);
  const [minWindow, setMinWindow] = useState(500);
  const [windowKind, setWindowKind] = useState<CalibrationRequest["window"]>("expanding");
  const [error, setError] = useState<string | null>(null);
  const [submitting, setSubmitting] = useState(false);
  const [calibration, setCalibration] = useState<Calibration | null>(null);

  const calibrationId = calibration?.id ?? null;
  const finished = calibration ? isFinished(calibration.status) : true;
  useEffect(() => {
    if (!calibrationId || finished) return undefined;
    let stale = false;
    const t = setInterval(() => {
      api
        .calibration(calibrationId)
        .then((c) => !stale && setCalibration(c))
        // A failed poll is retried at the next tick; a lost server shows in the health badge.
        .catch(() => undefined);
    }, POLL_MS);
    return () => {
      stale = true;
      clearInterval(t);
    };
  }, [calibrationId, finished]);

  const toggle = (m: Method) =>
    setMethods((cur) => (cur.includes(m) ? cur.filter((x) => x !== m) : METHODS.filter((x) => x === m || cur.includes(x))));

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    if (!dataset) return;
    if (!methods.length) {
      setError("Pick at least one method to calibrate.");
      return;
    }
    setError(null);
    setSubmitting(true);
    try {
      const created = await api.createCalibration({
        dataset_id: dataset.id,
        methods,
        horizon,
        n_scenarios: scenarios,
        step,
        min_window: minWindow,
        window: windowKind,
        seed: 42,
        drift: "keep",
      });
      setCalibration(created);
    } catch (err) {
      setError(message(err));
    } finally {
      setSubmitting(false);
    }
  };

  const cancel = async () => {
    if (!calibration) return;
    try {
      const res = await api.cancelCalibration(calibration.id);
      if (res) setCalibration(res);
    } catch (err) {
      setError(message(err));
    }
  };

  const running = calibration !== null && !finished;
  const progress = calibration?.progress;
  const share = progress && progress.total > 0 ? progress.done / progress.total : 0;

  return (
    <div className="calibration-view" data-testid="calibration-view">
      <section className="card">
        <header className="card-head">
          <h3>Walk-forward calibration</h3>
          <span className="muted small">
            {dataset ? (
              <>
                on <strong>{dataset.name}</strong>: does each method's spread of scenarios match what happened next?
              </>
            ) : (
              "load a dataset first"
            )}
          </span>
        </header>
        <form className="calibration-form" data-testid="calibration-form" onSubmit={submit}>
          <fieldset className="methods" data-testid="calibration-methods">
            <legend>Methods</legend>
            {METHODS.map((m) => (
              <label key={m} className="inline">
                <input
                  type="checkbox"
                  name="method"
                  value={m}
                  checked={methods.includes(m)}
                  onChange={() => toggle(m)}
                  data-testid={`calibration-method-${m}`}
                />{" "}
                {m}
              </label>
            ))}
          </fieldset>
          <div className="grid-fields">
            <NumberField label="Horizon (bars)" testId="calibration-horizon" value={horizon} onChange={setHorizon} min={1} />
            <NumberField label="Scenarios per origin" testId="calibration-scenarios" value={scenarios} onChange={setScenarios} min={10} />
            <NumberField label="Step between origins (bars)" testId="calibration-step" value={step} onChange={setStep} min={1} />
            <NumberField label="Minimum fit window (bars)" testId="calibration-min-window" value={minWindow} onChange={setMinWindow} min={50} />
            <label>
              <span>Window</span>
              <select
                value={windowKind}
                onChange={(e) => setWindowKind(e.target.value as CalibrationRequest["window"])}
                data-testid="calibration-window"
              >
                <option value="expanding" title="fit on every bar up to the origin">expanding</option>
                <option value="rolling" title="fit on the last minimum-window bars">rolling</option>
              </select>
            </label>
          </div>
          {error && (
            <div className="alert error" role="alert" data-testid="calibration-error">
              {error}
            </div>
          )}
          <div className="actions">
            <button type="submit" className="btn primary" disabled={!dataset || submitting || running} data-testid="calibration-submit">
              {submitting ? "Starting…" : running ? "Calibrating…" : "Run calibration"}
            </button>
          </div>
        </form>
      </section>

      {calibration && (
        <section className="card" data-testid="calibration-status" data-status={calibration.status}>
          <header className="card-head">
            <h3>
              Calibration <span className="mono">{calibration.id}</span>
            </h3>
            <span className="muted small">{calibration.status}</span>
          </header>
          {running && progress && (
            <div className="progress-wrap">
              <progress
                className="progress"
                max={1}
                value={share}
                data-testid="calibration-progress"
                aria-label="Calibration progress"
              />
              <span className="muted small">
                {progress.stage}
                {progress.total > 0 ? ` · ${progress.done} of ${progress.total} origins` : ""}
              </span>
              <button type="button" className="btn ghost small" onClick={cancel} disabled={calibration.cancel_requested}>
                {calibration.cancel_requested ? "Cancelling…" : "Cancel"}
              </button>
            </div>
          )}
          {calibration.status === "failed" && (
            <div className="alert error" role="alert" data-testid="calibration-failed">
              {calibration.error ?? "The calibration failed."}
            </div>
          )}
          {calibration.status === "cancelled" && <p className="muted note">The calibration was cancelled.</p>}
        </section>
      )}

      {calibration?.status === "succeeded" && <CalibrationResults calibration={calibration} />}
    </div>
  );
}

function NumberField({
  label,
  testId,
  value,
  onChange,
  min,
}: {
  label: string;
  testId: string;
  value: number;
  onChange: (v: number) => void;
  min: number;
}) {
  return (
    <label>
      <span>{label}</span>
      <input
        type="number"
        min={min}
        step={1}
        value={Number.isFinite(value) ? value : ""}
        onChange={(e) => onChange(e.target.valueAsNumber)}
        data-testid={testId}
      />
    </label>
  );
}
