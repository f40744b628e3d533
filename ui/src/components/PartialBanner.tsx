/** A partial job's banner: why, and a one-click rerun at a threshold that completes, reusing it. */
import { useState } from "react";
import { ApiError } from "../lib/api";
import type { Job, JobRequest } from "../lib/types";
import { formatCount } from "../lib/format";

/** The rerun of a partial job at its suggested threshold, resuming from its scenarios. */
export function rerunRequest(job: Job): JobRequest | null {
  const threshold = job.partial?.suggested_min_fidelity;
  if (threshold == null) return null;
  return { ...job.request, min_fidelity: threshold, resume_from: job.id };
}

interface Props {
  job: Job;
  /** Starts a job (the app opens it). */
  onRerun?: (request: JobRequest) => Promise<unknown>;
}

export default function PartialBanner({ job, onRerun }: Props) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const p = job.partial;
  if (!p) return null;
  const rerun = rerunRequest(job);
  const start = async () => {
    if (!rerun || !onRerun) return;
    setBusy(true);
    setError(null);
    try {
      await onRerun(rerun);
    } catch (err) {
      setError(err instanceof ApiError ? err.detail : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="alert warn partial-banner" data-testid="partial-banner" aria-label="Partial result">
      <p>
        <strong>Partial result:</strong> {formatCount(p.accepted)} of {formatCount(p.accepted + p.failed)} scenarios were
        accepted; {formatCount(p.failed)} found no candidate with fidelity ≥ {String(job.request.min_fidelity ?? "?")}{" "}
        within {String(job.request.max_attempts ?? "?")} attempts (the best reached {p.best_score.toFixed(2)}). The
        results and downloads below hold the accepted ones.
      </p>
      {rerun && (
        <p>
          Every scenario passes at <strong>{String(rerun.min_fidelity)}</strong>. A rerun there reuses the accepted
          scenarios that stay the same at that threshold and searches the others.
          {onRerun && (
            <>
              {" "}
              <button type="button" className="btn primary small" data-testid="partial-rerun" disabled={busy} onClick={start}>
                {busy ? "Starting…" : `Rerun at ${String(rerun.min_fidelity)}, reusing these scenarios`}
              </button>
            </>
          )}
        </p>
      )}
      <details>
        <summary>Why</summary>
        <p className="detail" data-testid="partial-reason">{p.reason}</p>
      </details>
      {error && (
        <div className="alert error" role="alert">
          {error}
        </div>
      )}
    </section>
  );
}
