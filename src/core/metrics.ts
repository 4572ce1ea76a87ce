/**
 * Counters of what the gateway did, for `/metrics` (Prometheus text format). One process-wide
 * registry: counting is cheap and needs no wiring through every call path.
 */
import { EventEmitter } from "node:events";
import { readdirSync } from "node:fs";
import { type IntervalHistogram, monitorEventLoopDelay } from "node:perf_hooks";

const counters = new Map<string, number>();

function key(name: string, labels: Record<string, string>): string {
  const parts = Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, "_")}"`);
  return parts.length ? `${name}{${parts.join(",")}}` : name;
}

export function countEvent(name: string, labels: Record<string, string>, by = 1): void {
  const k = key(name, labels);
  counters.set(k, (counters.get(k) ?? 0) + by);
}

/** All counters in the Prometheus text exposition format. */
export function renderMetrics(extra: Record<string, number> = {}): string {
  const lines: string[] = [];
  const seen = new Set<string>();
  for (const [k, v] of [...counters.entries(), ...Object.entries(extra)].sort(([a], [b]) =>
    a.localeCompare(b),
  )) {
    const name = k.split("{")[0] ?? k;
    if (!seen.has(name)) {
      seen.add(name);
      lines.push(`# TYPE ${name} ${name.endsWith("_total") ? "counter" : "gauge"}`);
    }
    lines.push(`${k} ${v}`);
  }
  return `${lines.join("\n")}\n`;
}

// --- process figures (RELIABILITY.md R12: memory, descriptors, event-loop lag, listeners) -------

/** Samples event-loop delay from the first call of `processGauges` on; reset at every call. */
let loopDelay: IntervalHistogram | undefined;

/**
 * Gauges of the process itself, for leak hunting in soak runs:
 * - `postern_process_resident_memory_bytes`, `postern_process_heap_used_bytes`;
 * - `postern_process_open_fds`: entries of /proc/self/fd (absent where there is no /proc);
 * - `postern_event_loop_delay_p99_seconds` / `_max_seconds`: over the time since the previous
 *   call (so since the previous scrape of /metrics; the first call only starts the sampling);
 * - `postern_process_active_handles`: sockets, servers, timers and the like keeping it alive;
 * - `postern_process_handle_listeners` and `..._max_handle_listeners`: event listeners on those
 *   handles, in all and on the busiest one (listeners added at each reconnect and never removed
 *   show up here), and `postern_process_listeners` on `process` itself.
 */
export function processGauges(): Record<string, number> {
  const gauges: Record<string, number> = {};
  const memory = process.memoryUsage();
  gauges.postern_process_resident_memory_bytes = memory.rss;
  gauges.postern_process_heap_used_bytes = memory.heapUsed;
  try {
    gauges.postern_process_open_fds = readdirSync("/proc/self/fd").length;
  } catch {
    // No /proc (not Linux): leave the gauge out rather than report a wrong number.
  }
  if (loopDelay) {
    // The histogram holds nanoseconds; with no sample yet its percentiles are 0.
    gauges.postern_event_loop_delay_p99_seconds = loopDelay.percentile(99) / 1e9;
    gauges.postern_event_loop_delay_max_seconds = loopDelay.max / 1e9;
    loopDelay.reset();
  } else {
    loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();
  }
  const handles = activeHandles();
  let listeners = 0;
  let busiest = 0;
  for (const handle of handles) {
    if (!(handle instanceof EventEmitter)) continue;
    const count = handle.eventNames().reduce((n, event) => n + handle.listenerCount(event), 0);
    listeners += count;
    busiest = Math.max(busiest, count);
  }
  gauges.postern_process_active_handles = handles.length;
  gauges.postern_process_handle_listeners = listeners;
  gauges.postern_process_max_handle_listeners = busiest;
  gauges.postern_process_listeners = process
    .eventNames()
    .reduce((n, event) => n + process.listenerCount(event), 0);
  return gauges;
}

/** The handles keeping the process alive. Node has no public list of them (only their kinds). */
function activeHandles(): unknown[] {
  const internal = process as unknown as { _getActiveHandles?: () => unknown[] };
  return typeof internal._getActiveHandles === "function" ? internal._getActiveHandles() : [];
}
