/** One thing wrong with the configuration, located by its path in the file. */
export interface ConfigProblem {
  /** Where the problem is, e.g. `gateways[1].xmpp.port`, or `config.yaml:3:7` for a YAML syntax error. */
  path: string;
  /** What is wrong, phrased for the operator who edits the file. Never contains a secret. */
  message: string;
}

/** A key inside the configuration: an object key or an array index. */
export type PathSegment = string | number;

/**
 * Thrown when the configuration cannot be used. It carries every problem found, not just the
 * first, so an operator can fix the file in one go.
 */
export class ConfigError extends Error {
  readonly problems: readonly ConfigProblem[];

  constructor(source: string, problems: readonly ConfigProblem[]) {
    const count = problems.length === 1 ? "1 problem" : `${problems.length} problems`;
    super([`invalid configuration ${source} (${count}):`, ...problems.map(formatProblem)].join("\n"));
    this.name = "ConfigError";
    this.problems = problems;
  }
}

/** The one-line form of a problem, as printed to the operator: `path: message`. */
export function formatProblem(problem: ConfigProblem): string {
  return `${problem.path}: ${problem.message}`;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Renders a path the way a programmer reads it: `gateways[1].xmpp.port`. Keys that are not plain
 * identifiers (a server named `irc.libera.chat`) are quoted so the dots are not misread.
 */
export function formatPath(path: readonly PathSegment[]): string {
  let text = "";
  for (const segment of path) {
    if (typeof segment === "number") text += `[${segment}]`;
    else if (IDENTIFIER.test(segment)) text += text === "" ? segment : `.${segment}`;
    else text += `[${JSON.stringify(segment)}]`;
  }
  return text === "" ? "(top level)" : text;
}
