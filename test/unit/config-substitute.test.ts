// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the strings are configuration text with ${NAME} references.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { substitute } from "../../src/config/substitute.ts";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "postern-substitute-"));
  await writeFile(join(dir, "secret"), "s3cret value  \n\n");
  await writeFile(join(dir, "multi"), "line one\nline two\r\n");
  await writeFile(join(dir, "big"), "x".repeat(70 * 1024));
  await mkdir(join(dir, "folder"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function run(data: unknown, env: NodeJS.ProcessEnv = {}) {
  const result = substitute(data, { env, baseDir: dir });
  return { value: result.value, problems: result.problems.map((p) => `${p.path}: ${p.message}`), result };
}

describe("${NAME} references", () => {
  it("replaces references anywhere in a string, in nested mappings and lists", () => {
    const { value, problems } = run(
      { redis: { url: "redis://${HOST}:${PORT}/0" }, list: ["${HOST}", 5, true, null] },
      { HOST: "db.internal", PORT: "6380" },
    );
    expect(problems).toEqual([]);
    expect(value).toEqual({
      redis: { url: "redis://db.internal:6380/0" },
      list: ["db.internal", 5, true, null],
    });
  });

  it("uses the default of ${NAME:-default} when the variable is unset or empty", () => {
    const data = { a: "${A:-fallback}", b: "${B:-}", c: "${C:-x}" };
    expect(run(data, { A: "", C: "set" }).value).toEqual({ a: "fallback", b: "", c: "set" });
  });

  it("keeps an empty variable without default as empty text", () => {
    expect(run({ a: "[${EMPTY}]" }, { EMPTY: "" }).value).toEqual({ a: "[]" });
  });

  it("reads $${ as a literal ${", () => {
    expect(run({ a: "cost: $${HOME} and ${X}" }, { X: "1", HOME: "/root" }).value).toEqual({
      a: "cost: ${HOME} and 1",
    });
  });

  it("does not touch keys, or the content of variables", () => {
    expect(run({ "${KEY}": "${V}" }, { KEY: "k", V: "${KEY}" }).value).toEqual({ "${KEY}": "${KEY}" });
  });

  it("names the path and the variable when a variable is not set", () => {
    const { problems, result } = run({ gateways: [{ xmpp: { secret: "${IRC_SECRET}" } }] });
    expect(problems).toEqual(["gateways[0].xmpp.secret: environment variable IRC_SECRET is not set"]);
    expect([...result.failedPaths]).toEqual(["gateways[0].xmpp.secret"]);
  });

  it("reports each missing variable of one string", () => {
    expect(run({ url: "redis://${H}:${P}" }).problems).toEqual([
      "url: environment variable H is not set",
      "url: environment variable P is not set",
    ]);
  });

  it("reports malformed references", () => {
    expect(run({ a: "${1ST}", b: "${A-b}", c: "x ${OPEN" }).problems).toEqual([
      'a: invalid reference "${1ST}"; write ${NAME}, ${NAME:-default}, or $${ for a literal "${"',
      'b: invalid reference "${A-b}"; write ${NAME}, ${NAME:-default}, or $${ for a literal "${"',
      'c: unclosed "${"; write ${NAME}, ${NAME:-default}, or $${ for a literal "${"',
    ]);
  });

  it("does not quote a malformed reference inside a secret", () => {
    expect(run({ xmpp: { secret: "pa${ss word}" } }).problems).toEqual([
      'xmpp.secret: invalid reference; write ${NAME}, ${NAME:-default}, or $${ for a literal "${"',
    ]);
  });

  it("records which variables a value came from", () => {
    const { result } = run(
      { port: "${PORT}", url: "${A}${B}", fixed: "${X:-1}" },
      { PORT: "1", A: "a", B: "b" },
    );
    expect(Object.fromEntries(result.origins)).toEqual({
      port: "from environment variable PORT",
      url: "from environment variables A, B",
    });
  });
});

describe("*_file keys", () => {
  it("replaces the key by its name without _file, holding the file content without trailing newlines", () => {
    const { value, problems, result } = run({ xmpp: { host: "h", secret_file: join(dir, "secret") } });
    expect(problems).toEqual([]);
    expect(value).toEqual({ xmpp: { host: "h", secret: "s3cret value  " } });
    expect(result.origins.get("xmpp.secret")).toBe(`read from ${join(dir, "secret")}`);
  });

  it("keeps inner newlines and strips a trailing CRLF", () => {
    expect(run({ note_file: join(dir, "multi") }).value).toEqual({ note: "line one\nline two" });
  });

  it("resolves a relative path against the base folder and substitutes variables in it", () => {
    expect(run({ token_file: "${NAME}" }, { NAME: "secret" }).value).toEqual({ token: "s3cret value  " });
  });

  it("names the path and the file when the file cannot be read, never the content", () => {
    const missing = join(dir, "absent");
    const { problems, result, value } = run({
      gateways: [{ xmpp: { secret_file: missing } }],
      a_file: join(dir, "folder"),
      b_file: join(dir, "big"),
    });
    expect(problems).toEqual([
      `gateways[0].xmpp.secret_file: cannot read file ${missing}: no such file`,
      `a_file: cannot read file ${join(dir, "folder")}: it is a folder`,
      `b_file: cannot read file ${join(dir, "big")}: larger than 64 KiB`,
    ]);
    expect([...result.failedPaths]).toEqual(["gateways[0].xmpp.secret", "a", "b"]);
    expect(value).toEqual({ gateways: [{ xmpp: { secret: "" } }], a: "", b: "" });
  });

  it("refuses a key given both directly and as a file", () => {
    const { problems } = run({ xmpp: { secret: "x", secret_file: join(dir, "secret") } });
    expect(problems).toEqual(['xmpp.secret_file: both "secret" and "secret_file" are set; keep only one']);
  });

  it("asks for a file path when the value is not text", () => {
    expect(run({ secret_file: 5 }).problems).toEqual(["secret_file: expected the path of a file to read"]);
  });

  it("records which keys were written as *_file", () => {
    expect([...run({ gateways: [{ xmpp: { secret_file: join(dir, "secret") } }] }).result.fileKeys]).toEqual([
      "gateways[0].xmpp.secret",
    ]);
  });
});
