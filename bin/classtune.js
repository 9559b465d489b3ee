#!/usr/bin/env node
// The `classtune` command: the CLI in src/cli.ts, run by scripts/run.js (from its kept bundle, else under tsx).
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

process.argv.splice(2, 0, resolve(dirname(fileURLToPath(import.meta.url)), "..", "src", "cli.ts"));
await import("../scripts/run.js");
