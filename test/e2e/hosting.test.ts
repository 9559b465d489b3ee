// Hosting billed while it runs, through Discord, on a Together-kind provider (the loopback fake of Together's API,
// driven through the together-ai SDK): the /finetune start confirmation states the hosting price; a finished job
// waits for a teacher; `/model deploy` shows the price, the day's budget and the automatic stops before Start; the
// notices announce deploying → ready with the hosting cost; /model list shows the running cost; an endpoint nobody
// asked for HOSTING_IDLE_MINUTES is stopped by the sweep after a restart, the teachers are told, and /ask says the
// model is asleep (a teacher gets the Wake button, a student cannot use it); `/model undeploy` deletes the endpoint;
// the daily budget stops every endpoint of the guild and refuses new ones; /usage counts the hosting minutes.
// Another server sees and stops none of it.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { JobRow } from "../../src/db/jobs.ts";
import type { FakeChannel, FakeMessage, FakeUser } from "../fakes/discord/index.ts";
import { type FakeTogether, startFakeTogether } from "../fakes/together/index.ts";
import { startTestBot, type TestBot } from "../helpers/bot.ts";
import { startJobAt } from "../helpers/finetune.ts";
import { addSchool, OTHER_SCHOOL, type School } from "../helpers/school.ts";

const KEY = ["tg", "e2e", "hosting"].join("-");
const BASE = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference";
let fake: FakeTogether;
let bot: TestBot;
let school: School;
let other: School;
let teacher: FakeUser;
let notices: FakeChannel;
let general: FakeChannel;
let dir: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "classtune-e2e-hosting-"));
  fake = await startFakeTogether({ apiKey: KEY, autoAdvance: true, autoStartEndpoints: true });
  bot = await startTestBot({
    env: {
      FINETUNE_PROVIDERS: JSON.stringify([
        { kind: "sandbox", name: "sandbox" },
        { kind: "together", name: "together", baseURL: fake.url, apiKeyEnv: "TOGETHER_SCHOOL_KEY" },
      ]),
      TOGETHER_SCHOOL_KEY: KEY,
      HOSTING_IDLE_MINUTES: "60",
      HOSTING_DAILY_BUDGET_USD: "10",
    },
  });
  school = addSchool(bot.discord, { channels: ["general", "notices"] });
  other = addSchool(bot.discord, { ...OTHER_SCHOOL, channels: ["staff"] });
  teacher = school.teacher;
  notices = school.guild.channel("notices");
  general = school.guild.channel("general");
  const run = await bot.discord.slash({
    channel: general,
    user: teacher,
    command: "config",
    subcommand: "notifications",
    options: { channel: notices },
  });
  await run.waitForOriginal();
});
after(async () => {
  await bot.close();
  await fake.close();
  rmSync(dir, { recursive: true, force: true });
});

async function slash(
  command: string,
  subcommand: string | undefined,
  options: Record<string, unknown>,
  user: FakeUser = teacher,
  channel: FakeChannel = general,
): Promise<FakeMessage> {
  const run = await bot.discord.slash({
    channel,
    user,
    command,
    ...(subcommand ? { subcommand } : {}),
    options: options as never,
  });
  return run.waitForOriginal(undefined, { timeoutMs: 15_000 });
}

const posted = (pattern: RegExp): FakeMessage[] =>
  bot.discord
    .channelMessages(notices)
    .filter((m) =>
      pattern.test(`${m.content}\n${m.embeds.map((e) => `${e.title}\n${e.description}`).join("\n")}`),
    );

const field = (m: FakeMessage, name: RegExp) =>
  m.embeds.flatMap((e) => e.fields ?? []).find((f) => name.test(f.name))?.value ?? "";

const running = () => [...fake.endpoints.values()].filter((e) => e.state !== "STOPPED");

/** Moves a session's times back, as if `minutes` had passed since it started, became ready and was last asked. */
function age(model: string, minutes: number): void {
  const shift = `-${minutes} minutes`;
  bot.db
    .prepare(
      `UPDATE hosting_sessions SET started_at = strftime('%Y-%m-%dT%H:%M:%fZ', started_at, @shift),
         ready_at = strftime('%Y-%m-%dT%H:%M:%fZ', ready_at, @shift),
         last_asked_at = strftime('%Y-%m-%dT%H:%M:%fZ', last_asked_at, @shift)
       WHERE model_name = @model AND stopped_at IS NULL`,
    )
    .run({ model, shift });
}

async function pressStart(offer: FakeMessage, user: FakeUser = teacher): Promise<FakeMessage> {
  const id = offer.customIds.find((c) => c.startsWith("hosting:start:"));
  assert.ok(id, `a Start button (has ${offer.customIds.join(", ")})`);
  const click = await bot.discord.click({ message: offer, customId: id, user });
  return click.waitForOriginal((m) => /Deploying|already|budget|asleep/.test(m.content), {
    timeoutMs: 15_000,
  });
}

describe("a model served on a dedicated endpoint", () => {
  let job: JobRow;
  let model: string;

  it("the /finetune start confirmation states the hosting price next to the training estimate", async () => {
    const { ctx } = bot.app;
    job = await startJobAt(ctx, { guildId: school.guild.id, dir, provider: "together", model: BASE });
    const datasetId = job.datasetId;
    const confirmation = await slash("finetune", "start", { dataset: datasetId, provider: "together" });
    const hosting = field(confirmation, /hosting/i);
    assert.match(hosting, /\$3\.36\/h on 1x_nvidia_h100_80gb_sxm/);
    assert.match(hosting, /only when a teacher runs `\/model deploy`/);
    assert.match(hosting, /after 1 h without a question/);
    assert.match(field(confirmation, /Estimated cost/), /^\$\d/);
  });

  it("waits for a teacher after training; /model deploy shows the price and budget, and Start deploys: deploying → ready", async () => {
    for (
      let i = 0;
      i < 12 && (await bot.app.ctx.jobs.require(school.guild.id, job.id)).status !== "succeeded";
      i++
    ) {
      await bot.app.ctx.poller.tick();
    }
    const trained = await bot.app.ctx.jobs.require(school.guild.id, job.id);
    assert.equal(trained.status, "succeeded");
    model = trained.fineTunedModel ?? "";
    assert.equal(running().length, 0, "no endpoint before a teacher asks");
    const waiting = posted(/model deploy model:/);
    assert.ok(waiting.length > 0, "the success notice names /model deploy");

    const student = school.students[0];
    const refused = await slash("model", "deploy", { model }, student);
    assert.match(refused.content, /Only teachers/);
    const elsewhere = await slash("model", "deploy", { model }, other.teacher, other.guild.channel("staff"));
    assert.match(elsewhere.content, /no model called/);

    const offer = await slash("model", "deploy", { model });
    assert.equal(offer.ephemeral, true);
    assert.match(field(offer, /Hosting price/), /\$3\.36\/h on 1x_nvidia_h100_80gb_sxm/);
    assert.match(field(offer, /Today so far/), /\$0\.00 of \$10\.00/);
    assert.match(field(offer, /It can run today/), /2 h 58 min/);
    assert.match(field(offer, /Stops by itself/), /1 h without a question/);
    assert.equal(running().length, 0, "nothing starts before Start");

    const reply = await pressStart(offer);
    assert.match(reply.content, /Deploying job #\d+'s model/);
    assert.equal(running().length, 1, "one endpoint");
    for (let i = 0; i < 5 && posted(/your model is ready/).length === 0; i++) await bot.app.ctx.poller.tick();
    const ready = posted(/your model is ready/);
    assert.equal(ready.length, 1);
    const cost = field(ready[0] as FakeMessage, /Hosting cost/);
    assert.match(cost, /\$3\.36\/h/);
    assert.match(cost, /\/model undeploy/);
  });

  it("/model list shows the hosting and its cost so far; /ask is answered by the endpoint", async () => {
    age(model, 30);
    const list = await slash("model", "list", {});
    const entry = list.embeds[0]?.fields?.find((f) => f.value.includes(model) || f.name === model);
    assert.match(
      entry?.value ?? "",
      /💳 hosted since \d\d:\d\d UTC · 3[01] min · \$1\.(68|74) so far at \$3\.36\/h · stops at \d\d:\d\d UTC if nobody asks it anything/,
    );
    const answer = await slash("ask", undefined, { question: "What is a fraction?", model });
    assert.doesNotMatch(answer.content, /asleep|cannot/);
    const endpoint = running()[0];
    assert.equal(fake.chats.at(-1)?.model, endpoint?.name, "asked by the endpoint's name");
  });

  it("an endpoint nobody asked for an hour is stopped by the sweep, after a restart; the teachers are told, and /ask says it is asleep", async () => {
    age(model, 61);
    await bot.restart();
    await bot.app.ctx.poller.tick();
    assert.equal(running().length, 0, "the endpoint was deleted");
    const stopped = posted(/Hosting of .* stopped/);
    assert.equal(stopped.length, 1);
    assert.match(stopped[0]?.embeds[0]?.description ?? "", /nobody asked it anything for 1 h/);
    await bot.app.ctx.poller.tick();
    assert.equal(posted(/Hosting of .* stopped/).length, 1, "told once");

    const student = school.students[0];
    const run = await bot.discord.slash({
      channel: general,
      user: student,
      command: "ask",
      options: { question: "Still there?", model },
    });
    const asleep = await run.waitForOriginal(undefined, { timeoutMs: 15_000 });
    assert.match(asleep.content, /is asleep/);
    assert.deepEqual(asleep.customIds, [], "a student gets no Wake button");

    const mine = await slash("ask", undefined, { question: "Still there?", model });
    const wake = mine.customIds.find((c) => c.startsWith("hosting:wake:"));
    assert.ok(wake, `a teacher gets the Wake button (${mine.customIds.join(", ")})`);
    const byStudent = await bot.discord.click({ message: mine, customId: wake, user: student });
    const told = await byStudent.waitForOriginal(
      (m) => m !== byStudent.sourceMessage && !m.loading && /Only teachers/.test(m.content),
      { timeoutMs: 15_000 },
    );
    assert.equal(told.ephemeral, true);
    const click = await bot.discord.click({ message: mine, customId: wake, user: teacher });
    const offer = await click.waitForOriginal(
      (m) => m !== click.sourceMessage && !m.loading && m.embeds.length > 0,
      { timeoutMs: 15_000 },
    );
    assert.match(offer.embeds[0]?.title ?? "", /^Wake /);
    assert.match(field(offer, /Today so far/), /\$5\.(10|15|21) of \$10\.00/, "91 minutes at $3.36/h");
    await pressStart(offer);
    assert.equal(running().length, 1, "woken: one endpoint again");
  });

  it("/model undeploy stops the billing: the endpoint is deleted and the reply says what it cost", async () => {
    const elsewhere = await slash(
      "model",
      "undeploy",
      { model },
      other.teacher,
      other.guild.channel("staff"),
    );
    assert.match(elsewhere.content, /no model called/);
    assert.equal(running().length, 1, "another server stopped nothing");
    const reply = await slash("model", "undeploy", { model });
    assert.match(reply.content, /billing has stopped/);
    assert.equal(running().length, 0);
    const again = await slash("model", "undeploy", { model });
    assert.match(again.content, /already asleep/);
  });

  it("the daily budget stops every endpoint of the guild and refuses a new one until tomorrow; /usage counts the minutes", async () => {
    const offer = await slash("model", "deploy", { model });
    await pressStart(offer);
    assert.equal(running().length, 1);
    for (let i = 0; i < 3; i++) await bot.app.ctx.poller.tick();
    // Two hours more today: $3.42 + 1 min + 120 min ≈ $10.2, over the $10 budget.
    bot.db
      .prepare(
        "UPDATE hosting_sessions SET started_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-120 minutes') WHERE stopped_at IS NULL",
      )
      .run();
    await bot.app.ctx.poller.tick();
    assert.equal(running().length, 0, "the budget stopped it");
    assert.equal(posted(/today's hosting budget was reached/).length, 1);
    const refused = await slash("model", "deploy", { model });
    assert.match(refused.content, /Today's hosting budget of \$10\.00 for this server is spent/);

    const usage = await slash("usage", undefined, {});
    const hosting = usage.embeds[0]?.fields?.find((f) => /^Hosting:/.test(f.name));
    assert.ok(hosting, "the hosting line");
    assert.match(hosting.value, new RegExp(`${model.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}.*min`));
  });
});
