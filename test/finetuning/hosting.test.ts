// HostingService over the real wiring (buildServices) and the loopback fake of Together's API: the price comes from
// the catalog or the school's PRICES_FILE, and a billing provider without one is refused at start-up; the idle clock
// restarts with every answer; a stop the provider does not confirm keeps billing, is retried every sweep and, after
// a few tries, the teachers are told once; the daily budget stops every endpoint of the guild (and only that guild's);
// two Starts at once make one endpoint. The sweep's clock is moved forward by hand; the rest runs in real time.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, describe, it, test } from "node:test";
import { billedMinutes, HostingRepository } from "../../src/db/hosting.ts";
import type { JobRow } from "../../src/db/jobs.ts";
import type { Db } from "../../src/db/open.ts";
import { sqliteStore } from "../../src/db/query/store.ts";
import type { OutboxNotice } from "../../src/domain/notices.ts";
import { HostingService } from "../../src/finetuning/hosting.ts";
import { HostingLedger } from "../../src/finetuning/hostingLedger.ts";
import { silentLogger } from "../../src/logger.ts";
import type { Services } from "../../src/wire.ts";
import { type FakeTogether, startFakeTogether } from "../fakes/together/index.ts";
import { startJobAt } from "../helpers/finetune.ts";
import { startServices, type TestServices } from "../helpers/services.ts";

const KEY = ["tg", "hosting", "unit"].join("-");
const BASE = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference";
// Each case in a guild of its own: one case's hosting never counts in another's daily budget.
const G = "guild-budget";
const OTHER = "guild-other";
const PRICED = "guild-price";
const IDLE = "guild-idle";
const STOPPING = "guild-stopping";
const DOUBLE = "guild-double";
const ADOPTED = "guild-adopted";
const MIN = 60_000;

let dir: string;
let fake: FakeTogether;
let db: Db;
let services: Services;
let hosting: HostingService;
let offsetMs = 0;
let sent: OutboxNotice[];
let started: TestServices;

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATA_DIR: join(dir, "data"),
    FINETUNE_PROVIDERS: JSON.stringify([
      { kind: "together", name: "together", baseURL: fake.url, apiKeyEnv: "TG_KEY" },
    ]),
    TG_KEY: KEY,
    HOSTING_IDLE_MINUTES: "60",
    HOSTING_DAILY_BUDGET_USD: "8",
    ...extra,
  };
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "classtune-hosting-"));
  fake = await startFakeTogether({ apiKey: KEY, autoAdvance: true, autoStartEndpoints: true });
  const prices = join(dir, "prices.json");
  // The school's own rate for Together's default GPU, over the catalog's.
  await writeFile(
    prices,
    JSON.stringify({
      asOf: "2026-12-01",
      providers: {
        together: { source: "the district's contract", hostingPerHourUsd: { "1x_nvidia_h100_80gb_sxm": 3 } },
      },
    }),
  );
  started = await startServices(env({ PRICES_FILE: prices }));
  ({ db, services, sent } = started);
  // The same service the bot runs, on a clock this file moves forward.
  hosting = new HostingService({
    store: sqliteStore(db),
    providers: services.providers,
    serving: services.serving,
    ledger: new HostingLedger({
      store: sqliteStore(db),
      providers: services.providers,
      catalogs: services.catalogs,
    }),
    idleMinutes: 60,
    dailyBudgetUsd: 8,
    logger: silentLogger,
    now: () => new Date(Date.now() + offsetMs),
  });
});
after(async () => {
  await started.close();
  await fake.close();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  fake.clearFaults();
});

/** A trained model of `guildId` on Together, its hosting not started. */
async function trained(guildId = G): Promise<{ job: JobRow; model: string }> {
  const job = await startJobAt(services, { guildId, dir, provider: "together", model: BASE });
  for (let i = 0; i < 12 && (await services.jobs.get(guildId, job.id))?.status !== "succeeded"; i++) {
    await services.poller.tick();
  }
  const done = await services.jobs.get(guildId, job.id);
  assert.equal(done?.status, "succeeded");
  return { job, model: done?.fineTunedModel ?? "" };
}

/** Starts its hosting as the Start button does, and ticks until the endpoint is ready. */
async function hosted(guildId = G): Promise<{ job: JobRow; model: string }> {
  const t = await trained(guildId);
  await hosting.start(guildId, t.model, "teacher-1");
  for (let i = 0; i < 5 && (await services.models.get(guildId, t.model))?.servingStatus !== "ready"; i++) {
    await services.poller.tick();
  }
  assert.equal((await services.models.get(guildId, t.model))?.servingStatus, "ready");
  return t;
}

const session = (guildId: string, model: string) =>
  new HostingRepository(sqliteStore(db)).current(guildId, model);
const endpointsOf = (model: string) =>
  [...fake.endpoints.values()].filter(
    (e) => e.model.length > 0 && e.model === model && e.state !== "STOPPED",
  );
const outputOf = async (job: JobRow) => (await services.jobs.get(job.guildId, job.id))?.fineTunedModel ?? "";

describe("the price", () => {
  it("is the school's PRICES_FILE rate over the catalog's, kept on the session", async () => {
    offsetMs = 0;
    const { model } = await hosted(PRICED);
    const s = await session(PRICED, model);
    assert.equal(s?.usdPerHour, 3);
    assert.match(s?.priceSource ?? "", /PRICES_FILE .*the district's contract/);
    assert.equal(s?.hardware, "1x_nvidia_h100_80gb_sxm");
    assert.equal(s?.startedBy, "teacher-1");
    await hosting.stop(PRICED, model, "teacher-1");
  });

  it("must be known for a billing provider's hardware, or the bot refuses to start", async () => {
    await assert.rejects(
      startServices({
        ...env(),
        DATA_DIR: join(dir, "unpriced"),
        FINETUNE_PROVIDERS: JSON.stringify([
          {
            kind: "together",
            name: "together",
            baseURL: fake.url,
            apiKeyEnv: "TG_KEY",
            endpointHardware: "8x_nvidia_b200_192gb",
          },
        ]),
      }),
      /No hosting price is known for together's hardware "8x_nvidia_b200_192gb": add it to PRICES_FILE under providers\.together\.hostingPerHourUsd/,
    );
  });
});

describe("the idle stop", () => {
  it("waits HOSTING_IDLE_MINUTES after the last answer, then deletes the endpoint and tells the teachers once", async () => {
    offsetMs = 0;
    const { job, model } = await hosted(IDLE);
    assert.equal(endpointsOf(await outputOf(job)).length, 1);
    offsetMs = 50 * MIN;
    await hosting.touch(IDLE, model);
    offsetMs = 100 * MIN;
    let counts = await hosting.sweep();
    assert.equal(counts.idleStopped, 0, "asked 50 minutes ago: still running");
    assert.equal(endpointsOf(await outputOf(job)).length, 1);
    offsetMs = 111 * MIN;
    counts = await hosting.sweep();
    assert.equal(counts.idleStopped, 1);
    assert.equal(endpointsOf(await outputOf(job)).length, 0, "the endpoint is deleted");
    assert.equal((await services.models.get(IDLE, model))?.servingStatus, "asleep");
    assert.equal(await session(IDLE, model), undefined, "its session is closed: billing ended");
    await hosting.sweep();
    await services.notifier.drain();
    const told = sent.filter((n) => n.kind === "hosting_stopped" && n.payload.model === model);
    assert.equal(told.length, 1, "told once");
    assert.equal(told[0]?.kind === "hosting_stopped" && told[0].payload.reason, "idle");
    assert.equal(told[0]?.channelId, job.notifyChannelId);
  });
});

describe("a stop the provider does not confirm", () => {
  it("keeps billing, is retried every sweep, tells the teachers once after three tries, and ends when confirmed", async () => {
    offsetMs = 0;
    const { model } = await hosted(STOPPING);
    // The SDK retries a 503 itself: enough of them that no stop gets through.
    fake.failNext({ method: "DELETE", path: /^\/v1\/endpoints\// }, 503, 1000);
    const outcome = await hosting.stop(STOPPING, model, "teacher-1");
    assert.equal(outcome.confirmed, false);
    assert.equal(
      (await services.models.get(STOPPING, model))?.servingStatus,
      "asleep",
      "no question reaches it meanwhile",
    );
    for (let i = 0; i < 3; i++) await hosting.sweep();
    const s = await session(STOPPING, model);
    assert.ok(s, "still open: still billed");
    assert.equal(s.stoppedAt, null);
    assert.ok(s.stopAttempts >= 3, String(s.stopAttempts));
    offsetMs = 30 * MIN;
    assert.ok(
      ((await hosting.state(STOPPING, model))?.minutes ?? 0) >= 30,
      "the minutes keep counting until it is confirmed",
    );
    await services.notifier.drain();
    const alerts = () =>
      sent.filter((n) => n.kind === "hosting_stopped" && n.payload.model === model && n.payload.stopError);
    assert.equal(alerts().length, 1);
    fake.clearFaults();
    await hosting.sweep();
    await hosting.sweep();
    assert.equal(await session(STOPPING, model), undefined, "confirmed: billing ended");
    await services.notifier.drain();
    assert.equal(alerts().length, 1, "told once");
  });
});

describe("the daily budget", () => {
  it("stops every endpoint of the guild once today's hosting reaches it, and leaves other guilds alone", async () => {
    offsetMs = 0;
    const a = await hosted(G);
    const b = await hosted(G);
    const c = await hosted(OTHER);
    // Two endpoints at $3/h for 70 minutes = $7; a few minutes more crosses $8.
    offsetMs = 70 * MIN;
    await hosting.touch(G, a.model);
    await hosting.touch(G, b.model);
    await hosting.touch(OTHER, c.model);
    let counts = await hosting.sweep();
    assert.equal(counts.budgetStopped, 0, `spent ${await hosting.spentToday(G)}`);
    offsetMs = 81 * MIN;
    await hosting.touch(G, a.model);
    await hosting.touch(G, b.model);
    await hosting.touch(OTHER, c.model);
    counts = await hosting.sweep();
    assert.equal(counts.budgetStopped, 2, `spent ${await hosting.spentToday(G)}`);
    assert.equal((await services.models.get(G, a.model))?.servingStatus, "asleep");
    assert.equal((await services.models.get(G, b.model))?.servingStatus, "asleep");
    assert.equal(
      (await services.models.get(OTHER, c.model))?.servingStatus,
      "ready",
      "another guild's budget is its own",
    );
    await assert.rejects(
      async () => hosting.offer(G, a.model),
      /Today's hosting budget of \$8\.00 for this server is spent/,
    );
    await hosting.stop(OTHER, c.model, "teacher-2");
  });
});

describe("a deployment made before the ledger (an upgrade)", () => {
  it("is adopted by the next sweep, counted from then, and stopped when idle like any other", async () => {
    offsetMs = 0;
    const { job, model } = await hosted(ADOPTED);
    db.prepare("DELETE FROM hosting_sessions WHERE guild_id = ?").run(ADOPTED);
    assert.equal(
      await session(ADOPTED, model),
      undefined,
      "(set-up: running with no record, as before this release)",
    );
    const counts = await hosting.sweep();
    assert.equal(counts.adopted, 1);
    assert.equal((await session(ADOPTED, model))?.startedBy, "adopted");
    assert.equal((await hosting.sweep()).adopted, 0, "adopted once");
    offsetMs = 61 * MIN;
    assert.equal((await hosting.sweep()).idleStopped, 1);
    assert.equal(endpointsOf(await outputOf(job)).length, 0);
  });
});

describe("two Starts at once", () => {
  it("make one endpoint and one session", async () => {
    offsetMs = 0;
    const { job, model } = await trained(DOUBLE);
    const results = await Promise.allSettled([
      hosting.start(DOUBLE, model, "teacher-1"),
      hosting.start(DOUBLE, model, "teacher-1"),
    ]);
    assert.ok(results.some((r) => r.status === "fulfilled"));
    for (let i = 0; i < 4; i++) await services.poller.tick();
    assert.equal(endpointsOf(await outputOf(job)).length, 1);
    const open = (await new HostingRepository(sqliteStore(db)).listOpen(DOUBLE)).filter(
      (s) => s.modelName === model,
    );
    assert.equal(open.length, 1);
    await hosting.stop(DOUBLE, model, "teacher-1");
  });
});

test("billed minutes are whole minutes within the window, rounded up", () => {
  const s = { startedAt: "2026-12-03T23:30:10.000Z", stoppedAt: "2026-12-04T00:45:00.000Z" };
  assert.equal(billedMinutes(s, new Date("2026-12-05T00:00:00Z")), 75);
  assert.equal(billedMinutes(s, new Date("2026-12-05T00:00:00Z"), new Date("2026-12-04T00:00:00Z")), 45);
  assert.equal(billedMinutes(s, new Date("2026-12-03T23:30:11.000Z")), 1, "a second is a minute");
  assert.equal(billedMinutes(s, new Date("2026-12-03T23:00:00Z")), 0, "before it started");
  assert.equal(billedMinutes({ ...s, stoppedAt: null }, new Date("2026-12-04T01:30:10.000Z")), 120);
});
