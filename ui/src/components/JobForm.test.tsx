import { describe, expect, it, vi } from "vitest";
import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import JobForm, { fieldOfDetail } from "./JobForm";
import { ApiError } from "../lib/api";
import { fieldsFromSchema } from "../lib/schemaForm";
import { OPTIONS } from "../test/helpers";

describe("JobForm", () => {
  it("renders fields from the schema with its bounds and choices", () => {
    render(<JobForm options={OPTIONS} datasetId="ds_1" onSubmit={vi.fn()} />);
    const n = screen.getByLabelText("Scenarios") as HTMLInputElement;
    expect(n.type).toBe("number");
    expect(n.min).toBe("1");
    expect(n.max).toBe("100000");
    expect(n.value).toBe("1000");
    expect((screen.getByLabelText("Minimum fidelity (%)") as HTMLInputElement).max).toBe("100");
    const method = screen.getByLabelText("Bootstrap method") as HTMLSelectElement;
    expect([...method.options].map((o) => o.value)).toEqual(["stationary", "circular", "moving", "iid"]);
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
    await user.selectOptions(screen.getByLabelText("Bootstrap method"), "circular");
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
      formats: ["csv", "xlsx", "parquet"],
      weights: {},
    });
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
  });
});
