import { z } from "zod";
import { describeValue } from "./describe.ts";
import { type ConfigProblem, formatPath, type PathSegment } from "./errors.ts";
import { closestMatch } from "./suggest.ts";

/** What the loader knows about the document, to turn zod issues into operator-facing problems. */
export interface IssueContext {
  /** The (substituted) value that was validated, to show what was found. */
  input: unknown;
  /** The schema it was validated with, to list the keys an unknown key may have meant. */
  schema: z.core.$ZodType;
  /** Where `input` sits in the file, e.g. `["gateways", 0, "settings"]` for adapter settings. */
  prefix: readonly PathSegment[];
  /** Formatted path → where a value came from (environment variable, file). */
  origins: ReadonlyMap<string, string>;
  /** Formatted paths of keys written as `<key>_file`. */
  fileKeys: ReadonlySet<string>;
}

/**
 * Turns zod issues into problems of the form `<path>: <what was expected>, got <what was found>`.
 *
 * Messages that start with "expected" describe what was expected; for them the value found is
 * added ("got …"), or "required" when it is missing. Other messages are complete sentences and
 * are shown as they are.
 */
export function problemsFromIssues(
  issues: readonly z.core.$ZodIssue[],
  context: IssueContext,
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const issue of issues) {
    const path = issue.path.map(toSegment);
    if (issue.code === "unrecognized_keys") {
      const known = knownKeys(context.schema, path);
      for (const key of issue.keys)
        problems.push(unknownKey([...context.prefix, ...path], key, known, context));
      continue;
    }
    const fullPath = [...context.prefix, ...path];
    problems.push({
      path: formatPath(fullPath),
      message: explain(issue.message, valueAt(context.input, path), fullPath, context),
    });
  }
  return problems;
}

function explain(message: string, found: unknown, path: PathSegment[], context: IssueContext): string {
  if (!message.startsWith("expected")) return message;
  if (found === undefined) return `required, ${message}`;
  if (/\bgot\b/.test(message)) return message;
  const origin = context.origins.get(formatPath(path));
  return `${message}, got ${describeValue(found, path)}${origin === undefined ? "" : ` (${origin})`}`;
}

function unknownKey(
  objectPath: PathSegment[],
  key: string,
  known: readonly string[],
  context: IssueContext,
): ConfigProblem {
  // A `secret_file` key became `secret` during substitution: name the key as the operator wrote it.
  const fromFile = context.fileKeys.has(formatPath([...objectPath, key]));
  const written = fromFile ? `${key}_file` : key;
  const guess = closestMatch(key, known);
  const hint = guess === undefined ? "" : ` (did you mean "${fromFile ? `${guess}_file` : guess}"?)`;
  return { path: formatPath([...objectPath, written]), message: `unknown key${hint}` };
}

/**
 * The default "expected …" text for issues whose schema has no message of its own (typically
 * adapter schemas). Pass it as the `error` option of `safeParse`.
 */
export function expectation(issue: z.core.$ZodRawIssue): string {
  switch (issue.code) {
    case "invalid_type":
      return `expected ${kindName(issue.expected)}`;
    case "too_small":
      return `expected ${bound(issue.origin, issue.minimum, issue.inclusive ?? true, "min")}`;
    case "too_big":
      return `expected ${bound(issue.origin, issue.maximum, issue.inclusive ?? true, "max")}`;
    case "invalid_format":
      return issue.format === "regex" && issue.pattern !== undefined
        ? `expected text matching ${issue.pattern}`
        : `expected a valid ${issue.format}`;
    case "invalid_value":
      return issue.values.length === 1
        ? `expected ${JSON.stringify(issue.values[0])}`
        : `expected one of ${issue.values.map(String).join(", ")}`;
    case "not_multiple_of":
      return `expected a multiple of ${issue.divisor}`;
    case "invalid_union":
      return "expected one of the accepted forms";
    case "invalid_key":
      return "has a key that is not allowed here";
    case "invalid_element":
      return "has an entry that is not allowed here";
    case "unrecognized_keys":
      return "has unknown keys";
    default:
      return issue.message ?? "is not valid";
  }
}

function kindName(kind: string): string {
  switch (kind) {
    case "string":
      return "text";
    case "number":
      return "a number";
    case "int":
      return "a whole number";
    case "boolean":
      return "true or false";
    case "array":
      return "a list";
    case "object":
    case "record":
      return "a mapping";
    case "null":
      return "an empty value";
    default:
      return `a ${kind}`;
  }
}

function bound(
  origin: string,
  limit: number | bigint | Date,
  inclusive: boolean,
  side: "min" | "max",
): string {
  const n = Number(limit);
  switch (origin) {
    case "string":
      if (side === "min" && n === 1) return "non-empty text";
      return `${side === "min" ? "at least" : "at most"} ${n} characters`;
    case "array":
    case "set":
      if (side === "min" && n === 1) return "a non-empty list";
      return `a list of ${side === "min" ? "at least" : "at most"} ${n} items`;
    default:
      if (side === "min") return `a number ${inclusive ? "of at least" : "greater than"} ${n}`;
      return `a number ${inclusive ? "of at most" : "less than"} ${n}`;
  }
}

function toSegment(key: PropertyKey): PathSegment {
  return typeof key === "number" ? key : String(key);
}

/** The value at `path` inside `root`, or undefined when any step is missing. */
export function valueAt(root: unknown, path: readonly PathSegment[]): unknown {
  let value = root;
  for (const segment of path) {
    if (typeof value !== "object" || value === null) return undefined;
    value = (value as Record<PathSegment, unknown>)[segment];
  }
  return value;
}

/** The keys the object schema at `path` accepts; empty when there is no object schema there. */
export function knownKeys(schema: z.core.$ZodType, path: readonly PathSegment[]): string[] {
  let current: z.core.$ZodType | undefined = unwrap(schema);
  for (const segment of path) {
    if (current === undefined) return [];
    current = unwrap(child(current, segment));
  }
  return current instanceof z.core.$ZodObject ? Object.keys(current._zod.def.shape) : [];
}

function child(schema: z.core.$ZodType, segment: PathSegment): z.core.$ZodType | undefined {
  if (schema instanceof z.core.$ZodObject) return schema._zod.def.shape[String(segment)];
  if (schema instanceof z.core.$ZodArray) return schema._zod.def.element;
  if (schema instanceof z.core.$ZodRecord) return schema._zod.def.valueType;
  if (schema instanceof z.core.$ZodTuple && typeof segment === "number")
    return schema._zod.def.items[segment];
  return undefined;
}

// Optional, default, pipe & co. wrap the schema that describes the value's shape.
function unwrap(schema: z.core.$ZodType | undefined): z.core.$ZodType | undefined {
  let current = schema;
  for (let depth = 0; depth < 20 && current !== undefined; depth++) {
    if (
      current instanceof z.core.$ZodOptional ||
      current instanceof z.core.$ZodNullable ||
      current instanceof z.core.$ZodDefault ||
      current instanceof z.core.$ZodPrefault ||
      current instanceof z.core.$ZodNonOptional ||
      current instanceof z.core.$ZodReadonly ||
      current instanceof z.core.$ZodCatch
    ) {
      current = current._zod.def.innerType;
    } else if (current instanceof z.core.$ZodPipe) {
      // A preprocess pipe starts with a transform; the value's shape is described by its output.
      current =
        current._zod.def.in instanceof z.core.$ZodTransform ? current._zod.def.out : current._zod.def.in;
    } else if (current instanceof z.core.$ZodLazy) {
      current = current._zod.def.getter();
    } else {
      return current;
    }
  }
  return current;
}
