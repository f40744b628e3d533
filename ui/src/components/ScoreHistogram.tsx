/** Histogram of the accepted scenarios' fidelity scores, with the acceptance threshold marked. */
import uPlot from "uplot";
import { useUplot } from "./useUplot";

/** Equal-width bins of a nice width (0.25, 0.5, 1, 2, 2.5, 5, 10) giving about 8–25 bins. */
export function binScores(scores: number[]): { centers: number[]; counts: number[]; width: number } {
  const v = scores.filter(Number.isFinite);
  if (v.length === 0) return { centers: [], counts: [], width: 1 };
  const lo = Math.min(...v);
  const hi = Math.max(...v);
  const span = Math.max(hi - lo, 1);
  const width = [0.1, 0.25, 0.5, 1, 2, 2.5, 5, 10].find((w) => span / w <= 20) ?? 10;
  const start = Math.floor(lo / width) * width;
  const n = Math.max(1, Math.floor((hi - start) / width) + 1);
  const counts = new Array<number>(n).fill(0);
  for (const s of v) counts[Math.min(n - 1, Math.floor((s - start) / width + 1e-9))] += 1;
  const centers = counts.map((_, i) => +(start + (i + 0.5) * width).toFixed(6));
  return { centers, counts, width };
}

interface Props {
  scores: number[];
  threshold?: number | null;
  height?: number;
}

export default function ScoreHistogram({ scores, threshold, height = 260 }: Props) {
  const ref = useUplot(
    (width) => {
      const { centers, counts, width: bin } = binScores(scores);
      if (centers.length === 0) return null;
      let xmin = centers[0] - bin;
      let xmax = centers[centers.length - 1] + bin;
      if (threshold != null && Number.isFinite(threshold)) {
        xmin = Math.min(xmin, threshold - bin / 2);
        xmax = Math.max(xmax, threshold + bin / 2);
      }
      xmax = Math.min(xmax, 100 + bin);
      const bars = uPlot.paths.bars!({ size: [0.92, Infinity], align: 0 });
      const opts: uPlot.Options = {
        width,
        height,
        legend: { show: false },
        cursor: { points: { show: false } },
        scales: { x: { time: false, range: [xmin, xmax] }, y: { range: (_u, _lo, hi) => [0, Math.max(1, hi) * 1.12] } },
        axes: [
          { stroke: "#64748b", grid: { show: false }, ticks: { stroke: "#e2e8f0" }, label: "Fidelity score", labelSize: 20 },
          { stroke: "#64748b", grid: { stroke: "#f1f5f9" }, ticks: { stroke: "#e2e8f0" }, label: "Scenarios", labelSize: 20, size: 48 },
        ],
        series: [
          {},
          { label: "Scenarios", fill: "rgba(37,99,235,0.75)", stroke: "#1d4ed8", width: 1, paths: bars, points: { show: false } },
        ],
        hooks: {
          draw: [
            (u) => {
              if (threshold == null || !Number.isFinite(threshold)) return;
              const { ctx } = u;
              const xp = Math.round(u.valToPos(threshold, "x", true));
              ctx.save();
              ctx.strokeStyle = "#dc2626";
              ctx.setLineDash([5, 4]);
              ctx.lineWidth = 1.5 * devicePixelRatio;
              ctx.beginPath();
              ctx.moveTo(xp, u.bbox.top);
              ctx.lineTo(xp, u.bbox.top + u.bbox.height);
              ctx.stroke();
              ctx.setLineDash([]);
              ctx.fillStyle = "#dc2626";
              ctx.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
              ctx.fillText(`min ${threshold}`, xp + 4 * devicePixelRatio, u.bbox.top + 12 * devicePixelRatio);
              ctx.restore();
            },
          ],
        },
      };
      return { opts, data: [centers, counts] as uPlot.AlignedData };
    },
    [scores, threshold, height],
  );
  return (
    <figure className="figure" data-testid="score-histogram">
      <div ref={ref} className="chart" style={{ minHeight: height }} />
    </figure>
  );
}
