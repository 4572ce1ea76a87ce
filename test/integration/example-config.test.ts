/**
 * config.example.yaml is what an operator copies: the real command line must accept it (with the
 * secrets in the environment, as the file expects), name the path of a value broken in a copy,
 * and it must mention every option the core schema and the IRC adapter's settings have, with
 * the true default wherever it says "(default)".
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isScalar, parseDocument, visit } from "yaml";
import type { z } from "zod";
import { ircSettingsSchema } from "../../adapters/irc/settings.ts";
import { adapterRegistry } from "../../src/adapters.ts";
import { parseConfigText } from "../../src/config/load.ts";
import { createConfigSchema } from "../../src/config/schema.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const EXAMPLE = join(ROOT, "config.example.yaml");
const SECRETS = {
  POSTERN_ENCRYPTION_KEY: randomBytes(32).toString("hex"),
  IRC_COMPONENT_SECRET: "component-secret-canary",
};

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node --import tsx src/cli.ts check-config --config FILE` as an operator would. */
function checkConfig(file: string, env: Record<string, string>): Promise<Outcome> {
  return new Promise((done) => {
    // PATH and HOME only: the result must not depend on the developer's environment.
    const childEnv = { PATH: process.env.PATH, HOME: process.env.HOME, ...env };
    execFile(
      process.execPath,
      ["--import", "tsx", "src/cli.ts", "check-config", "--config", file],
      { cwd: ROOT, env: childEnv, timeout: 20_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : null;
        done({ code, stdout, stderr });
      },
    );
  });
}

let example: string;
let dir: string;

beforeAll(async () => {
  example = await readFile(EXAMPLE, "utf8");
  dir = await mkdtemp(join(tmpdir(), "postern-example-config-"));
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("config.example.yaml", () => {
  it("passes check-config with the secrets in the environment", async () => {
    expect(await checkConfig("config.example.yaml", SECRETS)).toEqual({
      code: 0,
      stdout: "config OK: 1 gateway(s): irc.localhost (irc)\n",
      stderr: "",
    });
  });

  it("works as it is for a local try-out, the demo defaults standing in for the secrets", async () => {
    expect(await checkConfig("config.example.yaml", {})).toEqual({
      code: 0,
      stdout: "config OK: 1 gateway(s): irc.localhost (irc)\n",
      stderr: "",
    });
  });

  it.each([
    {
      what: "a core option",
      line: "      port: 5347 # (default)",
      broken: "      port: 99999 # (default)",
      problem: "gateways[0].xmpp.port: expected a number from 1 to 65535, got 99999",
    },
    {
      what: "an IRC setting",
      line: "        refillMs: 2000 # (default)",
      broken: "        refillMs: soon # (default)",
      problem: 'gateways[0].settings.flood.refillMs: expected a number, got "soon"',
    },
  ])("a copy with $what broken exits 2 naming its path", async ({ line, broken, problem }) => {
    expect(example.split("\n")).toContain(line);
    const copy = join(dir, "broken.yaml");
    await writeFile(copy, example.replace(line, broken));
    const result = await checkConfig(copy, SECRETS);
    expect(result).toEqual({
      code: 2,
      stdout: "",
      stderr: `invalid configuration ${copy} (1 problem):\n${problem}\n`,
    });
  });

  it("mentions every option of the core schema and of the IRC settings", () => {
    const documented = documentedKeys(example);
    const options = [
      ...optionPaths(createConfigSchema(Object.keys(adapterRegistry))),
      ...optionPaths(ircSettingsSchema).map((path) => `gateways[].settings.${path}`),
    ];
    expect(options.length).toBeGreaterThan(40);
    const missing = options.filter((path) => !documented.has(path.split(".").at(-1)!.replace("[]", "")));
    expect(missing).toEqual([]);
  });

  it("holds the default value on every line marked (default)", () => {
    // Removing every `key: value # (default)` line must not change the loaded configuration.
    const document = parseDocument(example);
    let marked = 0;
    visit(document, {
      Pair(_, pair) {
        if (!isScalar(pair.value) || !pair.value.comment?.includes("(default")) return undefined;
        marked += 1;
        return visit.REMOVE;
      },
    });
    expect(marked).toBeGreaterThan(20);
    const options = {
      env: SECRETS,
      adapterSchemas: Object.fromEntries(
        Object.entries(adapterRegistry).map(([name, adapter]) => [name, adapter.configSchema]),
      ),
    };
    const withoutDefaults = parseConfigText(document.toString(), "without-defaults.yaml", options);
    expect(withoutDefaults).toEqual(parseConfigText(example, "config.example.yaml", options));
  });
});

/**
 * Every key written in the file, in use or commented out: `key:` at the start of a line (after
 * `#` and `- `), or inside a flow mapping (`{ host: …, port: … }`). `key_file:` counts as `key`.
 */
function documentedKeys(text: string): Set<string> {
  const keys = new Set<string>();
  for (const line of text.split("\n")) {
    const start = /^\s*(?:#\s*)?(?:-\s*)?([A-Za-z][A-Za-z0-9]*?)(?:_file)?:(?:\s|$)/.exec(line);
    if (start) keys.add(start[1]!);
    for (const flow of line.matchAll(/[{,]\s*([A-Za-z][A-Za-z0-9]*?)(?:_file)?:\s/g)) keys.add(flow[1]!);
  }
  return keys;
}

/** The internal definition zod 4 keeps on every schema; only the parts the walk below reads. */
interface SchemaDef {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  in?: z.ZodType;
  out?: z.ZodType;
  element?: z.ZodType;
  valueType?: z.ZodType;
}

/**
 * The dotted paths of every key in a schema (`gateways[].xmpp.port`, `servers.*.host`), through
 * defaults, optionals, preprocessing, arrays and records.
 */
function optionPaths(schema: z.ZodType, prefix = ""): string[] {
  const def = (schema as unknown as { _zod: { def: SchemaDef } })._zod.def;
  switch (def.type) {
    case "object":
      return Object.entries(def.shape ?? {}).flatMap(([key, value]) => {
        const path = prefix === "" ? key : `${prefix}.${key}`;
        return [path, ...optionPaths(value, path)];
      });
    case "optional":
    case "default":
    case "prefault":
    case "nullable":
      return optionPaths(def.innerType!, prefix);
    case "pipe":
      return [...optionPaths(def.in!, prefix), ...optionPaths(def.out!, prefix)];
    case "array":
      return optionPaths(def.element!, `${prefix}[]`);
    case "record":
      return optionPaths(def.valueType!, `${prefix}.*`);
    default:
      return [];
  }
}
