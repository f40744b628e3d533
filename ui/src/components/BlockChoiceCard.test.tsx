import { describe, expect, it } from "vitest";
import { render, screen } from "@testing-library/react";
import BlockChoiceCard from "./BlockChoiceCard";

describe("BlockChoiceCard", () => {
  it("shows the chosen length, the pilot's evidence and the reason", () => {
    render(
      <BlockChoiceCard
        choice={{
          block_size: 42,
          reference: 85,
          mode: "auto",
          grid: [21, 42, 85],
          median_fidelity: [88.94, 91.03, 92.51],
          dependence_error: [0.81, 0.42, 0.2],
          pilot_candidates: 24,
          reason: "dependence length 85 bars; 42 is the shortest within 1 point of the best",
        }}
      />,
    );
    expect(screen.getByRole("heading")).toHaveTextContent("Block size: 42 bars");
    expect(screen.getByTestId("block-choice")).toHaveTextContent("chosen by the pilot · dependence length 85 bars");
    const pilot = screen.getByTestId("block-pilot");
    expect(pilot).toHaveTextContent("42 ✓");
    expect(pilot).toHaveTextContent("88.9");
    expect(pilot).toHaveTextContent("0.42");
    expect(screen.getByTestId("block-reason")).toHaveTextContent("42 is the shortest");
  });

  it("shows a fixed block size without a pilot table", () => {
    render(
      <BlockChoiceCard
        choice={{ block_size: 20, reference: 85, mode: "fixed", grid: [20], median_fidelity: [90.2],
                  pilot_candidates: 24, reason: "fixed by the configuration (block_size: 20)" }}
      />,
    );
    expect(screen.getByTestId("block-choice")).toHaveTextContent("set in the configuration");
    expect(screen.queryByTestId("block-pilot")).toBeNull();
  });
});
