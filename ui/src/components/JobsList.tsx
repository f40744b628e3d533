/** Past jobs, newest first; click to reopen. */
import type { Job } from "../lib/types";
import { formatCount, formatStamp } from "../lib/format";
import { StatusBadge } from "./ProgressPanel";

interface Props {
  jobs: Job[];
  selectedId: string | null;
  datasetNames: Record<string, string>;
  onOpen: (job: Job) => void;
}

export default function JobsList({ jobs, selectedId, datasetNames, onOpen }: Props) {
  if (jobs.length === 0) return <p className="muted small">No jobs yet.</p>;
  return (
    <ul className="jobs" data-testid="jobs-list">
      {jobs.map((j) => {
        const n = j.progress?.requested ?? Number(j.request.n_samples ?? 0);
        return (
          <li key={j.id}>
            <button
              type="button"
              className={`job-item${j.id === selectedId ? " selected" : ""}`}
              onClick={() => onOpen(j)}
              aria-current={j.id === selectedId || undefined}
            >
              <span className="row">
                <span className="mono">{j.id}</span>
                <StatusBadge status={j.status} />
              </span>
              <span className="row muted small">
                <span>
                  {j.dataset_ids ? j.dataset_name ?? Object.keys(j.dataset_ids).join(", ") : datasetNames[j.dataset_id] ?? j.dataset_id}
                  {j.request.method && j.request.method !== "stationary" ? ` · ${String(j.request.method)}` : ""} · {formatCount(n)} × ≥{String(j.request.min_fidelity ?? "?")}
                </span>
                <span>{formatStamp(j.created_at)}</span>
              </span>
            </button>
          </li>
        );
      })}
    </ul>
  );
}
