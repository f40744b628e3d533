/** A scenario's regime path as a strip of coloured bands under its price chart. */
import type { RegimeBand } from "../lib/types";
import { formatDate, formatPercent } from "../lib/format";
import { regimeColors } from "../lib/results";

interface Props {
  bands: RegimeBand[];
  /** Regimes of the run (the legend lists all of them, visited or not). */
  nRegimes?: number;
}

export default function RegimeStrip({ bands, nRegimes }: Props) {
  const total = bands.reduce((a, b) => a + b.bars, 0);
  const n = Math.max(nRegimes ?? 0, ...bands.map((b) => b.regime + 1));
  const colors = regimeColors(n);
  const bars = new Array<number>(n).fill(0);
  for (const b of bands) bars[b.regime] += b.bars;
  return (
    <figure className="regime-strip" data-testid="regime-strip">
      <div className="strip" role="img" aria-label={`Regime path: ${bands.length} runs over ${total} bars`}>
        {bands.map((b, i) => (
          <span
            key={i}
            className="band"
            data-regime={b.regime}
            style={{ flexGrow: b.bars, background: colors[b.regime] }}
            title={`regime ${b.regime}: ${formatDate(b.start)} → ${formatDate(b.end)} (${b.bars} bars)`}
          />
        ))}
      </div>
      <figcaption className="legend">
        {colors.map((c, r) => (
          <span key={r} data-testid="regime-legend">
            <i className="swatch" style={{ background: c }} />
            regime {r}
            {r === 0 ? " (calmest)" : r === n - 1 ? " (most volatile)" : ""} · {formatPercent(total ? bars[r] / total : 0, 0)}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}
