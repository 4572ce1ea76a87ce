#!/usr/bin/env node
// The installed `postern` command. It runs the TypeScript sources through tsx, which is a runtime
// dependency, so the command works from a git checkout or an npm install without a build step and
// runs exactly the code the tests run.
import { register } from "tsx/esm/api";

register();
const { main, exitQuietlyOnClosedPipe } = await import("../src/cli.ts");
exitQuietlyOnClosedPipe();
process.exitCode = await main(process.argv.slice(2));
