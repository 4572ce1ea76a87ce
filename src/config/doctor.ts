import { formatProblem } from "./errors.ts";
import { probeComponent } from "./probe-component.ts";
import { describeRedisTarget, probeRedis } from "./probe-redis.ts";
import { findInsecureSettings } from "./production-checks.ts";
import type { PosternConfig } from "./schema.ts";

/** One line of the doctor's report. */
export interface DoctorCheck {
  /** What was checked, e.g. `redis redis://127.0.0.1:6379/0` or `xmpp irc.localhost → 127.0.0.1:5347`. */
  name: string;
  ok: boolean;
  /** Why it failed, or what was found. Never contains a secret. */
  detail: string;
}

/** How long one check may take before it counts as failed. */
export const DEFAULT_CHECK_TIMEOUT_MS = 5_000;

/**
 * Checks that a valid configuration can actually be used: Redis answers, and every gateway can log
 * in to its XMPP component port. Checks run in parallel; results come in configuration order.
 */
export async function runDoctorChecks(
  config: PosternConfig,
  timeoutMs: number = DEFAULT_CHECK_TIMEOUT_MS,
): Promise<DoctorCheck[]> {
  const redis = probeRedis(config.redis, timeoutMs).then((result) => ({
    name: `redis ${describeRedisTarget(config.redis)}`,
    ...result,
  }));
  const components = config.gateways.map(async (gateway) => {
    const { host, port, secret } = gateway.xmpp;
    const result = await probeComponent({ host, port, secret, domain: gateway.domain }, timeoutMs);
    return { name: `xmpp ${gateway.domain} → ${host}:${port}`, ...result };
  });
  return Promise.all([redis, ...components]);
}

/**
 * In development mode, one `warn` line per setting production mode would refuse (in production
 * mode the command line refuses such a configuration before the doctor runs).
 */
export function developmentWarnings(config: PosternConfig): string[] {
  if (config.mode !== "development") return [];
  return findInsecureSettings(config).map(
    (problem) => `warn refused in production: ${formatProblem(problem)}`,
  );
}

/** The report line of a check: `ok   <name>: <detail>` or `FAIL <name>: <detail>`. */
export function formatCheck(check: DoctorCheck): string {
  return `${check.ok ? "ok  " : "FAIL"} ${check.name}: ${check.detail}`;
}
