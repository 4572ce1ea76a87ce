/**
 * The bench's servers, from test/support: Prosody (users and the gateways' components: Postern's
 * IRC and Telegram gateways and Biboumi), Redis
 * (Postern's store) and ngIRCd (flood limits lifted for loopback), plus the bench's XMPP users.
 */
import { randomBytes } from "node:crypto";
import { connectIrc, type RawIrcClient } from "../test/support/irc-client.ts";
import { type IrcServer, startNgircd } from "../test/support/ircd.ts";
import { type ProsodyServer, startProsody } from "../test/support/prosody.ts";
import { type RedisServer, startRedis } from "../test/support/redis.ts";
import { connectXmpp, type XmppTestClient } from "../test/support/xmpp-client.ts";
import { inBatches, registerAccount } from "./accounts.ts";
import { onCleanup } from "./cleanup.ts";
import type { BenchServers } from "./gateways.ts";

export const POSTERN_DOMAIN = "irc.localhost";
export const BIBOUMI_DOMAIN = "biboumi.localhost";
export const TELEGRAM_DOMAIN = "telegram.localhost";
const PASSWORD = "bench-pw";

export interface Lab {
  prosody: ProsodyServer;
  redis: RedisServer;
  ircd: IrcServer;
  servers: BenchServers;
  secrets: { postern: string; biboumi: string; telegram: string };
  /** Logged-in bench users u0, u1, …; grows with {@link Lab.users}. */
  users(count: number): Promise<XmppTestClient[]>;
  /** A raw IRC client on the bench server (closed at cleanup). */
  irc(nick: string): Promise<RawIrcClient>;
}

export async function startLab(log: (line: string) => void): Promise<Lab> {
  const secret = () => randomBytes(12).toString("hex");
  const secrets = { postern: secret(), biboumi: secret(), telegram: secret() };
  const [prosody, redis, ircd] = await Promise.all([
    startProsody({
      components: [
        { domain: POSTERN_DOMAIN, secret: secrets.postern },
        { domain: BIBOUMI_DOMAIN, secret: secrets.biboumi },
        { domain: TELEGRAM_DOMAIN, secret: secrets.telegram },
      ],
      allowRegistration: true,
      logLevel: "warn",
    }),
    startRedis({ aof: true }),
    startNgircd({ serverName: "irc.bench.test" }),
  ]);
  onCleanup("Prosody", () => prosody.stop());
  onCleanup("Redis", () => redis.stop());
  onCleanup("ngIRCd", () => ircd.stop());
  log(
    `servers up: Prosody c2s ${prosody.c2sPort}, component ${prosody.componentPort}; Redis ${redis.port}; ngIRCd ${ircd.port}`,
  );

  const clients: XmppTestClient[] = [];
  onCleanup("XMPP users", async () => {
    await inBatches(clients, 50, (c) => c.stop());
  });
  const users = async (count: number) => {
    if (clients.length < count) {
      const names = Array.from({ length: count - clients.length }, (_, i) => `u${clients.length + i}`);
      const started = performance.now();
      await inBatches(names, 16, (name) => registerAccount(prosody.c2sPort, prosody.domain, name, PASSWORD));
      const logged = await inBatches(names, 16, (username) =>
        connectXmpp({
          port: prosody.c2sPort,
          domain: prosody.domain,
          username,
          password: PASSWORD,
          resource: "bench",
          timeoutMs: 30_000,
        }),
      );
      clients.push(...logged);
      log(
        `${names.length} XMPP users registered and logged in (${((performance.now() - started) / 1000).toFixed(1)} s)`,
      );
    }
    return clients.slice(0, count);
  };

  const ircClients: RawIrcClient[] = [];
  onCleanup("IRC clients", async () => {
    await Promise.all(ircClients.map((c) => c.close()));
  });
  const irc = async (nick: string) => {
    const client = await connectIrc({ port: ircd.port, nick });
    ircClients.push(client);
    return client;
  };

  return {
    prosody,
    redis,
    ircd,
    servers: { componentPort: prosody.componentPort, ircPort: ircd.port, redisUrl: redis.url },
    secrets,
    users,
    irc,
  };
}
