/**
 * How the run's block size was chosen: the length, the input's dependence length, the pilot's
 * median fidelity at each length it tried (the chosen one marked) and the one-sentence reason.
 */
import type { BlockChoice } from "../lib/types";

const MODES: Record<string, string> = {
  auto: "chosen by the pilot",
  fixed: "set in the configuration",
  iid: "single bars (iid)",
};

export default function BlockChoiceCard({ choice }: { choice: BlockChoice }) {
  return (
    <section className="card" data-testid="block-choice">
      <header className="card-head">
        <h3>Block size: {choice.block_size} bars</h3>
        <span className="muted small">
          {MODES[choice.mode] ?? choice.mode} · dependence length {choice.reference} bars
        </span>
      </header>
      {choice.grid.length > 1 && (
        <table className="metrics" data-testid="block-pilot">
          <thead>
            <tr>
              <th>Block length (bars)</th>
              {choice.grid.map((b) => (
                <th key={b}>
                  {b}
                  {b === choice.block_size ? " ✓" : ""}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            <tr>
              <td>Median pilot fidelity</td>
              {choice.median_fidelity.map((m, i) => (
                <td key={choice.grid[i]}>{m.toFixed(1)}</td>
              ))}
            </tr>
            {choice.dependence_error && choice.dependence_error.length === choice.grid.length && (
              <tr>
                <td>Volatility-dependence error (spreads)</td>
                {choice.dependence_error.map((e, i) => (
                  <td key={choice.grid[i]}>{e.toFixed(2)}</td>
                ))}
              </tr>
            )}
          </tbody>
        </table>
      )}
      <p className="small muted" data-testid="block-reason">
        {choice.reason}
      </p>
    </section>
  );
}
