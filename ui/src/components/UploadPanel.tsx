/** Load a dataset: drop or pick a CSV/XLSX/Parquet file, or take a built-in sample. */
import { useRef, useState, type DragEvent } from "react";
import { api, ApiError } from "../lib/api";
import type { Dataset, Layout } from "../lib/types";

const ACCEPT = ".csv,.txt,.xlsx,.xls,.parquet,.pq";

interface Props {
  samples: string[];
  maxUploadMb?: number;
  onLoaded: (ds: Dataset) => void;
}

export default function UploadPanel({ samples, maxUploadMb, onLoaded }: Props) {
  const input = useRef<HTMLInputElement>(null);
  const [dragging, setDragging] = useState(false);
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<{ title: string; detail: string } | null>(null);
  const [layout, setLayout] = useState<Layout>("single");
  const [symbolColumn, setSymbolColumn] = useState("symbol");

  const run = async (label: string, title: string, action: () => Promise<Dataset>) => {
    setBusy(label);
    setError(null);
    try {
      onLoaded(await action());
    } catch (err) {
      setError({ title, detail: err instanceof ApiError ? err.detail : String((err as Error).message ?? err) });
    } finally {
      setBusy(null);
    }
  };

  const upload = (file: File | undefined) => {
    if (!file) return;
    const table = layout === "single" ? undefined : { layout, symbolColumn: symbolColumn.trim() || "symbol" };
    void run(`Uploading ${file.name}…`, `${file.name} was not accepted`, () => api.uploadDataset(file, table));
  };

  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setDragging(false);
    upload(e.dataTransfer.files?.[0]);
  };

  return (
    <div className="upload">
      <div
        className={`dropzone${dragging ? " dragging" : ""}${busy ? " busy" : ""}`}
        data-testid="dropzone"
        role="button"
        tabIndex={0}
        onClick={() => input.current?.click()}
        onKeyDown={(e) => {
          if (e.key === "Enter" || e.key === " ") {
            e.preventDefault();
            input.current?.click();
          }
        }}
        onDragOver={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={onDrop}
      >
        <svg viewBox="0 0 24 24" width="26" height="26" aria-hidden="true">
          <path d="M12 16V4m0 0-4 4m4-4 4 4M5 20h14" fill="none" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" strokeLinejoin="round" />
        </svg>
        <div>
          <strong>{busy ?? "Drop an OHLCV file here"}</strong>
          <div className="muted small">
            or click to choose · CSV, XLSX, Parquet{maxUploadMb ? ` · up to ${maxUploadMb} MB` : ""}
          </div>
        </div>
        <input
          ref={input}
          type="file"
          accept={ACCEPT}
          hidden
          data-testid="file-input"
          aria-label="OHLCV file"
          onChange={(e) => {
            upload(e.target.files?.[0]);
            e.target.value = "";
          }}
        />
      </div>
      <div className="layout-choice">
        <label className="inline">
          <span className="muted small">File holds</span>
          <select aria-label="File layout" data-testid="upload-layout" value={layout} onChange={(e) => setLayout(e.target.value as Layout)}>
            <option value="single">one series</option>
            <option value="long">several assets: long table (a symbol column)</option>
            <option value="wide">several assets: wide table (SYMBOL_Close …)</option>
          </select>
        </label>
        {layout === "long" && (
          <label className="inline">
            <span className="muted small">Symbol column</span>
            <input
              type="text"
              aria-label="Symbol column"
              value={symbolColumn}
              onChange={(e) => setSymbolColumn(e.target.value)}
            />
          </label>
        )}
      </div>
      {samples.length > 0 && (
        <div className="samples">
          <span className="muted small">Or a sample:</span>
          {samples.map((s) => (
            <button
              key={s}
              type="button"
              className="btn ghost small"
              disabled={busy !== null}
              onClick={() => void run(`Loading ${s}…`, `Sample ${s} could not be loaded`, () => api.sampleDataset(s))}
            >
              {s}
            </button>
          ))}
        </div>
      )}
      {error && (
        <div className="alert error" role="alert" data-testid="upload-error">
          <strong>{error.title}</strong>
          <div className="detail">{error.detail}</div>
        </div>
      )}
    </div>
  );
}
