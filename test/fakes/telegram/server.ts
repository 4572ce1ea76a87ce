/**
 * A fake Telegram Bot API server for tests: it speaks the documented HTTP API
 * (https://core.telegram.org/bots/api#making-requests) on a loopback port, errors
 * included, so the gateway can be tested against it with its real Telegram client.
 *
 * - `POST` or `GET /bot<token>/<method>`, method names case-insensitive; parameters in
 *   the query string or an urlencoded, JSON or multipart body.
 * - Every answer is `{ ok: true, result }` (plus `description` where the real server
 *   adds one, e.g. setWebhook) or `{ ok: false, error_code, description, parameters? }`
 *   with the HTTP status equal to error_code. Unknown token: 401 `Unauthorized`;
 *   unknown method: 404 `Not Found`. No answer ever contains the token.
 * - Files: `GET /file/bot<token>/<file_path>` after getFile.
 *
 * Tests script the Telegram side (users, chats, messages, business accounts), inspect
 * what bots did (`bot.sent()`, `requests()`, `waitForSent`), and inject faults
 * (`injectFault`) or switch on the flood check (`enforceRateLimits`). See the module
 * comments of updates.ts (long polling), users.ts (who sees what), ratelimit.ts,
 * faults.ts and access.ts for the rules each part follows.
 */
import { EventEmitter } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { MethodContext, MethodHandler } from "./context.ts";
import { ApiError, notFound, tooManyRequests, unauthorized } from "./errors.ts";
import { type FaultHandle, FaultList, type FaultSpec } from "./faults.ts";
import { INFO_METHODS } from "./info.ts";
import { MODIFY_METHODS } from "./modify.ts";
import { readParams } from "./params.ts";
import { Described, POLLING_METHODS } from "./polling.ts";
import { DEFAULT_FLOOD_LIMITS, FloodCheck, type FloodLimits } from "./ratelimit.ts";
import { SEND_METHODS } from "./send.ts";
import type { ChatType, TgChat, TgMessage, TgUpdate, TgUser } from "./types.ts";
import { UpdateQueue } from "./updates.ts";
import * as users from "./users.ts";
import { type BotRecord, type SentMessage, World } from "./world.ts";

export type { FaultHandle, FaultKind, FaultSpec } from "./faults.ts";
export type { FloodLimits } from "./ratelimit.ts";
export type * from "./types.ts";
export type {
  BusinessConnectSpec,
  BusinessMessageSpec,
  DocumentSpec,
  GroupEventSpec,
  UserEditSpec,
  UserMessageSpec,
  UserReactionSpec,
} from "./users.ts";
export { ScriptError } from "./users.ts";
export type { SentMessage } from "./world.ts";

/** Options of `startFakeTelegram`. */
export interface FakeTelegramOptions {
  host?: "127.0.0.1";
  /** Switch on the flood check (429 with retry_after); `true` uses DEFAULT_FLOOD_LIMITS. */
  enforceRateLimits?: boolean | Partial<FloodLimits>;
  /** Seed of the generator that decides `probability` faults. Default 1. */
  seed?: number;
  /** The first update_id of every bot. Default 100000. */
  firstUpdateId?: number;
}

/** A bot to create. */
export interface BotSpec {
  /** `<bot id>:<secret>`, as BotFather issues them. */
  token: string;
  /** Default: the number before the colon of the token. */
  id?: number;
  username: string;
  first_name: string;
  /** Privacy mode in groups; on by default as for new bots. */
  privacy?: boolean;
}

/** A user to create. */
export interface UserSpec {
  id: number;
  first_name: string;
  last_name?: string;
  username?: string;
  language_code?: string;
  /** A profile photo (getUserProfilePhotos). */
  photo?: Buffer;
}

/** A chat to create. */
export interface ChatSpec {
  /** Negative for groups (-123), supergroups and channels (-100...); a user id for private. */
  id: number;
  type: ChatType;
  title?: string;
  username?: string;
  /** Administrators (user or bot ids). The first is the creator unless `creator` is given. */
  admins?: number[];
  creator?: number;
  /** Members (user or bot ids); admins are members too. */
  members?: number[];
}

/** One request as the server saw it, for rate and ordering assertions. */
export interface RequestLogEntry {
  /** The method as written in the path. */
  method: string;
  /** The token with its secret part replaced: `123456:[redacted]`. */
  token: string;
  botId?: number;
  /** Server time (ms since the epoch) when the request arrived. */
  at: number;
  params: Record<string, unknown>;
  /** The HTTP status answered; undefined while pending or when the connection was cut. */
  status?: number;
  /** The `retry_after` seconds a 429 answer carried (injected or from the flood check). */
  retryAfter?: number;
}

/** Test handle on one bot. */
export class FakeBot {
  constructor(
    private readonly record: BotRecord,
    private readonly server: FakeTelegram,
  ) {}

  get token(): string {
    return this.record.token;
  }

  get id(): number {
    return this.record.user.id;
  }

  /** The bot's User object (as getMe returns it, without the capability flags). */
  get user(): TgUser {
    return structuredClone(this.record.user);
  }

  /** Everything the bot sent, edited, deleted, reacted to or signalled, oldest first. */
  sent(): SentMessage[] {
    return structuredClone(this.record.sent);
  }

  /** The updates queued for the bot and not yet confirmed by an offset. */
  pendingUpdates(): TgUpdate[] {
    return this.record.queue.peek();
  }

  /** Whether a long poll of this bot is waiting on the server right now. */
  isLongPolling(): boolean {
    return this.record.queue.isHolding();
  }

  /** Privacy mode in groups (BotFather's /setprivacy). */
  setPrivacy(on: boolean): void {
    this.record.privacy = on;
  }

  /** The webhook URL set by setWebhook ("" when none). */
  webhookUrl(): string {
    return this.record.webhookUrl;
  }

  /** Waits until this bot sent something matching `predicate`; fails naming `what`. */
  waitForSent(
    predicate: (sent: SentMessage) => boolean,
    what: string,
    timeoutMs = 5000,
  ): Promise<SentMessage> {
    return this.server.waitForSent((s, bot) => bot === this.token && predicate(s), what, timeoutMs);
  }
}

/** Every method of the fake, by lowercase name, with its documented spelling. */
const METHODS = new Map<string, { name: string; handler: MethodHandler }>(
  Object.entries({ ...POLLING_METHODS, ...SEND_METHODS, ...MODIFY_METHODS, ...INFO_METHODS }).map(
    ([name, handler]) => [name.toLowerCase(), { name, handler }],
  ),
);

/** Largest request body accepted (the Bot API's 50 MB upload limit plus form overhead). */
const MAX_BODY_BYTES = 52 * 1024 * 1024;

/** The running fake server. */
export class FakeTelegram {
  private readonly world = new World();
  private readonly log: RequestLogEntry[] = [];
  private readonly events = new EventEmitter();
  private readonly faults: FaultList;
  private readonly flood: FloodCheck | undefined;
  private readonly firstUpdateId: number;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly server = createServer((req, res) => {
    this.handle(req, res).catch((error: unknown) => {
      // A bug in the fake must fail loudly but never leak the token: no request data here.
      const message = error instanceof Error ? error.message : String(error);
      this.respond(res, 500, {
        ok: false,
        error_code: 500,
        description: `Internal Server Error: ${message}`,
      });
    });
  });
  private origin = "";

  /** Use `startFakeTelegram`. */
  constructor(options: FakeTelegramOptions = {}) {
    this.faults = new FaultList(options.seed ?? 1);
    this.firstUpdateId = options.firstUpdateId ?? 100_000;
    const limits = options.enforceRateLimits;
    this.flood =
      limits === undefined || limits === false
        ? undefined
        : new FloodCheck({ ...DEFAULT_FLOOD_LIMITS, ...(limits === true ? {} : limits) });
    this.events.setMaxListeners(0);
  }

  /** The API origin for clients (node-telegram-bot-api's `apiRoot`), e.g. `http://127.0.0.1:4711`. */
  get apiRoot(): string {
    return this.origin;
  }

  /** Starts listening on a free port of `host`. */
  async listen(host = "127.0.0.1"): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(0, host, () => resolve());
    });
    const { port } = this.server.address() as AddressInfo;
    this.origin = `http://${host}:${port}`;
  }

  /** Stops the server: waiting long polls and delayed answers are cut off. */
  async close(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    for (const bot of this.world.bots.values()) bot.queue.close();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  // ---- the Telegram side -------------------------------------------------------

  /** Creates a bot account. */
  addBot(spec: BotSpec): FakeBot {
    const match = /^(\d+):[\w-]+$/.exec(spec.token);
    if (match === null) throw new users.ScriptError("a bot token looks like 123456:ABC-secret");
    const user: TgUser = {
      id: spec.id ?? Number(match[1]),
      is_bot: true,
      first_name: spec.first_name,
      username: spec.username,
    };
    const record: BotRecord = {
      token: spec.token,
      user,
      privacy: spec.privacy ?? true,
      queue: new UpdateQueue(this.firstUpdateId),
      webhookUrl: "",
      sent: [],
      privateChats: new Set(this.openPrivateChats),
      blockedBy: new Set(),
    };
    this.world.bots.set(spec.token, record);
    return new FakeBot(record, this);
  }

  /** The handle of a bot created earlier. */
  bot(token: string): FakeBot {
    const record = this.world.bots.get(token);
    if (record === undefined) throw new users.ScriptError("unknown bot token");
    return new FakeBot(record, this);
  }

  /** Creates a user account. */
  addUser(spec: UserSpec): TgUser {
    const user: TgUser = {
      id: spec.id,
      is_bot: false,
      first_name: spec.first_name,
      ...(spec.last_name !== undefined ? { last_name: spec.last_name } : {}),
      ...(spec.username !== undefined ? { username: spec.username } : {}),
      ...(spec.language_code !== undefined ? { language_code: spec.language_code } : {}),
    };
    const photos =
      spec.photo === undefined ? [] : [this.world.files.add(spec.photo, "profile_photos", "jpg")];
    for (const photo of photos) this.world.photo(photo);
    this.world.users.set(user.id, { user, photos });
    return structuredClone(user);
  }

  private readonly openPrivateChats = new Set<number>();

  /**
   * Creates a chat. A "private" chat (id = a user id) means the user has started every
   * bot, so bots may write first; otherwise a private chat opens when the user writes.
   */
  addChat(spec: ChatSpec): TgChat {
    if (spec.type === "private") {
      const user = this.world.users.get(spec.id)?.user;
      if (user === undefined) throw new users.ScriptError(`unknown user ${spec.id}; call addUser first`);
      this.openPrivateChats.add(spec.id);
      for (const bot of this.world.bots.values()) bot.privateChats.add(spec.id);
      return this.world.privateChat(user);
    }
    if (spec.id >= 0) throw new users.ScriptError("group, supergroup and channel ids are negative");
    const admins = spec.admins ?? [];
    const chat: TgChat = {
      id: spec.id,
      type: spec.type,
      ...(spec.title !== undefined ? { title: spec.title } : {}),
      ...(spec.username !== undefined ? { username: spec.username } : {}),
    };
    const creator = spec.creator ?? admins[0];
    this.world.chats.set(spec.id, {
      chat,
      ...(creator !== undefined ? { creator } : {}),
      admins: new Set(admins),
      members: new Set([...admins, ...(spec.members ?? [])]),
    });
    return structuredClone(chat);
  }

  /** The user blocks the bot: sends to them fail with 403 `bot was blocked by the user`. */
  blockBot(botToken: string, userId: number): void {
    this.requireBot(botToken).blockedBy.add(userId);
  }

  /** The bytes stored under a file_id (e.g. what a bot uploaded), for checking uploads. */
  fileData(fileId: string): Buffer | undefined {
    const data = this.world.files.get(fileId)?.data;
    return data === undefined ? undefined : Buffer.from(data);
  }

  /** A user sends a message (see users.ts for who receives the update). */
  userSends(botToken: string, spec: users.UserMessageSpec): TgMessage {
    return users.userSends(this.world, botToken, spec);
  }

  /** A user edits one of their messages (edited_message). */
  userEdits(botToken: string, spec: users.UserEditSpec): TgMessage {
    return users.userEdits(this.world, botToken, spec);
  }

  /** A user changes their reactions (message_reaction, if the bot allowed that update type). */
  userReacts(botToken: string, spec: users.UserReactionSpec): void {
    users.userReacts(this.world, botToken, spec);
  }

  /** A service event in a group: members, title, pin, or upgrade to a supergroup. */
  groupEvent(spec: users.GroupEventSpec): TgMessage {
    return users.groupEvent(this.world, spec);
  }

  /** A business account connects to the bot (business_connection). Returns the connection id. */
  connectBusiness(botToken: string, spec: users.BusinessConnectSpec): string {
    return users.connectBusiness(this.world, botToken, spec);
  }

  /** A message in a business chat (business_message). */
  businessUserSends(botToken: string, spec: users.BusinessMessageSpec): TgMessage {
    return users.businessUserSends(this.world, botToken, spec);
  }

  /** A business message is edited (edited_business_message). */
  businessEdits(
    botToken: string,
    spec: { connection_id: string; chat: number; message_id: number; text: string },
  ): TgMessage {
    return users.businessEdits(this.world, botToken, spec);
  }

  /** Business messages are deleted (deleted_business_messages). */
  businessDeletes(
    botToken: string,
    spec: { connection_id: string; chat: number; message_ids: number[] },
  ): void {
    users.businessDeletes(this.world, botToken, spec);
  }

  // ---- inspection and faults ------------------------------------------------------

  /** Every Bot API request so far, oldest first (tokens redacted). */
  requests(): RequestLogEntry[] {
    return structuredClone(this.log);
  }

  /**
   * Waits until any bot sent something matching `predicate` (already sent counts).
   * Rejects after `timeoutMs` with a message naming `what` and what was sent instead.
   */
  waitForSent(
    predicate: (sent: SentMessage, botToken: string) => boolean,
    what: string,
    timeoutMs = 5000,
  ): Promise<SentMessage> {
    const find = () => {
      for (const bot of this.world.bots.values()) {
        const hit = bot.sent.find((s) => predicate(s, bot.token));
        if (hit !== undefined) return structuredClone(hit);
      }
      return undefined;
    };
    const already = find();
    if (already !== undefined) return Promise.resolve(already);
    return new Promise((resolve, reject) => {
      const onSent = () => {
        const hit = find();
        if (hit === undefined) return;
        cleanup();
        resolve(hit);
      };
      const timer = setTimeout(() => {
        cleanup();
        const seen = [...this.world.bots.values()].flatMap((b) =>
          b.sent.map((s) => `${s.method}→${s.chat_id}`),
        );
        reject(
          new Error(`timed out after ${timeoutMs} ms waiting for ${what}; bots sent: [${seen.join(", ")}]`),
        );
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.events.off("sent", onSent);
      };
      this.events.on("sent", onSent);
    });
  }

  /** Adds a fault (see faults.ts). */
  injectFault(spec: FaultSpec): FaultHandle {
    return this.faults.add(spec);
  }

  // ---- HTTP ---------------------------------------------------------------------

  private requireBot(token: string): BotRecord {
    const bot = this.world.bots.get(token);
    if (bot === undefined) throw new users.ScriptError("unknown bot token");
    return bot;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://fake.invalid");
    const api = /^\/bot([^/]*)\/([^/]*)$/.exec(url.pathname);
    if (api !== null) return this.handleApi(req, res, decodeURIComponent(api[1]!), api[2]!, url.searchParams);
    const file = /^\/file\/bot([^/]*)\/(.+)$/.exec(url.pathname);
    if (file !== null)
      return this.handleFile(res, decodeURIComponent(file[1]!), decodeURIComponent(file[2]!));
    this.respondError(res, notFound());
  }

  private async handleApi(
    req: IncomingMessage,
    res: ServerResponse,
    token: string,
    method: string,
    query: URLSearchParams,
  ): Promise<void> {
    const entry: RequestLogEntry = { method, token: redact(token), at: Date.now(), params: {} };
    this.log.push(entry);
    const answer = (status: number, body: unknown) => {
      entry.status = status;
      this.respond(res, status, body);
    };
    const fail = (error: ApiError) => {
      if (error.parameters?.retry_after !== undefined) entry.retryAfter = error.parameters.retry_after;
      answer(error.code, errorBody(error));
    };
    const body = await readBody(req);
    const bot = this.world.bots.get(token);
    if (bot !== undefined) entry.botId = bot.user.id;
    if (body === "too-large") return fail(new ApiError(413, "Request Entity Too Large"));
    if (bot === undefined) return fail(unauthorized());
    const entryMethod = METHODS.get(method.toLowerCase());
    if (entryMethod === undefined) return fail(notFound());
    let params: ReturnType<typeof readParams>;
    try {
      params = readParams(query, req.headers["content-type"], body);
    } catch (error) {
      if (error instanceof ApiError) return fail(error);
      throw error;
    }
    entry.params = params.toLog();
    const fault = this.faults.take(entryMethod.name, token);
    if (fault !== undefined && "status" in fault) return this.answerFault(res, entry, fault);
    if (fault?.kind === "reset-before") return void req.socket.destroy();
    if (fault?.kind === "delay") await this.sleep(fault.ms);
    const ctx: MethodContext = {
      world: this.world,
      bot,
      params,
      flood: this.flood,
      record: (sent) => {
        bot.sent.push({ method: entryMethod.name, ...sent, params: params.toLog(), at: Date.now() });
        this.events.emit("sent");
      },
    };
    let result: unknown;
    try {
      result = await entryMethod.handler(ctx);
    } catch (error) {
      if (error instanceof ApiError)
        return fault?.kind === "reset-after" ? void req.socket.destroy() : fail(error);
      throw error;
    }
    if (fault?.kind === "reset-after") return void req.socket.destroy();
    if (result instanceof Described) {
      return answer(200, { ok: true, result: result.result, description: result.description });
    }
    answer(200, { ok: true, result });
  }

  private answerFault(
    res: ServerResponse,
    entry: RequestLogEntry,
    fault: Extract<FaultSpec["kind"], { status: number }>,
  ): void {
    entry.status = fault.status;
    if (fault.status === 429) {
      entry.retryAfter = fault.retry_after;
      this.respondError(res, tooManyRequests(fault.retry_after));
      return;
    }
    const description = "description" in fault ? fault.description : undefined;
    if ((fault.status === 502 || fault.status === 503) && description === undefined) {
      // What the nginx in front of the Bot API sends: HTML, not JSON.
      const title = fault.status === 502 ? "502 Bad Gateway" : "503 Service Temporarily Unavailable";
      res.writeHead(fault.status, { "content-type": "text/html" });
      res.end(
        `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`,
      );
      return;
    }
    this.respond(res, fault.status, {
      ok: false,
      error_code: fault.status,
      description: description ?? "Internal Server Error",
    });
  }

  private handleFile(res: ServerResponse, token: string, path: string): void {
    const file = this.world.bots.has(token) ? this.world.files.byFilePath(path) : undefined;
    if (file === undefined) {
      this.respondError(res, notFound());
      return;
    }
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": file.data.length });
    res.end(file.data);
  }

  private respondError(res: ServerResponse, error: ApiError): void {
    this.respond(res, error.code, errorBody(error));
  }

  private respond(res: ServerResponse, status: number, body: unknown): void {
    if (res.headersSent || res.destroyed) return;
    const json = JSON.stringify(body);
    res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(json) });
    res.end(json);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.add(timer);
    });
  }
}

function errorBody(error: ApiError): Record<string, unknown> {
  return {
    ok: false,
    error_code: error.code,
    description: error.description,
    ...(error.parameters !== undefined ? { parameters: error.parameters } : {}),
  };
}

/** `123456:secret` → `123456:[redacted]`; anything else → `[redacted]`. */
function redact(token: string): string {
  const match = /^(\d+):/.exec(token);
  return match === null ? "[redacted]" : `${match[1]}:[redacted]`;
}

/** Buffers a request body, refusing bodies over MAX_BODY_BYTES. */
async function readBody(req: IncomingMessage): Promise<Buffer | "too-large"> {
  const chunks: Buffer[] = [];
  let size = 0;
  // Keep draining an oversized body: leaving the loop early would destroy the socket
  // before the 413 can be sent.
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size <= MAX_BODY_BYTES) chunks.push(buffer);
  }
  return size > MAX_BODY_BYTES ? "too-large" : Buffer.concat(chunks);
}

/** Starts a fake Bot API server on a free loopback port. */
export async function startFakeTelegram(options: FakeTelegramOptions = {}): Promise<FakeTelegram> {
  const fake = new FakeTelegram(options);
  await fake.listen(options.host ?? "127.0.0.1");
  return fake;
}
