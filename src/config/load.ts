import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { parseDocument } from "yaml";
import type { z } from "zod";
import { ConfigError, type ConfigProblem } from "./errors.ts";
import { expectation, problemsFromIssues } from "./issues.ts";
import { createConfigSchema, type PosternConfig } from "./schema.ts";
import { describeFsError, type SubstitutionResult, substitute } from "./substitute.ts";

/** What the loader needs besides the file. */
export interface LoadOptions {
  /** Environment for `${NAME}` references; `process.env` when absent. */
  env?: NodeJS.ProcessEnv;
  /** Adapter name → zod schema of that adapter's `settings` section. */
  adapterSchemas: Record<string, z.ZodType>;
  /** Folder for relative `*_file` paths; the config file's folder (or the working folder for text). */
  baseDir?: string;
}

/**
 * Reads, substitutes and validates the configuration file.
 *
 * @throws {ConfigError} listing every problem found, when the file cannot be read or is invalid.
 */
export async function loadConfig(path: string, opts: LoadOptions): Promise<PosternConfig> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new ConfigError(path, [
      { path, message: `cannot read the configuration file: ${describeFsError(error)}` },
    ]);
  }
  return parseConfigText(text, path, { ...opts, baseDir: opts.baseDir ?? dirname(resolve(path)) });
}

/**
 * Parses configuration text; `sourceName` names it in messages (a file name, or "test.yaml").
 *
 * @throws {ConfigError} listing every problem found.
 */
export function parseConfigText(text: string, sourceName: string, opts: LoadOptions): PosternConfig {
  const data = parseYaml(text, sourceName);
  const substituted = substitute(data, {
    env: opts.env ?? process.env,
    baseDir: opts.baseDir ?? process.cwd(),
  });

  const schema = createConfigSchema(Object.keys(opts.adapterSchemas));
  const core = schema.safeParse(substituted.value, { error: expectation });
  const context = { origins: substituted.origins, fileKeys: substituted.fileKeys };
  const validationProblems = core.success
    ? []
    : problemsFromIssues(core.error.issues, { ...context, input: substituted.value, schema, prefix: [] });

  const settings = validateSettings(substituted, opts.adapterSchemas);
  validationProblems.push(...settings.problems);

  const problems = [...substituted.problems, ...withoutEchoes(validationProblems, substituted.failedPaths)];
  if (problems.length > 0 || !core.success) throw new ConfigError(sourceName, problems);
  return {
    ...core.data,
    gateways: core.data.gateways.map((gateway, index) => ({ ...gateway, settings: settings.values[index] })),
  };
}

function parseYaml(text: string, sourceName: string): unknown {
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (document.errors.length > 0) {
    throw new ConfigError(
      sourceName,
      document.errors.map((error) => {
        const position = error.linePos?.[0];
        const where = position === undefined ? sourceName : `${sourceName}:${position.line}:${position.col}`;
        // The YAML library appends an excerpt of the offending line, which may hold a secret: keep
        // only the description.
        const message = error.message.split(" at line ")[0]!.split("\n")[0]!;
        return { path: where, message: `YAML syntax error: ${message}` };
      }),
    );
  }
  let data: unknown;
  try {
    data = document.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new ConfigError(sourceName, [
      { path: sourceName, message: `cannot read the YAML: ${(error as Error).message}` },
    ]);
  }
  if (data === null || data === undefined) {
    throw new ConfigError(sourceName, [
      { path: sourceName, message: "the file is empty; expected the sections redis, secrets and gateways" },
    ]);
  }
  return data;
}

/**
 * Validates each gateway's `settings` with its adapter's schema. This runs on the raw gateways,
 * independently of the core validation, so a bad port and a bad setting are reported together.
 */
function validateSettings(
  substituted: SubstitutionResult,
  adapterSchemas: Record<string, z.ZodType>,
): { values: unknown[]; problems: ConfigProblem[] } {
  const values: unknown[] = [];
  const problems: ConfigProblem[] = [];
  const root = substituted.value;
  const gateways = isRecord(root) && Array.isArray(root.gateways) ? root.gateways : [];
  gateways.forEach((gateway: unknown, index) => {
    if (!isRecord(gateway) || typeof gateway.adapter !== "string") return;
    const schema = Object.hasOwn(adapterSchemas, gateway.adapter)
      ? adapterSchemas[gateway.adapter]
      : undefined;
    if (schema === undefined) return; // the core schema reports the unknown adapter
    const input = gateway.settings ?? {};
    const result = schema.safeParse(input, { error: expectation });
    if (result.success) values[index] = result.data;
    else {
      const prefix = ["gateways", index, "settings"];
      problems.push(
        ...problemsFromIssues(result.error.issues, {
          input,
          schema,
          prefix,
          origins: substituted.origins,
          fileKeys: substituted.fileKeys,
        }),
      );
    }
  });
  return { values, problems };
}

/** Drops validation problems about values whose substitution already failed (and was reported). */
function withoutEchoes(problems: ConfigProblem[], failedPaths: ReadonlySet<string>): ConfigProblem[] {
  if (failedPaths.size === 0) return problems;
  return problems.filter((problem) => {
    for (const failed of failedPaths) {
      if (
        problem.path === failed ||
        problem.path.startsWith(`${failed}.`) ||
        problem.path.startsWith(`${failed}[`)
      ) {
        return false;
      }
    }
    return true;
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export { ConfigError, type ConfigProblem } from "./errors.ts";
