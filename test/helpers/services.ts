// The one wiring (buildServices) as the bot builds it, over a database in the configured DATA_DIR, with its notices
// collected in `sent` instead of posted: for tests of services (the poller, serving, hosting) without Discord.
import { type Config, loadConfig } from "../../src/config.ts";
import { type Db, openDb } from "../../src/db/open.ts";
import { sqliteStore } from "../../src/db/query/store.ts";
import type { OutboxNotice } from "../../src/domain/notices.ts";
import { silentLogger } from "../../src/logger.ts";
import { buildServices, type Services } from "../../src/wire.ts";

export interface TestServices {
  config: Config;
  db: Db;
  services: Services;
  /** Every notice the notifier delivered, in order. */
  sent: OutboxNotice[];
  /** Stops the services and closes the database (a restart is close() then startServices() on the same DATA_DIR). */
  close(): Promise<void>;
}

export async function startServices(
  env: Record<string, string>,
  opts: { fetch?: typeof fetch | undefined } = {},
): Promise<TestServices> {
  const config = loadConfig({ LOG_LEVEL: "silent", ...env });
  const db = openDb(config.databasePath);
  const sent: OutboxNotice[] = [];
  try {
    const services = await buildServices({
      config,
      database: { store: sqliteStore(db), sqlite: db },
      logger: silentLogger,
      ...(opts.fetch ? { fetch: opts.fetch } : {}),
      sender: () => ({
        async send(n) {
          sent.push(n);
          return { messageId: `msg-${n.id}` };
        },
      }),
    });
    return {
      config,
      db,
      services,
      sent,
      async close() {
        await services.close();
        db.close();
      },
    };
  } catch (err) {
    db.close();
    throw err;
  }
}
