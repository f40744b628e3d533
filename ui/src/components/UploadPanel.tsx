/** Load a dataset: drop or pick a CSV/XLSX/Parquet file, or take a built-in sample. */
import { useRef, useState, type DragEvent } from "react";
import { api, ApiError, uploadPreview } from "../lib/api";
import type { Dataset, Layout, ReadOptions, UploadPreview } from "../lib/types";
import ColumnMapper from "./ColumnMapper";

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
  // A refused upload whose first rows the API sent back: the mapping step shows them.
  const [mapping, setMapping] = useState<{ file: File; preview: UploadPreview } | null>(null);

  const run = async (label: string, title: string, action: () => Promise<Dataset>, file?: File) => {
    setBusy(label);
    setError(null);
    try {
      onLoaded(await action());
      setMapping(null);
    } catch (err) {
      setError({ title, detail: err instanceof ApiError ? err.detail : String((err as Error).message ?? err) });
      const preview = file ? uploadPreview(err) : null;
      setMapping(file && preview ? { file, preview } : null);
    } finally {
      setBusy(null);
    }
  };

  const upload = (file: File | undefined, read?: ReadOptions) => {
    if (!file) return;
    const table = layout === "single" ? undefined : { layout, symbolColumn: symbolColumn.trim() || "symbol" };
    void run(`Uploading ${file.name}…`, `${file.name} was not accepted`, () => api.uploadDataset(file, table, read), file);
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
      {mapping && (
        <ColumnMapper
          key={`${mapping.file.name}-${mapping.file.size}-${mapping.file.lastModified}`}
          fileName={mapping.file.name}
          preview={mapping.preview}
          busy={busy !== null}
          onSubmit={(read) => upload(mapping.file, read)}
          onCancel={() => setMapping(null)}
        />
      )}
    </div>
  );
}
