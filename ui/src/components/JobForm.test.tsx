import { describe, expect, it, vi } from "vitest";
import { fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import JobForm, { assetErrors, fieldOfDetail, guessSymbol } from "./JobForm";
import { ApiError } from "../lib/api";
import { fieldsFromSchema } from "../lib/schemaForm";
import type { Dataset } from "../lib/types";
import { OPTIONS } from "../test/helpers";

function dataset(id: string, name: string, over: Partial<Dataset> = {}): Dataset {
  return {
    id,
    name,
    rows: 750,
    start: "2016-01-08T00:00:00",
    end: "2018-12-31T00:00:00",
    columns: ["Open", "High", "Low", "Close", "Volume"],
    frequency: "1 day (business days)",
    has_volume: true,
    created_at: "2024-01-01T00:00:00Z",
    reference_metrics: {},
    size_bytes: 0,
    layout: "single",
    symbols: null,
    ...over,
  };
}

const SPX = dataset("ds_spx", "spx.csv");
const NDX = dataset("ds_ndx", "ndx.csv");
const TABLE = dataset("ds_tab", "both.csv", { layout: "long", symbols: ["NDX", "SPX"] });

describe("JobForm", () => {
  it("renders fields from the schema with its bounds and choices", () => {
    render(<JobForm options={OPTIONS} datasetId="ds_1" onSubmit={vi.fn()} />);
    const n = screen.getByLabelText("Scenarios") as HTMLInputElement;
    expect(n.type).toBe("number");
    expect(n.min).toBe("1");
    expect(n.max).toBe("100000");
    expect(n.value).toBe("1000");
    expect((screen.getByLabelText("Minimum fidelity (%)") as HTMLInputElement).max).toBe("100");
    const method = screen.getByLabelText("Generation method") as HTMLSelectElement;
    expect([...method.options].map((o) => o.value)).toEqual(["stationary", "circular", "moving", "iid", "garch", "regime"]);
    expect(screen.getByRole("checkbox", { name: "auto" })).toBeChecked();
    expect(screen.getByLabelText("Block size (bars)")).toBeDisabled();
    expect(screen.getByRole("checkbox", { name: "CSV" })).toBeChecked();
    expect(screen.getByRole("checkbox", { name: "XLSX" })).not.toBeChecked();
    expect(screen.getByRole("checkbox", { name: "PARQUET" })).toBeChecked();
    expect(screen.getByText("1 – 100,000")).toBeInTheDocument();
  });

  it("explains out-of-range values inline and blocks submission", async () => {
    const user = userEvent.setup();
    const onSubmit = vi.fn();
    render(<JobForm options={OPTIONS} datasetId="ds_1" onSubmit={onSubmit} />);
    const n = screen.getByLabelText("Scenarios");
    await user.clear(n);
    await user.type(n, "0");
    expect(screen.getByText("Must be at least 1.")).toBeInTheDocument();
    expect(n).toHaveAttribute("aria-invalid", "true");
    const fid = screen.getByLabelText("Minimum fidelity (%)");
    await user.clear(fid);
    await user.type(fid, "120");
    expect(screen.getByText("Must be at most 100.")).toBeInTheDocument();
    await user.click(screen.getByRole("checkbox", { name: "CSV" }));
    await user.click(screen.getByRole("checkbox", { name: "PARQUET" }));
    expect(screen.getByText("Choose at least one.")).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Generate scenarios" }));
    expect(onSubmit).not.toHaveBeenCalled();
    expect(screen.getByTestId("form-errors")).toHaveTextContent("Fix the highlighted fields first.");
  });

  it("builds the request from the inputs", async () => {
    const user = userEvent.setup();
    const onSubmit = vi.fn().mockResolvedValue(undefined);
    render(<JobForm options={OPTIONS} datasetId="ds_abc" onSubmit={onSubmit} />);
    const n = screen.getByLabelText("Scenarios");
    await user.clear(n);
    await user.type(n, "5");
    const fid = screen.getByLabelText("Minimum fidelity (%)");
    await user.clear(fid);
    await user.type(fid, "80");
    await user.selectOptions(screen.getByLabelText("Generation method"), "circular");
    await user.click(screen.getByRole("checkbox", { name: "auto" }));
    const block = screen.getByLabelText("Block size (bars)");
    expect(block).toBeEnabled();
    await user.clear(block);
    await user.type(block, "15");
    await user.click(screen.getByRole("checkbox", { name: "XLSX" }));
    await user.click(screen.getByRole("button", { name: "Generate scenarios" }));
    await waitFor(() => expect(onSubmit).toHaveBeenCalledTimes(1));
    expect(onSubmit.mock.calls[0][0]).toEqual({
      dataset_id: "ds_abc",
      n_samples: 5,
      min_fidelity: 80,
      method: "circular",
      block_size: 15,
      length: null,
      seed: 42,
      max_attempts: 200,
      allow_partial: false,
      drift: "keep",
      formats: ["csv", "xlsx", "parquet"],
      weights: {},
      timeframes: [],
    });
  });

  it("offers drift as keep, zero or an annualized log return, and sends a number as a number", async () => {
    const user = userEvent.setup();
    const onSubmit = vi.fn().mockResolvedValue(undefined);
    render(<JobForm options={OPTIONS} datasetId="ds_abc" onSubmit={onSubmit} />);
    const drift = screen.getByLabelText("Drift (annual log return)") as HTMLSelectElement;
    expect([...drift.options].map((o) => o.value)).toEqual(["keep", "zero", "#number"]);
    expect(drift.value).toBe("keep");
    await user.selectOptions(drift, "#number");
    const rate = screen.getByLabelText("Drift (annual log return) (number)") as HTMLInputElement;
    expect(rate.step).toBe("any");
    expect(rate.min).toBe("-10");
    expect(rate.max).toBe("10");
    // Typed over whole (clearing the input would leave the number choice).
    fireEvent.change(rate, { target: { value: "12" } });
    expect(screen.getByText("Must be at most 10.")).toBeInTheDocument();
    fireEvent.change(screen.getByLabelText("Drift (annual log return) (number)"), { target: { value: "-0.05" } });
    await user.click(screen.getByRole("button", { name: "Generate scenarios" }));
    await waitFor(() => expect(onSubmit).toHaveBeenCalledTimes(1));
    expect(onSubmit.mock.calls[0][0].drift).toBe(-0.05);
    await user.selectOptions(drift, "zero");
    await user.click(screen.getByRole("button", { name: "Generate scenarios" }));
    await waitFor(() => expect(onSubmit).toHaveBeenCalledTimes(2));
    expect(onSubmit.mock.calls[1][0].drift).toBe("zero");
  });

  it("shows the API's 422 detail next to the form and marks the field", async () => {
    const user = userEvent.setup();
    const detail = "invalid request:\n  n_samples: Input should be less than or equal to 100000 (got 200000)";
    const onSubmit = vi.fn().mockRejectedValue(new ApiError(422, detail));
    render(<JobForm options={OPTIONS} datasetId="ds_1" onSubmit={onSubmit} />);
    await user.click(screen.getByRole("button", { name: "Generate scenarios" }));
    const alert = await screen.findByTestId("form-api-error");
    expect(alert.textContent).toBe(detail);
    expect(screen.getByLabelText("Scenarios")).toHaveAttribute("aria-invalid", "true");
  });

  it("needs a dataset before it submits", () => {
    render(<JobForm options={OPTIONS} datasetId={null} onSubmit={vi.fn()} />);
    expect(screen.getByRole("button", { name: "Generate scenarios" })).toBeDisabled();
    expect(screen.getByText("Load a dataset first.")).toBeInTheDocument();
  });

  it("finds the field an API message names", () => {
    const fields = fieldsFromSchema(OPTIONS.schema);
    expect(fieldOfDetail("invalid request:\n  formats.0: Input should be 'csv'", fields)).toBe("formats");
    expect(fieldOfDetail("generation.block_size: must be 'auto' or >= 1", fields)).toBe("block_size");
    expect(fieldOfDetail("dataset ds_x not found", fields)).toBeNull();
    expect(fieldOfDetail("invalid request:\n  regime.condition: regime numbers are 0..1", fields)).toBe("regime.condition");
    expect(fieldOfDetail("generation.regime.condition: needs method: regime", fields)).toBe("regime.condition");
    expect(fieldOfDetail("invalid request:\n  regime: share and duration_factor need a condition", fields)).toBe(
      "regime.share",
    );
    expect(fieldOfDetail("garch.vol: Input should be 'garch'", fields)).toBe("garch.vol");
    expect(fieldOfDetail("timeframes: 'M' leaves 36 bars per series", fields)).toBe("timeframes");
    expect(fieldOfDetail("dataset_ids.NDX: dataset ds_1 not found", fields)).toBeNull();
  });

  it("shows the GARCH and regime sections only for their method", async () => {
    const user = userEvent.setup();
    const onSubmit = vi.fn().mockResolvedValue(undefined);
    const { container } = render(<JobForm options={OPTIONS} datasetId="ds_1" onSubmit={onSubmit} />);
    const section = (name: string) => container.querySelector(`fieldset[data-section="${name}"]`);
    expect(section("garch")).toBeNull();
    expect(section("regime")).toBeNull();

    await user.selectOptions(screen.getByLabelText("Generation method"), "garch");
    expect(section("garch")).not.toBeNull();
    expect(section("regime")).toBeNull();
    expect(screen.getByText(/GARCH-filtered bootstrap/)).toBeInTheDocument(); // the method's description
    const vol = screen.getByLabelText("Volatility model") as HTMLSelectElement;
    expect([...vol.options].map((o) => o.value)).toEqual(["garch", "gjr", "egarch"]);
    await user.selectOptions(vol, "egarch");
    await user.selectOptions(screen.getByLabelText("Error distribution"), "t");

    await user.selectOptions(screen.getByLabelText("Generation method"), "regime");
    expect(section("garch")).toBeNull();
    const regime = within(section("regime") as HTMLElement);
    expect(regime.getByText("Regimes", { selector: "legend" })).toBeInTheDocument();
    const condition = screen.getByLabelText("Condition on") as HTMLSelectElement;
    const labels = () => [...condition.options].map((o) => o.textContent);
    expect(labels()).toEqual(["none", "high volatility", "low volatility", "regime 0 (calmest)", "regime 1 (most volatile)"]);
    const n = screen.getByLabelText("Regimes");
    await user.clear(n);
    await user.type(n, "3");
    expect(labels()).toContain("regime 2 (most volatile)");
    await user.selectOptions(condition, "high_volatility");
    await user.selectOptions(screen.getByLabelText("Regime labelling"), "quantile");
    await user.type(screen.getByLabelText("Share of that regime"), "0.7");
    await user.click(screen.getByRole("button", { name: "Generate scenarios" }));
    await waitFor(() => expect(onSubmit).toHaveBeenCalledTimes(1));
    const request = onSubmit.mock.calls[0][0];
    expect(request.method).toBe("regime");
    expect(request.regime).toEqual({
      labels: "quantile",
      n_regimes: 3,
      window: 21,
      condition: "high_volatility",
      share: 0.7,
      duration_factor: 1,
    });
    expect(request).not.toHaveProperty("garch");
  });

  it("explains regime rules before sending", async () => {
    const user = userEvent.setup();
    const onSubmit = vi.fn();
    render(<JobForm options={OPTIONS} datasetId="ds_1" onSubmit={onSubmit} />);
    await user.selectOptions(screen.getByLabelText("Generation method"), "regime");
    await user.type(screen.getByLabelText("Share of that regime"), "0.5");
    expect(screen.getByText("Needs a condition.")).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Generate scenarios" }));
    expect(onSubmit).not.toHaveBeenCalled();
    await user.selectOptions(screen.getByLabelText("Condition on"), "1");
    expect(screen.queryByText("Needs a condition.")).toBeNull();
  });

  it("takes timeframes as a list or from the suggestions", async () => {
    const user = userEvent.setup();
    const onSubmit = vi.fn().mockResolvedValue(undefined);
    render(<JobForm options={OPTIONS} datasetId="ds_1" onSubmit={onSubmit} />);
    const input = screen.getByLabelText("Higher timeframes") as HTMLInputElement;
    const w = screen.getByRole("button", { name: "W" });
    await user.click(w);
    expect(input.value).toBe("W");
    expect(w).toHaveAttribute("aria-pressed", "true");
    await user.type(input, ", 1h");
    await user.click(screen.getByRole("button", { name: "Generate scenarios" }));
    await waitFor(() => expect(onSubmit).toHaveBeenCalledTimes(1));
    expect(onSubmit.mock.calls[0][0].timeframes).toEqual(["W", "1h"]);
  });

  it("combines several uploaded datasets as the assets of one run", async () => {
    const user = userEvent.setup();
    const onSubmit = vi.fn().mockResolvedValue(undefined);
    render(
      <JobForm options={OPTIONS} datasetId={SPX.id} dataset={SPX} datasets={[SPX, NDX, TABLE]} onSubmit={onSubmit} />,
    );
    expect(screen.queryByTestId("asset-row")).toBeNull();
    await user.click(screen.getByRole("radio", { name: "Several datasets" }));
    const rows = screen.getAllByTestId("asset-row");
    expect(rows).toHaveLength(2);
    expect((screen.getByLabelText("Symbol 1") as HTMLInputElement).value).toBe("SPX");
    expect((screen.getByLabelText("Dataset 1") as HTMLSelectElement).value).toBe("ds_spx");
    // Only single-series datasets can be assets.
    const choices = [...(screen.getByLabelText("Dataset 2") as HTMLSelectElement).options].map((o) => o.value);
    expect(choices).toEqual(["", "ds_spx", "ds_ndx"]);
    await user.selectOptions(screen.getByLabelText("Dataset 2"), "ds_ndx");
    expect((screen.getByLabelText("Symbol 2") as HTMLInputElement).value).toBe("NDX");
    await user.click(screen.getByRole("button", { name: "Generate scenarios" }));
    await waitFor(() => expect(onSubmit).toHaveBeenCalledTimes(1));
    const request = onSubmit.mock.calls[0][0];
    expect(request.dataset_ids).toEqual({ SPX: "ds_spx", NDX: "ds_ndx" });
    expect(request).not.toHaveProperty("dataset_id");
  });

  it("checks the assets before sending", async () => {
    const user = userEvent.setup();
    const onSubmit = vi.fn();
    render(<JobForm options={OPTIONS} datasetId={SPX.id} dataset={SPX} datasets={[SPX, NDX]} onSubmit={onSubmit} />);
    await user.click(screen.getByRole("radio", { name: "Several datasets" }));
    await user.click(screen.getByRole("button", { name: "Generate scenarios" }));
    expect(onSubmit).not.toHaveBeenCalled();
    expect(screen.getByText("Enter a symbol. Choose a dataset.")).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Remove asset 2" }));
    expect(screen.getByText("Choose at least two assets.")).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Add asset" }));
    await user.selectOptions(screen.getByLabelText("Dataset 2"), "ds_spx");
    expect(screen.getByText("Used twice.")).toBeInTheDocument();
    await user.clear(screen.getByLabelText("Symbol 2"));
    await user.type(screen.getByLabelText("Symbol 2"), "SPX.2");
    expect(screen.queryByText("Used twice.")).toBeNull();
    await user.click(screen.getByRole("radio", { name: "One dataset" }));
    await user.click(screen.getByRole("button", { name: "Generate scenarios" }));
    await waitFor(() => expect(onSubmit).toHaveBeenCalledTimes(1));
    expect(onSubmit.mock.calls[0][0].dataset_id).toBe("ds_spx");
  });

  it("says when the loaded dataset is a multi-asset table", () => {
    render(<JobForm options={OPTIONS} datasetId={TABLE.id} dataset={TABLE} datasets={[TABLE]} onSubmit={vi.fn()} />);
    expect(screen.getByRole("radio", { name: "This table (NDX, SPX)" })).toBeChecked();
    expect(screen.getByTestId("asset-table")).toHaveTextContent("A long table: its 2 assets are generated together");
  });

  it("guesses symbols and checks asset rows", () => {
    expect(guessSymbol("spx.csv")).toBe("SPX");
    expect(guessSymbol("nasdaq (built-in sample)")).toBe("NASDAQ");
    expect(guessSymbol("my prices 2020.xlsx")).toBe("MY_PRICES_2020");
    const e = assetErrors([
      { symbol: "A B", datasetId: "ds_1" },
      { symbol: "C", datasetId: "" },
    ]);
    expect(e.rows[0].symbol).toMatch(/Letters, digits/);
    expect(e.rows[1]).toEqual({ dataset: "Choose a dataset." });
    expect(e.list).toBeUndefined();
    expect(assetErrors([{ symbol: "A", datasetId: "ds_1" }]).list).toBe("Choose at least two assets.");
  });

  it("marks a group field the API names", async () => {
    const user = userEvent.setup();
    const detail = "invalid request:\n  regime.condition: regime numbers are 0..1";
    const onSubmit = vi.fn().mockRejectedValue(new ApiError(422, detail));
    render(<JobForm options={OPTIONS} datasetId="ds_1" onSubmit={onSubmit} />);
    await user.selectOptions(screen.getByLabelText("Generation method"), "regime");
    await user.click(screen.getByRole("button", { name: "Generate scenarios" }));
    expect(await screen.findByTestId("form-api-error")).toHaveTextContent("regime numbers are 0..1");
    expect(screen.getByLabelText("Condition on")).toHaveAttribute("aria-invalid", "true");
  });
});
