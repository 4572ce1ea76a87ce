/**
 * XEP-0050 ad-hoc commands: keeps command sessions between steps and offers the core's own
 * commands (Register, Unregister, Status) next to the adapter's.
 */
import { randomUUID } from "node:crypto";
import type { Element } from "@xmpp/component-core";
import type { AdhocCommand, CommandStep } from "../adapter/commands.ts";
import type { ConversationRef } from "../adapter/conversation.ts";
import type { Form, FormValues } from "../adapter/forms.ts";
import { type CommandRequest, commandErrorCondition, commandForm, commandResponse } from "../xmpp/adhoc.ts";
import { parseSubmittedForm, renderForm } from "../xmpp/forms.ts";
import { StanzaError } from "../xmpp/stanza-error.ts";
import type { GatewayContext } from "./gateway-context.ts";
import type { UserDirectory } from "./users.ts";

interface CommandSession {
  node: string;
  user: string;
  state: unknown;
  expires: number;
}

/** Command sessions idle longer than this are forgotten. */
const SESSION_TTL_MS = 10 * 60 * 1000;
/** Bound on open command sessions, so nobody can fill memory by starting commands. */
const MAX_SESSIONS = 1_000;

export class CommandRunner {
  private readonly sessions = new Map<string, CommandSession>();
  private readonly commands: AdhocCommand[];

  constructor(
    private readonly gw: GatewayContext,
    private readonly users: UserDirectory,
  ) {
    this.commands = [...coreCommands(gw, users), ...(gw.adapter.commands ?? [])];
  }

  /** The commands this user may see on a JID, for disco#items on the commands node. */
  async visibleTo(bareJid: string, on: "gateway" | "room" = "gateway"): Promise<AdhocCommand[]> {
    if (!this.users.isAllowed(bareJid)) return [];
    const admin = this.users.isAdmin(bareJid);
    const registered = await this.gw.store.registrations.isRegistered(this.gw.domain, bareJid);
    return this.commands.filter(
      (c) =>
        (c.on ?? "gateway") === on &&
        (c.audience === "user" || admin) &&
        (!c.requiresRegistration || registered || this.gw.adapter.registration.implicit),
    );
  }

  async execute(
    bareJid: string,
    request: CommandRequest,
    target: ConversationRef | undefined,
  ): Promise<Element> {
    this.expireOld();
    const on = target?.kind === "room" ? "room" : "gateway";
    const command = (await this.visibleTo(bareJid, on)).find((c) => c.node === request.node);
    if (!command) {
      const hidden = this.commands.find((c) => c.node === request.node && (c.on ?? "gateway") === on);
      if (!hidden) throw new StanzaError("item-not-found", "no such command");
      if (hidden.audience === "admin" || !this.users.isAllowed(bareJid))
        throw new StanzaError("forbidden", "you may not run this command");
      throw new StanzaError("registration-required", `register with ${this.gw.name} first`);
    }
    let state: unknown;
    let sessionId = request.sessionId;
    if (sessionId) {
      const session = this.sessions.get(sessionId);
      if (!session || session.user !== bareJid || session.node !== request.node) {
        throw new StanzaError(
          "bad-request",
          "unknown or expired command session",
          "modify",
          commandErrorCondition("bad-sessionid"),
        );
      }
      if (request.action === "cancel") {
        this.sessions.delete(sessionId);
        return commandResponse({ node: request.node, sessionId, status: "canceled" });
      }
      state = session.state;
    } else {
      if (request.action === "cancel")
        throw new StanzaError(
          "bad-request",
          "nothing to cancel",
          "modify",
          commandErrorCondition("bad-sessionid"),
        );
      if (this.sessions.size >= MAX_SESSIONS)
        throw new StanzaError("resource-constraint", "too many open commands", "wait");
      sessionId = randomUUID();
    }
    let values: FormValues = {};
    if (request.form) {
      const parsed = parseSubmittedForm(request.form);
      if (!parsed.ok)
        throw new StanzaError("bad-request", parsed.reason, "modify", commandErrorCondition("bad-payload"));
      values = parsed.values;
    }
    const live = this.users.existing(bareJid);
    let step: CommandStep;
    try {
      step = await command.step({
        user: bareJid,
        isAdmin: this.users.isAdmin(bareJid),
        session: live?.adapterSession ?? undefined,
        userState: this.gw.store.userState(this.gw.domain, bareJid),
        target,
        values,
        state,
      });
    } catch (err) {
      this.sessions.delete(sessionId);
      if (err instanceof StanzaError) throw err;
      this.gw.log.warn({ node: command.node, err: String(err) }, "command failed");
      return commandResponse({
        node: command.node,
        sessionId,
        status: "completed",
        note: { type: "error", text: "The command failed; please try again later." },
      });
    }
    switch (step.kind) {
      case "form":
        this.sessions.set(sessionId, {
          node: command.node,
          user: bareJid,
          state: step.state,
          expires: Date.now() + SESSION_TTL_MS,
        });
        return commandResponse({
          node: command.node,
          sessionId,
          status: "executing",
          form: commandForm(step.form),
        });
      case "done":
        this.sessions.delete(sessionId);
        return commandResponse({
          node: command.node,
          sessionId,
          status: "completed",
          note: step.note ? { type: "info", text: step.note } : undefined,
          form: step.form ? renderForm(step.form, "result") : undefined,
        });
      case "error":
        this.sessions.delete(sessionId);
        return commandResponse({
          node: command.node,
          sessionId,
          status: "completed",
          note: { type: "error", text: step.message },
        });
    }
  }

  private expireOld(): void {
    const now = Date.now();
    for (const [id, s] of this.sessions) if (s.expires < now) this.sessions.delete(id);
  }
}

/** The registration form as the user should see it: their current values, secrets left empty. */
export function registrationForm(gw: GatewayContext, current: Record<string, string> | null): Form {
  const spec = gw.adapter.registration;
  return {
    title: `Register with ${gw.name}`,
    instructions: spec.instructions,
    fields: spec.fields.map(({ secret, ...field }) => ({
      ...field,
      value: secret ? undefined : (current?.[field.var] ?? field.value),
    })),
  };
}

function coreCommands(gw: GatewayContext, users: UserDirectory): AdhocCommand[] {
  const register: AdhocCommand<"asked"> = {
    node: "register",
    name: "Register",
    audience: "user",
    requiresRegistration: false,
    async step(ctx) {
      if (ctx.state === undefined) {
        const current = await gw.store.registrations.load(gw.domain, ctx.user);
        return { kind: "form", form: registrationForm(gw, current?.values ?? null), state: "asked" };
      }
      try {
        await users.register(ctx.user, ctx.values);
      } catch (err) {
        if (err instanceof StanzaError) return { kind: "error", message: err.text ?? err.condition };
        throw err;
      }
      return { kind: "done", note: `You are registered with ${gw.name}.` };
    },
  };
  const unregister: AdhocCommand<"asked"> = {
    node: "unregister",
    name: "Unregister",
    audience: "user",
    requiresRegistration: true,
    async step(ctx) {
      if (ctx.state === undefined) {
        return {
          kind: "form",
          state: "asked",
          form: {
            title: "Unregister",
            instructions: `This deletes everything ${gw.name} keeps for you and closes your connections.`,
            fields: [
              {
                var: "confirm",
                type: "boolean",
                label: "Yes, delete my registration",
                required: true,
                value: "false",
              },
            ],
          },
        };
      }
      const confirm = ctx.values.confirm;
      const yes =
        confirm === "true" ||
        confirm === "1" ||
        (Array.isArray(confirm) && (confirm[0] === "true" || confirm[0] === "1"));
      if (!yes) return { kind: "done", note: "Nothing was deleted." };
      await users.unregister(ctx.user);
      return { kind: "done", note: "Your registration was deleted." };
    },
  };
  const status: AdhocCommand = {
    node: "status",
    name: "Status",
    audience: "user",
    requiresRegistration: true,
    async step(ctx) {
      const live = users.existing(ctx.user);
      return {
        kind: "done",
        note: live ? live.describe() : "No active session: you are not connected through this gateway.",
      };
    },
  };
  const roomSettings: AdhocCommand<"asked"> = {
    node: "room-settings",
    name: "Room settings",
    audience: "user",
    requiresRegistration: true,
    on: "room",
    async step(ctx) {
      const roomId = ctx.target?.id;
      const user = users.existing(ctx.user);
      const room = roomId ? user?.rooms.get(roomId) : undefined;
      if (!user || !room || !roomId) return { kind: "error", message: "Join the room first." };
      if (ctx.state === undefined) {
        return {
          kind: "form",
          state: "asked",
          form: {
            title: `Settings of ${roomId}`,
            fields: [
              {
                var: "persistent",
                type: "boolean",
                label: "Stay in this room while I am offline, and give me what I missed when I come back",
                value: room.persistent ? "true" : "false",
              },
            ],
          },
        };
      }
      const raw = ctx.values.persistent;
      const value = Array.isArray(raw) ? raw[0] : raw;
      const persistent = value === "true" || value === "1";
      await user.setPersistent(roomId, persistent);
      return {
        kind: "done",
        note: persistent
          ? "The room stays joined while you are offline."
          : "The room is left when your last client leaves.",
      };
    },
  };
  return [register, unregister, status, roomSettings];
}
