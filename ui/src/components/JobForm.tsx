/** The run configuration form, generated from the job request's JSON schema. */
import { useEffect, useMemo, useRef, useState, type FormEvent } from "react";
import type { JobRequest, Options } from "../lib/types";
import { ApiError } from "../lib/api";
import {
  buildRequest,
  fieldsFromSchema,
  initialValues,
  rangeHint,
  validateAll,
  type FieldSpec,
  type FormValues,
  type RawValue,
} from "../lib/schemaForm";

interface Props {
  options: Options;
  datasetId: string | null;
  /** Sends the request; an ApiError's detail is shown next to the form. */
  onSubmit: (request: JobRequest) => Promise<unknown>;
}

/** The field an API message is about: a line starting with its key ("n_samples: …"). */
export function fieldOfDetail(detail: string, fields: FieldSpec[]): string | null {
  for (const line of detail.split("\n")) {
    const m = /^\s*([\w.[\]]+)\s*:/.exec(line);
    if (!m) continue;
    const key = m[1].split(".").map((s) => s.replace(/\[.*$/, ""));
    const hit = fields.find((f) => key.includes(f.name));
    if (hit) return hit.name;
  }
  return null;
}

export default function JobForm({ options, datasetId, onSubmit }: Props) {
  const fields = useMemo(() => fieldsFromSchema(options.schema, options.limits), [options]);
  const [values, setValues] = useState<FormValues>(() => initialValues(fields, options.defaults));
  const [touched, setTouched] = useState<Record<string, boolean>>({});
  const [submitted, setSubmitted] = useState(false);
  const [busy, setBusy] = useState(false);
  const [apiError, setApiError] = useState<{ detail: string; field: string | null } | null>(null);

  useEffect(() => {
    setValues(initialValues(fields, options.defaults));
  }, [fields, options.defaults]);

  const errors = useMemo(() => validateAll(fields, values, options.metrics), [fields, values, options.metrics]);
  const hasErrors = Object.keys(errors).length > 0;

  const set = (name: string, v: RawValue) => {
    setValues((old) => ({ ...old, [name]: v }));
    setTouched((old) => ({ ...old, [name]: true }));
    setApiError(null);
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setSubmitted(true);
    if (!datasetId) return;
    const { request, errors: errs } = buildRequest(fields, values, datasetId, options.metrics);
    const invalid = Object.keys(errs);
    if (invalid.length) {
      // Bring the first bad field into view (it may be inside the closed "Advanced" section).
      const el = document.querySelector<HTMLElement>(`[data-field="${invalid[0]}"]`);
      el?.closest("details")?.setAttribute("open", "");
      el?.scrollIntoView?.({ block: "center" });
      el?.querySelector<HTMLElement>("input, select")?.focus();
      return;
    }
    setBusy(true);
    setApiError(null);
    try {
      await onSubmit(request);
    } catch (err) {
      const detail = err instanceof ApiError ? err.detail : (err as Error).message;
      setApiError({ detail, field: fieldOfDetail(detail, fields) });
    } finally {
      setBusy(false);
    }
  };

  const main = fields.filter((f) => !f.advanced);
  const advanced = fields.filter((f) => f.advanced);
  const render = (f: FieldSpec) => (
    <Field
      key={f.name}
      field={f}
      value={values[f.name]}
      error={(touched[f.name] || submitted) ? errors[f.name] : undefined}
      apiError={apiError?.field === f.name}
      options={options}
      onChange={(v) => set(f.name, v)}
    />
  );

  return (
    <form className="job-form" onSubmit={submit} noValidate aria-label="Run configuration">
      <div className="fields">{main.map(render)}</div>
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
          Fix the highlighted {Object.keys(errors).length === 1 ? "field" : "fields"} first.
        </div>
      )}
      <button type="submit" className="btn primary block" disabled={!datasetId || busy || (submitted && hasErrors)}>
        {busy ? "Starting…" : "Generate scenarios"}
      </button>
      {!datasetId && <p className="muted small">Load a dataset first.</p>}
    </form>
  );
}

interface FieldProps {
  field: FieldSpec;
  value: RawValue | undefined;
  error?: string;
  apiError?: boolean;
  options: Options;
  onChange: (v: RawValue) => void;
}

function Field({ field, value, error, apiError, options, onChange }: FieldProps) {
  const id = `field-${field.name}`;
  const errId = `${id}-error`;
  const invalid = Boolean(error) || Boolean(apiError);
  const common = {
    id,
    name: field.name,
    "aria-invalid": invalid || undefined,
    "aria-describedby": error ? errId : undefined,
  };
  const hint = field.kind === "number" || field.kind === "choice-or-number" ? rangeHint(field) : "";
  const wide = field.kind === "checkboxes" || field.kind === "weights" || field.kind === "boolean";

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
      control = <ChoiceOrNumber field={field} value={String(value ?? "")} common={common} onChange={onChange} />;
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
        (field.description || hint) &&
        field.kind !== "boolean" && (
          <div className="help">
            {field.description}
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
