// Notices end to end, through the real sender and the fake Discord's payload validation: one server's
// undeliverable notices hold back no other server's.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { PermissionFlagsBits } from "discord.js";
import { OutboxRepository } from "../../src/db/outbox.ts";
import type { JobCreatedPayload, NoticeKind } from "../../src/services/notifier.ts";
import type { FakeGuild, FakeUser } from "../fakes/discord/index.ts";
import { startTestBot, type TestBot } from "../helpers/bot.ts";

let bot: TestBot;
let teacher: FakeUser;

before(async () => {
  bot = await startTestBot();
  teacher = bot.discord.addUser({ username: "ms-rivera" });
});
after(() => bot.close());

function addSchool(name: string, channels = ["staff", "notices"]): FakeGuild {
  const guild = bot.discord.addGuild({ name, channels });
  guild.addMember(teacher, { permissions: PermissionFlagsBits.ManageGuild });
  return guild;
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

/** Writes a notice as the poller would; the bot's notifier posts it on its next drain. */
function enqueue(guildId: string, kind: NoticeKind, payload: unknown, dedupeKey: string) {
  new OutboxRepository(bot.app.ctx.db).enqueue({ guildId, channelId: null, kind, payload, dedupeKey });
}

describe("a server whose notices cannot be posted", () => {
  it("holds back no other server's job card: it is posted on the next tick", async () => {
    const stuck = addSchool("No Channel High", ["staff"]);
    for (let i = 0; i < 100; i++) {
      enqueue(
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
    const healthy = addSchool("Lincoln High");
    await chooseNoticeChannel(healthy);
    enqueue(healthy.id, "job_created", created(41), "job:41:created");
    await bot.app.ctx.poller.tick();
    const cards = bot.discord.channelMessages(healthy.channel("notices"));
    assert.equal(cards.length, 1, "the healthy server's card is posted");
    assert.match(cards[0]?.content ?? "", /your fine-tuning job has started/);
  });
});
