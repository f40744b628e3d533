import { describe, expect, it } from "vitest";
import { OPTIONS } from "../test/helpers";
import {
  activeFields,
  buildRequest,
  fieldsFromSchema,
  listItems,
  initialValues,
  rangeHint,
  resolveNode,
  validateAll,
  validateField,
} from "./schemaForm";
import type { JsonSchema } from "./types";

const fields = fieldsFromSchema(OPTIONS.schema, OPTIONS.limits);
const byName = Object.fromEntries(fields.map((f) => [f.name, f]));

describe("fieldsFromSchema", () => {
  it("derives one field per editable property, the data source hidden, nested models as groups", () => {
    expect(fields.map((f) => f.name)).toEqual([
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
      "allow_partial",
      "garch.vol",
      "garch.dist",
      "regime.labels",
      "regime.n_regimes",
      "regime.window",
      "regime.condition",
      "regime.share",
      "regime.duration_factor",
      "weights",
    ]);
    expect(fields.filter((f) => f.group === "garch").map((f) => f.label)).toEqual(["Volatility model", "Error distribution"]);
  });

  it("reads the nested models' choices and bounds", () => {
    expect(byName["garch.vol"]).toMatchObject({ kind: "select", options: ["garch", "gjr", "egarch"], group: "garch" });
    expect(byName["garch.dist"]).toMatchObject({ kind: "select", options: ["normal", "t", "skewt"] });
    expect(byName["regime.labels"]).toMatchObject({ kind: "select", options: ["markov", "quantile"], group: "regime" });
    expect(byName["regime.n_regimes"]).toMatchObject({ kind: "number", integer: true, minimum: 2, maximum: 4 });
    expect(byName["regime.condition"]).toMatchObject({
      kind: "choice-or-number",
      options: ["high_volatility", "low_volatility"],
      nullable: true,
      integer: true,
    });
    expect(byName["regime.share"]).toMatchObject({ kind: "number", nullable: true, exclusiveMinimum: 0, exclusiveMaximum: 1 });
    expect(byName.timeframes).toMatchObject({ kind: "list" });
  });

  it("reads kinds and bounds, tightened by the server limits", () => {
    expect(byName.n_samples).toMatchObject({ kind: "number", integer: true, minimum: 1, maximum: 100_000 });
    expect(byName.min_fidelity).toMatchObject({ kind: "number", integer: false, minimum: 0, maximum: 100 });
    expect(byName.method).toMatchObject({
      kind: "select",
      options: ["stationary", "circular", "moving", "iid", "garch", "regime"],
    });
    expect(byName.block_size).toMatchObject({ kind: "choice-or-number", options: ["auto"], integer: true });
    expect(byName.length).toMatchObject({ kind: "number", nullable: true, minimum: 200, maximum: 1_000_000 });
    expect(byName.drift).toMatchObject({
      kind: "choice-or-number",
      options: ["keep", "zero"],
      integer: false,
      minimum: -10,
      maximum: 10,
      default: "keep",
    });
    expect(byName.formats).toMatchObject({ kind: "checkboxes", options: ["csv", "xlsx", "parquet"], minItems: 1 });
    expect(byName.allow_partial.kind).toBe("boolean");
    expect(byName.weights.kind).toBe("weights");
    expect(byName.seed.exclusiveMaximum).toBe(2 ** 63);
  });

  it("follows $ref enums and allOf wrappers", () => {
    const schema: JsonSchema = {
      type: "object",
      properties: {
        method: { allOf: [{ $ref: "#/$defs/Method" }], default: "iid" },
        mode: { anyOf: [{ $ref: "#/$defs/Method" }, { type: "null" }] },
      },
      $defs: { Method: { type: "string", enum: ["stationary", "iid"] } },
    };
    expect(resolveNode(schema.properties!.method, schema).enum).toEqual(["stationary", "iid"]);
    const f = fieldsFromSchema(schema);
    expect(f[0]).toMatchObject({ name: "method", kind: "select", options: ["stationary", "iid"], default: "iid" });
    expect(f[1]).toMatchObject({ name: "mode", kind: "select", nullable: true });
  });
});

describe("validation", () => {
  it("explains out-of-range and malformed numbers", () => {
    expect(validateField(byName.n_samples, "0")).toBe("Must be at least 1.");
    expect(validateField(byName.n_samples, "100001")).toBe("Must be at most 100,000.");
    expect(validateField(byName.n_samples, "2.5")).toBe("Enter a whole number.");
    expect(validateField(byName.n_samples, "")).toBe("Enter a number.");
    expect(validateField(byName.min_fidelity, "100.5")).toBe("Must be at most 100.");
    expect(validateField(byName.min_fidelity, "87.5")).toBeNull();
    expect(validateField(byName.length, "")).toBeNull();
    expect(validateField(byName.length, "150")).toBe("Must be at least 200.");
    expect(validateField(byName.block_size, "auto")).toBeNull();
    expect(validateField(byName.block_size, "12")).toBeNull();
    expect(validateField(byName.block_size, "")).toMatch(/auto/);
    expect(validateField(byName.drift, "zero")).toBeNull();
    expect(validateField(byName.drift, "-0.05")).toBeNull();
    expect(validateField(byName.drift, "12")).toBe("Must be at most 10.");
    expect(validateField(byName.drift, "")).toMatch(/keep\/zero/);
    expect(validateField(byName.formats, [])).toBe("Choose at least one.");
    expect(validateField(byName.method, "garch")).toBeNull();
    expect(validateField(byName.method, "magic")).toMatch(/Choose one of/);
    expect(validateField(byName["regime.condition"], "")).toBeNull();
    expect(validateField(byName["regime.condition"], "high_volatility")).toBeNull();
    expect(validateField(byName["regime.condition"], "1.5")).toBe("Enter a whole number.");
    expect(validateField(byName["regime.share"], "1")).toBe("Must be less than 1.");
    expect(validateField(byName.timeframes, "W, 1h")).toBeNull();
    expect(validateField(byName.timeframes, "W, 1 h/x")).toMatch(/"h\/x" is not a frequency/);
  });

  it("checks weights against the metric list", () => {
    expect(validateField(byName.weights, { volatility: "-1" }, OPTIONS.metrics)).toMatch(/volatility/);
    expect(validateField(byName.weights, { volatility: "5" }, OPTIONS.metrics)).toBeNull();
    const zero = Object.fromEntries(OPTIONS.metrics.map((m) => [m.name, "0"]));
    expect(validateField(byName.weights, zero, OPTIONS.metrics)).toMatch(/positive/);
  });

  it("gives a range hint", () => {
    expect(rangeHint(byName.n_samples)).toBe("1 – 100,000");
    expect(rangeHint(byName.seed)).toBe("≥ 0");
  });
});

describe("regime rules between fields", () => {
  const values = { ...initialValues(fields, OPTIONS.defaults), method: "regime" };
  const active = activeFields(fields, values, OPTIONS.method_sections);

  it("checks a regime number against the number of regimes", () => {
    expect(validateAll(active, { ...values, "regime.condition": "1" })).toEqual({});
    expect(validateAll(active, { ...values, "regime.condition": "2" })).toEqual({
      "regime.condition": "Regime numbers are 0 – 1.",
    });
    expect(validateAll(active, { ...values, "regime.condition": "2", "regime.n_regimes": "3" })).toEqual({});
  });

  it("needs a condition for a share or a stay length factor", () => {
    expect(validateAll(active, { ...values, "regime.share": "0.6" })).toEqual({ "regime.share": "Needs a condition." });
    expect(validateAll(active, { ...values, "regime.duration_factor": "2" })).toEqual({
      "regime.duration_factor": "Needs a condition.",
    });
    expect(
      validateAll(active, { ...values, "regime.condition": "low_volatility", "regime.share": "0.6", "regime.duration_factor": "2" }),
    ).toEqual({});
  });
});

describe("buildRequest", () => {
  it("starts from the server defaults and builds a valid request", () => {
    const values = initialValues(fields, OPTIONS.defaults);
    expect(values).toMatchObject({
      n_samples: "1000",
      block_size: "auto",
      length: "",
      drift: "keep",
      formats: ["csv", "parquet"],
      timeframes: "",
      "garch.vol": "garch",
      "regime.labels": "markov",
      "regime.n_regimes": "2",
      "regime.condition": "",
      "regime.duration_factor": "1",
    });
    expect(validateAll(fields, values, OPTIONS.metrics)).toEqual({});
    // Sections of other methods are left out: the server uses its defaults there.
    const active = activeFields(fields, values, OPTIONS.method_sections);
    expect(active.some((f) => f.group)).toBe(false);
    const { request, errors } = buildRequest(active, values, "ds_1", OPTIONS.metrics);
    expect(errors).toEqual({});
    expect(request).toEqual({
      dataset_id: "ds_1",
      n_samples: 1000,
      min_fidelity: 90,
      method: "stationary",
      block_size: "auto",
      length: null,
      seed: 42,
      max_attempts: 200,
      allow_partial: false,
      drift: "keep",
      formats: ["csv", "parquet"],
      weights: {},
      timeframes: [],
    });
  });

  it("nests the chosen method's group and parses the timeframe list", () => {
    const values = {
      ...initialValues(fields, OPTIONS.defaults),
      method: "regime",
      timeframes: "W, 1h W ,",
      "regime.labels": "quantile",
      "regime.condition": "high_volatility",
      "regime.share": "0.7",
    };
    const active = activeFields(fields, values, OPTIONS.method_sections);
    expect(active.filter((f) => f.group).map((f) => f.group)).not.toContain("garch");
    const { request, errors } = buildRequest(active, values, "ds_1", OPTIONS.metrics);
    expect(errors).toEqual({});
    expect(request.timeframes).toEqual(["W", "1h"]);
    expect(request.regime).toEqual({
      labels: "quantile",
      n_regimes: 2,
      window: 21,
      condition: "high_volatility",
      share: 0.7,
      duration_factor: 1,
    });
    expect(request).not.toHaveProperty("garch");
    const numbered = buildRequest(active, { ...values, "regime.condition": "1" }, "ds_1").request;
    expect((numbered.regime as Record<string, unknown>).condition).toBe(1);
    const garch = { ...values, method: "garch", "garch.vol": "egarch", "garch.dist": "t" };
    const g = buildRequest(activeFields(fields, garch, OPTIONS.method_sections), garch, "ds_1").request;
    expect(g.garch).toEqual({ vol: "egarch", dist: "t" });
    expect(g).not.toHaveProperty("regime");
  });

  it("splits lists on commas and spaces, without repeats", () => {
    expect(listItems(" W, 1h  1D,W;M ")).toEqual(["W", "1h", "1D", "M"]);
    expect(listItems("")).toEqual([]);
  });

  it("converts numbers, keeps schema order of formats and only changed weights", () => {
    const values = {
      ...initialValues(fields, OPTIONS.defaults),
      n_samples: "5",
      min_fidelity: "80",
      block_size: "20",
      length: "500",
      formats: ["parquet", "xlsx", "csv"],
      weights: { volatility: "3", kurtosis: "0", hurst: "" },
    };
    const { request, errors } = buildRequest(fields, values, "ds_2", OPTIONS.metrics);
    expect(errors).toEqual({});
    expect(request).toMatchObject({
      n_samples: 5,
      min_fidelity: 80,
      block_size: 20,
      length: 500,
      formats: ["csv", "xlsx", "parquet"],
      weights: { kurtosis: 0 },
    });
  });

  it("reports the errors that stop it", () => {
    const values = { ...initialValues(fields, OPTIONS.defaults), n_samples: "-3", formats: [] };
    const { errors } = buildRequest(fields, values, "ds_3");
    expect(errors).toEqual({ n_samples: "Must be at least 1.", formats: "Choose at least one." });
  });
});
