import { describe, expect, it, vi } from "vitest";
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import ProgressPanel, { fractionDone } from "./ProgressPanel";
import type { Job } from "../lib/types";

function job(over: Partial<Job> = {}, progress: Partial<NonNullable<Job["progress"]>> = {}): Job {
  return {
    id: "job_1",
    dataset_id: "ds_1",
    status: "running",
    created_at: "2024-01-01T00:00:00Z",
    started_at: "2024-01-01T00:00:01Z",
    finished_at: null,
    request: { dataset_id: "ds_1", n_samples: 100 },
    progress: {
      accepted: 40,
      requested: 100,
      attempts: 61,
      failed: 0,
      resumed: 0,
      acceptance_rate: 0.6557,
      eta_seconds: 185.2,
      elapsed_seconds: 4,
      stage: "generating",
      ...progress,
    },
    error: null,
    run_id: null,
    artifacts: [],
    cancel_requested: false,
    ...over,
  };
}

describe("ProgressPanel", () => {
  it("shows accepted/requested, attempts, acceptance rate and ETA", () => {
    render(<ProgressPanel job={job()} onCancel={vi.fn()} />);
    expect(screen.getByTestId("progress-accepted")).toHaveTextContent("40 / 100");
    expect(screen.getByText("61")).toBeInTheDocument();
    expect(screen.getByTestId("progress-rate")).toHaveTextContent("65.6 %");
    expect(screen.getByTestId("progress-eta")).toHaveTextContent("3 min 05 s");
    expect(screen.getByRole("progressbar")).toHaveAttribute("aria-valuenow", "40");
    expect(screen.getByText("generating")).toBeInTheDocument();
  });

  it("shows unknown ETA and rate as a dash", () => {
    render(<ProgressPanel job={job({}, { eta_seconds: null, acceptance_rate: null, accepted: 0, attempts: 0 })} />);
    expect(screen.getByTestId("progress-eta")).toHaveTextContent("—");
    expect(screen.getByTestId("progress-rate")).toHaveTextContent("—");
  });

  it("cancels a running job", async () => {
    const onCancel = vi.fn();
    render(<ProgressPanel job={job()} onCancel={onCancel} />);
    await userEvent.click(screen.getByRole("button", { name: "Cancel" }));
    expect(onCancel).toHaveBeenCalledTimes(1);
  });

  it("shows elapsed time, no Cancel, and the error of a finished job", () => {
    render(
      <ProgressPanel
        job={job({ status: "failed", error: "fidelity 90 not reached: best 84.2 after 200 attempts" }, { elapsed_seconds: 12 })}
        onCancel={vi.fn()}
      />,
    );
    expect(screen.queryByRole("button", { name: "Cancel" })).toBeNull();
    expect(screen.getByText("Elapsed")).toBeInTheDocument();
    expect(screen.getByTestId("progress-eta")).toHaveTextContent("12 s");
    expect(screen.getByTestId("job-error")).toHaveTextContent("best 84.2");
  });

  it("counts a succeeded job as complete", () => {
    expect(fractionDone(job({ status: "succeeded" }))).toBe(1);
    expect(fractionDone(job({}, { accepted: 150 }))).toBe(1);
    // A record without progress (the schema has none such, the panel must not fail on one).
    expect(fractionDone(job({ progress: null } as unknown as Partial<Job>))).toBe(0);
  });
});
