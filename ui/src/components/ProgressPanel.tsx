/** A job's live progress: bar, counts, acceptance rate, ETA, and Cancel. */
import type { Job } from "../lib/types";
import { isTerminal } from "../lib/types";
import { formatCount, formatDuration, formatPercent } from "../lib/format";
import { verdictSentence } from "./PreflightNote";

export function StatusBadge({ status }: { status: Job["status"] }) {
  return <span className={`badge status-${status}`}>{status}</span>;
}

/** The job's preflight in one line, and its warning. */
export function JobPreflight({ job }: { job: Job }) {
  const p = job.preflight;
  if (!p) return null;
  const ok = p.verdict === "ok";
  return (
    <div className={`job-preflight ${ok ? "ok" : "warn"}`} data-testid="job-preflight" data-verdict={p.verdict}>
      <span className="label">Preflight</span>{" "}
      about {formatPercent(p.acceptance, 0)} of candidates reach {p.min_fidelity}, {p.expected_attempts.toFixed(1)} attempts per
      scenario{p.expected_seconds != null ? `, about ${formatDuration(p.expected_seconds)}` : ""}.
      {!ok && (
        <div className="preflight-warning" role="alert" data-testid="job-warning">
          {verdictSentence(p)}
          {p.suggested_min_fidelity != null && ` About a quarter of candidates reach ${p.suggested_min_fidelity}.`}
        </div>
      )}
    </div>
  );
}

/** Fraction done: accepted over requested, 1 once succeeded. */
export function fractionDone(job: Job): number {
  if (job.status === "succeeded") return 1;
  const p = job.progress;
  if (!p || !p.requested) return 0;
  return Math.min(1, Math.max(0, p.accepted / p.requested));
}

interface Props {
  job: Job;
  onCancel?: () => void;
  cancelling?: boolean;
  live?: boolean;
}

export default function ProgressPanel({ job, onCancel, cancelling, live }: Props) {
  const p = job.progress;
  const done = isTerminal(job.status);
  const frac = fractionDone(job);
  const pct = Math.round(frac * 1000) / 10;
  return (
    <section className="progress-panel" data-testid="progress-panel" data-status={job.status}>
      <div className="progress-head">
        <div>
          <StatusBadge status={job.status} />
          {p?.stage && !done && <span className="stage">{p.stage}</span>}
          {live && !done && <span className="live" title="Live updates (Server-Sent Events)">● live</span>}
        </div>
        {!done && onCancel && (
          <button type="button" className="btn danger small" onClick={onCancel} disabled={cancelling}>
            {cancelling ? "Cancelling…" : "Cancel"}
          </button>
        )}
      </div>
      <div
        className={`bar ${job.status}`}
        role="progressbar"
        aria-label="Accepted scenarios"
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={pct}
      >
        <div className="fill" style={{ width: `${pct}%` }} />
      </div>
      <dl className="stats">
        <div>
          <dt>Accepted</dt>
          <dd data-testid="progress-accepted">
            {formatCount(p?.accepted ?? 0)} / {formatCount(p?.requested ?? Number(job.request.n_samples ?? 0))}
          </dd>
        </div>
        <div>
          <dt>Attempts</dt>
          <dd>{formatCount(p?.attempts ?? 0)}</dd>
        </div>
        <div>
          <dt>Acceptance rate</dt>
          <dd data-testid="progress-rate">{formatPercent(p?.acceptance_rate)}</dd>
        </div>
        <div>
          <dt>{done ? "Elapsed" : "ETA"}</dt>
          <dd data-testid="progress-eta">
            {done ? formatDuration(p?.elapsed_seconds) : formatDuration(p?.eta_seconds)}
          </dd>
        </div>
        {p && p.failed > 0 && (
          <div>
            <dt>Failed</dt>
            <dd data-testid="progress-failed">{formatCount(p.failed)}</dd>
          </div>
        )}
        {p && (p.resumed ?? 0) > 0 && (
          <div>
            <dt>Reused</dt>
            <dd data-testid="progress-resumed" title="Scenarios kept from an earlier run, not searched again">
              {formatCount(p.resumed)}
            </dd>
          </div>
        )}
      </dl>
      <JobPreflight job={job} />
      {job.error && (
        <div className="alert error" role="alert" data-testid="job-error">
          {job.error}
        </div>
      )}
    </section>
  );
}
