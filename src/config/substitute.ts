import { readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { isSecretPath } from "./describe.ts";
import { type ConfigProblem, formatPath, type PathSegment } from "./errors.ts";

/** Where substitution looks things up. */
export interface SubstitutionOptions {
  /** Environment variables for `${NAME}` references. */
  env: NodeJS.ProcessEnv;
  /** Folder that relative `*_file` paths are resolved against (the config file's folder). */
  baseDir: string;
}

/** The configuration with every reference resolved, and what went wrong on the way. */
export interface SubstitutionResult {
  value: unknown;
  problems: ConfigProblem[];
  /**
   * Formatted paths whose value could not be resolved. Their placeholder value would only cause a
   * second, misleading complaint from validation, so problems at or under them are dropped.
   */
  failedPaths: Set<string>;
  /** Formatted path → where its value came from, when not from the file itself (for messages). */
  origins: Map<string, string>;
  /** Formatted paths of keys that were written as `<key>_file` (so typos are named as written). */
  fileKeys: Set<string>;
}

const FILE_SUFFIX = "_file";
// A secret file is a few bytes; refusing big files keeps a wrong path (a log, a disk image) from
// being read into memory.
const MAX_FILE_BYTES = 64 * 1024;

/**
 * Resolves the references in a parsed YAML document before it is validated:
 *
 * - in every string value, `${NAME}` becomes the environment variable NAME and `${NAME:-text}`
 *   falls back to `text` when NAME is unset or empty; `$${` stands for a literal `${`;
 * - every key `<key>_file` is replaced by `<key>`, whose value is the content of that file with
 *   trailing newlines removed (the usual way container secrets are mounted).
 *
 * Problems name the path and the variable or file, never a value that could be a secret.
 */
export function substitute(data: unknown, options: SubstitutionOptions): SubstitutionResult {
  const result: SubstitutionResult = {
    value: undefined,
    problems: [],
    failedPaths: new Set(),
    origins: new Map(),
    fileKeys: new Set(),
  };
  result.value = walk(data, [], options, result);
  return result;
}

function walk(
  value: unknown,
  path: PathSegment[],
  options: SubstitutionOptions,
  result: SubstitutionResult,
): unknown {
  if (typeof value === "string") return substituteString(value, path, options.env, result);
  if (Array.isArray(value)) return value.map((item, index) => walk(item, [...path, index], options, result));
  if (!isPlainObject(value)) return value;

  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) {
    const childPath = [...path, key];
    if (!key.endsWith(FILE_SUFFIX) || key.length === FILE_SUFFIX.length) {
      out[key] = walk(child, childPath, options, result);
      continue;
    }
    const target = key.slice(0, -FILE_SUFFIX.length);
    const targetPath = [...path, target];
    result.fileKeys.add(formatPath(targetPath));
    if (Object.hasOwn(value, target)) {
      fail(result, childPath, targetPath, `both "${target}" and "${key}" are set; keep only one`);
      continue;
    }
    const file = walk(child, childPath, options, result);
    if (typeof file !== "string" || file === "") {
      fail(result, childPath, targetPath, "expected the path of a file to read");
      out[target] = "";
      continue;
    }
    const fullPath = resolve(options.baseDir, file);
    const content = readSmallFile(fullPath);
    if (content.ok) {
      out[target] = content.text.replace(/[\r\n]+$/, "");
      result.origins.set(formatPath(targetPath), `read from ${fullPath}`);
    } else {
      fail(result, childPath, targetPath, `cannot read file ${fullPath}: ${content.reason}`);
      out[target] = "";
    }
  }
  return out;
}

function fail(
  result: SubstitutionResult,
  problemPath: PathSegment[],
  failedPath: PathSegment[],
  message: string,
): void {
  result.problems.push({ path: formatPath(problemPath), message });
  result.failedPaths.add(formatPath(failedPath));
}

// `$${` (escape), `${...}` (a reference), or a `${` that is never closed.
const REFERENCE = /\$\$\{|\$\{([^{}]*)\}|\$\{/g;
const NAME_AND_DEFAULT = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s;

function substituteString(
  text: string,
  path: PathSegment[],
  env: NodeJS.ProcessEnv,
  result: SubstitutionResult,
): string {
  if (!text.includes("${")) return text;
  const used: string[] = [];
  let failed = false;
  const replaced = text.replace(REFERENCE, (match: string, inner: string | undefined) => {
    if (match === "$${") return "${";
    const parsed = inner === undefined ? null : NAME_AND_DEFAULT.exec(inner);
    if (!parsed) {
      failed = true;
      // The text around the reference may be part of a secret, so it is shown only where it is not.
      const shown = inner === undefined || isSecretPath(path) ? "" : ` ${JSON.stringify(match)}`;
      const what = inner === undefined ? 'unclosed "${"' : `invalid reference${shown}`;
      result.problems.push({
        path: formatPath(path),
        message: `${what}; write \${NAME}, \${NAME:-default}, or $\${ for a literal "\${"`,
      });
      return match;
    }
    const name = parsed[1]!;
    const fallback = parsed[2];
    const fromEnv = env[name];
    if (fallback !== undefined) {
      if (fromEnv === undefined || fromEnv === "") return fallback;
    } else if (fromEnv === undefined) {
      failed = true;
      result.problems.push({ path: formatPath(path), message: `environment variable ${name} is not set` });
      return match;
    }
    if (!used.includes(name)) used.push(name);
    return fromEnv;
  });
  if (failed) result.failedPaths.add(formatPath(path));
  else if (used.length > 0) {
    const noun = used.length === 1 ? "variable" : "variables";
    result.origins.set(formatPath(path), `from environment ${noun} ${used.join(", ")}`);
  }
  return replaced;
}

type ReadOutcome = { ok: true; text: string } | { ok: false; reason: string };

function readSmallFile(path: string): ReadOutcome {
  try {
    const stat = statSync(path);
    if (stat.isDirectory()) return { ok: false, reason: "it is a folder" };
    if (stat.size > MAX_FILE_BYTES) return { ok: false, reason: `larger than ${MAX_FILE_BYTES / 1024} KiB` };
    return { ok: true, text: readFileSync(path, "utf8") };
  } catch (error) {
    return { ok: false, reason: describeFsError(error) };
  }
}

/** A short reason for a failed file access, without the file content or a stack. */
export function describeFsError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case "ENOENT":
      return "no such file";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EISDIR":
      return "it is a folder";
    case "ENOTDIR":
      return "a part of the path is not a folder";
    default:
      return code ?? "unreadable";
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Date);
}
