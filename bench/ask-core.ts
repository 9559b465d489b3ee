// `npm run bench -- ask-core`: the /ask service path on loopback against the embedded sandbox (a base model,
// zero latency): sustained questions per second, classtune's own overhead per question (total time minus the
// HTTP call to the provider: routing, limits, cache, spend-cap query, usage + answer rows), and the cache-hit path.
// The Discord end of /ask is measured by the end-to-end bench; this isolates the services.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClassroomServices } from "../src/classroom/index.ts";
import { loadConfig } from "../src/config.ts";
import { loadCatalog } from "../src/datasets/catalog.ts";
import { openDb } from "../src/db/open.ts";
import { sqliteStore } from "../src/db/query/store.ts";
import { silentLogger } from "../src/logger.ts";
import { startSandbox } from "../src/sandbox/server.ts";
import { pct } from "./stats.ts";

const fmt = (ms: number) => `${ms.toFixed(2)} ms`;

export async function main(args: string[]): Promise<void> {
  const n = args.includes("--big") ? 5000 : 1000;
  const dir = mkdtempSync(join(tmpdir(), "classtune-bench-ask-"));
  const db = openDb(join(dir, "bench.db"));
  const sandbox = await startSandbox({ db, dataDir: dir });
  // Time spent inside the provider's HTTP call, per request, to subtract from the total.
  let httpMs = 0;
  const timedFetch: typeof fetch = async (input, init) => {
    const t = performance.now();
    try {
      return await fetch(input, init);
    } finally {
      httpMs += performance.now() - t;
    }
  };
  const config = loadConfig({
    DATA_DIR: dir,
    ASK_USER_PER_MINUTE: "1000000",
    ASK_USER_BURST: "1000000",
    ASK_GUILD_PER_MINUTE: "1000000",
    ASK_GUILD_BURST: "1000000",
    ASK_CACHE_MAX_ENTRIES: String(n * 2),
  });
  const services = createClassroomServices({
    config,
    store: sqliteStore(db),
    logger: silentLogger,
    catalog: loadCatalog(),
    fineTuningProviders: [{ name: "sandbox", baseURL: sandbox.url, apiKey: "sandbox", free: true }],
    defaultFineTuningProvider: "sandbox",
    // Moderation on, as the bot runs by default: the sandbox's classifier, its HTTP time subtracted like chat's.
    moderationSandboxURL: sandbox.url,
    storeDataset: () => {
      throw new Error("not used");
    },
    fetch: timedFetch,
  });
  const ask = (i: number, question: string) =>
    services.ask({
      guildId: "100000000000000001",
      channelId: "200000000000000001",
      userId: `3000000000000${String(i % 40).padStart(5, "0")}`,
      isTeacher: false,
      question,
    });

  try {
    for (let i = 0; i < 50; i++) await ask(i, `warm-up ${i}`);

    // Overhead: one at a time, so each question's HTTP time is its own.
    const overhead: number[] = [];
    for (let i = 0; i < n; i++) {
      httpMs = 0;
      const t = performance.now();
      const r = await ask(i, `Sequential question number ${i}?`);
      if (!r.ok) throw new Error(r.message);
      overhead.push(performance.now() - t - httpMs);
    }
    overhead.sort((a, b) => a - b);

    // Sustained: 16 in flight, distinct questions (every one reaches the sandbox).
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < n) {
          const i = next++;
          const r = await ask(i, `Concurrent question number ${i}?`);
          if (!r.ok) throw new Error(r.message);
        }
      }),
    );
    const sustained = n / ((performance.now() - t0) / 1000);

    // Cache hits: repeats of the sequential questions, no provider call at all.
    const hits: number[] = [];
    const t1 = performance.now();
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      const r = await ask(i, `sequential question number ${i}`);
      if (!r.ok || !r.cached) throw new Error("expected a cache hit");
      hits.push(performance.now() - t);
    }
    const hitRate = n / ((performance.now() - t1) / 1000);
    hits.sort((a, b) => a - b);

    process.stdout.write(
      [
        `questions: ${n} (sandbox base model on loopback, SQLite file database, WAL)`,
        `sustained (16 in flight): ${sustained.toFixed(0)} questions/s`,
        `classtune overhead per question (excl. the provider call): p50 ${fmt(pct(overhead, 0.5))}, p99 ${fmt(pct(overhead, 0.99))}`,
        `cache-hit path: ${hitRate.toFixed(0)} questions/s, p50 ${fmt(pct(hits, 0.5))}, p99 ${fmt(pct(hits, 0.99))}`,
        "",
      ].join("\n"),
    );
  } finally {
    await sandbox.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main(process.argv.slice(2));
