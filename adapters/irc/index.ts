/**
 * The IRC adapter: IRC channels as MUC rooms, IRC users as contacts, one IRC connection per
 * XMPP user per server. Addresses are Biboumi's (`#chan%irc.example.org`, `nick%irc.example.org`,
 * `irc.example.org`; `#chan` and `nick` with a fixed server), so Biboumi users keep their
 * bookmarks.
 *
 * Module map: settings.ts (config schema) → session.ts (one user) → server-link.ts (one server
 * of that user: operations; outbox.ts holds what is said while the connection is down) +
 * inbound.ts (lines → events) → connection.ts (socket lifecycle, flood limiter, reconnect with
 * backoff, also when the first connection fails) → transport.ts (bytes, TLS, last line check).
 * commands.ts and user-config.ts: the ad-hoc commands and the per-user server settings they
 * store. The pure IRC wire code lives in protocol/.
 */
import type {
  Adapter,
  AdapterFactory,
  ConversationKind,
  LegacyId,
  RegistrationResult,
} from "../../src/adapter/index.ts";
import { ircCommands } from "./commands.ts";
import { ConnectGate } from "./connect-gate.ts";
import { chosenNickProblem } from "./nick.ts";
import { parseIrcAddress } from "./protocol/address.ts";
import { isValidNick } from "./protocol/params.ts";
import { type GatewayShared, IrcSession } from "./session.ts";
import { type IrcSettings, ircSettingsSchema, serverSettings } from "./settings.ts";

export type { IrcSettings };

/** Which kind of conversation an IRC address names, or null (invalid, or a server not allowed). */
export function classifyIrcId(settings: IrcSettings, id: LegacyId): ConversationKind | null {
  const { fixedServer } = settings;
  const address = parseIrcAddress(id, fixedServer === undefined ? {} : { fixedServer });
  if (!address || !serverSettings(settings, address.server)) return null;
  // A user address must be a nick the server could have (e.g. "0" is not one: JOIN 0 territory).
  if (address.kind === "user" && !isValidNick(address.nick)) return null;
  return address.kind === "channel" ? "room" : "direct";
}

export const ircAdapter: AdapterFactory<IrcSettings> = {
  name: "irc",
  gatewayType: "irc",
  defaultName: "IRC gateway",
  configSchema: ircSettingsSchema,
  create(context): Adapter {
    const settings = context.settings;
    for (const [name, server] of Object.entries(settings.servers)) {
      if (server.tls && !server.tlsVerify && server.tlsFingerprint === undefined)
        context.log.warn(
          { server: name },
          "TLS certificate verification is off for this server (tlsVerify: false)",
        );
    }
    const shared: GatewayShared = {
      settings,
      gate: new ConnectGate(settings.connections.minIntervalMs),
      sessions: new Map(),
    };
    return {
      capabilities: {
        rooms: { level: "full" },
        directChats: { level: "full" },
        nickChange: { level: "partial", limits: "the nick is the same in every channel of one IRC server" },
        topic: { level: "full" },
        presence: { level: "partial", limits: "only away/back, as IRC AWAY" },
      },
      registration: {
        instructions:
          "You can join IRC channels without registering. Optionally choose the nick the gateway uses for you.",
        implicit: true,
        fields: [{ var: "nick", type: "text-single", label: "IRC nick" }],
        async validate(values): Promise<RegistrationResult> {
          const nick = values.nick?.trim();
          const problem = nick ? chosenNickProblem(nick) : undefined;
          if (problem) return { ok: false, message: problem, field: "nick" };
          const stored: Record<string, string> = nick ? { nick } : {};
          return { ok: true, values: stored };
        },
      },
      commands: ircCommands(shared),
      classify: (id) => classifyIrcId(settings, id),
      gatewayPrompt: {
        desc: "Enter an IRC nick or channel and its server, e.g. alice%irc.libera.chat",
        prompt: "IRC address",
        toLegacyId: (input) => (classifyIrcId(settings, input.trim()) === null ? null : input.trim()),
      },
      async start() {},
      async stop() {
        await Promise.all(
          [...shared.sessions.values()].map((s) => s.close("Postern: gateway shutting down")),
        );
      },
      async openSession(sessionContext) {
        const previous = shared.sessions.get(sessionContext.user);
        if (previous) await previous.close();
        const session = new IrcSession(sessionContext, shared);
        shared.sessions.set(sessionContext.user, session);
        session
          .autojoin()
          .catch((error: unknown) => sessionContext.log.warn({ err: error }, "auto-join failed"));
        return session;
      },
    };
  },
};
