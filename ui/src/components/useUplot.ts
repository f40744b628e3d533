/** Mount a uPlot chart that follows its container's width. */
import { useEffect, useRef } from "react";
import uPlot from "uplot";

export function useUplot(
  make: (width: number) => { opts: uPlot.Options; data: uPlot.AlignedData } | null,
  deps: unknown[],
) {
  const container = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = container.current;
    if (!el) return undefined;
    const width = Math.max(el.clientWidth, 200);
    const spec = make(width);
    if (!spec) return undefined;
    const plot = new uPlot(spec.opts, spec.data, el);
    let frame = 0;
    const ro = typeof ResizeObserver === "undefined" ? null : new ResizeObserver(() => {
      cancelAnimationFrame(frame);
      frame = requestAnimationFrame(() => {
        const w = Math.max(el.clientWidth, 200);
        if (w !== plot.width) plot.setSize({ width: w, height: spec.opts.height });
      });
    });
    ro?.observe(el);
    return () => {
      cancelAnimationFrame(frame);
      ro?.disconnect();
      plot.destroy();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  return container;
}
