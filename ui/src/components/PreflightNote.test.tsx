import { describe, expect, it, vi } from "vitest";
import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import PreflightNote, { verdictSentence } from "./PreflightNote";
import JobForm from "./JobForm";
import type { JobRequest, Preflight } from "../lib/types";
import { OPTIONS } from "../test/helpers";

/** A preflight as POST /api/preflight answers it. */
function preflight(over: Partial<Preflight> = {}): Preflight {
  return {
    min_fidelity: 96,
    n_samples: 40,
    max_attempts: 6,
    pilot_candidates: 96,
    pilot_passed: 1,
    acceptance: 0.0104,
    acceptance_interval: [0.0018, 0.0567],
    median_fidelity: 88.6,
    expected_attempts: 5.85,
    expected_candidates: 233.8,
    p_run_fails: 1,
    p_run_fails_high: 1,
    suggested_min_fidelity: 92.5,
    verdict: "will_fail",
    message: "About 1 % of candidates reach fidelity 96 …",
    expected_seconds: 42,
    threads: 2,
    ...over,
  };
}

describe("PreflightNote", () => {
  it("shows the acceptance rate, attempts and time of an ok run, without a warning", () => {
    render(
      <PreflightNote
        preflight={preflight({ verdict: "ok", acceptance: 0.66, acceptance_interval: [0.47, 0.82], expected_attempts: 1.5, suggested_min_fidelity: null, min_fidelity: 90 })}
        onApply={vi.fn()}
      />,
    );
    const note = screen.getByTestId("preflight-note");
    expect(note).toHaveAttribute("data-verdict", "ok");
    expect(screen.getByTestId("preflight-acceptance")).toHaveTextContent("66 %");
    expect(note).toHaveTextContent("(47 %–82 %)");
    expect(screen.getByTestId("preflight-attempts")).toHaveTextContent("1.5 attempts");
    expect(screen.getByTestId("preflight-time")).toHaveTextContent("42 s");
    expect(screen.queryByTestId("preflight-warning")).toBeNull();
    expect(screen.queryByTestId("preflight-apply")).toBeNull();
  });

  it("warns when the run will fail and applies the suggested threshold with one click", async () => {
    const onApply = vi.fn();
    render(<PreflightNote preflight={preflight()} onApply={onApply} />);
    expect(screen.getByTestId("preflight-warning")).toHaveTextContent(
      "This run will most likely fail: the chance that some scenario finds no candidate within 6 attempts is 100 %. About a quarter of candidates reach 92.5.",
    );
    await userEvent.setup().click(screen.getByRole("button", { name: "Use 92.5" }));
    expect(onApply).toHaveBeenCalledWith(92.5);
  });

  it("says what each verdict means", () => {
    expect(verdictSentence(preflight({ verdict: "may_fail", p_run_fails_high: 0.31 }))).toMatch(/may fail.* 31 %\.$/);
    expect(verdictSentence(preflight({ verdict: "slow" }))).toMatch(/slow: more than 10 attempts/);
    expect(verdictSentence(preflight({ verdict: "ok" }))).toBe("");
  });

  it("shows a loading line, then an error as a muted note", () => {
    const { rerender } = render(<PreflightNote preflight={null} loading />);
    expect(screen.getByTestId("preflight-note")).toHaveAttribute("data-state", "loading");
    rerender(<PreflightNote preflight={null} error="dataset ds_1 not found" />);
    expect(screen.getByTestId("preflight-note")).toHaveTextContent("No estimate: dataset ds_1 not found");
  });
});

describe("JobForm's threshold note", () => {
  it("asks for the preflight of the request as typed and applies its suggestion to the form", async () => {
    const user = userEvent.setup();
    const asked: JobRequest[] = [];
    const fetcher = vi.fn(async (req: JobRequest) => {
      asked.push(req);
      const t = Number(req.min_fidelity);
      return t > 95 ? preflight({ min_fidelity: t }) : preflight({ min_fidelity: t, verdict: "ok", suggested_min_fidelity: null });
    });
    const onSubmit = vi.fn().mockResolvedValue(undefined);
    render(<JobForm options={OPTIONS} datasetId="ds_abc" onSubmit={onSubmit} preflight={fetcher} />);
    const fid = screen.getByLabelText("Minimum fidelity (%)") as HTMLInputElement;
    await user.clear(fid);
    await user.type(fid, "96");
    // Debounced: one request for the value the form settled on, not one per keystroke.
    await waitFor(() => expect(screen.getByTestId("preflight-note")).toHaveAttribute("data-verdict", "will_fail"));
    expect(asked.map((r) => r.min_fidelity)).toEqual([96]);
    expect(asked[0]).toMatchObject({ dataset_id: "ds_abc", n_samples: 1000 });
    // The note sits right below the threshold field.
    const slot = screen.getByTestId("preflight-note").closest("[data-note-for]")!;
    expect(slot).toHaveAttribute("data-note-for", "min_fidelity");
    expect(fid.closest("[data-field]")!.nextElementSibling).toBe(slot);
    await user.click(screen.getByTestId("preflight-apply"));
    expect(fid.value).toBe("92.5");
    await waitFor(() => expect(screen.getByTestId("preflight-note")).toHaveAttribute("data-verdict", "ok"));
    expect(onSubmit).not.toHaveBeenCalled(); // the user still submits
    await user.click(screen.getByRole("button", { name: "Generate scenarios" }));
    expect(onSubmit.mock.calls[0][0]).toMatchObject({ min_fidelity: 92.5 });
  });

  it("asks nothing while the form is invalid", async () => {
    const user = userEvent.setup();
    const fetcher = vi.fn(async () => preflight());
    render(<JobForm options={OPTIONS} datasetId="ds_abc" onSubmit={vi.fn()} preflight={fetcher} />);
    await waitFor(() => expect(fetcher).toHaveBeenCalledTimes(1)); // the defaults
    const fid = screen.getByLabelText("Minimum fidelity (%)");
    await user.clear(fid);
    await user.type(fid, "120");
    await new Promise((r) => setTimeout(r, 600));
    expect(fetcher).toHaveBeenCalledTimes(1);
    expect(screen.queryByTestId("preflight-note")).toBeNull();
  });
});
