import { afterEach, describe, expect, it, vi } from "vitest";
import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import UploadPanel from "./UploadPanel";
import ColumnMapper from "./ColumnMapper";
import ReadReportView, { reportRows } from "./ReadReportView";
import { jsonResponse, mockFetch } from "../test/helpers";
import type { ReadReport, UploadPreview } from "../lib/types";

const PREVIEW: UploadPreview = {
  rows: [
    ["Exported by a tool"],
    ["when", "o", "h", "l", "c", "value"],
    ["08/01/2016", "1945.97", "1960.4", "1918.46", "1922.03", "6.65e9"],
    ["11/01/2016", "1926.12", "1935.65", "1901.1", "1923.67", "4.6e9"],
  ],
  header_row: 1,
  delimiter: ",",
  format: "csv",
};

const REPORT: ReadReport = {
  source: "odd.csv",
  format: "csv",
  delimiter: ",",
  skipped_lines: 1,
  banner: ["Exported by a tool"],
  skiprows: 1,
  columns: { time: "when", open: "o", high: "h", low: "l", close: "c", volume: "value" },
  explicit: ["time", "open", "high", "low", "close", "volume"],
  volume: "value",
  volume_kind: "turnover",
  volume_passed_over: [],
  volume_note: "",
  symbol: null,
  time_format: "date_format '%d/%m/%Y'",
  timezone: "naive (as written)",
  order: "newest first",
  rows_read: 750,
  blank_rows: 0,
  rows: 750,
  dropped: {},
  high_low_fixed: 0,
  start: "2016-01-08T00:00:00",
  end: "2018-12-31T00:00:00",
  frequency: "1 day (business days)",
  gaps: { count: 2, weekend: 150, largest: "4 days", largest_from: "2016-03-24T00:00:00", largest_to: "2016-03-28T00:00:00" },
  spikes: [],
};

const DATASET = {
  id: "ds_1",
  name: "odd.csv",
  rows: 750,
  start: REPORT.start,
  end: REPORT.end,
  columns: ["Open", "High", "Low", "Close", "Volume"],
  frequency: REPORT.frequency,
  has_volume: true,
  created_at: "2024-01-01T00:00:00Z",
  reference_metrics: {},
  read_report: REPORT,
};

afterEach(() => vi.unstubAllGlobals());

describe("the mapping step", () => {
  it("shows a refused file's rows, maps its columns and uploads again with the mapping", async () => {
    const user = userEvent.setup();
    const detail = "Cannot use 'odd.csv' as OHLCV input: no time column found among ['when', 'o', 'h', 'l', 'c', 'value']";
    const fetch = mockFetch((_url, init) => {
      const form = init!.body as FormData;
      return form.get("columns") ? jsonResponse(DATASET, 201) : jsonResponse({ detail, preview: PREVIEW }, 422);
    });
    const onLoaded = vi.fn();
    render(<UploadPanel samples={[]} onLoaded={onLoaded} />);
    await user.upload(screen.getByTestId("file-input"), new File(["x"], "odd.csv", { type: "text/csv" }));

    expect(await screen.findByTestId("upload-error")).toHaveTextContent("no time column found");
    const mapper = await screen.findByTestId("column-mapper");
    const table = within(mapper).getByTestId("mapper-preview");
    expect(table).toHaveTextContent("Exported by a tool");
    expect(table).toHaveTextContent("08/01/2016");
    // The header row comes from detection; the short price names are guessed, time is not.
    expect(within(mapper).getByLabelText("Header row")).toHaveValue(1);
    expect(within(mapper).getByLabelText("Open column")).toHaveValue("o");
    const load = within(mapper).getByRole("button", { name: "Load with this mapping" });
    expect(load).toBeDisabled();
    expect(mapper).toHaveTextContent("choose a column for Time");

    await user.selectOptions(within(mapper).getByLabelText("Time column"), "when");
    await user.selectOptions(within(mapper).getByLabelText("Volume column"), "value");
    await user.type(within(mapper).getByLabelText("Date format"), "%d/%m/%Y");
    await user.click(load);

    await waitFor(() => expect(onLoaded).toHaveBeenCalledWith(DATASET));
    expect(fetch).toHaveBeenCalledTimes(2);
    const form = fetch.mock.calls[1][1]!.body as FormData;
    expect(JSON.parse(form.get("columns") as string)).toEqual({
      time: "when", open: "o", high: "h", low: "l", close: "c", volume: "value",
    });
    expect(form.get("skiprows")).toBe("1");
    expect(form.get("date_format")).toBe("%d/%m/%Y");
    expect((form.get("file") as File).name).toBe("odd.csv");
    expect(screen.queryByTestId("column-mapper")).toBeNull();
    expect(screen.queryByTestId("upload-error")).toBeNull();
  });

  it("moves the header row, and a refusal without a preview shows no mapping", async () => {
    const user = userEvent.setup();
    const onSubmit = vi.fn();
    render(<ColumnMapper fileName="odd.csv" preview={PREVIEW} busy={false} onSubmit={onSubmit} onCancel={vi.fn()} />);
    await user.clear(screen.getByLabelText("Header row"));
    await user.type(screen.getByLabelText("Header row"), "0");
    const options = within(screen.getByLabelText("Time column")).getAllByRole("option").map((o) => o.textContent);
    expect(options).toEqual(["(choose)", "Exported by a tool"]);

    mockFetch(() => jsonResponse({ detail: "the file is empty" }, 422));
    render(<UploadPanel samples={[]} onLoaded={vi.fn()} />);
    await user.upload(screen.getAllByTestId("file-input")[0], new File([""], "empty.csv"));
    expect(await screen.findByTestId("upload-error")).toHaveTextContent("the file is empty");
    expect(screen.getAllByTestId("column-mapper")).toHaveLength(1); // only the one rendered above
  });

  it("renders the read report like sme inspect", () => {
    render(<ReadReportView report={REPORT} />);
    const view = screen.getByTestId("read-report");
    expect(view).toHaveTextContent("1 above the header (skiprows)");
    expect(view).toHaveTextContent("when (named)");
    expect(view).toHaveTextContent("value (turnover)");
    expect(view).toHaveTextContent("newest first; sorted oldest first");
    expect(view).toHaveTextContent("2 gaps, largest 4 days");
    expect(view).toHaveTextContent("150 weekend closes not counted");
    expect(reportRows(REPORT).map(([label]) => label)).toContain("Time zone");
  });
});
