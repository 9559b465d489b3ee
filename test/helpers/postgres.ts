// The PostgreSQL half of the suite (issue 14). `npm test` (scripts/test.js) starts a throwaway PostgreSQL cluster on
// loopback and passes its superuser URL as CLASSTUNE_TEST_POSTGRES_URL; each test that needs PostgreSQL takes a
// database of its own from freshPostgresDatabase(), dropped when the test ends, so tests never see each other's rows.
// When PostgreSQL is not installed the runner prints a loud notice and leaves the variable unset: those tests are
// then skipped with the reason below, never silently passed.
import { randomBytes } from "node:crypto";
import type { TestContext } from "node:test";
import pg from "pg";

/** The throwaway cluster's superuser URL (its `postgres` database), or undefined when PostgreSQL is not installed. */
export const postgresUrl: string | undefined = process.env.CLASSTUNE_TEST_POSTGRES_URL || undefined;

/** Pass as `{ skip: skipWithoutPostgres }` to a describe/it that needs PostgreSQL. */
export const skipWithoutPostgres: string | false = postgresUrl
  ? false
  : "PostgreSQL is not installed here (scripts/test.js printed why)";

/** `url` with its database name replaced. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function admin<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
  if (!postgresUrl) throw new Error("CLASSTUNE_TEST_POSTGRES_URL is not set: run the tests through npm test");
  const client = new pg.Client({ connectionString: postgresUrl });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

/** Creates an empty database of its own and returns its URL, with `drop()` (its sessions ended first). */
export async function createPostgresDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `ct_${randomBytes(6).toString("hex")}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  return {
    url: withDatabase(postgresUrl as string, name),
    drop: async () => {
      await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

/**
 * Creates an empty database of its own for this test and returns its URL; it is dropped (its sessions ended first)
 * when the test finishes. Pass the test's context (or a describe's `after` registrar via `{ after }`).
 */
export async function freshPostgresDatabase(t: Pick<TestContext, "after">): Promise<string> {
  const { url, drop } = await createPostgresDatabase();
  t.after(drop);
  return url;
}
