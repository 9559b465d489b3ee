// Starts the real bot (startApp) against the fake Discord and the embedded sandbox, with its commands
// deployed to the fake, in a temporary data directory. Used by every end-to-end test. The bot's commands see
// services only; a test that must look at (or break) a table uses `bot.store`, its own store on the same database
// (or `bot.db`, SQLite only). CLASSTUNE_TEST_ENGINE=postgres (scripts/test.js's PostgreSQL pass) runs the bot on a
// PostgreSQL database of its own (DATABASE_URL), dropped when the bot is closed.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type App, startApp } from "../../src/app.ts";
import { loadConfig } from "../../src/config.ts";
import { type Db, openDb } from "../../src/db/open.ts";
import { type Engine, openStore, type Store, sqliteStore } from "../../src/db/query/store.ts";
import { deployCommands } from "../../src/discord/deploy.ts";
import { silentLogger } from "../../src/logger.ts";
import { type FakeDiscord, startFakeDiscord } from "../fakes/discord/index.ts";
import { createPostgresDatabase } from "./postgres.ts";

/** The engine the bot runs on in these tests: PostgreSQL in scripts/test.js's second pass, else SQLite. */
export const testEngine: Engine = process.env.CLASSTUNE_TEST_ENGINE === "postgres" ? "postgres" : "sqlite";

export interface TestBot {
  discord: FakeDiscord;
  app: App;
  dataDir: string;
  /** The test's own store on the bot's database (either engine), for assertions: never handed to the bot. */
  store: Store;
  /** The test's own connection to the bot's SQLite file (WAL): SQLite only (throws on the PostgreSQL pass). */
  readonly db: Db;
  /** Stops the bot (as SIGTERM would) and starts it again on the same data directory. */
  restart(): Promise<App>;
  close(): Promise<void>;
}

export interface TestBotOptions {
  discord?: FakeDiscord;
  dataDir?: string;
  /** Extra environment for loadConfig (e.g. MAX_ATTACHMENT_BYTES). */
  env?: Record<string, string>;
}

export async function startTestBot(options: TestBotOptions = {}): Promise<TestBot> {
  const discord = options.discord ?? (await startFakeDiscord());
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), "classtune-e2e-"));
  const config = loadConfig({
    DISCORD_TOKEN: discord.token,
    DISCORD_CLIENT_ID: discord.applicationId,
    DISCORD_API_URL: discord.apiUrl,
    ATTACHMENT_HOSTS: discord.cdn.host,
    DATA_DIR: dataDir,
    // Tests call poller.tick() themselves; the cron schedule is set far away.
    POLL_SCHEDULE: "0 0 1 1 *",
    SANDBOX_SECONDS_PER_STEP: "0.01",
    // Streamed answers unpaced: a test that wants to watch the pace sets its own rate.
    SANDBOX_STREAM_TOKENS_PER_SECOND: "0",
    // Whole answers, so a test reads the finished reply at once instead of waiting out the edit throttle (1.2 s an
    // edit). The streaming tests (test/e2e/askStream.test.ts) and the demo turn it on.
    ASK_STREAM: "false",
    LOG_LEVEL: "silent",
    ...(await postgresFor(dataDir)),
    ...options.env,
  });
  const { token, clientId, apiUrl } = config.discord;
  if (!token || !clientId) throw new Error("fake Discord gave no token or application id");
  await deployCommands({ token, clientId, apiUrl });

  const launch = async () => {
    const app = await startApp({ config, logger: silentLogger });
    await app.ready;
    return app;
  };
  const app = await launch();
  if (config.databaseUrl !== undefined && existsSync(config.databasePath)) {
    throw new Error(
      `the bot was given DATABASE_URL but wrote ${config.databasePath}: it must not touch the SQLite file`,
    );
  }
  const sqlite = config.databaseUrl === undefined ? openDb(config.databasePath) : undefined;
  const store = sqlite
    ? sqliteStore(sqlite)
    : await openStore({ engine: "postgres", url: config.databaseUrl as string });
  const bot: TestBot = {
    discord,
    app,
    dataDir,
    store,
    get db(): Db {
      if (sqlite === undefined) {
        throw new Error("bot.db is the SQLite file: on the PostgreSQL pass, read through bot.store");
      }
      return sqlite;
    },
    async restart() {
      await bot.app.close();
      bot.app = await launch();
      return bot.app;
    },
    async close() {
      await bot.app.close();
      await store.close();
      if (!options.discord) await discord.close();
      if (!options.dataDir) {
        rmSync(dataDir, { recursive: true, force: true });
        await postgresOf.get(dataDir)?.drop();
        postgresOf.delete(dataDir);
      }
    },
  };
  return bot;
}

/** On the PostgreSQL pass, each data directory's database (bots started on one data directory share it). */
const postgresOf = new Map<string, { url: string; drop(): Promise<void> }>();

async function postgresFor(dataDir: string): Promise<Record<string, string>> {
  if (testEngine !== "postgres") return {};
  let database = postgresOf.get(dataDir);
  if (database === undefined) {
    database = await createPostgresDatabase();
    postgresOf.set(dataDir, database);
  }
  return { DATABASE_URL: database.url };
}
