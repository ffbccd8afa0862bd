import { PerformanceObserver, type PerformanceEntry } from "node:perf_hooks";

/**
 * Event-loop stall watch for the bench's traces: a 2 ms interval timer that
 * reports every tick arriving more than `thresholdMs` late (the loop was busy
 * or the process was not scheduled). Returns a function that stops it.
 */
export function watchLag(report: (atMs: number, lagMs: number) => void, thresholdMs = 5): () => void {
  const period = 2;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    const lag = now - last - period;
    if (lag > thresholdMs) report(now, lag);
    last = now;
  }, period);
  timer.unref();
  return () => clearInterval(timer);
}

const GC_KINDS: Record<number, string> = { 1: "minor", 2: "major", 4: "incremental", 8: "weak callbacks" };

/** Reports every garbage collection of this process of at least 1 ms (end time, duration, kind and heap in use). */
export function watchGc(report: (endMs: number, ms: number, what: string) => void): () => void {
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = GC_KINDS[(e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ?? 0] ?? "other";
      if (e.duration >= 1) report(e.startTime + e.duration, e.duration, `GC (${kind}, heap ${Math.round(process.memoryUsage().heapUsed / 1e6)} MB)`);
    }
  });
  obs.observe({ entryTypes: ["gc"] });
  return () => obs.disconnect();
}
