/** How a dataset's file was read (the API's read report), shown before any generation. */
import type { ReadReport } from "../lib/types";

function plural(n: number, word: string): string {
  return `${n.toLocaleString("en-US")} ${word}${n === 1 ? "" : "s"}`;
}

/** The report as label/value rows, in the order `sme inspect` prints them. */
export function reportRows(report: ReadReport): [string, string][] {
  const rows: [string, string][] = [];
  const how = report.skiprows != null ? "skiprows" : "detected banner";
  rows.push(["Lines skipped", report.skipped_lines ? `${report.skipped_lines} above the header (${how})` : "none"]);
  for (const [field, column] of Object.entries(report.columns)) {
    if (field === "volume") continue;
    rows.push([field[0].toUpperCase() + field.slice(1), `${column}${report.explicit.includes(field) ? " (named)" : ""}`]);
  }
  let volume = report.volume ? `${report.volume} (${report.volume_kind})` : "none";
  if (report.volume_passed_over.length) volume += `; passed over: ${report.volume_passed_over.join(", ")}`;
  if (report.volume_note) volume += `; ${report.volume_note}`;
  rows.push(["Volume", volume]);
  if (report.symbol) rows.push(["Symbol", `${report.symbol} (symbol column set aside)`]);
  rows.push(["Time format", report.time_format || "-"]);
  rows.push(["Time zone", report.timezone]);
  rows.push(["Order", report.order === "oldest first" ? report.order : `${report.order}; sorted oldest first`]);
  rows.push(["Rows", `${report.rows.toLocaleString("en-US")} of ${report.rows_read.toLocaleString("en-US")} read`]);
  const dropped = Object.entries(report.dropped).filter(([, n]) => n > 0);
  rows.push(["Dropped", dropped.length ? dropped.map(([k, n]) => `${k.replace(/_/g, " ")} ${n}`).join(", ") : "none"]);
  rows.push(["Repaired", report.high_low_fixed ? `High/Low fixed in ${report.high_low_fixed}` : "none"]);
  rows.push(["Frequency", report.frequency]);
  const gaps = report.gaps;
  let gapText = gaps.count ? `${plural(gaps.count, "gap")}, largest ${gaps.largest} (${gaps.largest_from} → ${gaps.largest_to})` : "none";
  if (gaps.weekend) gapText += `; ${plural(gaps.weekend, "weekend close")} not counted`;
  rows.push(["Gaps", gapText]);
  rows.push([
    "Spikes",
    report.spikes.length ? `${report.spikes.map((s) => `${s.column} ${s.value.toPrecision(6)} at ${s.time}`).join("; ")} (kept)` : "none",
  ]);
  return rows;
}

export default function ReadReportView({ report }: { report: ReadReport }) {
  return (
    <section className="card" data-testid="read-report">
      <header className="card-head">
        <h3>How the file was read</h3>
        <span className="muted small">
          {report.source} · {report.format}
          {report.delimiter ? ` · delimiter ${JSON.stringify(report.delimiter)}` : ""}
        </span>
      </header>
      <dl className="read-report">
        {reportRows(report).map(([label, value]) => (
          <div key={label} className="read-report-row">
            <dt className="muted small">{label}</dt>
            <dd>{value}</dd>
          </div>
        ))}
      </dl>
    </section>
  );
}
