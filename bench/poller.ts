// Poller benchmark: 1,000 active jobs in the in-process sandbox (created through the openai SDK from a
// tiny dataset), then poller ticks in three phases: all queued, all training, all finishing. Reports API
// calls per tick by route (counted with a wrapping fetch given to the SDK), tick duration (median) and
// memory. The bar: ≤ 11 list calls per tick plus one events call per changed running job.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { datasetFieldsFromReport } from "../src/datasets/store.ts";
import { validateFile } from "../src/datasets/validator.ts";
import { DatasetRepository } from "../src/db/datasets.ts";
import { JobRepository } from "../src/db/jobs.ts";
import { openDb } from "../src/db/open.ts";
import { sqliteStore } from "../src/db/query/store.ts";
import { JobPoller, type TickResult } from "../src/finetuning/poller.ts";
import { silentLogger } from "../src/logger.ts";
import { Notifier } from "../src/notices/notifier.ts";
import { OpenAICompatibleProvider } from "../src/providers/openaiCompatible.ts";
import { ProviderRegistry } from "../src/providers/registry.ts";
import { manualClock } from "../src/sandbox/clock.ts";
import { startSandbox } from "../src/sandbox/server.ts";
import { median } from "./stats.ts";

const TRACKED = 1_000;
const UNTRACKED = 300;
const TICKS_PER_PHASE = 5;

function tinyDataset(n: number): string {
  return Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      messages: [
        { role: "user", content: `What is ${i} + ${i}?` },
        { role: "assistant", content: `${i} + ${i} = ${2 * i}.` },
      ],
    }),
  ).join("\n");
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

export async function main(args: string[] = []): Promise<void> {
  const tracked = args.includes("--quick") ? 200 : TRACKED;
  const dir = await mkdtemp(join(tmpdir(), "classtune-bench-poller-"));
  const db = openDb(join(dir, "classtune.db"));
  const clock = manualClock();
  const sandbox = await startSandbox({ db, dataDir: dir, clock, secondsPerStep: 1, logger: silentLogger });
  const calls = new Map<string, number>();
  const countingFetch: typeof fetch = (input, init) => {
    const url = new URL(typeof input === "string" ? input : input instanceof URL ? input.href : input.url);
    const route = `${init?.method ?? "GET"} ${url.pathname
      .replace(/^\/v1/, "")
      .replace(/ftjob-[A-Za-z0-9]+/, ":id")
      .replace(/ft:[^/]+$/, ":model")}`;
    calls.set(route, (calls.get(route) ?? 0) + 1);
    return fetch(input, init);
  };
  const client = new OpenAI({ apiKey: "sandbox", baseURL: sandbox.url, maxRetries: 2, fetch: countingFetch });
  const provider = new OpenAICompatibleProvider({ client, name: "sandbox" });

  try {
    const path = join(dir, "tiny.jsonl");
    await writeFile(path, tinyDataset(10));
    const report = await validateFile(path);
    const dataset = await new DatasetRepository(sqliteStore(db)).insert({
      guildId: "bench",
      uploaderId: "bench",
      fileName: "tiny.jsonl",
      ...datasetFieldsFromReport(report),
      storedPath: path,
      cleanedPath: null,
    });
    const file = await provider.uploadTrainingFile(path);
    const jobs = new JobRepository(sqliteStore(db));
    const setupStart = performance.now();
    // Older jobs nobody tracks (another app on the same account): the listing must not page through them.
    for (let i = 0; i < UNTRACKED; i++) {
      await provider.createJob({
        model: report.model,
        trainingFileId: file.id,
        metadata: { classtune_job_id: `other-${i}` },
      });
    }
    for (let i = 0; i < tracked; i++) {
      const remote = await provider.createJob({
        model: report.model,
        trainingFileId: file.id,
        metadata: { classtune_job_id: `bench-${i}` },
      });
      await jobs.insert({
        tag: `bench-${i}`,
        guildId: "bench",
        provider: "sandbox",
        remoteId: remote.id,
        datasetId: dataset.id,
        requesterId: "bench",
        baseModel: remote.model,
        suffix: null,
        hyperparameters: { nEpochs: "auto", seed: null },
        trainingFileId: file.id,
        status: remote.status,
        rawStatus: remote.rawStatus,
        estimatedCostUsd: null,
        notifyChannelId: null,
        testQuestions: [{ question: "What is 3 + 3?", expected: "3 + 3 = 6." }],
      });
    }
    process.stdout.write(
      `${tracked} tracked + ${UNTRACKED} untracked jobs created through the SDK in ${((performance.now() - setupStart) / 1000).toFixed(1)} s\n`,
    );

    let posted = 0;
    const notifier = new Notifier({
      store: sqliteStore(db),
      sender: {
        send: async () => {
          posted += 1;
          return { messageId: "m" };
        },
      },
      batch: 5_000,
    });
    // The embedded kind, as the factory registers it when no key is configured.
    const providers = new ProviderRegistry(
      [
        {
          spec: {
            kind: "sandbox",
            name: "sandbox",
            source: "built-in",
            baseURL: undefined,
            apiKeyEnv: undefined,
            apiKey: undefined,
            maxRetries: 2,
            timeoutMs: 60_000,
            note: undefined,
          },
          jobs: provider,
        },
      ],
      "sandbox",
    );
    const poller = new JobPoller({
      store: sqliteStore(db),
      providers,
      notifier,
      now: () => new Date(clock.now()),
    });
    const rssBefore = process.memoryUsage().rss;

    const phase = async (name: string, firstAdvanceMs: number, advanceMs: number, ticks: number) => {
      const durations: number[] = [];
      let last: TickResult | undefined;
      const perTick: string[] = [];
      for (let t = 0; t < ticks; t++) {
        clock.advance(t === 0 ? firstAdvanceMs : advanceMs);
        calls.clear();
        last = await poller.tick();
        durations.push(last.durationMs);
        const list = calls.get("GET /fine_tuning/jobs") ?? 0;
        const events = calls.get("GET /fine_tuning/jobs/:id/events") ?? 0;
        const retrieve = calls.get("GET /fine_tuning/jobs/:id") ?? 0;
        const other = [...calls.entries()]
          .filter(([k]) => !k.startsWith("GET /fine_tuning/jobs"))
          .map(([k, v]) => `${k} ${v}`)
          .join(", ");
        perTick.push(
          `  tick ${t + 1}: ${list} list, ${retrieve} retrieve, ${events} events${other ? `, ${other}` : ""}; ` +
            `${last.changed} status changes, ${last.ended} ended; ${last.durationMs.toFixed(0)} ms`,
        );
      }
      process.stdout.write(
        `${name}: median tick ${median(durations).toFixed(0)} ms over ${ticks} ticks\n${perTick.join("\n")}\n`,
      );
    };

    // The sandbox at 1 s a step: 20 s validating, 20 s queued, then 100 steps of training.
    await phase("validating/queued (no running jobs)", 4_000, 4_000, TICKS_PER_PHASE);
    await phase("training (every job running, new steps each tick)", 25_000, 10_000, TICKS_PER_PHASE);
    await phase("finishing (every job succeeds; test question each)", 3_600_000, 60_000, 1);

    const mem = process.memoryUsage();
    process.stdout.write(
      `memory: RSS ${mb(mem.rss)} (was ${mb(rssBefore)} before the ticks), heap used ${mb(mem.heapUsed)}, peak RSS ${mb(process.resourceUsage().maxRSS * 1024)}; notices posted ${posted}\n` +
        "(the sandbox serves from the same process, so durations and memory include the server's side)\n",
    );
  } finally {
    await sandbox.close();
    db.close();
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main(process.argv.slice(2));
