#!/usr/bin/env node
// Runs every test/**/*.test.ts with Node's own test runner under tsx.
// Node 20's --test takes no globs, so the files are listed here.
// Usage: node scripts/test.js [filter-substring ...]
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { join, relative } from "node:path";

function find(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return find(path);
    return entry.name.endsWith(".test.ts") ? [path] : [];
  });
}

const filters = process.argv.slice(2);
const files = find("test")
  .map((f) => relative(".", f))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  process.stderr.write("no test files matched\n");
  process.exit(1);
}
const child = spawn(
  process.execPath,
  ["--import", import.meta.resolve("tsx"), "--test", "--test-concurrency=2", ...files],
  { stdio: "inherit", env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? "silent" } },
);
child.on("exit", (code, signal) => process.exit(signal ? 1 : (code ?? 1)));
