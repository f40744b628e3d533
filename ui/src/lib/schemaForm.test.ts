import { describe, expect, it } from "vitest";
import { OPTIONS } from "../test/helpers";
import {
  buildRequest,
  fieldsFromSchema,
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
  it("derives one field per editable property, dataset_id hidden", () => {
    expect(fields.map((f) => f.name)).toEqual([
      "n_samples",
      "min_fidelity",
      "method",
      "block_size",
      "length",
      "formats",
      "seed",
      "max_attempts",
      "allow_partial",
      "weights",
    ]);
  });

  it("reads kinds and bounds, tightened by the server limits", () => {
    expect(byName.n_samples).toMatchObject({ kind: "number", integer: true, minimum: 1, maximum: 100_000 });
    expect(byName.min_fidelity).toMatchObject({ kind: "number", integer: false, minimum: 0, maximum: 100 });
    expect(byName.method).toMatchObject({ kind: "select", options: ["stationary", "circular", "moving", "iid"] });
    expect(byName.block_size).toMatchObject({ kind: "choice-or-number", options: ["auto"], integer: true });
    expect(byName.length).toMatchObject({ kind: "number", nullable: true, minimum: 200, maximum: 1_000_000 });
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
    expect(validateField(byName.formats, [])).toBe("Choose at least one.");
    expect(validateField(byName.method, "garch")).toMatch(/Choose one of/);
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

describe("buildRequest", () => {
  it("starts from the server defaults and builds a valid request", () => {
    const values = initialValues(fields, OPTIONS.defaults);
    expect(values).toMatchObject({ n_samples: "1000", block_size: "auto", length: "", formats: ["csv", "parquet"] });
    expect(validateAll(fields, values, OPTIONS.metrics)).toEqual({});
    const { request, errors } = buildRequest(fields, values, "ds_1", OPTIONS.metrics);
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
      formats: ["csv", "parquet"],
      weights: {},
    });
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
