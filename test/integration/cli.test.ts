import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");
const FIXTURES = "test/fixtures/config";
const VERSION = (JSON.parse(readFileSync(resolve(ROOT, "package.json"), "utf8")) as { version: string })
  .version;

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real command line in a child process, as an operator would. */
function postern(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  entry = ["--import", "tsx", "src/cli.ts"],
): Promise<Outcome> {
  return new Promise((done) => {
    // PATH and HOME only: the test must not depend on the developer's environment.
    const childEnv = { PATH: process.env.PATH, HOME: process.env.HOME, ...env };
    execFile(
      process.execPath,
      [...entry, ...args],
      { cwd: ROOT, env: childEnv, timeout: 20_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : null;
        done({ code, stdout, stderr });
      },
    );
  });
}

describe("postern check-config", () => {
  it("accepts a valid file and summarises its gateways", async () => {
    const result = await postern(["check-config", "--config", `${FIXTURES}/full.yaml`], {
      REDIS_PASSWORD: "redis-pw",
      IRC_COMPONENT_SECRET: "irc-secret",
    });
    expect(result).toEqual({
      code: 0,
      stdout: "config OK: 2 gateway(s): irc.localhost (irc), telegram.localhost (telegram)\n",
      stderr: "",
    });
  });

  it("takes the file from POSTERN_CONFIG when --config is absent", async () => {
    const result = await postern(["check-config"], { POSTERN_CONFIG: `${FIXTURES}/minimal.yaml` });
    expect(result.stdout).toBe("config OK: 1 gateway(s): irc.localhost (irc)\n");
    expect(result.code).toBe(0);
  });

  it("prints every problem of a broken file to stderr and exits with 2", async () => {
    const result = await postern(["check-config", "-c", `${FIXTURES}/broken.yaml`]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toBe(
      [
        `invalid configuration ${FIXTURES}/broken.yaml (7 problems):`,
        'log.level: expected one of trace, debug, info, warn, error, got "loud"',
        'secrets.encryptionKey: expected 64 hex characters or the base64 of 32 bytes (make one with: openssl rand -hex 32), got "***"',
        'gateways[0].xmpp.port: expected a number from 1 to 65535, got "abc"',
        "gateways[0].xmpp.secret: required, expected the component secret shared with the XMPP server",
        'gateways[0].xmpp.sercet: unknown key (did you mean "secret"?)',
        'gateways[1].adapter: unknown adapter "foo", expected one of irc, telegram',
        'gateways[1].domain: duplicate domain "irc.localhost", already used by gateways[0]',
        "",
      ].join("\n"),
    );
    expect(result.stderr).not.toContain("not-a-key-but-a-secret");
  });

  it("names a missing environment variable", async () => {
    const result = await postern(["check-config", "--config", `${FIXTURES}/full.yaml`], {
      REDIS_PASSWORD: "x",
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      "gateways[0].xmpp.secret: environment variable IRC_COMPONENT_SECRET is not set\n",
    );
  });

  it("says a missing file is missing", async () => {
    const result = await postern(["check-config", "--config", "nowhere.yaml"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      "invalid configuration nowhere.yaml (1 problem):\nnowhere.yaml: cannot read the configuration file: no such file\n",
    );
  });
});

describe("postern run", () => {
  it("stops with 2 on a broken configuration before connecting to anything", async () => {
    const result = await postern(["run", "--config", `${FIXTURES}/broken.yaml`]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`invalid configuration ${FIXTURES}/broken.yaml (7 problems):\n`);
    expect(result.stdout).toBe("");
  });
});

describe("postern options and usage", () => {
  it("prints the version", async () => {
    expect(await postern(["--version"])).toEqual({ code: 0, stdout: `postern ${VERSION}\n`, stderr: "" });
  });

  it("prints the usage for --help", async () => {
    const result = await postern(["--help"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: postern <command> \[options\]\n/);
    for (const line of [
      "  run ",
      "  check-config ",
      "  doctor ",
      "  -c, --config FILE ",
      "  -V, --version ",
    ]) {
      expect(result.stdout).toContain(line);
    }
  });

  it("rejects an unknown command with the usage and exit code 2", async () => {
    const result = await postern(["frobnicate"]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(/^postern: unknown command "frobnicate"\n\nUsage: postern <command>/);
  });

  it("rejects an unknown option and a missing command", async () => {
    const option = await postern(["check-config", "--confg", "x.yaml"]);
    expect(option.code).toBe(2);
    expect(option.stderr).toMatch(/^postern: Unknown option '--confg'\n\nUsage:/);
    const none = await postern([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^postern: no command given\n\nUsage:/);
  });

  it("asks for a configuration file when none is given", async () => {
    const result = await postern(["check-config"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /^postern: no configuration file: give --config FILE or set POSTERN_CONFIG\n/,
    );
  });

  it("works through the installed bin/postern.js", async () => {
    const result = await postern(["check-config", "-c", `${FIXTURES}/minimal.yaml`], {}, ["bin/postern.js"]);
    expect(result).toEqual({ code: 0, stdout: "config OK: 1 gateway(s): irc.localhost (irc)\n", stderr: "" });
  });
});
