import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Finds Postern's package.json by walking up from this file, so the same code works from `src/`
 * (run with tsx) and from a compiled `dist/src/`.
 */
function readOwnPackageVersion(): string {
  let folder = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 5; depth++) {
    try {
      const manifest: unknown = JSON.parse(readFileSync(join(folder, "package.json"), "utf8"));
      if (isPosternManifest(manifest)) return manifest.version;
    } catch {
      // No package.json here (or not ours): keep walking up.
    }
    folder = dirname(folder);
  }
  return "unknown";
}

function isPosternManifest(value: unknown): value is { name: "postern"; version: string } {
  if (typeof value !== "object" || value === null) return false;
  const { name, version } = value as Record<string, unknown>;
  return name === "postern" && typeof version === "string";
}

/** Postern's version, from package.json (`"unknown"` if it cannot be found). */
export const VERSION: string = readOwnPackageVersion();
