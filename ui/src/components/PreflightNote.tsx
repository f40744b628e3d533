/** The preflight beside the threshold: expected acceptance, attempts and time, and a fix. */
import type { Preflight } from "../lib/types";
import { formatDuration, formatPercent } from "../lib/format";

/** What the verdict means for the run, in a sentence. */
export function verdictSentence(p: Preflight): string {
  switch (p.verdict) {
    case "will_fail":
      return `This run will most likely fail: the chance that some scenario finds no candidate within ${p.max_attempts} attempts is ${formatPercent(p.p_run_fails, 0)}.`;
    case "may_fail":
      return `This run may fail: at the low end of the estimate, the chance that some scenario finds no candidate within ${p.max_attempts} attempts is ${formatPercent(p.p_run_fails_high, 0)}.`;
    case "slow":
      return "This run will be slow: more than 10 attempts per scenario.";
    default:
      return "";
  }
}

interface Props {
  preflight: Preflight | null;
  loading?: boolean;
  error?: string | null;
  /** Applies a threshold to the form (the user still submits). */
  onApply?: (minFidelity: number) => void;
}

export default function PreflightNote({ preflight: p, loading = false, error = null, onApply }: Props) {
  if (error) {
    return (
      <div className="preflight-note muted" data-testid="preflight-note" data-state="error">
        No estimate: {error}
      </div>
    );
  }
  if (!p) {
    return loading ? (
      <div className="preflight-note muted" data-testid="preflight-note" data-state="loading">
        Estimating how many candidates pass…
      </div>
    ) : null;
  }
  const ok = p.verdict === "ok";
  const [lo, hi] = p.acceptance_interval;
  const suggestion = p.suggested_min_fidelity;
  return (
    <div
      className={`preflight-note ${ok ? "ok" : "warn"}`}
      data-testid="preflight-note"
      data-state={loading ? "loading" : "ready"}
      data-verdict={p.verdict}
      title={p.message}
      aria-live="polite"
    >
      <div>
        About <strong data-testid="preflight-acceptance">{formatPercent(p.acceptance, 0)}</strong> of candidates reach{" "}
        {p.min_fidelity} <span className="muted">({formatPercent(lo, 0)}–{formatPercent(hi, 0)})</span>:{" "}
        <span data-testid="preflight-attempts">{p.expected_attempts.toFixed(1)} attempts</span> per scenario
        {p.expected_seconds != null && (
          <>
            , about <span data-testid="preflight-time">{formatDuration(p.expected_seconds)}</span>
          </>
        )}
        .
      </div>
      {!ok && (
        <div className="preflight-warning" role="alert" data-testid="preflight-warning">
          {verdictSentence(p)}
          {suggestion != null && <> About a quarter of candidates reach {suggestion}.</>}
        </div>
      )}
      {!ok && suggestion != null && onApply && (
        <button type="button" className="btn small" data-testid="preflight-apply" onClick={() => onApply(suggestion)}>
          Use {suggestion}
        </button>
      )}
    </div>
  );
}
