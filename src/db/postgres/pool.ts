// Connections to PostgreSQL, the second storage engine (issue 14, DATABASE_URL=postgres://…): one pg.Pool per
// process, its int8 values read as numbers like better-sqlite3's integers, and the URL's password kept out of every
// message and log line (redactUrl).
import pg from "pg";
import { UserError } from "../../domain/errors.ts";
import { postgresAddress } from "./url.ts";

export { postgresAddress, redactUrl } from "./url.ts";

/** The int8 (bigint) type's OID: count(*), and every INTEGER column of the schema (mapped to bigint). */
const INT8_OID = 20;

/**
 * int8 as a JS number, as SQLite's INTEGER reads today, so one repository reads both engines alike. A value past
 * Number.MAX_SAFE_INTEGER throws instead of silently losing digits (pg's default is a string, which no repository
 * expects).
 */
export function parseInt8(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) {
    throw new RangeError(
      `PostgreSQL bigint ${text} is beyond Number.MAX_SAFE_INTEGER: it cannot be read exactly`,
    );
  }
  return n;
}

const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === INT8_OID && format !== "binary"
      ? parseInt8
      : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig["getTypeParser"],
};

export interface PostgresOptions {
  /** Most connections the pool opens (pg's default 10). */
  max?: number | undefined;
  /** How long a connection attempt may take before it fails (default 10 s: an unreachable host is reported). */
  connectionTimeoutMillis?: number | undefined;
  /**
   * An idle pooled connection that fails (the server restarted) is dropped by the pool, and the next query opens a
   * new one and reports its own error; this hears about the dropped one (a logger). Without it, it is ignored,
   * rather than pg's default of crashing the process on an unhandled 'error' event.
   */
  onIdleError?: ((err: Error) => void) | undefined;
}

/** A pool on `url` (postgres://user:password@host:port/database), shown to the server as application "classtune". */
export function openPostgres(url: string, options: PostgresOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    application_name: "classtune",
    types,
    max: options.max ?? 10,
    connectionTimeoutMillis: options.connectionTimeoutMillis ?? 10_000,
  });
  pool.on("error", (err) => options.onIdleError?.(err));
  return pool;
}

/** Connection failures that mean "cannot reach or enter that server", as opposed to a failing query. */
const CONNECT_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ETIMEDOUT",
  "28000", // invalid_authorization_specification (pg_hba.conf)
  "28P01", // invalid_password
  "3D000", // invalid_catalog_name: no such database
  "57P03", // cannot_connect_now: starting up
]);

/**
 * Opens one connection to check the server answers: a failure to connect is a UserError naming host:port and the
 * reason (never the password, never a stack trace).
 */
export async function assertReachable(pool: pg.Pool, url: string): Promise<void> {
  try {
    await pool.query("SELECT 1");
  } catch (err) {
    throw connectionError(err, url) ?? err;
  }
}

/** The UserError for a connection failure, or undefined when `err` is something else. */
export function connectionError(err: unknown, url: string): UserError | undefined {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e.code === "string" ? e.code : "";
  const message = typeof e.message === "string" ? e.message : String(err);
  const timedOut = /timeout/i.test(message) && !code;
  if (!CONNECT_CODES.has(code) && !timedOut) return undefined;
  const reason = code === "ECONNREFUSED" ? "connection refused" : redactSecrets(message, url);
  return new UserError(
    `cannot reach PostgreSQL at ${postgresAddress(url)}: ${reason}`,
    "postgres_unreachable",
  );
}

/** `text` with the URL's password taken out, should a driver ever echo it. */
function redactSecrets(text: string, url: string): string {
  let password = "";
  try {
    password = decodeURIComponent(new URL(url).password);
  } catch {
    /* no password to hide */
  }
  return password === "" ? text : text.replaceAll(password, "***");
}
