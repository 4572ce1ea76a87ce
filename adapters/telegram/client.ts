/**
 * The one place that holds a bot token: a Bot API client on node-telegram-bot-api's `Api` with its
 * own retries switched off (`maxRetries: 0` — its retries of a send that timed out after Telegram
 * accepted it duplicate the message, and it cannot pace per chat), and ours on top:
 *
 * - 429: wait `retry_after` (the pacer then holds every request to that chat until the deadline),
 *   then try again; a wait longer than `maxRetryAfterSeconds` fails the call.
 * - 5xx, network errors, timeouts: exponential backoff with jitter, up to `maxAttempts`.
 * - Anything else fails at once.
 * - A call with a `deadline` (sends: settings.sendExpiryMs) stops waiting at it — for its pacing
 *   turn, a 429 deadline or a backoff — and fails as `expired`, so a message is answered instead
 *   of going out late; an attempt already on the wire runs to its end (HTTP timeouts bound it).
 *
 * Every failure leaves as a `TelegramFailure` whose text went through `redactToken`: the library's
 * own errors keep a `cause` that may hold request details, so they never leave this module.
 * File downloads (their URL contains the token) happen here too and return bytes only.
 */
import { Api, NetworkError, ParseError, TelegramApiError, TimeoutError } from "node-telegram-bot-api";
import type * as T from "node-telegram-bot-api/types";
import type { Logger } from "../../src/adapter/index.ts";
import { type PaceTarget, SendPacer, sleep } from "./pacing.ts";
import { redactToken } from "./redact.ts";
import type { TelegramSettings } from "./settings.ts";

export type { T };

/** A file download: its bytes, or why there are none to show. */
export type Download = { ok: true; data: Uint8Array } | { ok: false; reason: "too-big"; size?: number };

/** A failed Bot API call, safe to log and to show. */
export class TelegramFailure extends Error {
  constructor(
    readonly method: string,
    /**
     * `api`: Telegram answered `ok: false`; `expired`: the call's deadline passed while it waited
     * for its turn; the others: no usable answer.
     */
    readonly kind: "api" | "network" | "timeout" | "bad-response" | "aborted" | "expired",
    /** The Bot API error_code (HTTP status) for `api` failures. */
    readonly code: number | undefined,
    /** Telegram's description, e.g. "Forbidden: bot was blocked by the user". */
    readonly description: string,
    readonly parameters: { retry_after?: number; migrate_to_chat_id?: number } = {},
  ) {
    super(`${method} failed: ${code !== undefined ? `${code} ` : ""}${description}`);
    this.name = "TelegramFailure";
  }

  /** Worth trying again: rate limits, server errors, no answer. */
  get transient(): boolean {
    if (this.kind === "aborted" || this.kind === "expired") return false;
    if (this.kind !== "api") return true;
    return this.code === 429 || (this.code !== undefined && this.code >= 500);
  }
}

export interface CallOptions {
  /** Sends that create a message are paced per chat; other calls only wait out a 429 deadline. */
  pace?: PaceTarget;
  /** The chat a non-creating call is about, so a 429 deadline of that chat is respected. */
  chatId?: string;
  signal?: AbortSignal;
  /** False for calls where a retry would do more harm than a failure (none so far). */
  retry?: boolean;
  /**
   * Ms since the epoch after which the call stops waiting (for its pacing turn, a 429 deadline or
   * a retry backoff) and fails as `expired`. An attempt already sent runs to its end.
   */
  deadline?: number;
}

export class BotClient {
  private readonly api: Api;
  readonly pacer: SendPacer;

  constructor(
    private readonly token: string,
    private readonly settings: TelegramSettings,
    private readonly log: Logger,
    pacer?: SendPacer,
  ) {
    this.api = new Api(token, {
      apiRoot: settings.apiRoot,
      maxRetries: 0,
      timeoutMs: settings.requestTimeoutMs,
    });
    this.pacer = pacer ?? new SendPacer(settings.pacing);
  }

  /**
   * Runs one Bot API call with our retry policy. `run` gets the abort signal; it is called again
   * for each attempt.
   */
  async call<R>(
    method: string,
    run: (api: Api, signal?: AbortSignal) => Promise<R>,
    options: CallOptions = {},
  ): Promise<R> {
    if (options.deadline === undefined) return this.attempts(method, run, options, options.signal);
    // The waits between attempts also end at the deadline; the attempts themselves do not. (Our
    // own timer, cleared when the call ends, rather than AbortSignal.timeout's, which lingers.)
    const waits = new AbortController();
    const timer = setTimeout(
      () => waits.abort(new Error("deadline")),
      Math.max(0, options.deadline - Date.now()),
    );
    const onClose = () => waits.abort(options.signal?.reason);
    if (options.signal?.aborted) onClose();
    options.signal?.addEventListener("abort", onClose, { once: true });
    try {
      return await this.attempts(method, run, options, waits.signal);
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onClose);
    }
  }

  private async attempts<R>(
    method: string,
    run: (api: Api, signal?: AbortSignal) => Promise<R>,
    options: CallOptions,
    waitSignal: AbortSignal | undefined,
  ): Promise<R> {
    const { retry } = this.settings;
    const maxAttempts = options.retry === false ? 1 : retry.maxAttempts;
    let backoffStep = 0;
    /** An earlier attempt got no answer: Telegram may have taken it. */
    let unanswered = false;
    const stopped = (err: unknown): never => {
      if (options.signal?.aborted || options.deadline === undefined) return this.aborted(method, err);
      throw this.expired(method, options.deadline, unanswered);
    };
    for (let attempt = 1; ; attempt++) {
      if (options.pace) await this.pacer.admit(options.pace, waitSignal).catch(stopped);
      else if (options.chatId) await this.pacer.waitUnblocked(options.chatId, waitSignal).catch(stopped);
      if (options.deadline !== undefined && Date.now() >= options.deadline && !options.signal?.aborted)
        throw this.expired(method, options.deadline, unanswered);
      let failure: TelegramFailure;
      try {
        return await run(this.api, options.signal);
      } catch (err) {
        failure = this.toFailure(method, err, options.signal);
      }
      if (failure.kind === "network" || failure.kind === "timeout") unanswered = true;
      if (!failure.transient || attempt >= maxAttempts) throw failure;
      const chatId = options.pace?.chatId ?? options.chatId;
      if (failure.code === 429) {
        const seconds = failure.parameters.retry_after ?? 1;
        if (seconds > retry.maxRetryAfterSeconds) throw failure;
        this.pacer.block(chatId, seconds);
        this.log.info(
          { method, chat: chatId, retryAfter: seconds, attempt },
          "telegram asked to slow down; waiting",
        );
        if (!options.pace && !chatId)
          await sleep(seconds * 1000 + this.settings.pacing.marginMs, waitSignal).catch(stopped);
        continue;
      }
      const ceiling = Math.min(retry.maxMs, retry.baseMs * 2 ** backoffStep++);
      const wait = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
      this.log.info(
        { method, chat: chatId, attempt, wait, failure: failure.message },
        "telegram call failed; retrying",
      );
      await sleep(wait, waitSignal).catch(stopped);
    }
  }

  getMe(signal?: AbortSignal): Promise<T.User> {
    return this.call("getMe", (api, s) => api.getMe(s), { signal });
  }

  getUpdates(params: T.GetUpdatesParams, signal?: AbortSignal): Promise<T.Update[]> {
    return this.call("getUpdates", (api, s) => api.getUpdates(params, s), { signal });
  }

  /**
   * The bytes of a file known by `file_id`, at most `maxBytes`; `too-big` when it is larger (or
   * over the 20 MB Telegram lets bots download). The download URL holds the token and never
   * leaves this method; failures are TelegramFailures with no URL in them.
   */
  async download(fileId: string, maxBytes: number, signal?: AbortSignal): Promise<Download> {
    let file: T.File;
    try {
      file = await this.call("getFile", (api, s) => api.getFile({ file_id: fileId }, s), { signal });
    } catch (err) {
      if (err instanceof TelegramFailure && err.code === 400 && /too big/i.test(err.description))
        return { ok: false, reason: "too-big" };
      throw err;
    }
    if (file.file_size !== undefined && file.file_size > maxBytes)
      return { ok: false, reason: "too-big", size: file.file_size };
    if (!file.file_path)
      throw new TelegramFailure("getFile", "bad-response", undefined, "no file path given");
    const url = `${this.settings.apiRoot.replace(/\/+$/, "")}/file/bot${this.token}/${file.file_path}`;
    let response: Response;
    try {
      response = await fetch(url, {
        signal: signal ?? AbortSignal.timeout(this.settings.requestTimeoutMs),
        redirect: "error",
      });
    } catch (err) {
      throw this.toFailure("downloadFile", err, signal);
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new TelegramFailure("downloadFile", "api", response.status, "file download failed");
    }
    const length = Number(response.headers.get("content-length") ?? "0");
    if (length > maxBytes) {
      await response.body?.cancel();
      return { ok: false, reason: "too-big", size: length };
    }
    let data: Uint8Array;
    try {
      data = new Uint8Array(await response.arrayBuffer());
    } catch (err) {
      throw this.toFailure("downloadFile", err, signal);
    }
    return data.length > maxBytes ? { ok: false, reason: "too-big", size: data.length } : { ok: true, data };
  }

  /** The call waited past its deadline (CallOptions.deadline). */
  private expired(method: string, deadline: number, unanswered: boolean): TelegramFailure {
    this.log.warn(
      { method, lateMs: Date.now() - deadline, unanswered },
      "telegram call expired in the queue",
    );
    return new TelegramFailure(
      method,
      "expired",
      undefined,
      unanswered
        ? "it waited too long for its turn; an earlier attempt got no answer, so it may have arrived"
        : "it waited too long for its turn and was not sent",
    );
  }

  private aborted(method: string, err: unknown): never {
    throw new TelegramFailure(
      method,
      "aborted",
      undefined,
      err instanceof Error ? redactToken(err.message, this.token) : "aborted",
    );
  }

  /** Turns whatever the library threw into a TelegramFailure with no token in it. */
  private toFailure(method: string, err: unknown, signal?: AbortSignal): TelegramFailure {
    const clean = (text: string) => redactToken(text, this.token);
    if (signal?.aborted) return new TelegramFailure(method, "aborted", undefined, "cancelled");
    if (err instanceof TelegramApiError) {
      const parameters = {
        ...(err.parameters?.retry_after !== undefined ? { retry_after: err.parameters.retry_after } : {}),
        ...(err.parameters?.migrate_to_chat_id !== undefined
          ? { migrate_to_chat_id: err.parameters.migrate_to_chat_id }
          : {}),
      };
      return new TelegramFailure(method, "api", err.errorCode, clean(err.description), parameters);
    }
    if (err instanceof TimeoutError)
      return new TelegramFailure(method, "timeout", undefined, "no answer in time");
    if (err instanceof ParseError)
      return new TelegramFailure(method, "bad-response", undefined, "the answer was not JSON");
    if (err instanceof NetworkError) {
      // "Server error 502 on sendMessage" (an HTML error page) or a connection failure.
      const status = /Server error (\d{3})/.exec(err.message)?.[1];
      if (status)
        return new TelegramFailure(method, "api", Number(status), `HTTP ${status} from the Bot API`);
      return new TelegramFailure(method, "network", undefined, "could not reach the Bot API");
    }
    return new TelegramFailure(
      method,
      "network",
      undefined,
      clean(err instanceof Error ? err.message : String(err)),
    );
  }
}
