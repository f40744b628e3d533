import { afterEach, describe, expect, it, vi } from "vitest";
import { render, screen, waitFor, fireEvent } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import UploadPanel from "./UploadPanel";
import { jsonResponse, mockFetch } from "../test/helpers";

const DATASET = {
  id: "ds_1",
  name: "prices.csv",
  rows: 750,
  start: "2016-01-08T00:00:00",
  end: "2018-12-31T00:00:00",
  columns: ["Open", "High", "Low", "Close", "Volume"],
  frequency: "1 day (business days)",
  has_volume: true,
  created_at: "2024-01-01T00:00:00Z",
  reference_metrics: {},
};

afterEach(() => vi.unstubAllGlobals());

describe("UploadPanel", () => {
  it("shows the API's validation message exactly", async () => {
    const detail = "bad.csv: no Close column; found columns: Date, Open, High, Low, Volume";
    const fetch = mockFetch(() => jsonResponse({ detail }, 422));
    const onLoaded = vi.fn();
    render(<UploadPanel samples={[]} onLoaded={onLoaded} />);
    const file = new File(["Date,Open\n2020-01-01,1\n"], "bad.csv", { type: "text/csv" });
    await userEvent.upload(screen.getByTestId("file-input"), file);
    const alert = await screen.findByTestId("upload-error");
    expect(alert.querySelector(".detail")!.textContent).toBe(detail);
    expect(alert).toHaveTextContent("bad.csv was not accepted");
    expect(onLoaded).not.toHaveBeenCalled();
    const [url, init] = fetch.mock.calls[0];
    expect(url).toBe("/api/datasets");
    expect(init!.method).toBe("POST");
    expect((init!.body as FormData).get("file")).toBeInstanceOf(File);
  });

  it("accepts a dropped file", async () => {
    mockFetch(() => jsonResponse(DATASET, 201));
    const onLoaded = vi.fn();
    render(<UploadPanel samples={[]} onLoaded={onLoaded} />);
    const file = new File(["x"], "prices.csv", { type: "text/csv" });
    fireEvent.drop(screen.getByTestId("dropzone"), { dataTransfer: { files: [file] } });
    await waitFor(() => expect(onLoaded).toHaveBeenCalledWith(DATASET));
    expect(screen.queryByTestId("upload-error")).toBeNull();
  });

  it("explains a too-large upload", async () => {
    mockFetch(() => jsonResponse({ detail: "the upload is larger than this server's limit of 200 MB" }, 413));
    render(<UploadPanel samples={[]} maxUploadMb={200} onLoaded={vi.fn()} />);
    await userEvent.upload(screen.getByTestId("file-input"), new File(["x"], "big.csv"));
    expect(await screen.findByTestId("upload-error")).toHaveTextContent("larger than this server's limit of 200 MB");
  });

  it("uploads a multi-asset table with its layout and symbol column", async () => {
    const user = userEvent.setup();
    const table = { ...DATASET, layout: "long", symbols: ["NDX", "SPX"] };
    const fetch = mockFetch(() => jsonResponse(table, 201));
    const onLoaded = vi.fn();
    render(<UploadPanel samples={[]} onLoaded={onLoaded} />);
    expect(screen.queryByLabelText("Symbol column")).toBeNull();
    await user.selectOptions(screen.getByLabelText("File layout"), "long");
    const column = screen.getByLabelText("Symbol column");
    await user.clear(column);
    await user.type(column, "Ticker");
    await user.upload(screen.getByTestId("file-input"), new File(["x"], "both.csv"));
    await waitFor(() => expect(onLoaded).toHaveBeenCalledWith(table));
    expect(fetch.mock.calls[0][0]).toBe("/api/datasets?layout=long&symbol_column=Ticker");
    await user.selectOptions(screen.getByLabelText("File layout"), "wide");
    await user.upload(screen.getByTestId("file-input"), new File(["x"], "wide.csv"));
    await waitFor(() => expect(fetch).toHaveBeenCalledTimes(2));
    expect(fetch.mock.calls[1][0]).toBe("/api/datasets?layout=wide");
  });

  it("loads a built-in sample", async () => {
    const fetch = mockFetch(() => jsonResponse({ ...DATASET, name: "sp500" }, 201));
    const onLoaded = vi.fn();
    render(<UploadPanel samples={["sp500", "nasdaq"]} onLoaded={onLoaded} />);
    await userEvent.click(screen.getByRole("button", { name: "sp500" }));
    await waitFor(() => expect(onLoaded).toHaveBeenCalled());
    expect(fetch.mock.calls[0][0]).toBe("/api/datasets/samples/sp500");
    expect(fetch.mock.calls[0][1]!.method).toBe("POST");
  });

  it("shows an unknown sample's 404 detail", async () => {
    mockFetch(() => jsonResponse({ detail: "unknown sample 'dow'; choose one of sp500, nasdaq, sample" }, 404));
    render(<UploadPanel samples={["dow"]} onLoaded={vi.fn()} />);
    await userEvent.click(screen.getByRole("button", { name: "dow" }));
    expect(await screen.findByTestId("upload-error")).toHaveTextContent("unknown sample 'dow'");
  });
});
