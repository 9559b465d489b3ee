// `classtune migrate --to postgres://… [--from PATH] [--json]`: copies a school's SQLite database into PostgreSQL
// (issue 14), the step from one SQLite process to sharded PostgreSQL. The work is src/db/postgres/copy.ts; this
// file parses, opens both ends and prints. The target's password never appears in any output (redactUrl).
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { loadConfig } from "../config.ts";
import { type Db, openDb } from "../db/open.ts";
import {
  assertTargetEmpty,
  CopyFailedError,
  type CopyResult,
  copySqliteToPostgres,
  isClasstuneDatabase,
  TargetNotEmptyError,
} from "../db/postgres/copy.ts";
import { migratePostgres, PostgresMigrationError } from "../db/postgres/migrate.ts";
import { assertReachable, connectionError, openPostgres, redactUrl } from "../db/postgres/pool.ts";
import { UserError } from "../domain/errors.ts";
import { type CliCommand, UsageError } from "./io.ts";

const USAGE =
  "usage: classtune migrate --to postgres://USER:PASSWORD@HOST:PORT/DATABASE [--from PATH] [--json]";

/** Exit status when the target already holds rows (nothing was written). */
export const EXIT_TARGET_NOT_EMPTY = 3;

const HELP = `${USAGE}

Copies the SQLite database (--from, default the configured DATABASE_PATH or DATA_DIR/classtune.db) into the
PostgreSQL database --to names: both are migrated to the latest version first, then every table is copied in one
transaction, identity sequences continue after each table's highest id, and the copy commits only if every
table holds as many rows on both sides. A target that already holds rows is refused; nothing is written to it.
The embedded sandbox's own tables (sandbox_*) are not copied.

--json prints {"from": PATH, "to": URL (password hidden), "tables": [{"table": NAME, "rows": N}, …] (in copy
order), "totalRows": N, "skipped": [NAME, …]}; on a refusal {"refused": "target_not_empty", "tables": [{"table",
"rows"}, …]} (the target's tables that hold rows). Errors are one line on stderr.

Exit status: 0 copied and verified; 1 the copy failed or the row counts differ (rolled back, nothing written);
2 usage or I/O error (no such SQLite file, PostgreSQL unreachable); 3 refused: the target is not empty.`;

interface Options {
  to: string;
  from: string | undefined;
  json: boolean;
}

function parse(args: string[]): Options | "help" {
  let values: { to?: string | undefined; from?: string | undefined; json?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args,
      options: {
        to: { type: "string" },
        from: { type: "string" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
  } catch (err) {
    throw new UsageError(`${(err as Error).message}. ${USAGE}`);
  }
  if (values.help) return "help";
  const to = values.to?.trim() ?? "";
  if (to === "") throw new UsageError(`--to is required (the PostgreSQL database to copy into). ${USAGE}`);
  if (!/^postgres(ql)?:\/\//.test(to)) {
    throw new UsageError(`--to must be a postgres:// URL, got "${redactUrl(to)}". ${USAGE}`);
  }
  return { to, from: values.from, json: values.json === true };
}

function text(from: string, to: string, r: CopyResult): string {
  const width = Math.max(...r.tables.map((t) => t.table.length), 5);
  const total = r.tables.reduce((n, t) => n + t.rows, 0);
  const lines = [
    `Copied ${r.tables.length} table(s), ${total} row(s), from ${from} to ${to}:`,
    ...r.tables.map((t) => `  ${t.table.padEnd(width)} ${t.rows}`),
    "Row counts match on both sides; new rows continue after each table's highest id.",
  ];
  if (r.skipped.length > 0)
    lines.push(`Not copied (the embedded sandbox's own store): ${r.skipped.join(", ")}`);
  return `${lines.join("\n")}\n`;
}

export const run: CliCommand = async (args, io) => {
  const opts = parse(args);
  if (opts === "help") {
    io.stdout.write(`${HELP}\n`);
    return 0;
  }
  const from = opts.from === undefined ? loadConfig(io.env).databasePath : resolve(opts.from);
  if (!existsSync(from)) {
    throw new UserError(
      `no SQLite database at ${from} (give --from PATH, or set DATABASE_PATH or DATA_DIR)`,
      "io",
    );
  }
  const to = redactUrl(opts.to);
  let source: Db;
  try {
    if (!isClasstuneDatabase(from)) {
      throw new UserError(
        `${from} is not a classtune database (it has no schema_migrations table): give --from the bot's database (DATABASE_PATH, or DATA_DIR/classtune.db)`,
        "io",
      );
    }
    source = openDb(from);
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`cannot open ${from} as a SQLite database: ${(err as Error).message}`, "io");
  }
  const target = openPostgres(opts.to, { max: 2 });
  try {
    await assertReachable(target, opts.to);
    // Before its schema is written: a database that holds rows is not a new one (it may be someone else's).
    await assertTargetEmpty(target);
    await migratePostgres(target).catch((err: unknown) => {
      if (!(err instanceof PostgresMigrationError)) throw err;
      throw (
        connectionError(err.cause, opts.to) ??
        new UserError(
          `cannot create classtune's tables in the target: ${err.message} (migration ${err.migration}; nothing was copied)`,
          "io",
        )
      );
    });
    const result = await copySqliteToPostgres(source, target);
    const totalRows = result.tables.reduce((n, t) => n + t.rows, 0);
    io.stdout.write(
      opts.json
        ? `${JSON.stringify({ from, to, tables: result.tables, totalRows, skipped: result.skipped }, null, 2)}\n`
        : text(from, to, result),
    );
    return 0;
  } catch (err) {
    if (err instanceof TargetNotEmptyError) {
      if (opts.json) {
        io.stdout.write(`${JSON.stringify({ refused: "target_not_empty", tables: err.tables }, null, 2)}\n`);
      }
      io.stderr.write(`classtune migrate: refused: ${err.message} (${to})\n`);
      return EXIT_TARGET_NOT_EMPTY;
    }
    if (err instanceof CopyFailedError) {
      io.stderr.write(`classtune migrate: ${err.message}\n`);
      return 1;
    }
    throw connectionError(err, opts.to) ?? err;
  } finally {
    source.close();
    await target.end();
  }
};
