/** A small client of the REST API: JSON in and out, `detail` errors, an optional bearer token. */
import type {
  Calibration,
  CalibrationRequest,
  Dataset,
  Health,
  Job,
  JobRequest,
  JobResults,
  Layout,
  Options,
  Preflight,
  ReadOptions,
  ScenarioPage,
  ScenarioSort,
  Series,
  UploadPreview,
} from "./types";

const TOKEN_KEY = "sme.token";

/** An error answer of the API; `detail` is its message, shown to the user as it is. */
export class ApiError extends Error {
  readonly status: number;
  readonly detail: string;
  /** The whole JSON body of the answer, when it had one (e.g. a refused upload's `preview`). */
  declare readonly body: unknown;

  constructor(status: number, detail: string, body?: unknown) {
    super(detail);
    this.name = "ApiError";
    this.status = status;
    this.detail = detail;
    // Not enumerable: two errors with the same status and detail still compare equal.
    Object.defineProperty(this, "body", { value: body, enumerable: false });
  }
}

/** The preview of a refused upload, when the API sent one with rows to show. */
export function uploadPreview(err: unknown): UploadPreview | null {
  if (!(err instanceof ApiError) || err.status !== 422) return null;
  const preview = (err.body as { preview?: UploadPreview } | undefined)?.preview;
  return preview && Array.isArray(preview.rows) && preview.rows.length > 0 ? preview : null;
}

type Listener = () => void;
const unauthorizedListeners = new Set<Listener>();

/** Called whenever the API answers 401, so the app can ask for a token. */
export function onUnauthorized(listener: Listener): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

export function getToken(): string {
  try {
    return localStorage.getItem(TOKEN_KEY) ?? "";
  } catch {
    return "";
  }
}

export function setToken(token: string): void {
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    /* storage disabled: the token lives for this page only */
  }
}

/** FastAPI's own 422 answers carry a list of `{loc, msg}`; ours carry a string. Show both. */
export function formatDetail(detail: unknown): string {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((d) => {
        if (d && typeof d === "object" && "msg" in d) {
          const loc = Array.isArray((d as { loc?: unknown[] }).loc)
            ? (d as { loc: unknown[] }).loc.filter((p) => p !== "body").join(".")
            : "";
          return loc ? `${loc}: ${(d as { msg: string }).msg}` : String((d as { msg: string }).msg);
        }
        return typeof d === "string" ? d : JSON.stringify(d);
      })
      .join("\n");
  }
  if (detail == null) return "";
  return JSON.stringify(detail);
}

function authHeaders(): Record<string, string> {
  const token = getToken();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

export async function request<T>(path: string, init: RequestInit = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json", ...authHeaders() };
  if (init.body && typeof init.body === "string") headers["Content-Type"] = "application/json";
  let response: Response;
  try {
    response = await fetch(path, { ...init, headers: { ...headers, ...(init.headers as object) } });
  } catch (err) {
    throw new ApiError(0, `Cannot reach the API (${(err as Error).message}). Is \`sme serve\` running?`);
  }
  if (response.status === 401) unauthorizedListeners.forEach((l) => l());
  if (!response.ok) {
    let detail = `${response.status} ${response.statusText}`.trim();
    let body: unknown;
    try {
      body = await response.json();
      if (body && typeof body === "object" && "detail" in body) detail = formatDetail((body as { detail: unknown }).detail);
    } catch {
      /* not JSON: keep the status line */
    }
    if (response.status === 413 && !/[a-z]/i.test(detail.replace(/^413/, ""))) {
      detail = "The file is larger than the upload limit.";
    }
    throw new ApiError(response.status, detail, body);
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

/** URL with `?token=` for the clients that cannot send headers (EventSource, plain links). */
export function withToken(path: string): string {
  const token = getToken();
  if (!token) return path;
  return `${path}${path.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}`;
}

const enc = encodeURIComponent;

export const api = {
  health: () => request<Health>("/api/health"),
  options: () => request<Options>("/api/options"),
  datasets: () => request<Dataset[]>("/api/datasets"),
  dataset: (id: string) => request<Dataset>(`/api/datasets/${enc(id)}`),
  uploadDataset: (file: File, table?: { layout: Layout; symbolColumn?: string }, read?: ReadOptions) => {
    const body = new FormData();
    body.append("file", file, file.name);
    const columns = Object.fromEntries(Object.entries(read?.columns ?? {}).filter(([, v]) => v));
    if (Object.keys(columns).length) body.append("columns", JSON.stringify(columns));
    if (read?.skiprows != null) body.append("skiprows", String(read.skiprows));
    if (read?.date_format) body.append("date_format", read.date_format);
    const params = new URLSearchParams();
    if (table && table.layout !== "single") {
      params.set("layout", table.layout);
      if (table.layout === "long" && table.symbolColumn) params.set("symbol_column", table.symbolColumn);
    }
    const query = params.toString();
    return request<Dataset>(`/api/datasets${query ? `?${query}` : ""}`, { method: "POST", body });
  },
  sampleDataset: (name: string) =>
    request<Dataset>(`/api/datasets/samples/${enc(name)}`, { method: "POST" }),
  ohlcv: (id: string, maxPoints = 1000, symbol?: string | null) =>
    request<Series>(`/api/datasets/${enc(id)}/ohlcv?max_points=${maxPoints}${symbol ? `&symbol=${enc(symbol)}` : ""}`),
  jobs: () => request<Job[]>("/api/jobs"),
  job: (id: string) => request<Job>(`/api/jobs/${enc(id)}`),
  createJob: (req: JobRequest) =>
    request<Job>("/api/jobs", { method: "POST", body: JSON.stringify(req) }),
  /** The preflight of a request, without starting a job. */
  preflight: (req: JobRequest, signal?: AbortSignal) =>
    request<Preflight>("/api/preflight", { method: "POST", body: JSON.stringify(req), signal }),
  cancelJob: (id: string) => request<Job | undefined>(`/api/jobs/${enc(id)}`, { method: "DELETE" }),
  /** A job's results; `limit` scenarios listed (the dashboard lists them from `scenarios` a page at a time). */
  results: (id: string, maxPoints = 500, symbol?: string | null, limit = 0) =>
    request<JobResults>(
      `/api/jobs/${enc(id)}/results?max_points=${maxPoints}${symbol ? `&symbol=${enc(symbol)}` : ""}&limit=${limit}`,
    ),
  /** A page of a job's accepted scenarios. */
  scenarios: (id: string, offset: number, limit: number, sort: ScenarioSort = "scenario") =>
    request<ScenarioPage>(`/api/jobs/${enc(id)}/scenarios?offset=${offset}&limit=${limit}&sort=${enc(sort)}`),
  series: (id: string, k: number, maxPoints = 1000, view: { symbol?: string | null; timeframe?: string | null } = {}) =>
    request<Series>(
      `/api/jobs/${enc(id)}/series/${k}?max_points=${maxPoints}` +
        (view.symbol ? `&symbol=${enc(view.symbol)}` : "") +
        (view.timeframe ? `&timeframe=${enc(view.timeframe)}` : ""),
    ),
  eventsUrl: (id: string) => withToken(`/api/jobs/${enc(id)}/events`),
  downloadUrl: (id: string, artifact: string) => `/api/jobs/${enc(id)}/download/${enc(artifact)}`,
  calibrations: () => request<Calibration[]>("/api/calibrations"),
  /** A calibration, with its summary once it succeeded. */
  calibration: (id: string) => request<Calibration>(`/api/calibrations/${enc(id)}`),
  createCalibration: (req: CalibrationRequest) =>
    request<Calibration>("/api/calibrations", { method: "POST", body: JSON.stringify(req) }),
  cancelCalibration: (id: string) =>
    request<Calibration | undefined>(`/api/calibrations/${enc(id)}`, { method: "DELETE" }),
  /** `report` (the report page) or `table` (calibration.parquet) of a succeeded calibration. */
  calibrationFileUrl: (id: string, name: "report" | "table") => withToken(`/api/calibrations/${enc(id)}/${name}`),
};
