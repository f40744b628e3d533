/** Original vs synthetic correlation of every asset pair of a multi-asset run. */
import type { Correlation, Spread } from "../lib/types";
import { formatMetric } from "../lib/format";

function Cells({ c }: { c: Spread & { original: number | null } }) {
  const outside =
    c.original != null && c.min != null && c.max != null ? c.original < c.min || c.original > c.max : false;
  return (
    <>
      <td className={`num ref${outside ? " outside" : ""}`}>{formatMetric(c.original)}</td>
      <td className="num strong">{formatMetric(c.median)}</td>
      <td className="num">
        {formatMetric(c.min)} – {formatMetric(c.max)}
      </td>
    </>
  );
}

export default function CorrelationTable({ correlations }: { correlations: Correlation[] }) {
  return (
    <div className="table-wrap">
      <table className="metrics" data-testid="correlations">
        <thead>
          <tr>
            <th scope="col" rowSpan={2}>Pair</th>
            <th scope="colgroup" colSpan={3} className="num">Returns</th>
            <th scope="colgroup" colSpan={3} className="num">Absolute returns</th>
          </tr>
          <tr>
            <th scope="col" className="num">Original</th>
            <th scope="col" className="num">Synthetic median</th>
            <th scope="col" className="num">Range</th>
            <th scope="col" className="num">Original</th>
            <th scope="col" className="num">Synthetic median</th>
            <th scope="col" className="num">Range</th>
          </tr>
        </thead>
        <tbody>
          {correlations.map((c) => (
            <tr key={c.pair} data-pair={c.pair}>
              <th scope="row">
                <span className="mono">{c.symbols.join(" · ")}</span>
              </th>
              <Cells c={c.corr} />
              <Cells c={c.abs_corr} />
            </tr>
          ))}
        </tbody>
      </table>
      <p className="muted small">
        Pearson correlation of the assets' log-returns (and of their absolute values: volatility moving together).
        Original values outside the synthetic range are shown in red.
      </p>
    </div>
  );
}
