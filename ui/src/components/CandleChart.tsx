/** An OHLCV candlestick chart with volume bars underneath (TradingView lightweight-charts). */
import { useEffect, useRef } from "react";
import {
  CandlestickSeries,
  ColorType,
  HistogramSeries,
  createChart,
  type CandlestickData,
  type HistogramData,
  type IChartApi,
  type UTCTimestamp,
} from "lightweight-charts";
import type { Series } from "../lib/types";
import { parseIsoUtc } from "../lib/format";

const UP = "#16a34a";
const DOWN = "#dc2626";

/** Bars with strictly ascending times, as the chart needs. */
export function toBars(series: Series): { candles: CandlestickData[]; volume: HistogramData[] } {
  const candles: CandlestickData[] = [];
  const volume: HistogramData[] = [];
  let last = -Infinity;
  for (let i = 0; i < series.index.length; i += 1) {
    const t = Math.floor(parseIsoUtc(series.index[i]) / 1000);
    const o = series.open[i];
    const h = series.high[i];
    const l = series.low[i];
    const c = series.close[i];
    if (!Number.isFinite(t) || t <= last || ![o, h, l, c].every(Number.isFinite)) continue;
    last = t;
    const time = t as UTCTimestamp;
    candles.push({ time, open: o, high: h, low: l, close: c });
    if (series.volume) {
      volume.push({ time, value: series.volume[i] ?? 0, color: c >= o ? "rgba(22,163,74,0.35)" : "rgba(220,38,38,0.35)" });
    }
  }
  return { candles, volume };
}

interface Props {
  series: Series | null;
  height?: number;
  testId?: string;
}

export default function CandleChart({ series, height = 380, testId = "candle-chart" }: Props) {
  const container = useRef<HTMLDivElement>(null);
  const chartRef = useRef<IChartApi | null>(null);

  useEffect(() => {
    const el = container.current;
    if (!el || !series) return undefined;
    const chart = createChart(el, {
      autoSize: true,
      layout: {
        background: { type: ColorType.Solid, color: "#ffffff" },
        textColor: "#475569",
        fontFamily: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
        fontSize: 11,
      },
      grid: { vertLines: { color: "#f1f5f9" }, horzLines: { color: "#f1f5f9" } },
      rightPriceScale: { borderColor: "#e2e8f0" },
      timeScale: { borderColor: "#e2e8f0", timeVisible: true, secondsVisible: false },
      crosshair: { mode: 0 },
    });
    chartRef.current = chart;
    const { candles, volume } = toBars(series);
    const price = chart.addSeries(CandlestickSeries, {
      upColor: UP,
      downColor: DOWN,
      borderUpColor: UP,
      borderDownColor: DOWN,
      wickUpColor: UP,
      wickDownColor: DOWN,
    });
    price.setData(candles);
    price.priceScale().applyOptions({ scaleMargins: { top: 0.06, bottom: volume.length ? 0.26 : 0.06 } });
    if (volume.length) {
      const vol = chart.addSeries(HistogramSeries, { priceFormat: { type: "volume" }, priceScaleId: "" });
      vol.setData(volume);
      vol.priceScale().applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
    }
    chart.timeScale().fitContent();
    return () => {
      chart.remove();
      chartRef.current = null;
    };
  }, [series]);

  return <div className="chart candle" ref={container} style={{ height }} data-testid={testId} />;
}
