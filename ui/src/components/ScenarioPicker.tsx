/**
 * The scenario picker of a job's results: one page of its accepted scenarios at a time (a run may have
 * 100,000), fetched from `GET /api/jobs/{id}/scenarios`, in the order chosen, with previous / next.
 */
import { useEffect, useState } from "react";
import { api, ApiError } from "../lib/api";
import type { ScenarioPage, ScenarioSort } from "../lib/types";
import { formatCount } from "../lib/format";

/** Scenarios of a page unless the dashboard's address says `?page_size=N` (1 to 1000). */
export const PAGE_SIZE = 50;

export const ORDERS: { value: ScenarioSort; label: string }[] = [
  { value: "scenario", label: "by number" },
  { value: "-score", label: "best score first" },
  { value: "score", label: "worst score first" },
  { value: "-scenario", label: "by number, last first" },
];

/** The page size the dashboard's address asks for (`?page_size=N`), else `PAGE_SIZE`. */
export function pageSizeFromUrl(search: string = window.location.search): number {
  const n = Number(new URLSearchParams(search).get("page_size"));
  return Number.isInteger(n) && n >= 1 && n <= 1000 ? n : PAGE_SIZE;
}

interface Props {
  jobId: string;
  /** Accepted scenarios in all. */
  total: number;
  /** The scenario shown (its number), or null. */
  value: number | null;
  onChange: (scenario: number) => void;
  pageSize?: number;
}

export default function ScenarioPicker({ jobId, total, value, onChange, pageSize = PAGE_SIZE }: Props) {
  const [sort, setSort] = useState<ScenarioSort>("scenario");
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState<ScenarioPage | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let stale = false;
    setError(null);
    api
      .scenarios(jobId, offset, pageSize, sort)
      .then((p) => !stale && setPage(p))
      .catch((err) => !stale && setError(err instanceof ApiError ? err.detail : String(err)));
    return () => {
      stale = true;
    };
  }, [jobId, offset, pageSize, sort]);

  const rows = page?.scenarios ?? [];
  const loading = page == null || page.offset !== offset || page.sort !== sort || page.limit !== pageSize;
  const onPage = value != null && rows.some((s) => s.scenario === value);
  const last = Math.max(0, Math.ceil(total / pageSize) - 1) * pageSize;
  return (
    <div className="card-tools scenario-picker" data-testid="scenario-picker">
      <label className="inline">
        <span className="muted small">Scenario</span>
        <select data-testid="scenario-select" value={value ?? ""} onChange={(e) => onChange(Number(e.target.value))}>
          {/* The scenario shown stays named while another page is listed. */}
          {value != null && !onPage && (
            <option value={value} disabled>
              #{value} (another page)
            </option>
          )}
          {rows.map((s) => (
            <option key={s.scenario} value={s.scenario}>
              #{s.scenario} · score {s.score.toFixed(1)}
            </option>
          ))}
        </select>
      </label>
      <label className="inline">
        <span className="muted small">Order</span>
        <select
          data-testid="scenario-sort"
          value={sort}
          onChange={(e) => {
            setSort(e.target.value as ScenarioSort);
            setOffset(0);
          }}
        >
          {ORDERS.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </select>
      </label>
      <span className="pager" role="group" aria-label="Pages of scenarios">
        <button
          type="button"
          className="btn ghost small"
          data-testid="scenario-prev"
          aria-label="Previous scenarios"
          disabled={offset === 0}
          onClick={() => setOffset(Math.max(0, offset - pageSize))}
        >
          ‹
        </button>
        {/* What is listed: the page loaded, which lags behind the one asked for while it loads. */}
        <span className="muted small" data-testid="scenario-range" aria-busy={loading}>
          {page == null || page.scenarios.length === 0
            ? total === 0
              ? "none"
              : "…"
            : `${formatCount(page.offset + 1)}–${formatCount(page.offset + page.scenarios.length)} of ${formatCount(total)}`}
        </span>
        <button
          type="button"
          className="btn ghost small"
          data-testid="scenario-next"
          aria-label="Next scenarios"
          disabled={offset >= last}
          onClick={() => setOffset(Math.min(last, offset + pageSize))}
        >
          ›
        </button>
      </span>
      {error && (
        <span className="alert error small" role="alert">
          {error}
        </span>
      )}
    </div>
  );
}
