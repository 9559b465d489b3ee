#!/usr/bin/env node
// Runs every test/**/*.test.ts with Node's own test runner under tsx.
// Node 20's --test takes no globs, so the files are listed here.
// The PostgreSQL half of the suite (issue 14) needs a server: this starts a throwaway cluster from the machine's
// PostgreSQL (scripts/postgres.js) and passes its URL as CLASSTUNE_TEST_POSTGRES_URL, unless that is already set
// (then that server is used, e.g. a developer's own). Without PostgreSQL installed the rest runs, with a loud notice.
// Then the end-to-end tests run a second time with the bot on PostgreSQL (below).
// Usage: node scripts/test.js [filter-substring ...]
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
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

// The PostgreSQL pass: the end-to-end tests again, the real bot on a PostgreSQL database of its own
// (CLASSTUNE_TEST_ENGINE=postgres, test/helpers/bot.ts), after the first pass (repository tests already run on both
// engines there, forEachEngine). An end-to-end file that reads the SQLite file itself (`bot.db`) runs on SQLite
// only, and is listed.
const e2e = files.filter((f) => f.startsWith(join("test", "e2e")));
const sqliteOnly = e2e.filter((f) => readFileSync(f, "utf8").includes("bot.db"));
const postgresPass = postgresUrl ? e2e.filter((f) => !sqliteOnly.includes(f)) : [];

let child = null;
let stopping = false;
// A runner stopped by a signal stops its tests too; the cluster is stopped when they have ended (below).
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    stopping = true;
    child?.kill(signal);
  });
}

function run(list, extraEnv) {
  return new Promise((resolve) => {
    child = spawn(
      process.execPath,
      ["--import", import.meta.resolve("tsx"), "--test", "--test-concurrency=2", ...list],
      { stdio: "inherit", env: { ...env, ...extraEnv } },
    );
    child.on("exit", (code, signal) => resolve(signal ? 1 : (code ?? 1)));
  });
}

let code = await run(files, {});
if (!stopping && postgresPass.length > 0) {
  process.stderr.write(
    `\nscripts/test.js: the PostgreSQL pass: ${postgresPass.length} end-to-end files again, the bot on PostgreSQL` +
      (sqliteOnly.length > 0
        ? ` (${sqliteOnly.length} read the SQLite file themselves and ran on SQLite only: ${sqliteOnly.join(", ")})`
        : "") +
      "\n",
  );
  const second = await run(postgresPass, { CLASSTUNE_TEST_ENGINE: "postgres" });
  if (second !== 0) process.stderr.write("scripts/test.js: the PostgreSQL pass FAILED\n");
  code = code || second;
}
await postgres?.stop();
if (!postgresUrl) process.stderr.write(NOT_INSTALLED);
process.exit(stopping ? 1 : code);
