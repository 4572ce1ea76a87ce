/**
 * The IRC gateway's ad-hoc commands: per-server settings for the user, their connections, and
 * two operator commands. Passwords are stored encrypted (`setSecret`) and never shown back.
 */
import {
  type AdhocCommand,
  type CommandContext,
  type CommandStep,
  type Form,
  type FormValues,
  formValue,
  type KeyValueState,
} from "../../src/adapter/index.ts";
import { chosenNickProblem } from "./nick.ts";
import { isServerName } from "./protocol/address.ts";
import { isSupportedEncoding } from "./protocol/decode.ts";
import { assertSafeParam, isValidChannelName } from "./protocol/params.ts";
import { type GatewayShared, IrcSession } from "./session.ts";
import { serverSettings } from "./settings.ts";
import { readUserServerSetup, type UserServerSetup, writeUserServerSetup } from "./user-config.ts";

function sessionOf(context: CommandContext<unknown>): IrcSession | undefined {
  return context.session instanceof IrcSession ? context.session : undefined;
}

function values(v: FormValues, name: string): string[] {
  const value = v[name];
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : value.split("\n")).map((s) => s.trim()).filter((s) => s !== "");
}

/**
 * "Configure an IRC server": pick a server, then edit nick, names, passwords, auto-join, encoding.
 * Works without an open session: the settings live in the user's state and apply on the next
 * connection to that server.
 */
function configureServer(shared: GatewayShared): AdhocCommand<{ server?: string }> {
  return {
    node: "irc:configure-server",
    name: "Configure an IRC server",
    audience: "user",
    requiresRegistration: false,
    async step(context) {
      if (context.state === undefined) return { kind: "form", form: serverPicker(shared), state: {} };
      if (context.state.server === undefined) {
        const server = formValue(context.values, "server")?.trim().toLowerCase() ?? "";
        if (!isServerName(server) || serverSettings(shared.settings, server) === undefined) {
          return { kind: "error", message: "that IRC server is not available on this gateway" };
        }
        const stored = await readUserServerSetup(context.userState, server);
        return { kind: "form", form: serverForm(server, stored), state: { server } };
      }
      return saveServer(context.userState, context.state.server, context.values);
    },
  };
}

function serverPicker(shared: GatewayShared): Form {
  return {
    title: "Configure an IRC server",
    fields: [
      shared.settings.allowUnlistedServers
        ? { var: "server", type: "text-single", label: "IRC server", required: true }
        : {
            var: "server",
            type: "list-single",
            label: "IRC server",
            required: true,
            options: Object.keys(shared.settings.servers).map((value) => ({ value })),
          },
    ],
  };
}

/** Last step of "Configure an IRC server": checks and stores what the user submitted. */
async function saveServer(
  state: KeyValueState,
  server: string,
  v: FormValues,
): Promise<CommandStep<{ server?: string }>> {
  const stored = await readUserServerSetup(state, server);
  const setup: UserServerSetup = { ...stored };
  const nick = formValue(v, "nick")?.trim();
  if (nick) {
    const problem = chosenNickProblem(nick);
    if (problem) return { kind: "error", message: problem };
    setup.nick = nick;
  } else delete setup.nick;
  for (const field of ["username", "realname"] as const) {
    const value = formValue(v, field)
      ?.replace(/[\r\n\0]/g, " ")
      .trim();
    if (value) setup[field] = value;
    else delete setup[field];
  }
  const encoding = formValue(v, "encoding")?.trim();
  if (encoding) {
    if (!isSupportedEncoding(encoding)) return { kind: "error", message: `unknown encoding "${encoding}"` };
    setup.encoding = encoding;
  } else delete setup.encoding;
  const autojoin: { channel: string; key?: string }[] = [];
  for (const line of values(v, "autojoin")) {
    const [channel = "", key, extra] = line.split(/\s+/);
    if (!isValidChannelName(channel) || extra !== undefined)
      return { kind: "error", message: `cannot join "${line}"` };
    if (key !== undefined) {
      try {
        assertSafeParam(key);
      } catch {
        return { kind: "error", message: `bad key for ${channel}` };
      }
    }
    autojoin.push(key === undefined ? { channel } : { channel, key });
  }
  setup.autojoin = autojoin;
  // Empty secret fields keep what is stored; "clear" fields remove it.
  const nickserv = formValue(v, "nickserv-password");
  const sasl = formValue(v, "sasl-password");
  setup.nickservPassword = formValue(v, "clear-nickserv") === "true" ? "" : nickserv || undefined;
  setup.saslPassword = formValue(v, "clear-sasl") === "true" ? "" : sasl || undefined;
  for (const secret of [setup.nickservPassword, setup.saslPassword]) {
    if (secret !== undefined && /[\r\n\0]/.test(secret))
      return { kind: "error", message: "passwords cannot hold line breaks" };
  }
  await writeUserServerSetup(state, server, setup);
  return {
    kind: "done",
    note: `Saved your settings for ${server}. They apply the next time you connect to it.`,
  };
}

function serverForm(server: string, stored: UserServerSetup): Form {
  const text = (value: string | undefined) => (value === undefined ? {} : { value });
  return {
    title: `Your settings for ${server}`,
    instructions: "Leave a password empty to keep the stored one.",
    fields: [
      { var: "nick", type: "text-single", label: "Nick", ...text(stored.nick) },
      { var: "username", type: "text-single", label: "Username", ...text(stored.username) },
      { var: "realname", type: "text-single", label: "Real name", ...text(stored.realname) },
      { var: "nickserv-password", type: "text-private", label: "NickServ password" },
      { var: "clear-nickserv", type: "boolean", label: "Forget the NickServ password", value: "false" },
      { var: "sasl-password", type: "text-private", label: "SASL password" },
      { var: "clear-sasl", type: "boolean", label: "Forget the SASL password", value: "false" },
      {
        var: "autojoin",
        type: "text-multi",
        label: "Channels to join on connect (one per line, optionally followed by a key)",
        value: (stored.autojoin ?? []).map((a) => (a.key ? `${a.channel} ${a.key}` : a.channel)),
      },
      {
        var: "encoding",
        type: "text-single",
        label: "Encoding of non-UTF-8 text (e.g. latin1)",
        ...text(stored.encoding),
      },
    ],
  };
}

function describeSession(session: IrcSession): string {
  const links = session.describe();
  if (links.length === 0) return "no IRC connections";
  return links
    .map(
      (l) => `${l.server}: ${l.state} as ${l.nick}${l.channels.length ? ` in ${l.channels.join(", ")}` : ""}`,
    )
    .join("\n");
}

/** Builds the commands for one gateway. */
export function ircCommands(shared: GatewayShared): AdhocCommand[] {
  const configure = configureServer(shared);
  const checkServer = (server: string) =>
    isServerName(server) && serverSettings(shared.settings, server) !== undefined;
  return [
    configure as AdhocCommand,
    {
      node: "irc:disconnect",
      name: "Disconnect from an IRC server",
      audience: "user",
      requiresRegistration: false,
      async step(context) {
        const session = sessionOf(context);
        const server = formValue(context.values, "server");
        if (server === undefined) {
          const options = (session?.describe() ?? []).map((l) => ({ value: l.server }));
          if (options.length === 0) return { kind: "done", note: "You are not connected to any IRC server." };
          return {
            kind: "form",
            form: {
              title: "Disconnect",
              fields: [{ var: "server", type: "list-single", required: true, options }],
            },
            state: undefined,
          };
        }
        if (!checkServer(server)) return { kind: "error", message: "unknown server" };
        const done = (await session?.disconnect(server, "Postern: disconnected by the user")) ?? false;
        return {
          kind: "done",
          note: done ? `Disconnected from ${server}.` : `You were not connected to ${server}.`,
        };
      },
    },
    {
      node: "irc:list-connections",
      name: "List my IRC connections",
      audience: "user",
      requiresRegistration: false,
      async step(context) {
        const session = sessionOf(context);
        return { kind: "done", note: session ? describeSession(session) : "no IRC connections" };
      },
    },
    {
      node: "irc:admin-list-connections",
      name: "List all IRC connections",
      audience: "admin",
      requiresRegistration: false,
      async step(context) {
        if (!context.isAdmin) return { kind: "error", message: "forbidden" };
        const lines = [...shared.sessions.values()].map((s) => `${s.user}:\n${describeSession(s)}`);
        return { kind: "done", note: lines.length ? lines.join("\n") : "no IRC sessions" };
      },
    },
    {
      node: "irc:admin-disconnect-user",
      name: "Disconnect a user from IRC",
      audience: "admin",
      requiresRegistration: false,
      async step(context) {
        if (!context.isAdmin) return { kind: "error", message: "forbidden" };
        const jid = formValue(context.values, "jid")?.trim();
        if (jid === undefined) {
          return {
            kind: "form",
            form: {
              title: "Disconnect a user",
              fields: [{ var: "jid", type: "jid-single", label: "User", required: true }],
            },
            state: undefined,
          };
        }
        const session = shared.sessions.get(jid);
        if (!session) return { kind: "done", note: `${jid} has no IRC session.` };
        await session.close("Postern: disconnected by the gateway operator");
        return { kind: "done", note: `Disconnected ${jid} from IRC.` };
      },
    },
  ];
}
