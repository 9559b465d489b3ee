#!/usr/bin/env node
// Runs every test/**/*.test.ts with Node's own test runner under tsx.
// Node 20's --test takes no globs, so the files are listed here.
// The PostgreSQL half of the suite (issue 14) needs a server: this starts a throwaway cluster from the machine's
// PostgreSQL (scripts/postgres.js) and passes its URL as CLASSTUNE_TEST_POSTGRES_URL, unless that is already set
// (then that server is used, e.g. a developer's own). Without PostgreSQL installed the rest runs, with a loud notice.
// Usage: node scripts/test.js [filter-substring ...]
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { startPostgres } from "./postgres.js";

const NOT_INSTALLED = `
********************************************************************************
** PostgreSQL is not installed: the PostgreSQL half of the suite was SKIPPED.
** Only the SQLite engine was tested. To test both, install postgresql-15
** (apt-get install postgresql-15), or set CLASSTUNE_TEST_POSTGRES_URL to a
** superuser URL of a PostgreSQL server of your own.
********************************************************************************
`;

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

let postgres = null;
let postgresUrl = process.env.CLASSTUNE_TEST_POSTGRES_URL || undefined;
if (!postgresUrl) {
  try {
    postgres = await startPostgres({ log: (line) => process.stderr.write(`scripts/test.js: ${line}\n`) });
  } catch (error) {
    // Installed but broken is a failure, never a silent skip.
    process.stderr.write(
      `PostgreSQL is installed but did not start, so the tests did not run:\n${error.message}\n`,
    );
    process.exit(1);
  }
  if (postgres) postgresUrl = postgres.url;
  else process.stderr.write(NOT_INSTALLED);
}

const env = { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? "silent" };
if (postgresUrl) env.CLASSTUNE_TEST_POSTGRES_URL = postgresUrl;
const child = spawn(
  process.execPath,
  ["--import", import.meta.resolve("tsx"), "--test", "--test-concurrency=2", ...files],
  { stdio: "inherit", env },
);
// A runner stopped by a signal stops its tests too; the cluster is stopped when they have ended (below).
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
child.on("exit", async (code, signal) => {
  await postgres?.stop();
  if (!postgresUrl) process.stderr.write(NOT_INSTALLED);
  process.exit(signal ? 1 : (code ?? 1));
});
