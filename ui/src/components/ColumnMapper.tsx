/**
 * The mapping step of a refused upload: the file's first rows as they were read, a pick of its
 * column for each field, the header row (lines above it are skipped) and the date format. The
 * choices become the upload's `columns`, `skiprows` and `date_format` fields.
 */
import { useMemo, useState } from "react";
import { READ_FIELDS, type ReadField, type ReadOptions, type UploadPreview } from "../lib/types";

const LABELS: Record<ReadField, string> = {
  time: "Time",
  open: "Open",
  high: "High",
  low: "Low",
  close: "Close",
  volume: "Volume",
};

interface Props {
  fileName: string;
  preview: UploadPreview;
  busy: boolean;
  onSubmit: (read: ReadOptions) => void;
  onCancel: () => void;
}

/** A best first guess for a field among the header's names (same name, any case). */
function guess(field: ReadField, names: string[]): string {
  const wanted = field === "time" ? ["date", "time", "datetime", "timestamp", "dt"] : [field, field[0]];
  return names.find((n) => wanted.includes(n.trim().toLowerCase())) ?? "";
}

export default function ColumnMapper({ fileName, preview, busy, onSubmit, onCancel }: Props) {
  const [headerRow, setHeaderRow] = useState(preview.header_row);
  const names = useMemo(
    // An empty header cell is what pandas calls "Unnamed: i", which the API then accepts.
    () => (preview.rows[headerRow] ?? []).map((n, i) => n || `Unnamed: ${i}`),
    [preview.rows, headerRow],
  );
  const [picked, setPicked] = useState<Partial<Record<ReadField, string>>>({});
  const [dateFormat, setDateFormat] = useState("");
  const chosen = (field: ReadField) => picked[field] ?? guess(field, names);
  const missing = READ_FIELDS.filter((f) => f !== "volume" && !chosen(f));

  const submit = () => {
    const columns = Object.fromEntries(READ_FIELDS.map((f) => [f, chosen(f)]).filter(([, v]) => v));
    onSubmit({ columns, skiprows: headerRow, date_format: dateFormat.trim() || null });
  };

  return (
    <section className="mapper card" data-testid="column-mapper" aria-label="Map the file's columns">
      <header className="card-head">
        <h3>Map the columns of {fileName}</h3>
        <span className="muted small">pick the file's column for each field, then load it again</span>
      </header>
      <div className="mapper-preview" data-testid="mapper-preview">
        <table>
          <tbody>
            {preview.rows.map((row, i) => (
              <tr key={i} className={i === headerRow ? "header-row" : i < headerRow ? "skipped-row" : undefined}>
                <th scope="row" className="muted small">{i}</th>
                {row.map((cell, j) => (
                  <td key={j}>{cell}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <div className="mapper-fields">
        <label className="inline">
          <span className="muted small">Header row</span>
          <input
            type="number"
            min={0}
            max={Math.max(preview.rows.length - 1, 0)}
            aria-label="Header row"
            value={headerRow}
            onChange={(e) => {
              setHeaderRow(Math.max(0, Math.min(Number(e.target.value) || 0, preview.rows.length - 1)));
              setPicked({});
            }}
          />
        </label>
        {READ_FIELDS.map((field) => (
          <label key={field} className="inline">
            <span className="muted small">{LABELS[field]}</span>
            <select aria-label={`${LABELS[field]} column`} value={chosen(field)} onChange={(e) => setPicked({ ...picked, [field]: e.target.value })}>
              <option value="">{field === "volume" ? "(none / detect)" : "(choose)"}</option>
              {names.map((n, i) => (
                <option key={`${n}-${i}`} value={n}>
                  {n}
                </option>
              ))}
            </select>
          </label>
        ))}
        <label className="inline">
          <span className="muted small">Date format</span>
          <input
            type="text"
            aria-label="Date format"
            placeholder="detect, or e.g. %d.%m.%Y %H:%M"
            value={dateFormat}
            onChange={(e) => setDateFormat(e.target.value)}
          />
        </label>
      </div>
      <div className="mapper-actions">
        <button type="button" className="btn primary" disabled={busy || missing.length > 0} onClick={submit}>
          Load with this mapping
        </button>
        <button type="button" className="btn ghost" disabled={busy} onClick={onCancel}>
          Cancel
        </button>
        {missing.length > 0 && <span className="muted small">choose a column for {missing.map((f) => LABELS[f]).join(", ")}</span>}
      </div>
    </section>
  );
}
