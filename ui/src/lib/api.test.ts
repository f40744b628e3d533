import { afterEach, describe, expect, it, vi } from "vitest";
import { api, ApiError, formatDetail, onUnauthorized, setToken, withToken } from "./api";
import { jsonResponse, mockFetch } from "../test/helpers";

afterEach(() => vi.unstubAllGlobals());

describe("api client", () => {
  it("sends the bearer token and adds ?token= for event streams", async () => {
    setToken("s3cret");
    const fetch = mockFetch(() => jsonResponse([]));
    await api.jobs();
    const headers = fetch.mock.calls[0][1]!.headers as Record<string, string>;
    expect(headers.Authorization).toBe("Bearer s3cret");
    expect(api.eventsUrl("job_1")).toBe("/api/jobs/job_1/events?token=s3cret");
    expect(withToken("/x?a=1")).toBe("/x?a=1&token=s3cret");
    setToken("");
    expect(api.eventsUrl("job_1")).toBe("/api/jobs/job_1/events");
  });

  it("raises the detail and tells listeners about a 401", async () => {
    mockFetch(() => jsonResponse({ detail: "missing or wrong token" }, 401));
    const listener = vi.fn();
    const off = onUnauthorized(listener);
    await expect(api.options()).rejects.toEqual(new ApiError(401, "missing or wrong token"));
    expect(listener).toHaveBeenCalledTimes(1);
    off();
  });

  it("posts a job as JSON", async () => {
    const fetch = mockFetch(() => jsonResponse({ id: "job_1" }, 202));
    await api.createJob({ dataset_id: "ds_1", n_samples: 5 });
    const init = fetch.mock.calls[0][1]!;
    expect(init.method).toBe("POST");
    expect(JSON.parse(init.body as string)).toEqual({ dataset_id: "ds_1", n_samples: 5 });
    expect((init.headers as Record<string, string>)["Content-Type"]).toBe("application/json");
  });

  it("formats FastAPI's list details", () => {
    expect(formatDetail([{ loc: ["body", "n_samples"], msg: "too big" }])).toBe("n_samples: too big");
    expect(formatDetail("plain")).toBe("plain");
  });
});
