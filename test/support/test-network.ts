/**
 * A tiny legacy network that lives in the test process, and the adapter that bridges to it. Tests
 * drive the core (through a real Prosody and Redis) with it: they script what "network people"
 * say and check what the gateway sent. Not shipped.
 *
 * Ids: rooms start with '#', contacts are lower-case words. Joining a room returns its scripted
 * occupants; the user's own room messages are echoed back as the network would.
 */
import { z } from "zod";
import type { Adapter, AdapterFactory } from "../../src/adapter/adapter.ts";
import type { FilePublisher } from "../../src/adapter/attachments.ts";
import type { AdhocCommand } from "../../src/adapter/commands.ts";
import type { SessionContext } from "../../src/adapter/context.ts";
import type { Occupant } from "../../src/adapter/conversation.ts";
import type { SessionEvent } from "../../src/adapter/events.ts";
import type { PortalContext, PortalOccupant } from "../../src/adapter/portal.ts";
import { AdapterError, type OutgoingMessage, type Session } from "../../src/adapter/session.ts";
import { plain } from "../../src/adapter/text.ts";

export interface SentRecord {
  user: string;
  message: OutgoingMessage;
}

export class TestNetwork {
  /** Occupants every join of a room returns (besides the user), by room id. */
  readonly roomMembers = new Map<string, Occupant[]>();
  readonly topics = new Map<string, string>();
  /** Rooms that refuse joins, with the condition to fail with. */
  readonly closedRooms = new Map<string, "forbidden" | "not-authorized">();
  readonly sent: SentRecord[] = [];
  readonly joins: { user: string; room: string; nick: string }[] = [];
  readonly leaves: { user: string; room: string }[] = [];
  /** Edits, retractions and reactions the user made, as the network saw them. */
  readonly actions: { user: string; kind: "edit" | "retract" | "react"; target: string; detail: string }[] =
    [];
  readonly sessions = new Map<string, SessionContext>();
  /** Portal rooms the adapter offers (set before the gateway starts), and what was sent to them. */
  portalRooms: string[] = [];
  readonly portalSent: { room: string; from: PortalOccupant; text: string }[] = [];
  portalOccupants = new Map<string, PortalOccupant[]>();
  portalContext: PortalContext | undefined;
  /** Where the gateway publishes files, once the adapter was created. */
  files: FilePublisher | undefined;
  openCount = 0;
  closeCount = 0;
  /** While set, message sends wait for it (a network that has not taken them yet). */
  holdSends: Promise<void> | null = null;

  /** The session context of a user, once their session is open. */
  session(user: string): SessionContext {
    const ctx = this.sessions.get(user);
    if (!ctx) throw new Error(`no open session for ${user}`);
    return ctx;
  }

  /** Somebody on the network says something in a room or to the user. */
  async say(
    user: string,
    conversation: { kind: "room" | "direct"; id: string },
    nick: string,
    text: string,
    id?: string,
  ): Promise<void> {
    await this.session(user).emit({
      type: "message",
      conversation,
      from: { nick, contactId: nick },
      kind: "normal",
      text: plain(text),
      id,
    });
  }

  async emit(user: string, event: SessionEvent): Promise<void> {
    await this.session(user).emit(event);
  }

  async waitForSent(count: number, what: string, timeoutMs = 10_000): Promise<SentRecord[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.sent.length < count) {
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${what}: ${this.sent.length} of ${count} sent`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.sent.slice(0, count);
  }

  async waitForSession(user: string, timeoutMs = 10_000): Promise<SessionContext> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ctx = this.sessions.get(user);
      if (ctx) return ctx;
      if (Date.now() > deadline) throw new Error(`timed out waiting for a session of ${user}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

const settingsSchema = z.strictObject({ greeting: z.string().default("hello") });

/** The adapter factory bridging to `network`. */
export function testAdapterFactory(network: TestNetwork): AdapterFactory<z.output<typeof settingsSchema>> {
  return {
    name: "test",
    gatewayType: "test",
    defaultName: "Test network",
    configSchema: settingsSchema,
    create(context): Adapter {
      network.files = context.files;
      return {
        capabilities: {
          rooms: { level: "full" },
          directChats: { level: "full" },
          topic: { level: "full" },
          nickChange: { level: "full" },
          edits: { level: "full" },
          retractions: { level: "full" },
          reactions: { level: "full" },
          replies: { level: "full" },
          attachments: { level: "full" },
        },
        registration: {
          instructions: "Choose your nick on the test network.",
          fields: [
            { var: "nick", type: "text-single", label: "Nick", required: true },
            { var: "password", type: "text-private", label: "Password", required: true, secret: true },
          ],
          async validate(values) {
            if (values.password === "wrong")
              return { ok: false, message: "the network refused that password" };
            return { ok: true, values, identity: `nick:${values.nick}` };
          },
        },
        commands: [twoStepCommand],
        classify(id) {
          if (/^#[a-z0-9-]+$/.test(id)) return "room";
          if (/^[a-z0-9_.-]+$/.test(id)) return "direct";
          return null;
        },
        gatewayPrompt: {
          desc: "Enter the contact's nick",
          prompt: "Nick",
          toLegacyId: (input) => (/^[a-z0-9_.-]+$/.test(input.toLowerCase()) ? input.toLowerCase() : null),
        },
        async start() {},
        async stop() {},
        async openPortal(context) {
          if (network.portalRooms.length === 0) return undefined;
          network.portalContext = context;
          return {
            rooms: network.portalRooms,
            async snapshot(room) {
              return {
                nick: "",
                occupants: network.roomMembers.get(room) ?? [],
                topic: network.topics.has(room) ? { text: network.topics.get(room) ?? "" } : undefined,
              };
            },
            async sendMessage(room, from, message) {
              network.portalSent.push({ room, from, text: message.text.text });
              return { id: `portal-${network.portalSent.length}` };
            },
            async occupantsChanged(room, occupants) {
              network.portalOccupants.set(room, occupants);
            },
            async close() {},
          };
        },
        async openSession(ctx) {
          network.openCount += 1;
          network.sessions.set(ctx.user, ctx);
          return testSession(network, ctx);
        },
      };
    },
  };
}

function testSession(network: TestNetwork, ctx: SessionContext): Session {
  const joined = new Map<string, string>();
  void ctx.emit({ type: "session.state", state: "online" });
  return {
    async sendMessage(message) {
      if (network.holdSends) await network.holdSends;
      network.sent.push({ user: ctx.user, message });
      const id = `net-${network.sent.length}`;
      if (message.conversation.kind === "room") {
        const nick = joined.get(message.conversation.id);
        if (!nick) throw new AdapterError("not-acceptable", "not in that room");
        void ctx.emit({
          type: "message",
          conversation: message.conversation,
          from: { nick, self: true },
          kind: message.kind,
          text: message.text,
          id,
          echoOf: message.clientId,
        });
      }
      return { id };
    },
    async joinRoom({ room, nick }) {
      const refusal = network.closedRooms.get(room);
      if (refusal) throw new AdapterError(refusal, "the room refused you");
      network.joins.push({ user: ctx.user, room, nick });
      const taken = (network.roomMembers.get(room) ?? []).some((o) => o.nick === nick);
      const finalNick = joined.get(room) ?? (taken ? `${nick}_` : nick);
      joined.set(room, finalNick);
      const self: Occupant = { nick: finalNick, role: "participant", affiliation: "member" };
      const topic = network.topics.get(room);
      return {
        nick: finalNick,
        occupants: [...(network.roomMembers.get(room) ?? []), self],
        topic: topic ? { text: topic } : undefined,
      };
    },
    async leaveRoom(room) {
      network.leaves.push({ user: ctx.user, room });
      joined.delete(room);
    },
    async setTopic(room, topic) {
      network.topics.set(room, topic);
      void ctx.emit({ type: "room.topic", room, topic, by: joined.get(room) });
    },
    async changeNick(nick, room) {
      if (!room) return;
      const old = joined.get(room);
      if (!old) throw new AdapterError("not-acceptable", "not in that room");
      joined.set(room, nick);
      void ctx.emit({
        type: "room.member",
        room,
        change: "nick",
        occupant: { nick: old, role: "participant", affiliation: "member" },
        newNick: nick,
        self: true,
      });
    },
    async editMessage(_conversation, target, text) {
      network.actions.push({ user: ctx.user, kind: "edit", target, detail: text.text });
    },
    async retractMessage(_conversation, target) {
      network.actions.push({ user: ctx.user, kind: "retract", target, detail: "" });
    },
    async react(_conversation, target, emojis) {
      network.actions.push({ user: ctx.user, kind: "react", target, detail: emojis.join(",") });
    },
    async close() {
      network.closeCount += 1;
      network.sessions.delete(ctx.user);
    },
  };
}

/** A two-step command: asks a name, then a colour, then greets. */
const twoStepCommand: AdhocCommand<{ name: string }> = {
  node: "test:greet",
  name: "Greet me",
  audience: "user",
  requiresRegistration: true,
  async step(ctx) {
    if (ctx.state === undefined) {
      return {
        kind: "form",
        state: { name: "" },
        form: {
          title: "Step 1",
          fields: [{ var: "name", type: "text-single", label: "Name", required: true }],
        },
      };
    }
    if (ctx.state.name === "") {
      const name = String(ctx.values.name ?? "");
      if (!name) return { kind: "error", message: "a name is required" };
      return {
        kind: "form",
        state: { name },
        form: {
          title: "Step 2",
          fields: [
            {
              var: "colour",
              type: "list-single",
              label: "Colour",
              options: [{ value: "red" }, { value: "blue" }],
            },
          ],
        },
      };
    }
    return { kind: "done", note: `Hello ${ctx.state.name}, you like ${String(ctx.values.colour)}.` };
  },
};
