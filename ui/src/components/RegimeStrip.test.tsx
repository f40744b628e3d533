import { describe, expect, it } from "vitest";
import { render, screen } from "@testing-library/react";
import RegimeStrip from "./RegimeStrip";
import { regimeColors } from "../lib/results";

describe("RegimeStrip", () => {
  it("draws one band per run, as wide as its bars, with the share of each regime", () => {
    const bands = [
      { regime: 0, start: "2016-01-08T00:00:00", end: "2016-01-19T00:00:00", bars: 8 },
      { regime: 2, start: "2016-01-20T00:00:00", end: "2016-02-08T00:00:00", bars: 13 },
      { regime: 0, start: "2016-02-09T00:00:00", end: "2016-02-25T00:00:00", bars: 12 },
      { regime: 1, start: "2016-02-26T00:00:00", end: "2016-03-01T00:00:00", bars: 7 },
    ];
    render(<RegimeStrip bands={bands} nRegimes={3} />);
    const strip = screen.getByRole("img", { name: "Regime path: 4 runs over 40 bars" });
    const spans = [...strip.querySelectorAll<HTMLElement>(".band")];
    expect(spans.map((s) => s.style.flexGrow)).toEqual(["8", "13", "12", "7"]);
    expect(spans[1].title).toBe("regime 2: 2016-01-20 → 2016-02-08 (13 bars)");
    expect(spans[0].style.background).toBe(regimeColors(3)[0]);
    expect(screen.getAllByTestId("regime-legend").map((l) => l.textContent)).toEqual([
      "regime 0 (calmest) · 50 %",
      "regime 1 · 18 %",
      "regime 2 (most volatile) · 33 %",
    ]);
  });

  it("colours calm green and volatile red", () => {
    expect(regimeColors(2)).toEqual(["rgb(22, 163, 74)", "rgb(220, 38, 38)"]);
    expect(regimeColors(3)[1]).toBe("rgb(217, 119, 6)");
  });
});
