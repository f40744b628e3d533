import { describe, expect, it } from "vitest";
import { render, screen, within } from "@testing-library/react";
import MetricsTable from "./MetricsTable";
import { OPTIONS } from "../test/helpers";

const reference = { volatility: 0.0081378, skewness: -0.6233, arch_lm_p: 1e-275 };

describe("MetricsTable", () => {
  it("lists the reference metrics with their default weights", () => {
    render(<MetricsTable reference={reference} metrics={OPTIONS.metrics} />);
    const rows = screen.getAllByRole("row").slice(1);
    expect(rows).toHaveLength(3);
    const vol = within(rows[0]);
    expect(vol.getByText("volatility")).toBeInTheDocument();
    expect(vol.getByText("3")).toBeInTheDocument();
    expect(vol.getByText("0.008138")).toBeInTheDocument();
    expect(screen.getByText("1.000e−275")).toBeInTheDocument();
    expect(screen.queryByText("Synthetic min")).toBeNull();
  });

  it("shows synthetic min/median/max, run weights and flags values outside the range", () => {
    const spreads = {
      volatility: { min: 0.008, median: 0.009, max: 0.01 },
      skewness: { min: -0.5, median: -0.4, max: -0.3 },
    };
    render(
      <MetricsTable
        reference={reference}
        metrics={OPTIONS.metrics}
        weights={{ volatility: 5, skewness: 2, arch_lm_p: 1 }}
        spreads={spreads}
        scored={["volatility", "skewness"]}
      />,
    );
    const table = screen.getByTestId("metrics-table");
    const vol = within(table.querySelector('[data-metric="volatility"]') as HTMLElement);
    expect(vol.getByText("5")).toBeInTheDocument();
    expect(vol.getByText("0.008")).toBeInTheDocument();
    expect(vol.getByText("0.009")).toBeInTheDocument();
    expect(vol.getByText("0.01")).toBeInTheDocument();
    const skew = table.querySelector('[data-metric="skewness"] td.ref') as HTMLElement;
    expect(skew).toHaveClass("outside");
    const unscored = table.querySelector('[data-metric="arch_lm_p"]') as HTMLElement;
    expect(unscored).toHaveClass("unscored");
  });
});
