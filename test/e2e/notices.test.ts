// Notices end to end, through the real sender and the fake Discord's payload validation: one server's
// undeliverable notices hold back no other server's; a notice Discord would refuse for its shape (an empty
// test answer, or a rule we do not know) still arrives.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { OutboxRepository } from "../../src/db/outbox.ts";
import { sqliteStore } from "../../src/db/query/store.ts";
import type {
  JobCreatedPayload,
  JobSucceededPayload,
  NewNotice,
  NoticeKind,
  NoticePayloads,
  TestAnswer,
} from "../../src/domain/notices.ts";
import type { FakeGuild, FakeUser } from "../fakes/discord/index.ts";
import { startTestBot, type TestBot } from "../helpers/bot.ts";
import { addSchool } from "../helpers/school.ts";

let bot: TestBot;
let teacher: FakeUser;

before(async () => {
  bot = await startTestBot();
  teacher = bot.discord.addUser({ username: "ms-rivera" });
});
after(() => bot.close());

/** A school where the one teacher of these tests teaches too. */
function newSchool(name: string, channels = ["staff", "notices"]): FakeGuild {
  return addSchool(bot.discord, { name, channels, teacher }).guild;
}

async function chooseNoticeChannel(guild: FakeGuild, channel = guild.channel("notices")) {
  const run = await bot.discord.slash({
    channel: guild.channel("staff"),
    user: teacher,
    command: "config",
    subcommand: "notifications",
    options: { channel },
  });
  return run.waitForOriginal();
}

const created = (jobId: number): JobCreatedPayload => ({
  jobId,
  remoteId: `ftjob-${jobId}`,
  provider: "sandbox",
  baseModel: "gpt-4o-mini-2024-07-18",
  suffix: null,
  datasetId: 1,
  datasetName: "quiz.jsonl",
  requesterId: teacher.id,
  estimatedCostUsd: 0.01,
  nEpochs: 3,
  examples: 20,
});

const succeeded = (jobId: number, testAnswers: TestAnswer[]): JobSucceededPayload => {
  const { estimatedCostUsd: _c, nEpochs: _e, examples: _x, ...base } = created(jobId);
  return {
    ...base,
    fineTunedModel: `ft:gpt-4o-mini-2024-07-18:org:bio:job${jobId}`,
    trainedTokens: 1200,
    durationMs: 90_000,
    testAnswers,
  };
};

/** Writes a notice as the poller would; the bot's notifier posts it on its next drain. */
async function enqueue<K extends NoticeKind>(
  guildId: string,
  kind: K,
  payload: NoticePayloads[K],
  dedupeKey: string,
) {
  await new OutboxRepository(sqliteStore(bot.db)).enqueue({
    guildId,
    channelId: null,
    kind,
    payload,
    dedupeKey,
  } as NewNotice);
}

describe("a server whose notices cannot be posted", () => {
  it("holds back no other server's job card: it is posted on the next tick", async () => {
    const stuck = newSchool("No Channel High", ["staff"]);
    for (let i = 0; i < 100; i++) {
      await enqueue(
        stuck.id,
        "model_unavailable",
        {
          model: `ft:gpt-4o-mini:org:gone${i}:x`,
          provider: "sandbox",
          shutdownDate: null,
          reason: "It was deleted.",
        },
        `model_unavailable:${stuck.id}:${i}`,
      );
    }
    const healthy = newSchool("Lincoln High");
    await chooseNoticeChannel(healthy);
    await enqueue(healthy.id, "job_created", created(41), "job:41:created");
    await bot.app.ctx.poller.tick();
    const cards = bot.discord.channelMessages(healthy.channel("notices"));
    assert.equal(cards.length, 1, "the healthy server's card is posted");
    assert.match(cards[0]?.content ?? "", /your fine-tuning job has started/);
  });
});

describe("a finished job's notice", () => {
  let school: FakeGuild;
  const notices = () => bot.discord.channelMessages(school.channel("notices"));
  const row = (jobId: number) =>
    new OutboxRepository(sqliteStore(bot.db)).getByKey(school.id, `job:${jobId}:succeeded`);

  before(async () => {
    school = newSchool("Empty Answers High");
    await chooseNoticeChannel(school);
  });

  it("says the model is ready even when it answered a test question with empty text", async () => {
    await enqueue(
      school.id,
      "job_succeeded",
      succeeded(51, [
        { question: "What is osmosis?", expected: "Water crossing a membrane.", answer: "", error: null },
        // A tool-calling fine-tune: `content: null` becomes "".
        { question: "Look up the weather", expected: "", answer: "", error: null },
      ]),
      "job:51:succeeded",
    );
    await bot.app.ctx.poller.tick();
    const ready = notices().find((m) => /your model is ready/.test(m.content));
    assert.ok(ready, "the notice is posted in the first drain");
    const answers = ready.embeds[0]?.fields?.filter((f) => f.name.startsWith("Q:")) ?? [];
    assert.deepEqual(
      answers.map((f) => f.value.split("\n")[0]),
      ["(empty answer)", "(empty answer)"],
    );
    assert.ok((await row(51))?.postedAt);
  });

  it("is sent as plain text, not parked, when Discord refuses its embed", async () => {
    const lift = bot.discord.refuseMessages((body) => Array.isArray(body.embeds) && body.embeds.length > 0);
    try {
      await enqueue(school.id, "job_succeeded", succeeded(52, []), "job:52:succeeded");
      await bot.app.ctx.poller.tick();
    } finally {
      lift();
    }
    const ready = notices().find((m) => m.content.includes("job52"));
    assert.ok(ready, "the notice is posted in the first drain");
    assert.match(
      ready.content,
      new RegExp(`^${teacher.mention} your model is ready: \`ft:gpt-4o-mini-2024-07-18:org:bio:job52\``),
    );
    assert.deepEqual(ready.embeds, []);
    assert.deepEqual(ready.pings.users, [teacher.id]);
    assert.equal((await row(52))?.attempts, 1);
    assert.ok((await row(52))?.postedAt);
  });
});
