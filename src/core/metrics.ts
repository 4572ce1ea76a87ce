/**
 * Counters of what the gateway did, for `/metrics` (Prometheus text format). One process-wide
 * registry: counting is cheap and needs no wiring through every call path.
 */
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
