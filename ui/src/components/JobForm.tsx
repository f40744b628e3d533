/** The run configuration form, generated from the job request's JSON schema. */
import { useEffect, useMemo, useRef, useState, type FormEvent } from "react";
import type { Dataset, JobRequest, Options } from "../lib/types";
import { ApiError } from "../lib/api";
import { usePreflight, type PreflightFetcher } from "../lib/usePreflight";
import PreflightNote from "./PreflightNote";
import {
  GROUP_TITLES,
  activeFields,
  buildRequest,
  fieldsFromSchema,
  initialValues,
  listItems,
  rangeHint,
  validateAll,
  type FieldSpec,
  type FormValues,
  type RawValue,
} from "../lib/schemaForm";

interface Props {
  options: Options;
  datasetId: string | null;
  /** The loaded dataset (its layout and symbols), when known. */
  dataset?: Dataset | null;
  /** Uploaded datasets a multi-asset run can combine. */
  datasets?: Dataset[];
  /** Sends the request; an ApiError's detail is shown next to the form. */
  onSubmit: (request: JobRequest) => Promise<unknown>;
  /** Estimates a request (`POST /api/preflight`); its note is shown beside the threshold. */
  preflight?: PreflightFetcher;
}

/** One asset of a multi-asset run: a symbol and the dataset holding its series. */
export interface AssetRow {
  symbol: string;
  datasetId: string;
}

/** Symbols the engine accepts (pipeline.io.assets). */
const SYMBOL = /^[A-Za-z0-9_.^=-]{1,40}$/;

/** A symbol guessed from a dataset name: "spx.csv" → "SPX", "nasdaq (built-in sample)" → "NASDAQ". */
export function guessSymbol(name: string): string {
  const base = name.replace(/\s*\(.*\)\s*$/, "").replace(/\.[A-Za-z0-9]+$/, "");
  return base.toUpperCase().replace(/[^A-Z0-9_.^=-]+/g, "_").replace(/^_+|_+$/g, "").slice(0, 40);
}

/** Errors of the asset rows, by row ("symbol" / "dataset") and for the whole list. */
export function assetErrors(rows: AssetRow[]): { rows: { symbol?: string; dataset?: string }[]; list?: string } {
  const seen = new Map<string, number>();
  const out = rows.map((r) => {
    const e: { symbol?: string; dataset?: string } = {};
    const s = r.symbol.trim();
    if (!s) e.symbol = "Enter a symbol.";
    else if (!SYMBOL.test(s)) e.symbol = "Letters, digits and _ . ^ = - only.";
    else if (seen.has(s)) e.symbol = "Used twice.";
    seen.set(s, 1);
    if (!r.datasetId) e.dataset = "Choose a dataset.";
    return e;
  });
  return { rows: out, list: rows.length < 2 ? "Choose at least two assets." : undefined };
}

/** The field an API message is about: a line starting with its key ("n_samples: …"). */
export function fieldOfDetail(detail: string, fields: FieldSpec[]): string | null {
  for (const line of detail.split("\n")) {
    const m = /^\s*([\w.[\]]+)\s*:(.*)$/.exec(line);
    if (!m) continue;
    const path = m[1].split(".").map((s) => s.replace(/\[.*$/, ""));
    const dotted = path.join(".");
    // "regime.condition", or "generation.regime.condition" from a config message.
    const exact = fields.find((f) => dotted === f.name || dotted.endsWith(`.${f.name}`));
    if (exact) return exact.name;
    const hit = fields.find((f) => !f.group && path.includes(f.name));
    if (hit) return hit.name;
    // "regime: share and duration_factor need a condition": the group field the message names.
    const group = fields.filter((f) => f.group && path.includes(f.group));
    if (group.length) {
      const at = (f: FieldSpec) => {
        const i = m[2].search(new RegExp(`\\b${f.name.slice(f.group!.length + 1)}\\b`));
        return i < 0 ? Infinity : i;
      };
      const first = [...group].sort((a, b) => at(a) - at(b))[0];
      return first.name;
    }
  }
  return null;
}

export default function JobForm({ options, datasetId, dataset = null, datasets = [], onSubmit, preflight }: Props) {
  const fields = useMemo(() => fieldsFromSchema(options.schema, options.limits), [options]);
  const [values, setValues] = useState<FormValues>(() => initialValues(fields, options.defaults));
  const [touched, setTouched] = useState<Record<string, boolean>>({});
  const [submitted, setSubmitted] = useState(false);
  const [busy, setBusy] = useState(false);
  const [apiError, setApiError] = useState<{ detail: string; field: string | null } | null>(null);
  const [several, setSeveral] = useState(false);
  const [assets, setAssets] = useState<AssetRow[]>([]);

  useEffect(() => {
    setValues(initialValues(fields, options.defaults));
  }, [fields, options.defaults]);

  const sections = options.method_sections ?? {};
  const active = useMemo(() => activeFields(fields, values, sections), [fields, values, sections]);
  const errors = useMemo(() => validateAll(active, values, options.metrics), [active, values, options.metrics]);
  const assetCheck = useMemo(() => assetErrors(assets), [assets]);
  const assetsInvalid = several && (Boolean(assetCheck.list) || assetCheck.rows.some((r) => r.symbol || r.dataset));
  const hasErrors = Object.keys(errors).length > 0 || assetsInvalid;

  const set = (name: string, v: RawValue) => {
    setValues((old) => ({ ...old, [name]: v }));
    setTouched((old) => ({ ...old, [name]: true }));
    setApiError(null);
  };

  const chooseSeveral = (on: boolean) => {
    setSeveral(on);
    setApiError(null);
    if (on && assets.length === 0) {
      const first = dataset && (dataset.layout ?? "single") === "single" ? dataset : null;
      setAssets([
        { symbol: first ? guessSymbol(first.name) : "", datasetId: first?.id ?? "" },
        { symbol: "", datasetId: "" },
      ]);
    }
  };

  /** The request as it would be sent (the assets in place of the dataset when several). */
  const withAssets = (request: JobRequest): JobRequest => {
    const body: JobRequest = { ...request };
    if (several) {
      delete body.dataset_id;
      body.dataset_ids = Object.fromEntries(assets.map((a) => [a.symbol.trim(), a.datasetId]));
    }
    return body;
  };

  // The preflight of the request as it stands, when it is complete and valid.
  const draft = useMemo(() => {
    if (!datasetId || assetsInvalid) return null;
    const { request, errors: errs } = buildRequest(active, values, datasetId, options.metrics);
    return Object.keys(errs).length ? null : withAssets(request);
  }, [datasetId, assetsInvalid, active, values, options.metrics, several, assets]);
  const estimate = usePreflight(preflight, draft);
  const note = preflight ? (
    <PreflightNote
      preflight={estimate.preflight}
      loading={estimate.loading}
      error={estimate.error}
      onApply={(threshold) => set("min_fidelity", String(threshold))}
    />
  ) : null;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setSubmitted(true);
    if (!datasetId) return;
    const { request, errors: errs } = buildRequest(active, values, datasetId, options.metrics);
    const invalid = Object.keys(errs);
    if (invalid.length) {
      // Bring the first bad field into view (it may be inside the closed "Advanced" section).
      const el = document.querySelector<HTMLElement>(`[data-field="${invalid[0]}"]`);
      el?.closest("details")?.setAttribute("open", "");
      el?.scrollIntoView?.({ block: "center" });
      el?.querySelector<HTMLElement>("input, select")?.focus();
      return;
    }
    if (assetsInvalid) return;
    const body = withAssets(request);
    setBusy(true);
    setApiError(null);
    try {
      await onSubmit(body);
    } catch (err) {
      const detail = err instanceof ApiError ? err.detail : (err as Error).message;
      setApiError({ detail, field: fieldOfDetail(detail, fields) });
    } finally {
      setBusy(false);
    }
  };

  const shown = (f: FieldSpec) => active.includes(f);
  const main = fields.filter((f) => !f.advanced && !f.group);
  const groups = [...new Set(fields.filter((f) => f.group && shown(f)).map((f) => f.group!))];
  const advanced = fields.filter((f) => f.advanced);
  // The chosen method's sections follow the method and series fields, before timeframes and formats.
  const after = main.findIndex((f) => f.name === "timeframes" || f.name === "formats");
  const cut = after < 0 ? main.length : after;
  const render = (f: FieldSpec) => [
    <Field
      key={f.name}
      field={f}
      value={values[f.name]}
      values={values}
      error={(touched[f.name] || submitted) ? errors[f.name] : undefined}
      apiError={apiError?.field === f.name}
      options={options}
      onChange={(v) => set(f.name, v)}
    />,
    // The preflight of the request, on its own full-width row right below the threshold.
    f.name === "min_fidelity" && note ? (
      <div key="preflight" className="field wide note-slot" data-note-for="min_fidelity">
        {note}
      </div>
    ) : null,
  ];

  return (
    <form className="job-form" onSubmit={submit} noValidate aria-label="Run configuration">
      <AssetsSection
        dataset={dataset}
        datasets={datasets}
        several={several}
        rows={assets}
        errors={submitted ? assetCheck : null}
        onMode={chooseSeveral}
        onRows={(rows) => {
          setAssets(rows);
          setApiError(null);
        }}
      />
      <div className="fields">{main.slice(0, cut).map(render)}</div>
      {groups.map((g) => (
        <fieldset key={g} className="section" data-section={g}>
          <legend>{GROUP_TITLES[g] ?? g}</legend>
          <div className="fields">{fields.filter((f) => f.group === g).map(render)}</div>
        </fieldset>
      ))}
      {cut < main.length && <div className="fields">{main.slice(cut).map(render)}</div>}
      {advanced.length > 0 && (
        <details className="advanced">
          <summary>Advanced</summary>
          <div className="fields">{advanced.map(render)}</div>
        </details>
      )}
      {apiError && (
        <div className="alert error" role="alert" data-testid="form-api-error">
          {apiError.detail}
        </div>
      )}
      {submitted && hasErrors && (
        <div className="alert error" role="alert" data-testid="form-errors">
          Fix the highlighted {Object.keys(errors).length + (assetsInvalid ? 1 : 0) === 1 ? "field" : "fields"} first.
        </div>
      )}
      <button type="submit" className="btn primary block" disabled={!datasetId || busy || (submitted && hasErrors)}>
        {busy ? "Starting…" : "Generate scenarios"}
      </button>
      {!datasetId && <p className="muted small">Load a dataset first.</p>}
    </form>
  );
}

function AssetsSection({
  dataset,
  datasets,
  several,
  rows,
  errors,
  onMode,
  onRows,
}: {
  dataset: Dataset | null;
  datasets: Dataset[];
  several: boolean;
  rows: AssetRow[];
  errors: ReturnType<typeof assetErrors> | null;
  onMode: (several: boolean) => void;
  onRows: (rows: AssetRow[]) => void;
}) {
  const table = dataset && (dataset.layout ?? "single") !== "single";
  const singles = datasets.filter((d) => (d.layout ?? "single") === "single");
  const update = (i: number, change: Partial<AssetRow>) => onRows(rows.map((r, j) => (j === i ? { ...r, ...change } : r)));
  return (
    <fieldset className="section assets" data-section="assets">
      <legend>Assets</legend>
      <div className="checks" role="radiogroup" aria-label="Assets">
        <label className="check">
          <input type="radio" name="assets-mode" checked={!several} onChange={() => onMode(false)} />
          {table ? `This table (${(dataset!.symbols ?? []).join(", ")})` : "One dataset"}
        </label>
        <label className="check">
          <input type="radio" name="assets-mode" checked={several} onChange={() => onMode(true)} />
          Several datasets
        </label>
      </div>
      {!several && table && (
        <p className="muted small" data-testid="asset-table">
          A {dataset!.layout} table: its {dataset!.symbols?.length ?? 0} assets are generated together, aligned on
          their common timestamps.
        </p>
      )}
      {several && (
        <div className="asset-rows">
          {rows.map((row, i) => {
            const e = errors?.rows[i] ?? {};
            return (
              <div className="asset-row" data-testid="asset-row" key={i}>
                <input
                  type="text"
                  aria-label={`Symbol ${i + 1}`}
                  placeholder="Symbol"
                  value={row.symbol}
                  aria-invalid={Boolean(e.symbol) || undefined}
                  onChange={(ev) => update(i, { symbol: ev.target.value })}
                />
                <select
                  aria-label={`Dataset ${i + 1}`}
                  value={row.datasetId}
                  aria-invalid={Boolean(e.dataset) || undefined}
                  onChange={(ev) => {
                    const ds = singles.find((d) => d.id === ev.target.value);
                    update(i, { datasetId: ev.target.value, symbol: row.symbol || (ds ? guessSymbol(ds.name) : "") });
                  }}
                >
                  <option value="">Choose a dataset…</option>
                  {singles.map((d) => (
                    <option key={d.id} value={d.id}>
                      {d.name} ({d.rows.toLocaleString("en-US")} rows)
                    </option>
                  ))}
                </select>
                <button
                  type="button"
                  className="btn ghost small"
                  aria-label={`Remove asset ${i + 1}`}
                  disabled={rows.length <= 1}
                  onClick={() => onRows(rows.filter((_, j) => j !== i))}
                >
                  ×
                </button>
                {(e.symbol || e.dataset) && (
                  <div className="field-error" role="alert">
                    {[e.symbol, e.dataset].filter(Boolean).join(" ")}
                  </div>
                )}
              </div>
            );
          })}
          <div className="asset-foot">
            <button type="button" className="btn ghost small" onClick={() => onRows([...rows, { symbol: "", datasetId: "" }])}>
              Add asset
            </button>
            {errors?.list && <span className="field-error">{errors.list}</span>}
          </div>
          <p className="muted small">
            Upload each asset's file first. Assets are aligned on their common timestamps and generated with shared
            blocks, so their correlation carries over.
          </p>
        </div>
      )}
    </fieldset>
  );
}

interface FieldProps {
  field: FieldSpec;
  value: RawValue | undefined;
  /** Every value of the form (for choices that depend on another field). */
  values: FormValues;
  error?: string;
  apiError?: boolean;
  options: Options;
  onChange: (v: RawValue) => void;
}

function Field({ field, value, values, error, apiError, options, onChange }: FieldProps) {
  const id = `field-${field.name.replace(/\./g, "-")}`;
  const errId = `${id}-error`;
  const invalid = Boolean(error) || Boolean(apiError);
  const common = {
    id,
    name: field.name,
    "aria-invalid": invalid || undefined,
    "aria-describedby": error ? errId : undefined,
  };
  const hint = field.kind === "number" || field.kind === "choice-or-number" ? rangeHint(field) : "";
  const wide = field.kind === "checkboxes" || field.kind === "weights" || field.kind === "boolean" || field.kind === "list";
  const description =
    field.name === "method" ? options.method_descriptions?.[String(value ?? "")] ?? field.description : field.description;

  let control;
  switch (field.kind) {
    case "number":
      control = (
        <input
          {...common}
          type="number"
          inputMode={field.integer ? "numeric" : "decimal"}
          step={field.integer ? 1 : "any"}
          min={field.minimum}
          max={field.maximum}
          placeholder={field.nullable ? "default" : undefined}
          value={String(value ?? "")}
          onChange={(e) => onChange(e.target.value)}
        />
      );
      break;
    case "choice-or-number":
      control =
        field.options!.length > 1 ? (
          <ChoiceSelect field={field} value={String(value ?? "")} values={values} common={common} onChange={onChange} />
        ) : (
          <ChoiceOrNumber field={field} value={String(value ?? "")} common={common} onChange={onChange} />
        );
      break;
    case "select":
      control = (
        <select {...common} value={String(value ?? "")} onChange={(e) => onChange(e.target.value)}>
          {field.nullable && <option value="">default</option>}
          {field.options!.map((o) => (
            <option key={o} value={o}>
              {o}
            </option>
          ))}
        </select>
      );
      break;
    case "checkboxes": {
      const list = Array.isArray(value) ? value : [];
      control = (
        <div className="checks" role="group" aria-labelledby={`${id}-label`} aria-invalid={invalid || undefined}>
          {field.options!.map((o) => (
            <label key={o} className="check">
              <input
                type="checkbox"
                name={field.name}
                value={o}
                checked={list.includes(o)}
                onChange={(e) => onChange(e.target.checked ? [...list, o] : list.filter((x) => x !== o))}
              />
              {o.toUpperCase()}
            </label>
          ))}
        </div>
      );
      break;
    }
    case "boolean":
      control = (
        <label className="check">
          <input {...common} type="checkbox" checked={value === true} onChange={(e) => onChange(e.target.checked)} />
          {field.description ?? field.label}
        </label>
      );
      break;
    case "weights":
      control = (
        <WeightsEditor
          value={(value ?? {}) as Record<string, string>}
          metrics={options.metrics}
          onChange={onChange}
        />
      );
      break;
    case "list":
      control = (
        <ListInput
          common={common}
          value={typeof value === "string" ? value : ""}
          suggestions={field.name === "timeframes" ? options.timeframes?.suggested ?? [] : []}
          onChange={onChange}
        />
      );
      break;
    default:
      control = <input {...common} type="text" value={String(value ?? "")} onChange={(e) => onChange(e.target.value)} />;
  }

  return (
    <div className={`field${wide ? " wide" : ""}${invalid ? " invalid" : ""}`} data-field={field.name}>
      {field.kind !== "boolean" && (
        <label htmlFor={field.kind === "checkboxes" || field.kind === "weights" ? undefined : id} id={`${id}-label`}>
          {field.label}
        </label>
      )}
      {control}
      {error ? (
        <div className="field-error" id={errId} role="alert">
          {error}
        </div>
      ) : (
        (description || hint) &&
        field.kind !== "boolean" && (
          <div className="help">
            {description}
            {hint && <span className="hint"> {hint}</span>}
          </div>
        )
      )}
    </div>
  );
}

function ChoiceOrNumber({
  field,
  value,
  common,
  onChange,
}: {
  field: FieldSpec;
  value: string;
  common: Record<string, unknown>;
  onChange: (v: RawValue) => void;
}) {
  const choice = field.options!.includes(value) ? value : null;
  const lastNumber = useRef(choice ? "" : value);
  if (!choice) lastNumber.current = value;
  const label = field.options![0];
  return (
    <div className="choice-number">
      <label className="check">
        <input
          type="checkbox"
          name={`${field.name}-${label}`}
          checked={choice !== null}
          onChange={(e) => onChange(e.target.checked ? label : lastNumber.current || String(field.minimum ?? 1))}
        />
        {label}
      </label>
      <input
        {...common}
        type="number"
        inputMode="numeric"
        step={field.integer ? 1 : "any"}
        min={field.minimum}
        max={field.maximum}
        disabled={choice !== null}
        placeholder={choice ?? ""}
        value={choice ? "" : value}
        onChange={(e) => onChange(e.target.value)}
      />
    </div>
  );
}

const NUMBER = "#number";

/**
 * Several named choices or a number (`regime.condition`: high_volatility, low_volatility or a
 * regime number; `drift`: keep, zero or an annualized log return): a select, with the regime
 * numbers listed when the form knows how many there are, and a number input within the schema's
 * bounds.
 */
function ChoiceSelect({
  field,
  value,
  values,
  common,
  onChange,
}: {
  field: FieldSpec;
  value: string;
  values: FormValues;
  common: Record<string, unknown>;
  onChange: (v: RawValue) => void;
}) {
  const count = field.group ? Number(values[`${field.group}.n_regimes`]) : NaN;
  const numbers = Number.isInteger(count) && count > 0 && count <= 20 ? [...Array(count).keys()].map(String) : [];
  const isNumber = value !== "" && !field.options!.includes(value);
  const listed = numbers.length > 0 && (!isNumber || numbers.includes(value));
  const selected = isNumber && !listed ? NUMBER : value;
  return (
    <div className="choice-number">
      <select {...common} value={selected} onChange={(e) => onChange(e.target.value === NUMBER ? "0" : e.target.value)}>
        {field.nullable && <option value="">none</option>}
        {field.options!.map((o) => (
          <option key={o} value={o}>
            {o.replace(/_/g, " ")}
          </option>
        ))}
        {numbers.map((n) => (
          <option key={n} value={n}>
            regime {n}
            {n === "0" ? " (calmest)" : Number(n) === count - 1 ? " (most volatile)" : ""}
          </option>
        ))}
        {(numbers.length === 0 || selected === NUMBER) && <option value={NUMBER}>number…</option>}
      </select>
      {selected === NUMBER && (
        <input
          type="number"
          aria-label={`${field.label} (number)`}
          inputMode={field.integer ? "numeric" : "decimal"}
          step={field.integer ? 1 : "any"}
          min={field.minimum ?? 0}
          max={field.maximum}
          value={value}
          onChange={(e) => onChange(e.target.value)}
        />
      )}
    </div>
  );
}

/** A comma-separated list with one-click suggestions (timeframes). */
function ListInput({
  common,
  value,
  suggestions,
  onChange,
}: {
  common: Record<string, unknown>;
  value: string;
  suggestions: string[];
  onChange: (v: RawValue) => void;
}) {
  const items = listItems(value);
  const toggle = (s: string) => {
    const next = items.includes(s) ? items.filter((x) => x !== s) : [...items, s];
    onChange(next.join(", "));
  };
  return (
    <div className="list-input">
      <input {...common} type="text" placeholder="none · e.g. W, 1h" value={value} onChange={(e) => onChange(e.target.value)} />
      {suggestions.length > 0 && (
        <div className="chips" role="group" aria-label="Suggested timeframes">
          {suggestions.map((s) => (
            <button
              key={s}
              type="button"
              className={`chip${items.includes(s) ? " on" : ""}`}
              aria-pressed={items.includes(s)}
              onClick={() => toggle(s)}
            >
              {s}
            </button>
          ))}
        </div>
      )}
    </div>
  );
}

function WeightsEditor({
  value,
  metrics,
  onChange,
}: {
  value: Record<string, string>;
  metrics: Options["metrics"];
  onChange: (v: RawValue) => void;
}) {
  if (!metrics.length) return <p className="muted small">No metric list from the server.</p>;
  return (
    <div className="weights">
      {metrics.map((m) => (
        <label key={m.name} className="weight" title={m.description}>
          <span className="mono">{m.name}</span>
          <input
            type="number"
            min={0}
            step="any"
            name={`weights.${m.name}`}
            placeholder={String(m.weight)}
            value={value[m.name] ?? ""}
            onChange={(e) => onChange({ ...value, [m.name]: e.target.value })}
          />
        </label>
      ))}
    </div>
  );
}
