/** Objects of the REST API, as described in docs/rest_api.md. */

export type MetricValues = Record<string, number | null>;

export interface Dataset {
  id: string;
  name: string;
  rows: number;
  start: string;
  end: string;
  columns: string[];
  frequency: string;
  has_volume: boolean;
  created_at: string;
  reference_metrics: MetricValues;
  size_bytes?: number;
  notes?: string[];
  /** single: one series; long/wide: a multi-asset table (as uploaded). */
  layout?: Layout;
  /** Assets of a multi-asset table. */
  symbols?: string[] | null;
  /** How the file was read (one series). */
  read_report?: ReadReport | null;
  /** How each asset of a multi-asset table was read. */
  read_reports?: Record<string, ReadReport> | null;
}

/** How a file was read: the API's `read_report` (docs/rest_api.md). */
export interface ReadReport {
  source: string;
  format: string;
  delimiter: string | null;
  skipped_lines: number;
  banner: string[];
  skiprows: number | null;
  columns: Record<string, string>;
  explicit: string[];
  volume: string | null;
  volume_kind: string;
  volume_passed_over: string[];
  volume_note: string;
  symbol: string | null;
  time_format: string;
  timezone: string;
  order: string;
  rows_read: number;
  blank_rows: number;
  rows: number;
  dropped: Record<string, number>;
  high_low_fixed: number;
  start: string;
  end: string;
  frequency: string;
  gaps: { count: number; weekend: number; largest: string | null; largest_from: string | null; largest_to: string | null };
  spikes: { time: string; column: string; value: number; factor: number }[];
}

/** The first raw rows of a refused upload (the 422 body's `preview`). */
export interface UploadPreview {
  rows: string[][];
  header_row: number;
  delimiter: string | null;
  format: string;
}

/** The fields a user can map by hand, in the order the mapping step shows them. */
export const READ_FIELDS = ["time", "open", "high", "low", "close", "volume"] as const;
export type ReadField = (typeof READ_FIELDS)[number];

/** Read options of an upload: the same as `input.columns/skiprows/date_format` in YAML. */
export interface ReadOptions {
  columns?: Partial<Record<ReadField, string>>;
  skiprows?: number | null;
  date_format?: string | null;
}

export type Layout = "single" | "long" | "wide";

/** `partial`: the run ended with scenarios that found no candidate; the accepted ones are results. */
export type JobStatus = "queued" | "running" | "succeeded" | "partial" | "failed" | "cancelled";

export interface JobProgress {
  accepted: number;
  requested: number;
  attempts: number;
  failed: number;
  /** Scenarios taken over from an earlier session or from `resume_from`. */
  resumed?: number;
  acceptance_rate: number | null;
  eta_seconds: number | null;
  elapsed_seconds: number | null;
  stage: string;
}

/** A job request: one dataset (`dataset_id`) or several as assets (`dataset_ids`: symbol → id). */
export type JobRequest = Record<string, unknown> & { dataset_id?: string | null; dataset_ids?: Record<string, string> | null };

export interface Job {
  id: string;
  dataset_id: string;
  dataset_ids?: Record<string, string> | null;
  symbols?: string[] | null;
  dataset_name?: string | null;
  status: JobStatus;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  request: JobRequest;
  progress: JobProgress | null;
  error: string | null;
  run_id: string | null;
  artifacts: string[];
  /** The run's preflight, once the run has made it. */
  preflight?: Preflight | null;
  /** The preflight's message when it expects the run to be slow or to fail. */
  warnings?: string[];
  /** Why a partial job is partial, and the threshold at which a rerun completes. */
  partial?: PartialRun | null;
}

/** The estimate of a run before any work (`POST /api/preflight`, `Job.preflight`). */
export interface Preflight {
  min_fidelity: number;
  n_samples: number;
  max_attempts: number;
  pilot_candidates: number;
  pilot_passed: number;
  acceptance: number;
  acceptance_interval: [number, number];
  median_fidelity: number;
  expected_attempts: number;
  expected_candidates: number;
  p_run_fails: number;
  p_run_fails_high: number;
  suggested_min_fidelity: number | null;
  verdict: "ok" | "slow" | "may_fail" | "will_fail";
  message: string;
  expected_seconds?: number | null;
  threads?: number | null;
}

export interface PartialRun {
  reason: string;
  accepted: number;
  failed: number;
  best_score: number;
  /** Every scenario passes at this threshold: a rerun with `resume_from` completes. */
  suggested_min_fidelity: number | null;
}

/** How the block size was chosen (the manifest's `model.block_choice`). */
export interface BlockChoice {
  block_size: number;
  reference: number;
  mode: string;
  grid: number[];
  median_fidelity: number[];
  /** The pilot candidates' volatility-dependence error at each length, in sampling spreads. */
  dependence_error?: number[];
  pilot_candidates: number;
  reason: string;
}

export interface Series {
  index: string[];
  open: number[];
  high: number[];
  low: number[];
  close: number[];
  volume: number[] | null;
  bars?: number;
  step?: number;
  symbol?: string | null;
  timeframe?: string | null;
  /** The scenario's regime path (method regime). */
  regimes?: RegimeBand[] | null;
}

/** A run of bars in one regime (0 = calmest). */
export interface RegimeBand {
  regime: number;
  start: string;
  end: string;
  bars: number;
}

export interface Scenario {
  scenario: number;
  score: number;
  attempt: number;
  metrics: MetricValues;
  /** Score and metrics at each higher timeframe. */
  timeframes?: Record<string, { score: number | null; metrics: MetricValues }>;
  /** Share of bars in each regime (method regime). */
  regime_shares?: number[];
}

export interface Spread {
  min: number | null;
  median: number | null;
  max: number | null;
}

/** Original vs synthetic correlation of one asset pair. */
export interface Correlation {
  pair: string;
  symbols: [string, string];
  corr: Spread & { original: number | null };
  abs_corr: Spread & { original: number | null };
}

export interface FittedRegimes {
  labelling: string;
  n_regimes: number;
  volatility: number[];
  input_shares: number[];
  fitted_transition?: number[][];
  transition?: number[][];
}

export interface FanData {
  index: string[];
  original: number[] | null;
  percentiles: Record<string, number[]>;
  samples: number[][];
  n_series?: number;
  original_index?: string[] | null;
  symbol?: string | null;
}

export interface JobResults {
  reference_metrics: MetricValues;
  weights: Record<string, number>;
  scored_metrics: string[];
  scenarios: Scenario[];
  fan: FanData;
  run_id?: string;
  status?: string;
  method?: string;
  /** "conditioned" when the reference is the conditioned regime mix. */
  reference?: string;
  block_size?: number;
  /** Assets of a multi-asset run (metrics are keyed "SYM:metric"). */
  symbols?: string[] | null;
  symbol?: string | null;
  correlations?: Correlation[];
  timeframes?: Record<string, { bars: number; scored_metrics: string[]; score: Spread }>;
  regimes?: FittedRegimes | null;
  garch?: Record<string, { vol: string; dist: string; persistence?: number; params?: Record<string, number> }> | null;
  /** A partial job's reason (null for a complete one). */
  partial?: PartialRun | null;
  preflight?: Preflight | null;
  block_choice?: BlockChoice | null;
}

export interface MetricInfo {
  name: string;
  weight: number;
  description?: string;
}

/** A JSON schema node, as much of it as the form reads. */
export interface JsonSchema {
  type?: string | string[];
  title?: string;
  description?: string;
  default?: unknown;
  enum?: unknown[];
  const?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minItems?: number;
  maxItems?: number;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  $ref?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  $defs?: Record<string, JsonSchema>;
  definitions?: Record<string, JsonSchema>;
}

export interface Limits {
  max_n_samples?: number;
  max_length?: number;
  max_upload_mb?: number;
  max_concurrent_jobs?: number;
}

export interface Options {
  schema: JsonSchema;
  defaults: Record<string, unknown>;
  methods: string[];
  formats: string[];
  metrics: MetricInfo[];
  limits: Limits;
  samples: string[];
  method_descriptions?: Record<string, string>;
  /** Request sections that apply to one method only: request key → method. */
  method_sections?: Record<string, string>;
  garch?: { vols: string[]; dists: string[] };
  regime?: { labellings: string[]; conditions: string[]; n_regimes: { minimum: number; maximum: number } };
  timeframes?: { suggested: string[]; min_bars: number };
  layouts?: Layout[];
}

export interface Health {
  status: string;
  version: string;
  workers: number;
}

export const TERMINAL_STATUSES: readonly JobStatus[] = ["succeeded", "partial", "failed", "cancelled"];

export function isTerminal(status: JobStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

/** Whether a job has results and downloads (its accepted scenarios). */
export function hasResults(status: JobStatus): boolean {
  return status === "succeeded" || status === "partial";
}
