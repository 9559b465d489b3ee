// Shared set-up for the job, poller and provider tests: a temp-file database, the real sandbox on a
// manual clock over loopback HTTP, the real openai SDK (with a fetch that counts and can be tampered with),
// and stored datasets.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { datasetFieldsFromReport } from "../../src/datasets/store.ts";
import { validateFile } from "../../src/datasets/validator.ts";
import { DatasetRepository, type DatasetRow } from "../../src/db/datasets.ts";
import { type Db, openDb } from "../../src/db/open.ts";
import { sqliteStore } from "../../src/db/query/store.ts";
import type { OutboxNotice } from "../../src/domain/notices.ts";
import { JobService } from "../../src/finetuning/jobs.ts";
import { JobPoller } from "../../src/finetuning/poller.ts";
import { type Logger, silentLogger } from "../../src/logger.ts";
import { type NoticeSender, Notifier } from "../../src/notices/notifier.ts";
import { OpenAICompatibleProvider } from "../../src/providers/openaiCompatible.ts";
import type { ProviderRegistry } from "../../src/providers/registry.ts";
import { type ManualClock, manualClock } from "../../src/sandbox/clock.ts";
import { type SandboxHandle, startSandbox } from "../../src/sandbox/server.ts";
import { registryOf } from "../helpers/providers.ts";

/** Replaces the response to one request: the request still reaches the server first. */
export type Tamper = (
  url: string,
  init: RequestInit | undefined,
  res: Response,
) => Response | undefined | Promise<Response | undefined>;

export interface Harness {
  dir: string;
  dbPath: string;
  db: Db;
  sandbox: SandboxHandle;
  clock: ManualClock;
  client: OpenAI;
  provider: OpenAICompatibleProvider;
  /** The one provider, "sandbox" (the embedded kind), as the registry the services take. */
  providers: ProviderRegistry;
  jobs: JobService;
  poller: JobPoller;
  notifier: Notifier;
  sent: OutboxNotice[];
  sender: NoticeSender & { failNext: number };
  /** Requests made, as "METHOD /path" (no query). */
  calls: string[];
  tamper: Tamper[];
  dataset(examples: number, opts?: { guildId?: string; name?: string }): Promise<DatasetRow>;
  /** Reopens the database and the sandbox over the same files (a restart). */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export function chatLines(n: number): string {
  const topics = ["photosynthesis", "fractions", "volcanoes", "the water cycle", "gravity", "verbs", "atoms"];
  return Array.from({ length: n }, (_, i) => {
    const topic = `${topics[i % topics.length]} lesson ${i + 1}`;
    return JSON.stringify({
      messages: [
        { role: "system", content: "You are a helpful educational assistant." },
        { role: "user", content: `What should I remember about ${topic}?` },
        { role: "assistant", content: `The key idea of ${topic} is number ${i + 1}.` },
      ],
    });
  }).join("\n");
}

/** `n` preference lines: the right answer preferred over a wrong one. */
export function preferenceLines(n: number): string {
  return Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      input: {
        messages: [
          { role: "system", content: "You are a helpful educational assistant." },
          { role: "user", content: `What is ${i + 2} times 3?` },
        ],
      },
      preferred_output: [{ role: "assistant", content: `${(i + 2) * 3}.` }],
      non_preferred_output: [{ role: "assistant", content: `${(i + 2) * 3 + 1}, I think.` }],
    }),
  ).join("\n");
}

export async function harness(
  opts: { secondsPerStep?: number; maxRetries?: number; pollerLogger?: Logger } = {},
): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), "classtune-jobs-"));
  const dbPath = join(dir, "classtune.db");
  const clock = manualClock();
  const calls: string[] = [];
  const tamper: Tamper[] = [];
  const countingFetch: typeof fetch = async (input, init) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    calls.push(`${init?.method ?? "GET"} ${new URL(url).pathname.replace(/^\/v1/, "")}`);
    const res = await fetch(input, init);
    for (const t of tamper) {
      const replaced = await t(url, init, res);
      if (replaced) {
        tamper.splice(tamper.indexOf(t), 1);
        return replaced;
      }
    }
    return res;
  };
  const sent: OutboxNotice[] = [];
  const sender = {
    failNext: 0,
    async send(n: OutboxNotice) {
      if (sender.failNext > 0) {
        sender.failNext -= 1;
        throw new Error("Discord is down");
      }
      sent.push(n);
      return { messageId: n.messageId ?? `msg-${n.id}` };
    },
  };

  const h = { dir, dbPath, clock, calls, tamper, sent, sender } as Harness;
  const open = async () => {
    h.db = openDb(dbPath);
    h.sandbox = await startSandbox({
      db: h.db,
      dataDir: dir,
      clock,
      secondsPerStep: opts.secondsPerStep ?? 1,
      logger: silentLogger,
    });
    h.client = new OpenAI({
      apiKey: "sandbox",
      baseURL: h.sandbox.url,
      maxRetries: opts.maxRetries ?? 2,
      timeout: 10_000,
      fetch: countingFetch,
    });
    h.provider = new OpenAICompatibleProvider({ client: h.client, name: "sandbox" });
    h.providers = registryOf([{ jobs: h.provider, runtimeBaseURL: h.sandbox.url }]);
    h.jobs = new JobService({
      store: sqliteStore(h.db),
      providers: h.providers,
      maxJobCostUsd: 25,
      dataDir: dir,
      now: () => new Date(clock.now()),
    });
    h.notifier = new Notifier({ store: sqliteStore(h.db), sender });
    h.poller = new JobPoller({
      store: sqliteStore(h.db),
      providers: h.providers,
      notifier: h.notifier,
      reconcileCreates: (provider) => h.jobs.reconcilePendingCreates(provider),
      now: () => new Date(clock.now()),
      progressNoticeIntervalMs: 0,
      ...(opts.pollerLogger ? { logger: opts.pollerLogger } : {}),
    });
  };
  await open();
  let n = 0;
  h.dataset = async (examples, o = {}) => {
    n += 1;
    const path = join(dir, `dataset-${n}.jsonl`);
    await writeFile(path, chatLines(examples));
    const report = await validateFile(path);
    return new DatasetRepository(sqliteStore(h.db)).insert({
      guildId: o.guildId ?? "g1",
      uploaderId: "teacher",
      fileName: o.name ?? `lessons-${n}.jsonl`,
      ...datasetFieldsFromReport(report),
      storedPath: path,
      cleanedPath: null,
    });
  };
  h.restart = async () => {
    await h.poller.stop();
    await h.sandbox.close();
    h.db.close();
    await open();
  };
  h.close = async () => {
    await h.poller.stop();
    await h.sandbox.close();
    h.db.close();
    await rm(dir, { recursive: true, force: true });
  };
  return h;
}

/** Moves the sandbox clock and ticks until `done` (or `maxTicks`). */
export async function tickUntil(
  h: Harness,
  done: () => boolean | Promise<boolean>,
  stepMs = 5_000,
  maxTicks = 200,
): Promise<number> {
  for (let i = 0; i < maxTicks; i++) {
    if (await done()) return i;
    h.clock.advance(stepMs);
    await h.poller.tick();
  }
  throw new Error("the job did not reach the expected state");
}
