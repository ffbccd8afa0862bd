/** bench/RESULTS.md from results.json. */
import type { BenchResults } from "./run.js";

const v = (x: unknown, suffix = "") => (x === null || x === undefined || (typeof x === "number" && !Number.isFinite(x)) ? "n/a" : `${String(x)}${suffix}`);
const row = (cells: unknown[]) => `| ${cells.map((c) => String(c)).join(" | ")} |`;
const mark = (met: boolean | null) => (met === null ? "·" : met ? "✓" : "✗");

function fmtDuration(s: number | null): string {
  if (s === null) return "n/a";
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

export function renderMarkdown(r: BenchResults): string {
  const m = r.model;
  const out: string[] = [];
  out.push(`# Benchmark results${r.smoke ? " (smoke run)" : ""}`);
  out.push("");
  out.push(`Generated ${r.generatedAt} by \`${r.command}\` in ${r.wallS} s on ${r.machine.cpus} × ${r.machine.cpuModel}, Node ${r.machine.node} (${r.machine.platform}); load average ${r.machine.loadAverageStart.join(" ")} at the start, ${r.machine.loadAverageEnd.join(" ")} at the end.`);
  out.push("");
  out.push("## Targets");
  out.push("");
  out.push(row(["", "measure", "target", "result"]));
  out.push(row(["---", "---", "---", "---"]));
  for (const [k, t] of Object.entries(r.targets)) out.push(row([mark(t.met), k, t.target, t.value]));
  out.push("");
  out.push("## What was run");
  out.push("");
  out.push(
    `- Estates: N services in one subscription, each with ${m.shape.apis} APIs (${m.shape.operationsPerApi} operation each, every ${m.shape.revisionEvery}th with a second revision), ${m.shape.namedValues} named values (${m.shape.secretNamedValues} secret), ${m.shape.backends} backends, ${m.shape.subscriptions} subscriptions, ${m.shape.products} products, ${m.shape.locks} locks, policies at every scope, Defender for APIs on; ${Math.round(m.drift * 100)}% of the items drifted (seed ${m.seed}). Page size ${m.pageSize}.`,
  );
  out.push(
    `- Sweep: the timer's \`sweep\` plus a stand-in for the host's queue trigger (host.json batchSize/newBatchThreshold) running \`evaluateQueued\` in a child process per size (Node ${m.appNodeFlags}; ${r.machine.pinning}), ${m.sweepMode}, all ${m.rulesEnabled} rules; Azurite for storage.`,
  );
  out.push(
    `- Latency model: reads ${m.latencyMs.read} ms, writes ${m.latencyMs.write} ms, deletes ${m.latencyMs.delete} ms, POST actions ${m.latencyMs.action} ms, Key Vault ${m.latencyMs.keyvault} ms; long-running operations complete after ${m.lroMs} ms.`,
  );
  out.push(
    `- Throttling: ARM's buckets (reads ${m.throttle.reads.capacity} refilled ${m.throttle.reads.refillPerSecond}/s, writes ${m.throttle.writes.capacity} refilled ${m.throttle.writes.refillPerSecond}/s, deletes ${m.throttle.deletes.capacity} refilled ${m.throttle.deletes.refillPerSecond}/s) enforced by the emulator per subscription and principal.`,
  );
  out.push(
    `- Time scale ×${m.speed}: sweeps run with refill rates × ${m.speed} (reads ${m.scaledRefillPerSecond.reads}/s) and latencies ÷ ${m.speed} (reads ${m.scaledLatencyMs.read} ms), bucket sizes unchanged, the product's pacer set to the same rates (\`ARM_READS_PER_SECOND=${m.scaledRefillPerSecond.reads}\` ...). ARM-equivalent figures are the scaled ones × ${m.speed} (durations) or ÷ ${m.speed} (rates). Local CPU and storage time is not scaled, so the scaled throughput fraction is a lower bound of what the same run achieves at ARM's real rates.`,
  );
  out.push("");
  out.push("## Sweeps (one line per estate size)");
  out.push("");
  out.push(row(["services", "ARM calls / service", "minimum / service", "ratio", "reads", "429s", "reads/s (scaled)", "throughput ÷ refill", "steady state", "sweep (scaled)", "sweep at ARM rates", "s / service at ARM rates", "evaluation p50 / p95 (scaled)", "app CPU / service", "peak RSS", "RSS vs smallest"]));
  out.push(row(Array.from({ length: 16 }, () => "---")));
  for (const s of r.sweeps) {
    out.push(
      row([
        s.services,
        v(s.callsPerService),
        v(s.minimumPerService),
        v(s.ratio === null ? null : s.ratio.toFixed(2)),
        s.reads,
        s.throttled429,
        v(s.readsPerSecond),
        v(s.throughputFraction),
        v(s.steadyStateFraction),
        fmtDuration(s.durationS),
        fmtDuration(s.armEquivalent.durationS),
        s.armEquivalent.durationS === null ? "n/a" : (s.armEquivalent.durationS / s.services).toFixed(1),
        `${v(s.evaluationMs.p50)} / ${v(s.evaluationMs.p95)} ms`,
        s.cpuS.app === null ? "n/a" : `${Math.round((s.cpuS.app * 1000) / s.services)} ms`,
        v(s.peakRssMB, " MB"),
        v(s.rssVsSmallest, " ×"),
      ]),
    );
  }
  out.push("");
  out.push(
    `ARM calls are every request the remediator's principal made in the sweep (discovery included: ${r.sweeps.map((s) => s.discoveryCalls).join(" / ")} list pages); the minimum is \`expectedCalls(needs of every rule, shape)\` summed over the services plus those pages. Throughput ÷ refill = (reads − ${m.throttle.reads.capacity}) ÷ (refill × time from the first to the last read): 1.00 means every token the bucket gave after its burst was used. Steady state = the same between 30% and 90% of the reads.`,
  );
  if (r.latency) {
    const l = r.latency;
    out.push("");
    out.push("## Event-to-fix latency");
    out.push("");
    out.push(
      `${l.samplesPerFix} samples per fix (after ${l.warmupRounds} warm-up round), one at a time over ${l.services} compliant services; injected latency unscaled (reads ${l.latencyMs.read} ms, writes ${l.latencyMs.write} ms, actions ${l.latencyMs.action} ms, Key Vault ${l.latencyMs.keyvault} ms, LROs ${l.lroMs} ms); refill rates × ${m.speed} so the buckets do not pace these runs; run before the sweeps, on a fresh emulator and Azurite. A portal user makes the change; the emulator posts the event to the app's Event Grid webhook (\`handleEvents\`), the queued evaluation is picked up at once, and the fix is in place when ARM accepts the remediator's write (for long-running writes: when ARM completes it). Both times are taken at the emulator. p99 is the 99th percentile of the samples (nearest rank: with 100 samples the 99th slowest, so one outlier is left out; the max column shows it).`,
    );
    out.push("");
    out.push(row(["fix", "p50", "p99", "max", "minimal (round trips)", "overhead p50", "overhead p99", "minimal as served", "overhead p99 vs served", "event → evaluation end p50", "remediator requests p50", "failed"]));
    out.push(row(Array.from({ length: 12 }, () => "---")));
    for (const [fix, f] of Object.entries(l.fixes)) {
      out.push(
        row([fix, v(f.p50Ms, " ms"), v(f.p99Ms, " ms"), v(f.maxMs, " ms"), `${f.minimalMs} ms (${f.roundTrips})`, v(f.overheadP50Ms, " ms"), v(f.overheadP99Ms, " ms"), v(f.minimalServedMs, " ms"), v(f.overheadServedP99Ms, " ms"), v(f.evaluationEndP50Ms, " ms"), v(f.remediatorRequestsP50), f.failed]),
      );
    }
    out.push("");
    out.push(
      `Minimal = the fewest sequential round trips for that evaluation × the injected latency (+ the operation's duration for long-running writes); see \`MINIMAL\` in bench/run.ts for each step. "As served" uses the mean time the emulator actually took per request (it aims each answer at the injected latency with its own processing included, so this stays close to the minimal; a late timer or a stalled emulator shows here: ${Object.entries(l.servedMs)
        .map(([k, x]) => `${k} ${x} ms`)
        .join(", ")}), so that overhead is the app's alone. Not included: Event Grid's own delivery delay and the Functions host's queue polling interval (both outside the app).`,
    );
  }
  if (r.coldStart) {
    const c = r.coldStart;
    out.push("");
    out.push("## Cold start");
    out.push("");
    out.push(
      `\`${c.command}\` (\`npm run bundle\`: every function in one esbuild bundle, app.js ${(c.bundleBytes / 2 ** 20).toFixed(1)} MB, loaded with the V8 code cache made at build time): median ${v(c.medianMs, " ms")}, p90 ${v(c.p90Ms, " ms")}, min ${v(c.minMs, " ms")} over ${c.runs} runs, process start and exit included (\`node -e 0\` alone: ${v(c.nodeBaselineMedianMs, " ms")}). For comparison, medians: the bundle without the code cache (app.js) ${v(c.withoutCodeCacheMedianMs, " ms")}, the unbundled \`dist/src/functions/*.js\` ${v(c.unbundledMedianMs, " ms")}.`,
    );
  }
  out.push("");
  return out.join("\n");
}
