// Hosting billed while it runs on Fireworks (the loopback fake of its REST API): with autoDeploy the deployment is
// requested when training ends, on the configured accelerator, and recorded at the catalog's price for it; after a
// restart (new services over the same database), the sweep finds it idle and deletes it, and the teachers are told.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { HostingRepository } from "../../src/db/hosting.ts";
import { sqliteStore } from "../../src/db/query/store.ts";
import { HostingService } from "../../src/finetuning/hosting.ts";
import { HostingLedger } from "../../src/finetuning/hostingLedger.ts";
import { silentLogger } from "../../src/logger.ts";
import { type FakeFireworks, startFakeFireworks } from "../fakes/fireworks/index.ts";
import { startJobAt } from "../helpers/finetune.ts";
import { startServices, type TestServices } from "../helpers/services.ts";

const G = "guild-fireworks";
let dir: string;
let fake: FakeFireworks;
const open: TestServices[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "classtune-hosting-fw-"));
  fake = await startFakeFireworks();
});
after(async () => {
  for (const o of open) await o.close();
  await fake.close();
  await rm(dir, { recursive: true, force: true });
});

async function start(extra: Record<string, string> = {}): Promise<TestServices> {
  const o = await startServices({
    ...extra,
    DATA_DIR: join(dir, extra.DATA_DIR ?? "data"),
    FINETUNE_PROVIDERS: JSON.stringify([
      {
        name: "fw",
        kind: "fireworks",
        autoDeploy: true,
        acceleratorType: "NVIDIA_A100_80GB",
        baseURL: fake.baseURL,
        apiKeyEnv: "FW_KEY",
        accountId: fake.account,
      },
    ]),
    FW_KEY: fake.apiKey,
  });
  open.push(o);
  return o;
}

test("an autoDeploy deployment is priced by its accelerator, and stopped when idle after a restart", async () => {
  const first = await start();
  const job = await startJobAt(first.services, {
    guildId: G,
    dir,
    provider: "fw",
    model: "accounts/fireworks/models/llama-v3p1-8b-instruct",
  });
  let model = "";
  for (
    let i = 0;
    i < 20 && (await first.services.models.getByJob(G, job.id))?.servingStatus !== "ready";
    i++
  ) {
    await first.services.poller.tick();
    model = (await first.services.models.getByJob(G, job.id))?.name ?? model;
  }
  assert.equal((await first.services.models.getByJob(G, job.id))?.servingStatus, "ready");
  const post = fake.requests.find((r) => r.method === "POST" && /\/deployments/.test(r.path));
  assert.equal((post?.body as { acceleratorType?: string } | undefined)?.acceleratorType, "NVIDIA_A100_80GB");
  const session = await new HostingRepository(sqliteStore(first.db)).current(G, model);
  assert.equal(session?.usdPerHour, 2.9, "the catalog's A100 price");
  assert.equal(session?.startedBy, "auto");
  assert.equal([...fake.deployments.values()].filter((d) => !d.deleted).length, 1);

  // The bot stops; an hour and more passes; it starts again over the same database.
  await first.close();
  open.splice(open.indexOf(first), 1);
  const second = await start();
  const hosting = new HostingService({
    store: sqliteStore(second.db),
    providers: second.services.providers,
    serving: second.services.serving,
    ledger: new HostingLedger({
      store: sqliteStore(second.db),
      providers: second.services.providers,
      catalogs: second.services.catalogs,
    }),
    idleMinutes: 60,
    dailyBudgetUsd: 20,
    logger: silentLogger,
    now: () => new Date(Date.now() + 61 * 60_000),
  });
  const counts = await hosting.sweep();
  assert.equal(counts.idleStopped, 1);
  const left = [...fake.deployments.values()].filter((d) => !d.deleted);
  assert.equal(left.length, 0, "the deployment is deleted: its GPU-hours stop");
  assert.equal((await second.services.models.get(G, model))?.servingStatus, "asleep");
  await second.services.notifier.drain();
  const told = second.sent.filter((n) => n.kind === "hosting_stopped");
  assert.equal(told.length, 1);
  assert.equal(told[0]?.kind === "hosting_stopped" && told[0].payload.reason, "idle");
});

test("an autoDeploy deployment does not start once the server's hosting budget for today is spent", async () => {
  const o = await start({ DATA_DIR: "no-budget", HOSTING_DAILY_BUDGET_USD: "0" });
  const posts = () => fake.requests.filter((r) => r.method === "POST" && /\/deployments/.test(r.path)).length;
  const before = posts();
  const job = await startJobAt(o.services, {
    guildId: "guild-spent",
    dir,
    provider: "fw",
    model: "accounts/fireworks/models/llama-v3p1-8b-instruct",
  });
  for (
    let i = 0;
    i < 20 && (await o.services.models.getByJob("guild-spent", job.id))?.servingStatus !== "failed";
    i++
  ) {
    await o.services.poller.tick();
  }
  const model = await o.services.models.getByJob("guild-spent", job.id);
  assert.equal(model?.servingStatus, "failed");
  assert.match(model?.servingError ?? "", /Not deployed: .* daily budget of \$0\.00 .* \/model deploy/);
  assert.equal(posts(), before, "no deployment was requested");
  await o.services.notifier.drain();
  assert.ok(
    o.sent.some((n) => n.kind === "model_deploy_failed"),
    "the teachers are told",
  );
});
