/** Synthetic close paths over the original: 5–95 and 25–75 percentile bands, median, sample paths. */
import uPlot from "uplot";
import type { FanData } from "../lib/types";
import { parseIsoUtc } from "../lib/format";
import { useUplot } from "./useUplot";

const SAMPLE_COLORS = ["#a78bfa", "#f59e0b", "#14b8a6", "#f472b6", "#60a5fa"];

const numbers = (a: (number | null)[] | undefined, n: number): (number | null)[] =>
  a ? a.map((v) => (typeof v === "number" && Number.isFinite(v) ? v : null)) : new Array(n).fill(null);

interface Props {
  fan: FanData;
  height?: number;
}

export default function FanChart({ fan, height = 360 }: Props) {
  const ref = useUplot(
    (width) => {
      const n = fan.index.length;
      if (n === 0) return null;
      const x = fan.index.map((s) => parseIsoUtc(s) / 1000);
      const p = fan.percentiles;
      const samples = fan.samples.slice(0, 5);
      const data: (number | null)[][] = [
        x,
        numbers(p["95"], n),
        numbers(p["5"], n),
        numbers(p["75"], n),
        numbers(p["25"], n),
        numbers(p["50"], n),
        ...samples.map((s) => numbers(s, n)),
        numbers(fan.original ?? undefined, n),
      ];
      const edge = { stroke: "rgba(37,99,235,0.0)", width: 0, points: { show: false } };
      const series: uPlot.Series[] = [
        {},
        { label: "p95", ...edge },
        { label: "p5", ...edge },
        { label: "p75", ...edge },
        { label: "p25", ...edge },
        { label: "Median", stroke: "#1d4ed8", width: 1.5, dash: [6, 4], points: { show: false } },
        ...samples.map((_, i) => ({
          label: `Sample ${i + 1}`,
          stroke: SAMPLE_COLORS[i % SAMPLE_COLORS.length],
          width: 1,
          alpha: 0.85,
          points: { show: false },
        })),
        { label: "Original", stroke: "#0f172a", width: 2, points: { show: false } },
      ];
      const opts: uPlot.Options = {
        width,
        height,
        legend: { show: false },
        cursor: { drag: { x: true, y: false } },
        scales: { x: { time: true } },
        axes: [
          { stroke: "#64748b", grid: { stroke: "#f1f5f9" }, ticks: { stroke: "#e2e8f0" } },
          { stroke: "#64748b", grid: { stroke: "#f1f5f9" }, ticks: { stroke: "#e2e8f0" }, size: 64 },
        ],
        series,
        bands: [
          { series: [1, 2], fill: "rgba(59,130,246,0.14)" },
          { series: [3, 4], fill: "rgba(59,130,246,0.26)" },
        ],
      };
      return { opts, data: data as uPlot.AlignedData };
    },
    [fan, height],
  );
  return (
    <figure className="figure" data-testid="fan-chart">
      <div ref={ref} className="chart" style={{ minHeight: height }} />
      <figcaption className="legend">
        <span><i className="swatch" style={{ background: "rgba(59,130,246,0.16)" }} />5–95 %</span>
        <span><i className="swatch" style={{ background: "rgba(59,130,246,0.36)" }} />25–75 %</span>
        <span><i className="line dashed" style={{ borderColor: "#1d4ed8" }} />Median</span>
        <span><i className="line" style={{ borderColor: SAMPLE_COLORS[0] }} />Sample paths</span>
        <span><i className="line thick" style={{ borderColor: "#0f172a" }} />Original</span>
      </figcaption>
    </figure>
  );
}
