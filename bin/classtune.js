#!/usr/bin/env node
// The `classtune` command: the CLI in src/cli.ts, run under tsx (see scripts/run.js).
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

process.argv.splice(2, 0, resolve(dirname(fileURLToPath(import.meta.url)), "..", "src", "cli.ts"));
await import("../scripts/run.js");
