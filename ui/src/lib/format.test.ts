import { describe, expect, it } from "vitest";
import { formatDate, formatDuration, formatMetric, formatPercent, parseIsoUtc } from "./format";

describe("format", () => {
  it("formats durations for an ETA", () => {
    expect(formatDuration(null)).toBe("—");
    expect(formatDuration(0.3)).toBe("< 1 s");
    expect(formatDuration(42.4)).toBe("42 s");
    expect(formatDuration(185)).toBe("3 min 05 s");
    expect(formatDuration(7620)).toBe("2 h 07 min");
  });

  it("formats rates and metric values", () => {
    expect(formatPercent(0.6612)).toBe("66.1 %");
    expect(formatPercent(undefined)).toBe("—");
    expect(formatMetric(0.0081378)).toBe("0.008138");
    expect(formatMetric(-0.6233)).toBe("−0.6233");
    expect(formatMetric(1e-275)).toBe("1.000e−275");
    expect(formatMetric(null)).toBe("—");
  });

  it("reads API timestamps without offset as UTC", () => {
    expect(parseIsoUtc("2016-01-08T00:00:00")).toBe(Date.UTC(2016, 0, 8));
    expect(parseIsoUtc("2016-01-08")).toBe(Date.UTC(2016, 0, 8));
    expect(parseIsoUtc("2016-01-08T10:00:00+02:00")).toBe(Date.UTC(2016, 0, 8, 8));
    expect(formatDate("2018-12-31T00:00:00")).toBe("2018-12-31");
    expect(formatDate("2018-12-31T14:30:00")).toBe("2018-12-31 14:30");
  });
});
