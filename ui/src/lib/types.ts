/**
 * Objects of the REST API (docs/rest_api.md).
 *
 * The response models come from the API's OpenAPI schema: `schema.gen.ts` is generated from it
 * (`make types`: `python -m pipeline.api.openapi ui/openapi.json`, then `npm run gen:types`)
 * and never edited by hand. Written here are only what the schema leaves open: objects the API
 * passes through as JSON objects (a dataset's read report, the run's block choice, fitted
 * regimes and GARCH fits, whose shapes the run owns), the job request as the form builds it,
 * and `GET /api/options`, which has no response model.
 */
import type { components } from "./schema.gen";

type Schemas = components["schemas"];

export type MetricValues = Record<string, number | null>;

export type Dataset = Omit<Schemas["Dataset"], "read_report" | "read_reports"> & {
  /** How the file was read (one series). */
  read_report?: ReadReport | null;
  /** How each asset of a multi-asset table was read. */
  read_reports?: Record<string, ReadReport> | null;
};

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

/** single: one series; long/wide: a multi-asset table (as uploaded). */
export type Layout = Schemas["Dataset"]["layout"];

/** `partial`: the run ended with scenarios that found no candidate; the accepted ones are results. */
export type JobStatus = Schemas["Job"]["status"];

export type JobProgress = Schemas["JobProgress"];

/** A job request: one dataset (`dataset_id`) or several as assets (`dataset_ids`: symbol → id). */
export type JobRequest = Record<string, unknown> & { dataset_id?: string | null; dataset_ids?: Record<string, string> | null };

export type Job = Omit<Schemas["Job"], "request"> & { request: JobRequest };

/** The estimate of a run before any work (`POST /api/preflight`, `Job.preflight`). */
export type Preflight = Schemas["Preflight"];

/** Why a partial job is partial, and the threshold at which a rerun completes. */
export type PartialRun = Schemas["Partial"];

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

export type Series = Schemas["Series"];

/** A run of bars in one regime (0 = calmest). */
export type RegimeBand = Schemas["RegimeBand"];

export type Scenario = Schemas["ScenarioResult"];

/** A page of a job's scenarios (`GET /api/jobs/{id}/scenarios`). */
export type ScenarioPage = Schemas["ScenarioPage"];

/** The orders of a page of scenarios: by number or score, `-` for descending. */
export type ScenarioSort = ScenarioPage["sort"];

/** The server's bins of every accepted scenario's score. */
export type ScoreBins = Schemas["ScoreHistogram"];

export type Spread = Schemas["Spread"];

/** Original vs synthetic correlation of one asset pair. */
export type Correlation = Schemas["Correlation"];

export interface FittedRegimes {
  labelling: string;
  n_regimes: number;
  volatility: number[];
  input_shares: number[];
  fitted_transition?: number[][];
  transition?: number[][];
}

/** The GARCH fit of one series (the manifest's `model.garch`). */
export interface GarchFit {
  vol: string;
  dist: string;
  persistence?: number;
  params?: Record<string, number>;
}

export type FanData = Schemas["FanChart"];

export type JobResults = Omit<Schemas["JobResults"], "block_choice" | "regimes" | "garch"> & {
  block_choice: BlockChoice | null;
  regimes: FittedRegimes | null;
  garch: Record<string, GarchFit> | null;
};

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

export type Health = Schemas["Health"];

export const TERMINAL_STATUSES: readonly JobStatus[] = ["succeeded", "partial", "failed", "cancelled"];

export function isTerminal(status: JobStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

/** Whether a job has results and downloads (its accepted scenarios). */
export function hasResults(status: JobStatus): boolean {
  return status === "succeeded" || status === "partial";
}

/** A walk-forward calibration job (`/api/calibrations`); `summary` once it succeeded. */
export type Calibration = Schemas["Calibration"];
export type CalibrationStatus = Calibration["status"];
/** The request of `POST /api/calibrations`, as the calibration form builds it. */
export type CalibrationRequest = Schemas["CalibrationRequest"];
export type CalibrationSummary = Schemas["CalibrationSummary"];
/** One method and path statistic of a calibration: coverage per level, PIT histogram, verdict. */
export type StatisticCalibration = Schemas["StatisticCalibration"];
export type CoverageLevel = Schemas["CoverageLevel"];
