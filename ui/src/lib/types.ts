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
}

export type JobStatus = "queued" | "running" | "succeeded" | "failed" | "cancelled";

export interface JobProgress {
  accepted: number;
  requested: number;
  attempts: number;
  failed: number;
  acceptance_rate: number | null;
  eta_seconds: number | null;
  elapsed_seconds: number | null;
  stage: string;
}

export type JobRequest = Record<string, unknown> & { dataset_id: string };

export interface Job {
  id: string;
  dataset_id: string;
  status: JobStatus;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  request: JobRequest;
  progress: JobProgress | null;
  error: string | null;
  run_id: string | null;
  artifacts: string[];
}

export interface Series {
  index: string[];
  open: number[];
  high: number[];
  low: number[];
  close: number[];
  volume: number[] | null;
}

export interface Scenario {
  scenario: number;
  score: number;
  attempt: number;
  metrics: MetricValues;
}

export interface FanData {
  index: string[];
  original: number[];
  percentiles: Record<string, number[]>;
  samples: number[][];
}

export interface JobResults {
  reference_metrics: MetricValues;
  weights: Record<string, number>;
  scored_metrics: string[];
  scenarios: Scenario[];
  fan: FanData;
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
}

export interface Health {
  status: string;
  version: string;
  workers: number;
}

export const TERMINAL_STATUSES: readonly JobStatus[] = ["succeeded", "failed", "cancelled"];

export function isTerminal(status: JobStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}
