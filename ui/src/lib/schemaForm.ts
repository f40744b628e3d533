/**
 * The run form, derived from the JSON schema of the job request that `GET /api/options` returns.
 *
 * The API validates requests with pydantic; its JSON schema is the single source of the fields,
 * their bounds and choices. This module turns it into field specs, validates raw input values
 * with the same bounds (so errors show before a round trip) and builds the request body.
 *
 * Nested models (`garch`, `regime`) become groups of fields named `group.key`; the server's
 * `method_sections` says which method a group belongs to, and only the groups of the chosen
 * method are shown, validated and sent.
 */
import type { JsonSchema, Limits, MetricInfo } from "./types";

export type FieldKind =
  | "number"
  | "select"
  | "choice-or-number"
  | "checkboxes"
  | "boolean"
  | "text"
  | "weights"
  | "list";

export interface FieldSpec {
  name: string;
  label: string;
  description?: string;
  kind: FieldKind;
  /** Integers only (JSON schema "integer"). */
  integer?: boolean;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  /** An empty input means null (the API then uses its own default, e.g. the input's length). */
  nullable?: boolean;
  /** Choices of a select or a checkbox group; for choice-or-number the string constants ("auto"). */
  options?: string[];
  minItems?: number;
  maxItems?: number;
  required?: boolean;
  default?: unknown;
  advanced?: boolean;
  /** The nested request object this field belongs to (`garch` for `garch.vol`). */
  group?: string;
}

/** A raw form value: text of an input (a list: comma-separated), a checkbox, the ticked choices, or weight overrides. */
export type RawValue = string | boolean | string[] | Record<string, string>;
export type FormValues = Record<string, RawValue>;
export type FormErrors = Record<string, string>;

/** Fields the form never shows: set by the app itself. */
export const HIDDEN_FIELDS = new Set(["dataset_id", "dataset_ids", "input_layout", "resume_from"]);

/** Display order of the well-known fields; others follow in schema order. */
const ORDER = [
  "n_samples",
  "min_fidelity",
  "method",
  "block_size",
  "length",
  "drift",
  "timeframes",
  "formats",
  "seed",
  "max_attempts",
];

const LABELS: Record<string, string> = {
  n_samples: "Scenarios",
  min_fidelity: "Minimum fidelity (%)",
  method: "Generation method",
  block_size: "Block size (bars)",
  length: "Series length (bars)",
  drift: "Drift (annual log return)",
  seed: "Random seed",
  max_attempts: "Max attempts per scenario",
  formats: "Output formats",
  weights: "Metric weights",
  start_price: "Start price",
  allow_partial: "Allow partial result",
  timeframes: "Higher timeframes",
  "garch.vol": "Volatility model",
  "garch.dist": "Error distribution",
  "regime.labels": "Regime labelling",
  "regime.n_regimes": "Regimes",
  "regime.window": "Volatility window (bars)",
  "regime.condition": "Condition on",
  "regime.share": "Share of that regime",
  "regime.duration_factor": "Stay length factor",
};

/** Titles of the nested groups. */
export const GROUP_TITLES: Record<string, string> = {
  garch: "GARCH model",
  regime: "Regimes",
};

/** Fields tucked under "Advanced". */
const ADVANCED = new Set(["seed", "max_attempts", "weights", "start_price", "allow_partial"]);

function resolveRef(ref: string, root: JsonSchema): JsonSchema {
  const m = /^#\/(\$defs|definitions)\/(.+)$/.exec(ref);
  if (!m) return {};
  const defs = (m[1] === "$defs" ? root.$defs : root.definitions) ?? {};
  return defs[decodeURIComponent(m[2])] ?? {};
}

/** Follow `$ref` and fold a one-element `allOf` (pydantic's way of attaching a default to a ref). */
export function resolveNode(node: JsonSchema, root: JsonSchema): JsonSchema {
  let out: JsonSchema = node;
  for (let i = 0; i < 10; i += 1) {
    if (out.$ref) {
      const { $ref, ...rest } = out;
      out = { ...resolveRef($ref, root), ...rest };
      continue;
    }
    if (out.allOf && out.allOf.length === 1) {
      const { allOf, ...rest } = out;
      out = { ...allOf[0], ...rest };
      continue;
    }
    break;
  }
  return out;
}

function hasType(node: JsonSchema, t: string): boolean {
  return Array.isArray(node.type) ? node.type.includes(t) : node.type === t;
}

function humanize(name: string): string {
  const s = name.replace(/_/g, " ");
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function minOf(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}

function numberBounds(node: JsonSchema): Partial<FieldSpec> {
  const out: Partial<FieldSpec> = { integer: hasType(node, "integer") };
  if (typeof node.minimum === "number") out.minimum = node.minimum;
  if (typeof node.maximum === "number") out.maximum = node.maximum;
  if (typeof node.exclusiveMinimum === "number") out.exclusiveMinimum = node.exclusiveMinimum;
  if (typeof node.exclusiveMaximum === "number") out.exclusiveMaximum = node.exclusiveMaximum;
  return out;
}

function stringChoices(node: JsonSchema): string[] | null {
  if (Array.isArray(node.enum) && node.enum.every((v) => typeof v === "string")) return node.enum as string[];
  if (typeof node.const === "string") return [node.const];
  return null;
}

/** The kind and constraints of one property; null for what the form cannot edit. */
function specOf(node: JsonSchema, root: JsonSchema): Partial<FieldSpec> | null {
  const n = resolveNode(node, root);
  const variants = n.anyOf ?? n.oneOf;
  if (variants) {
    const parts = variants.map((v) => resolveNode(v, root));
    const nullable = parts.some((p) => hasType(p, "null"));
    const rest = parts.filter((p) => !hasType(p, "null"));
    const numeric = rest.filter((p) => hasType(p, "integer") || hasType(p, "number"));
    const consts = rest.flatMap((p) => stringChoices(p) ?? []);
    if (numeric.length === 1 && consts.length > 0 && numeric.length + consts.length >= rest.length) {
      return { kind: "choice-or-number", options: consts, nullable, ...numberBounds(numeric[0]) };
    }
    if (rest.length === 1) {
      const inner = specOf(rest[0], root);
      return inner ? { ...inner, nullable: nullable || inner.nullable } : null;
    }
    if (rest.length > 0 && consts.length === rest.length) return { kind: "select", options: consts, nullable };
    return null;
  }
  const choices = stringChoices(n);
  if (choices) return { kind: "select", options: choices };
  if (hasType(n, "integer") || hasType(n, "number")) return { kind: "number", ...numberBounds(n) };
  if (hasType(n, "boolean")) return { kind: "boolean" };
  if (hasType(n, "array")) {
    const items = n.items ? resolveNode(n.items, root) : {};
    const opts = stringChoices(items);
    if (!opts) return hasType(items, "string") ? { kind: "list", minItems: n.minItems, maxItems: n.maxItems } : null;
    return { kind: "checkboxes", options: opts, minItems: n.minItems, maxItems: n.maxItems };
  }
  if (hasType(n, "object")) {
    const ap = n.additionalProperties;
    if (ap && typeof ap === "object" && (hasType(ap, "number") || hasType(ap, "integer"))) return { kind: "weights" };
    return null;
  }
  if (hasType(n, "string")) return { kind: "text" };
  return null;
}

function makeField(name: string, node: JsonSchema, root: JsonSchema, required: boolean, group?: string): FieldSpec | null {
  const spec = specOf(node, root);
  if (!spec) return null;
  const resolved = resolveNode(node, root);
  const short = group ? name.slice(group.length + 1) : name;
  return {
    name,
    label: LABELS[name] ?? (group ? humanize(short) : resolved.title ?? humanize(name)),
    description: resolved.description,
    required,
    default: resolved.default,
    advanced: !group && ADVANCED.has(name),
    group,
    ...spec,
  } as FieldSpec;
}

/** Field specs of the request schema, tightened by the server's limits. */
export function fieldsFromSchema(schema: JsonSchema, limits: Limits = {}): FieldSpec[] {
  const props = schema.properties ?? {};
  const required = new Set(schema.required ?? []);
  const fields: FieldSpec[] = [];
  for (const [name, node] of Object.entries(props)) {
    if (HIDDEN_FIELDS.has(name)) continue;
    const resolved = resolveNode(node, schema);
    if (resolved.properties && !resolved.anyOf) {
      // A nested model: one field per key, named "group.key".
      const inner = new Set(resolved.required ?? []);
      for (const [sub, subNode] of Object.entries(resolved.properties)) {
        const f = makeField(`${name}.${sub}`, subNode, schema, inner.has(sub), name);
        if (f) fields.push(f);
      }
      continue;
    }
    const field = makeField(name, node, schema, required.has(name));
    if (!field) continue;
    if (name === "n_samples") field.maximum = minOf(field.maximum, limits.max_n_samples);
    if (name === "length") field.maximum = minOf(field.maximum, limits.max_length);
    fields.push(field);
  }
  const rank = (f: FieldSpec) => {
    const i = ORDER.indexOf(f.name);
    return i < 0 ? ORDER.length : i;
  };
  return fields
    .map((f, i) => ({ f, i }))
    .sort((a, b) => rank(a.f) - rank(b.f) || a.i - b.i)
    .map(({ f }) => f);
}

function numberText(v: unknown): string {
  return typeof v === "number" && Number.isFinite(v) ? String(v) : "";
}

/** Raw values to start with: the server's defaults, else the schema's. */
export function initialValues(fields: FieldSpec[], defaults: Record<string, unknown> = {}): FormValues {
  const values: FormValues = {};
  for (const f of fields) {
    const d = defaultOf(f, defaults);
    switch (f.kind) {
      case "number":
        values[f.name] = numberText(d);
        break;
      case "choice-or-number":
        values[f.name] = typeof d === "string" ? d : d == null ? (f.nullable ? "" : f.options![0]) : numberText(d);
        break;
      case "select":
        values[f.name] = typeof d === "string" ? d : f.nullable ? "" : f.options![0];
        break;
      case "checkboxes":
        values[f.name] = Array.isArray(d) ? d.filter((x): x is string => typeof x === "string") : [];
        break;
      case "boolean":
        values[f.name] = d === true;
        break;
      case "weights": {
        const w: Record<string, string> = {};
        if (d && typeof d === "object") {
          for (const [k, v] of Object.entries(d as Record<string, unknown>)) w[k] = numberText(v);
        }
        values[f.name] = w;
        break;
      }
      case "list":
        values[f.name] = Array.isArray(d) ? d.join(", ") : "";
        break;
      default:
        values[f.name] = typeof d === "string" ? d : "";
    }
  }
  return values;
}

/** The default of a field: the server's (nested for group fields), else the schema's. */
function defaultOf(f: FieldSpec, defaults: Record<string, unknown>): unknown {
  if (f.group) {
    const g = defaults[f.group];
    const key = f.name.slice(f.group.length + 1);
    if (g && typeof g === "object" && key in (g as object)) return (g as Record<string, unknown>)[key];
    return f.default;
  }
  return f.name in defaults ? defaults[f.name] : f.default;
}

/** Items of a comma- or space-separated list, trimmed, without blanks or repeats. */
export function listItems(text: string): string[] {
  return [...new Set(text.split(/[\s,;]+/).map((t) => t.trim()).filter(Boolean))];
}

/**
 * The fields in play for the chosen method: a group that belongs to one method
 * (`sections`: group → method) only when that method is chosen.
 */
export function activeFields(fields: FieldSpec[], values: FormValues, sections: Record<string, string> = {}): FieldSpec[] {
  return fields.filter((f) => !f.group || !(f.group in sections) || values.method === sections[f.group]);
}

function fmt(n: number): string {
  return Math.abs(n) >= 1e4 ? n.toLocaleString("en-US") : String(n);
}

/** The error of a number's text against a field's bounds, or null. */
export function numberError(field: FieldSpec, text: string): string | null {
  const t = text.trim();
  if (t === "") return field.nullable ? null : "Enter a number.";
  const v = Number(t);
  if (!Number.isFinite(v)) return "Enter a number.";
  if (field.integer && !Number.isInteger(v)) return "Enter a whole number.";
  if (field.minimum !== undefined && v < field.minimum) return `Must be at least ${fmt(field.minimum)}.`;
  if (field.maximum !== undefined && v > field.maximum) return `Must be at most ${fmt(field.maximum)}.`;
  if (field.exclusiveMinimum !== undefined && v <= field.exclusiveMinimum)
    return `Must be greater than ${fmt(field.exclusiveMinimum)}.`;
  if (field.exclusiveMaximum !== undefined && v >= field.exclusiveMaximum)
    return `Must be less than ${fmt(field.exclusiveMaximum)}.`;
  return null;
}

/** The error of one field's raw value, or null. */
export function validateField(field: FieldSpec, raw: RawValue | undefined, metrics: MetricInfo[] = []): string | null {
  switch (field.kind) {
    case "number":
      return numberError(field, typeof raw === "string" ? raw : "");
    case "choice-or-number": {
      const t = typeof raw === "string" ? raw : "";
      if (field.options!.includes(t)) return null;
      if (t.trim() === "" && !field.nullable) return `Enter a number or choose ${field.options!.join("/")}.`;
      return numberError(field, t);
    }
    case "select": {
      const t = typeof raw === "string" ? raw : "";
      if (t === "" && field.nullable) return null;
      return field.options!.includes(t) ? null : `Choose one of: ${field.options!.join(", ")}.`;
    }
    case "checkboxes": {
      const list = Array.isArray(raw) ? raw : [];
      const min = field.minItems ?? 0;
      if (list.length < min) return min === 1 ? "Choose at least one." : `Choose at least ${min}.`;
      if (field.maxItems !== undefined && list.length > field.maxItems) return `Choose at most ${field.maxItems}.`;
      return null;
    }
    case "weights": {
      const w = raw && typeof raw === "object" && !Array.isArray(raw) ? (raw as Record<string, string>) : {};
      let total = 0;
      for (const m of metrics) {
        const t = w[m.name];
        if (t === undefined || t.trim() === "") {
          total += m.weight;
          continue;
        }
        const v = Number(t);
        if (!Number.isFinite(v) || v < 0) return `${m.name}: must be a number ≥ 0.`;
        total += v;
      }
      for (const [k, t] of Object.entries(w)) {
        if (metrics.length && !metrics.some((m) => m.name === k) && t.trim() !== "") return `${k}: unknown metric.`;
      }
      return metrics.length && total <= 0 ? "At least one weight must be positive." : null;
    }
    case "text":
      return field.required && (typeof raw !== "string" || raw.trim() === "") ? "Required." : null;
    case "list": {
      const items = listItems(typeof raw === "string" ? raw : "");
      const bad = items.find((t) => !/^[A-Za-z0-9-]+$/.test(t));
      if (bad) return `"${bad}" is not a frequency (e.g. 15min, 1h, 1D, W, M).`;
      if (field.minItems !== undefined && items.length < field.minItems) return `Give at least ${field.minItems}.`;
      return null;
    }
    default:
      return null;
  }
}

/**
 * Rules between fields of the regime group, as the server's RegimeConfig checks them (it stays
 * the authority; this only says it before a round trip).
 */
function crossFieldErrors(fields: FieldSpec[], values: FormValues, errors: FormErrors): void {
  const has = (name: string) => fields.some((f) => f.name === name);
  if (!has("regime.condition")) return;
  const condition = String(values["regime.condition"] ?? "").trim();
  const n = Number(values["regime.n_regimes"]);
  if (/^\d+$/.test(condition) && Number.isInteger(n) && Number(condition) >= n && !errors["regime.condition"]) {
    errors["regime.condition"] = `Regime numbers are 0 – ${n - 1}.`;
  }
  if (condition === "") {
    if (has("regime.share") && String(values["regime.share"] ?? "").trim() !== "" && !errors["regime.share"]) {
      errors["regime.share"] = "Needs a condition.";
    }
    const factor = String(values["regime.duration_factor"] ?? "").trim();
    if (has("regime.duration_factor") && factor !== "" && Number(factor) !== 1 && !errors["regime.duration_factor"]) {
      errors["regime.duration_factor"] = "Needs a condition.";
    }
  }
}

export function validateAll(fields: FieldSpec[], values: FormValues, metrics: MetricInfo[] = []): FormErrors {
  const errors: FormErrors = {};
  for (const f of fields) {
    const e = validateField(f, values[f.name], metrics);
    if (e) errors[f.name] = e;
  }
  crossFieldErrors(fields, values, errors);
  return errors;
}

/** The request body, or the errors that stop it. Weights only carry what differs from the defaults. */
export function buildRequest(
  fields: FieldSpec[],
  values: FormValues,
  datasetId: string,
  metrics: MetricInfo[] = [],
): { request: Record<string, unknown> & { dataset_id: string }; errors: FormErrors } {
  const errors = validateAll(fields, values, metrics);
  const request: Record<string, unknown> & { dataset_id: string } = { dataset_id: datasetId };
  for (const f of fields) {
    if (errors[f.name]) continue;
    const value = requestValue(f, values[f.name], metrics);
    if (value === undefined) continue;
    if (f.group) {
      // "garch.vol" goes to request.garch.vol
      const group = (request[f.group] ??= {}) as Record<string, unknown>;
      group[f.name.slice(f.group.length + 1)] = value;
    } else {
      request[f.name] = value;
    }
  }
  return { request, errors };
}

/** A valid raw value as the request carries it (undefined: leave the key out). */
function requestValue(f: FieldSpec, raw: RawValue | undefined, metrics: MetricInfo[]): unknown {
  switch (f.kind) {
    case "number": {
      const t = String(raw ?? "").trim();
      return t === "" ? null : Number(t);
    }
    case "choice-or-number": {
      const t = String(raw ?? "").trim();
      return f.options!.includes(t) ? t : t === "" ? null : Number(t);
    }
    case "select":
      return raw === "" ? null : raw;
    case "checkboxes":
      // Keep the schema's order whatever order the boxes were ticked in.
      return f.options!.filter((o) => (raw as string[]).includes(o));
    case "boolean":
      return raw === true;
    case "weights": {
      const out: Record<string, number> = {};
      const w = (raw ?? {}) as Record<string, string>;
      for (const [k, t] of Object.entries(w)) {
        if (t.trim() === "") continue;
        const v = Number(t);
        const base = metrics.find((m) => m.name === k)?.weight;
        if (base === undefined || v !== base) out[k] = v;
      }
      return out;
    }
    case "list":
      return listItems(typeof raw === "string" ? raw : "");
    default:
      return typeof raw === "string" && raw !== "" ? raw : undefined;
  }
}

/** A hint of a number field's range, e.g. "1 – 10,000". */
export function rangeHint(field: FieldSpec): string {
  const lo = field.minimum ?? field.exclusiveMinimum;
  const hi = field.maximum ?? field.exclusiveMaximum;
  const l = lo !== undefined ? `${field.exclusiveMinimum !== undefined && field.minimum === undefined ? ">" : ""}${lo.toLocaleString("en-US")}` : "";
  const h = hi !== undefined && hi < 1e15 ? hi.toLocaleString("en-US") : "";
  if (l && h) return `${l} – ${h}`;
  if (l) return field.exclusiveMinimum !== undefined && field.minimum === undefined ? l : `≥ ${l}`;
  if (h) return `≤ ${h}`;
  return "";
}
