/**
 * Histogram of the accepted scenarios' fidelity scores, with the acceptance threshold marked: the server's bins
 * of every scenario (`score_histogram` of the results), however many there are.
 */
import uPlot from "uplot";
import type { ScoreBins } from "../lib/types";
import { useUplot } from "./useUplot";

interface Props {
  bins: ScoreBins;
  threshold?: number | null;
  height?: number;
}

export default function ScoreHistogram({ bins, threshold, height = 260 }: Props) {
  const ref = useUplot(
    (width) => {
      const { centers, counts, width: bin } = bins;
      if (centers.length === 0) return null;
      // Show the threshold when it is near the scores; far below, it would squash the bars.
      let xmin = centers[0] - bin * 1.5;
      const xmax = Math.min(centers[centers.length - 1] + bin * 1.5, 100 + bin / 2);
      const near = threshold != null && Number.isFinite(threshold) && threshold >= xmin - (xmax - xmin);
      if (near) xmin = Math.min(xmin, threshold - bin / 2);
      const bars = uPlot.paths.bars!({ size: [0.92, Infinity], align: 0 });
      const opts: uPlot.Options = {
        width,
        height,
        legend: { show: false },
        cursor: { points: { show: false } },
        scales: { x: { time: false, range: [xmin, xmax] }, y: { range: (_u, _lo, hi) => [0, Math.max(1, hi) * 1.12] } },
        axes: [
          { stroke: "#64748b", grid: { show: false }, ticks: { stroke: "#e2e8f0" }, label: "Fidelity score", labelSize: 20 },
          {
            stroke: "#64748b",
            grid: { stroke: "#f1f5f9" },
            ticks: { stroke: "#e2e8f0" },
            label: "Scenarios",
            labelSize: 20,
            size: 48,
            incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000],
          },
        ],
        series: [
          {},
          { label: "Scenarios", fill: "rgba(37,99,235,0.75)", stroke: "#1d4ed8", width: 1, paths: bars, points: { show: false } },
        ],
        hooks: {
          draw: [
            (u) => {
              if (!near || threshold == null) return;
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
    [bins, threshold, height],
  );
  return (
    <figure className="figure" data-testid="score-histogram">
      <div ref={ref} className="chart" style={{ minHeight: height }} />
    </figure>
  );
}
