import { describe, expect, it, vi } from "vitest";
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import CalibrationResults from "./CalibrationResults";
import CalibrationView from "./CalibrationView";
import CoverageTable from "./CoverageTable";
import { api, ApiError } from "../lib/api";
import type { Calibration, CalibrationSummary, CoverageLevel, Dataset, StatisticCalibration } from "../lib/types";

function coverage(shares: number[], verdicts: CoverageLevel["verdict"][] = []): CoverageLevel[] {
  return [0.5, 0.8, 0.9, 0.95].map((level, i) => ({
    level,
    hits: Math.round(shares[i] * 40),
    n: 40,
    share: shares[i],
    band: [level - 0.15, Math.min(level + 0.15, 1)],
    verdict: verdicts[i] ?? "ok",
  }));
}

function row(method: string, statistic: string, over: Partial<StatisticCalibration> = {}): StatisticCalibration {
  return {
    method,
    statistic,
    label: statistic === "log_return" ? "10-bar log return" : "10-bar volatility",
    n: 40,
    coverage: coverage([0.5, 0.8, 0.9, 0.95]),
    uniformity_p: 0.6,
    mean_pit: 0.5,
    bias: "none",
    histogram: [4, 4, 4, 4, 4, 4, 4, 4, 4, 4],
    crps: 0.01,
    verdict: "calibrated",
    sentence: "The scenarios' spread matches what happened.",
    ...over,
  };
}

const summary: CalibrationSummary = {
  horizon: 10,
  methods: ["stationary", "garch"],
  overlapping: false,
  rows: [
    row("stationary", "log_return"),
    row("garch", "log_return"),
    row("stationary", "volatility", {
      coverage: coverage([0.2, 0.45, 0.55, 0.6], ["too narrow", "too narrow", "too narrow", "too narrow"]),
      histogram: [12, 2, 1, 1, 1, 1, 1, 1, 8, 12],
      verdict: "too narrow",
      sentence: "The realized volatility fell outside the 90 % band at 18 of 40 origins: the scenarios are too narrow.",
    }),
    row("garch", "volatility"),
  ],
};

const calibration: Calibration = {
  id: "cal_123",
  dataset_id: "ds_1",
  dataset_name: "sample",
  status: "succeeded",
  created_at: "2024-01-01T00:00:00Z",
  request: {},
  progress: { stage: "done", done: 40, total: 40, resumed: 0, elapsed_seconds: 12 },
  cancel_requested: false,
  summary,
  origins: { count: 40, first: "2019-01-02T00:00:00", last: "2022-06-30T00:00:00" },
  failed_fits: { garch: { origins: 2, first_error: "the GARCH fit did not converge" } },
};

describe("CoverageTable", () => {
  it("has a row per method and statistic with the share and band per level, flagging levels outside the band", () => {
    render(<CoverageTable summary={summary} />);
    const table = screen.getByTestId("coverage-table");
    const head = [...table.querySelectorAll("thead th")].map((h) => h.textContent);
    expect(head).toEqual(["Method", "Statistic", "50 % interval", "80 % interval", "90 % interval", "95 % interval", "Verdict"]);
    const rows = table.querySelectorAll("tbody tr");
    expect(rows).toHaveLength(4);
    const narrow = table.querySelector('tr[data-method="stationary"][data-statistic="volatility"]')!;
    const cells = narrow.querySelectorAll("td.cov");
    expect(cells).toHaveLength(4);
    expect(cells[2].textContent).toContain("55 %");
    expect(cells[2].textContent).toContain("75 %–100 %");
    expect(cells[2].getAttribute("data-verdict")).toBe("too narrow");
    expect(cells[2].className).toContain("flag");
    expect(cells[2].getAttribute("title")).toBe("22 of 40 origins inside; a calibrated forecast: 75 % to 100 %");
    const fine = table.querySelector('tr[data-method="garch"][data-statistic="volatility"] td.cov')!;
    expect(fine.className).not.toContain("flag");
  });
});

describe("CalibrationResults", () => {
  it("shows the origins, one PIT histogram per method and statistic, the verdicts and the download links", () => {
    render(<CalibrationResults calibration={calibration} />);
    expect(screen.getByTestId("calibration-origins").textContent).toBe("40");
    expect(screen.getByText("2019-01-02 → 2022-06-30")).toBeTruthy();
    const hists = screen.getAllByTestId("pit-histogram");
    expect(hists).toHaveLength(4);
    expect(hists.map((h) => h.getAttribute("data-verdict"))).toEqual(["calibrated", "calibrated", "too narrow", "calibrated"]);
    // Ten bars per histogram, the tallest (12) reaching the top of the plot.
    const bars = hists[2].querySelectorAll("rect.pit-bar");
    expect(bars).toHaveLength(10);
    expect(Number(bars[0].getAttribute("y"))).toBeCloseTo(6);
    const verdicts = screen.getByTestId("calibration-verdicts");
    expect(verdicts.querySelectorAll("li")).toHaveLength(4);
    expect(verdicts.textContent).toContain("fell outside the 90 % band at 18 of 40 origins");
    expect(screen.getByTestId("failed-fits").textContent).toContain("garch: the fit failed at 2 origins");
    expect(screen.getByTestId("calibration-report-link").getAttribute("href")).toContain("/api/calibrations/cal_123/report");
    expect(screen.getByTestId("calibration-table-link").getAttribute("href")).toContain("/api/calibrations/cal_123/table");
    expect(screen.queryByText(/outcomes overlap/)).toBeNull();
  });

  it("warns when the origins overlap and renders nothing without a summary", () => {
    const { unmount } = render(<CalibrationResults calibration={{ ...calibration, summary: { ...summary, overlapping: true } }} />);
    expect(screen.getByText(/outcomes overlap/)).toBeTruthy();
    unmount();
    const { container } = render(<CalibrationResults calibration={{ ...calibration, summary: null }} />);
    expect(container.innerHTML).toBe("");
  });
});

describe("CalibrationView", () => {
  const dataset = { id: "ds_1", name: "sample", rows: 2000 } as Dataset;

  it("sends the form's settings and shows the API's refusal in the form", async () => {
    const create = vi
      .spyOn(api, "createCalibration")
      .mockRejectedValue(new ApiError(422, "min_window + horizon exceeds the 2000 bars of the dataset"));
    render(<CalibrationView dataset={dataset} />);
    const user = userEvent.setup();
    await user.click(screen.getByTestId("calibration-method-regime"));
    const horizon = screen.getByTestId("calibration-horizon");
    await user.clear(horizon);
    await user.type(horizon, "10");
    await user.click(screen.getByTestId("calibration-submit"));
    expect(create).toHaveBeenCalledWith(
      expect.objectContaining({ dataset_id: "ds_1", methods: ["stationary", "garch"], horizon: 10, n_scenarios: 500, step: 21, min_window: 500, window: "expanding" }),
    );
    expect((await screen.findByTestId("calibration-error")).textContent).toBe("min_window + horizon exceeds the 2000 bars of the dataset");
    create.mockRestore();
  });

  it("refuses to submit without a method", async () => {
    const create = vi.spyOn(api, "createCalibration");
    render(<CalibrationView dataset={dataset} />);
    const user = userEvent.setup();
    for (const m of ["stationary", "garch", "regime"]) await user.click(screen.getByTestId(`calibration-method-${m}`));
    await user.click(screen.getByTestId("calibration-submit"));
    expect(screen.getByTestId("calibration-error").textContent).toMatch(/at least one method/);
    expect(create).not.toHaveBeenCalled();
    create.mockRestore();
  });
});
