/**
 * The PIT histogram of one method and path statistic: how often the realized value ranked in each tenth of the
 * scenarios. A calibrated forecast gives a flat histogram, at the dashed uniform line; a U shape says the scenarios
 * were too narrow, a hump too wide, a slope biased. Plain SVG: ten bars need no chart library.
 */
interface Props {
  counts: readonly number[];
  title: string;
  verdict?: string;
  width?: number;
  height?: number;
}

const PAD = { left: 4, right: 4, top: 6, bottom: 14 };

export default function PitHistogram({ counts, title, verdict, width = 180, height = 90 }: Props) {
  const n = counts.reduce((a, b) => a + b, 0);
  const uniform = counts.length ? n / counts.length : 0;
  // The uniform line stays inside the plot even when every bar is lower.
  const top = Math.max(1, uniform * 1.25, ...counts);
  const plotW = width - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;
  const barW = counts.length ? plotW / counts.length : 0;
  const y = (v: number) => PAD.top + plotH - (v / top) * plotH;
  const uy = y(uniform);
  return (
    <figure className="pit" data-testid="pit-histogram" data-verdict={verdict}>
      <svg viewBox={`0 0 ${width} ${height}`} width={width} height={height} role="img" aria-label={`PIT histogram: ${title}`}>
        <title>{`${title}: ${counts.join(", ")} of ${n} origins per tenth; uniform ${uniform.toFixed(1)}`}</title>
        {counts.map((c, i) => (
          <rect
            key={i}
            className="pit-bar"
            x={PAD.left + i * barW + 1}
            y={y(c)}
            width={Math.max(barW - 2, 1)}
            height={Math.max(PAD.top + plotH - y(c), 0)}
          />
        ))}
        <line className="pit-uniform" x1={PAD.left} x2={width - PAD.right} y1={uy} y2={uy} />
        <line className="pit-axis" x1={PAD.left} x2={width - PAD.right} y1={PAD.top + plotH} y2={PAD.top + plotH} />
        <text x={PAD.left} y={height - 2} className="pit-tick">0</text>
        <text x={width - PAD.right} y={height - 2} className="pit-tick" textAnchor="end">1</text>
      </svg>
      <figcaption>{title}</figcaption>
    </figure>
  );
}
