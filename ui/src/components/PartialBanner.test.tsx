import { describe, expect, it, vi } from "vitest";
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import PartialBanner, { rerunRequest } from "./PartialBanner";
import ProgressPanel from "./ProgressPanel";
import { ApiError } from "../lib/api";
import type { Job } from "../lib/types";

function partialJob(over: Partial<Job> = {}): Job {
  return {
    id: "job_abc",
    dataset_id: "ds_1",
    status: "partial",
    created_at: "2024-01-01T00:00:00Z",
    started_at: "2024-01-01T00:00:01Z",
    finished_at: "2024-01-01T00:00:18Z",
    request: { dataset_id: "ds_1", dataset_ids: null, n_samples: 40, min_fidelity: 96, max_attempts: 6, seed: 7, resume_from: null },
    progress: { accepted: 11, requested: 40, attempts: 204, failed: 29, resumed: 0, acceptance_rate: 0.054, eta_seconds: 0, elapsed_seconds: 17, stage: "done" },
    error: null,
    run_id: "c059aa236e6a",
    artifacts: ["csv.zip", "manifest.json", "scores.parquet"],
    cancel_requested: false,
    preflight: null,
    warnings: [],
    partial: {
      reason: "29 of 40 scenario(s) found no candidate with fidelity >= 96 within max_attempts=6 …",
      accepted: 11,
      failed: 29,
      best_score: 95.97,
      suggested_min_fidelity: 89.4,
    },
    ...over,
  };
}

describe("PartialBanner", () => {
  it("says the result is partial and why", async () => {
    render(<PartialBanner job={partialJob()} onRerun={vi.fn()} />);
    const banner = screen.getByTestId("partial-banner");
    expect(banner).toHaveTextContent(
      "Partial result: 11 of 40 scenarios were accepted; 29 found no candidate with fidelity ≥ 96 within 6 attempts (the best reached 95.97).",
    );
    expect(banner).toHaveTextContent("Every scenario passes at 89.4.");
    expect(screen.getByTestId("partial-reason")).toHaveTextContent("max_attempts=6");
  });

  it("reruns at the suggested threshold, resuming from the job, with one click", async () => {
    const onRerun = vi.fn().mockResolvedValue(undefined);
    render(<PartialBanner job={partialJob()} onRerun={onRerun} />);
    await userEvent.setup().click(screen.getByRole("button", { name: "Rerun at 89.4, reusing these scenarios" }));
    expect(onRerun).toHaveBeenCalledTimes(1);
    expect(onRerun.mock.calls[0][0]).toEqual({
      dataset_id: "ds_1", dataset_ids: null, n_samples: 40, min_fidelity: 89.4, max_attempts: 6, seed: 7, resume_from: "job_abc",
    });
  });

  it("shows the API's refusal of the rerun", async () => {
    const onRerun = vi.fn().mockRejectedValue(new ApiError(409, "resume_from: job job_abc is running"));
    render(<PartialBanner job={partialJob()} onRerun={onRerun} />);
    await userEvent.setup().click(screen.getByTestId("partial-rerun"));
    expect(await screen.findByRole("alert")).toHaveTextContent("resume_from: job job_abc is running");
  });

  it("offers no rerun without a threshold, and nothing for a complete job", () => {
    const none = partialJob();
    none.partial!.suggested_min_fidelity = null;
    expect(rerunRequest(none)).toBeNull();
    const { rerender } = render(<PartialBanner job={none} onRerun={vi.fn()} />);
    expect(screen.queryByTestId("partial-rerun")).toBeNull();
    rerender(<PartialBanner job={partialJob({ status: "succeeded", partial: null })} onRerun={vi.fn()} />);
    expect(screen.queryByTestId("partial-banner")).toBeNull();
  });
});

describe("ProgressPanel of a partial or resumed job", () => {
  it("shows the failed and reused counts and the job's preflight warning", () => {
    const job = partialJob({
      progress: { accepted: 40, requested: 40, attempts: 77, failed: 0, resumed: 6, acceptance_rate: 0.52, eta_seconds: 0, elapsed_seconds: 1, stage: "done" },
      preflight: {
        min_fidelity: 96, n_samples: 40, max_attempts: 6, pilot_candidates: 96, pilot_passed: 1, acceptance: 0.0104,
        acceptance_interval: [0.0018, 0.0567], median_fidelity: 88.6, expected_attempts: 5.85, expected_candidates: 233.8,
        p_run_fails: 1, p_run_fails_high: 1, suggested_min_fidelity: 92.5, verdict: "will_fail", message: "…",
        expected_seconds: 0.04, threads: 2,
      },
    });
    render(<ProgressPanel job={job} />);
    expect(screen.getByTestId("progress-resumed")).toHaveTextContent("6");
    expect(screen.getByTestId("job-preflight")).toHaveTextContent("about 1 % of candidates reach 96, 5.8 attempts per scenario, about < 1 s.");
    expect(screen.getByTestId("job-warning")).toHaveTextContent("will most likely fail");
    expect(screen.getByRole("progressbar")).toHaveAttribute("aria-valuenow", "100");
  });

  it("fills a partial job's bar to its accepted share", () => {
    render(<ProgressPanel job={partialJob()} />);
    expect(screen.getByRole("progressbar")).toHaveAttribute("aria-valuenow", "27.5");
    expect(screen.getByTestId("progress-failed")).toHaveTextContent("29");
  });
});
