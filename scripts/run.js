#!/usr/bin/env node
// Runs a TypeScript entry point under tsx, loading ./.env only when it exists
// (Node 20's --env-file fails on a missing file), so plain environment variables work too.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const [entry, ...args] = process.argv.slice(2);
if (!entry) {
  process.stderr.write("usage: node scripts/run.js <entry.ts> [args...]\n");
  process.exit(2);
}
const envFile = resolve(process.cwd(), ".env");
const nodeArgs = [
  "--import",
  import.meta.resolve("tsx"),
  ...(existsSync(envFile) ? [`--env-file=${envFile}`] : []),
  resolve(root, entry),
  ...args,
];
const child = spawn(process.execPath, nodeArgs, { stdio: "inherit" });
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => child.kill(signal));
}
child.on("exit", (code, signal) => {
  if (signal) process.kill(process.pid, signal);
  else process.exit(code ?? 1);
});
