import { describe, expect, it } from "vitest";
import {
  ctcpReply,
  ctcpReplyLine,
  MAX_CTCP_REPLY_ARG_BYTES,
  parseCtcp,
} from "../../../adapters/irc/protocol/ctcp.ts";
import { UnsafeIrcParamError } from "../../../adapters/irc/protocol/params.ts";

describe("parseCtcp", () => {
  it("reads a wrapped command and its arguments", () => {
    expect(parseCtcp("\x01ACTION waves hello\x01")).toEqual({ command: "ACTION", args: "waves hello" });
    expect(parseCtcp("\x01VERSION\x01")).toEqual({ command: "VERSION", args: "" });
    expect(parseCtcp("\x01PING 12345\x01")).toEqual({ command: "PING", args: "12345" });
  });

  it("tolerates a missing final \\x01", () => {
    expect(parseCtcp("\x01ACTION waves")).toEqual({ command: "ACTION", args: "waves" });
  });

  it("upper-cases the command and keeps argument spacing", () => {
    expect(parseCtcp("\x01action  two  spaces \x01")).toEqual({ command: "ACTION", args: " two  spaces " });
  });

  it.each([
    ["hello"],
    [" \x01PING 1\x01"],
    ["\x01"],
    ["\x01\x01"],
    ["\x01 PING\x01"],
    ["\x01A\x01B\x01"],
    [""],
  ])("returns null for %j", (text) => {
    expect(parseCtcp(text)).toBeNull();
  });
});

describe("ctcpReply", () => {
  it("wraps the command and arguments in \\x01", () => {
    expect(ctcpReply("VERSION", "Postern 0.1")).toBe("\x01VERSION Postern 0.1\x01");
    expect(ctcpReply("ping", "123")).toBe("\x01PING 123\x01");
    expect(ctcpReply("TIME", "")).toBe("\x01TIME\x01");
  });

  it("removes control characters and line breaks from the arguments", () => {
    expect(ctcpReply("PING", "1\x01\r\nQUIT :x\0\u2028")).toBe("\x01PING 1QUIT :x\x01");
  });

  it("bounds the argument length", () => {
    const reply = ctcpReply("PING", "é".repeat(1000));
    expect(Buffer.byteLength(reply) - "\x01PING \x01".length).toBeLessThanOrEqual(MAX_CTCP_REPLY_ARG_BYTES);
  });

  it("refuses a command that is not one word", () => {
    expect(() => ctcpReply("VER SION", "")).toThrow(RangeError);
    expect(() => ctcpReply("", "")).toThrow(RangeError);
    expect(() => ctcpReply("A\x01", "")).toThrow(RangeError);
  });
});

describe("ctcpReplyLine", () => {
  it("builds a NOTICE to the asking nick", () => {
    expect(ctcpReplyLine("alice", "VERSION", "Postern")).toBe("NOTICE alice :\x01VERSION Postern\x01");
  });

  it("refuses an unsafe nick", () => {
    expect(() => ctcpReplyLine("a\r\nQUIT", "PING", "1")).toThrow(UnsafeIrcParamError);
  });
});
