/** Number, time and date formatting shared by the views. */

/** "—" for unknown, "< 1 s", "42 s", "3 min 05 s", "2 h 07 min". */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds == null || !Number.isFinite(seconds) || seconds < 0) return "—";
  if (seconds < 1) return "< 1 s";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  const h = Math.floor(s / 3600);
  return `${h} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
}

/** 0.6612 → "66.1 %". */
export function formatPercent(fraction: number | null | undefined, digits = 1): string {
  if (fraction == null || !Number.isFinite(fraction)) return "—";
  return `${(fraction * 100).toFixed(digits)} %`;
}

/** Integer with thousands separators. */
export function formatCount(n: number | null | undefined): string {
  if (n == null || !Number.isFinite(n)) return "—";
  return Math.round(n).toLocaleString("en-US");
}

/** A metric value: 4 significant digits, scientific for the very small or large. */
export function formatMetric(v: number | null | undefined): string {
  if (v == null || typeof v !== "number" || Number.isNaN(v)) return "—";
  if (!Number.isFinite(v)) return v > 0 ? "∞" : "−∞";
  if (v === 0) return "0";
  const a = Math.abs(v);
  const text = a < 1e-3 || a >= 1e6 ? v.toExponential(3).replace("e+", "e") : Number(v.toPrecision(4)).toString();
  return text.replace(/-/g, "−");
}

/** An ISO timestamp without offset is UTC to the API; JS would read it as local time. */
export function parseIsoUtc(iso: string): number {
  const hasZone = /([zZ]|[+-]\d\d:?\d\d)$/.test(iso);
  const withTime = /T|\s\d/.test(iso) ? iso.replace(" ", "T") : `${iso}T00:00:00`;
  return Date.parse(hasZone ? withTime : `${withTime}Z`);
}

/** "2016-01-08" for a midnight, "2016-01-08 14:30" otherwise. */
export function formatDate(iso: string | null | undefined): string {
  if (!iso) return "—";
  const t = parseIsoUtc(iso);
  if (Number.isNaN(t)) return iso;
  const d = new Date(t).toISOString();
  const day = d.slice(0, 10);
  const time = d.slice(11, 16);
  return time === "00:00" ? day : `${day} ${time}`;
}

/** Local date-time of a created/finished stamp, short. */
export function formatStamp(iso: string | null | undefined): string {
  if (!iso) return "—";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const d = new Date(t);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
