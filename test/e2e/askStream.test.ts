// /ask streamed, on the fake Discord with the embedded sandbox streaming at a visible pace: the reply is edited
// as the answer is written (throttled, in order, never over 2,000 characters, continuing in a second message at a
// sentence), ends with its footer and buttons; the student who asked can follow up (a modal, then the next turn
// with "follow-up 2 of 4"), nobody else can; a stream cut mid-way keeps what arrived with a note.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { DEFAULT_MODERATION_MESSAGES } from "../../src/config.ts";
import { DiscordLimits } from "../../src/discord/limits.ts";
import { EDIT_INTERVAL_MS, WRITING_MARKER } from "../../src/discord/streamReply.ts";
import type { FakeChannel, FakeInteraction, FakeMessage, FakeUser } from "../fakes/discord/index.ts";
import { startTestBot, type TestBot } from "../helpers/bot.ts";
import { BIOLOGY_PAIRS, fineTuneInGuild } from "../helpers/finetune.ts";
import { addSchool } from "../helpers/school.ts";

const LONG_ANSWER = Array.from(
  { length: 26 },
  (_, i) =>
    `In step ${i + 1}, the chloroplasts capture light and use its energy to split water, releasing oxygen into the air.`,
).join(" ");
const FLAGGED_ANSWER = `${LONG_ANSWER} Then [flag:violence/graphic] something no class should read.`;
const PAIRS: [string, string][] = [
  ["Explain photosynthesis in detail", LONG_ANSWER],
  ["Tell me the whole battle story", FLAGGED_ANSWER],
  ["Where does the oxygen come from?", "The oxygen comes from the water the plant splits."],
  ...BIOLOGY_PAIRS,
];

let bot: TestBot;
let teacher: FakeUser;
let general: FakeChannel;
let sam: FakeUser;
let ana: FakeUser;
let lab: FakeChannel;

/** Every message of the reply once its last one carries the footer. */
async function finished(run: FakeInteraction): Promise<FakeMessage[]> {
  await bot.discord.waitFor(
    () => "the streamed answer to finish",
    () => run.messages().some((m) => m.content.includes("answered by")) || undefined,
    20_000,
  );
  return run.messages();
}

/** The content of every PATCH of one of the interaction's messages, with when the fake received it. */
function edits(run: FakeInteraction) {
  const prefix = `/webhooks/${bot.discord.applicationId}/${run.token}/messages/`;
  return bot.discord.requests
    .filter((r) => r.method === "PATCH" && r.path.startsWith(prefix))
    .map((r) => ({
      message: r.path.slice(prefix.length),
      content: String((r.body as { content?: unknown }).content ?? ""),
      at: r.at,
    }));
}

before(async () => {
  bot = await startTestBot({ env: { ASK_STREAM: "true", SANDBOX_STREAM_TOKENS_PER_SECOND: "150" } });
  const school = addSchool(bot.discord, { channels: ["general", "lab"] });
  [sam, ana] = school.students as [FakeUser, FakeUser];
  teacher = school.teacher;
  general = school.guild.channel("general");
  lab = school.guild.channel("lab");
  const model = await fineTuneInGuild(bot.app, school.guild.id, school.teacher.id, PAIRS, "bio");
  const run = await bot.discord.slash({
    channel: school.guild.channel("general"),
    user: school.teacher,
    command: "classroom",
    subcommand: "setup",
    options: { channel: lab, model, "max-tokens": 1500 },
  });
  await run.waitForOriginal();
});
after(() => bot.close());

describe("/ask streamed into Discord", () => {
  let answer: FakeMessage;
  let followUpReply: FakeMessage;

  it("edits the reply as the answer is written: throttled, in order, within 2,000 characters", async () => {
    const run = await bot.discord.slash({
      channel: lab,
      user: sam,
      command: "ask",
      options: { question: "Explain photosynthesis in detail" },
    });
    const messages = await finished(run);
    assert.equal(messages.length, 2, "the answer continues in a second message");
    const all = edits(run);
    const original = all.filter((e) => e.message === "@original");
    assert.ok(original.length >= 3, `the reply was edited as it was written (${original.length} edits)`);
    assert.ok(
      original.slice(0, -1).some((e) => e.content.endsWith(WRITING_MARKER)),
      "a reader sees it is still being written",
    );
    for (const e of all)
      assert.ok(e.content.length <= DiscordLimits.messageContent, `${e.content.length} chars`);
    // Each message only grows while it is written, and is written at most once per interval (a lower bound).
    for (const id of new Set(all.map((e) => e.message))) {
      const mine = all.filter((e) => e.message === id);
      for (let i = 1; i < mine.length; i++) {
        const before = (mine[i - 1]?.content ?? "").replace(WRITING_MARKER, "");
        assert.ok((mine[i]?.content ?? "").startsWith(before), `message ${id} grew in order`);
        if (mine.length === 2) continue; // a message written once gets its final write at once
        const gap = (mine[i]?.at ?? 0) - (mine[i - 1]?.at ?? 0);
        assert.ok(gap >= EDIT_INTERVAL_MS - 200, `edits of ${id} ${gap} ms apart`);
      }
    }
    const [first, last] = messages as [FakeMessage, FakeMessage];
    assert.ok(first.content.startsWith("> **Q:** Explain photosynthesis in detail"));
    assert.ok(!first.content.includes(WRITING_MARKER) && !last.content.includes(WRITING_MARKER));
    assert.match(first.content.trimEnd(), /[.!?]$/, "the first message ends at a sentence");
    assert.deepEqual(first.customIds, [], "the buttons are on the last message");
    assert.match(last.content, /answered by `ft:[^`]+` \(sandbox\)$/);
    const shown = `${first.content.split("\n\n").slice(1).join("\n\n")} ${last.content.split("\n\n")[0]}`;
    assert.equal(shown.replace(/\s+/g, " ").trim(), LONG_ANSWER, "the whole answer, nothing lost or doubled");
    assert.ok(last.customIds.some((c) => c.startsWith("followup:")));
    answer = last;
  });

  it("lets only the student who asked follow up, and sends the next turn with the conversation", async () => {
    const followId = answer.customIds.find((c) => c.startsWith("followup:")) as string;
    const parentId = Number(followId.split(":")[1]);

    const stranger = await bot.discord.click({ message: answer, customId: followId, user: ana });
    const refusal = await stranger.waitForOriginal((m) => m !== stranger.sourceMessage && !m.loading);
    assert.equal(refusal.ephemeral, true);
    assert.match(refusal.content, /only the student who asked can follow up/);
    assert.equal(stranger.modal, undefined, "no modal for another student");

    const opened = await bot.discord.click({ message: answer, customId: followId, user: sam });
    await opened.response();
    assert.equal(opened.modal?.title, "Follow up");
    const sent = await bot.discord.submitModal({
      from: opened,
      fields: { question: "Where does the oxygen come from?" },
    });
    const messages = await finished(sent);
    const reply = messages.at(-1) as FakeMessage;
    assert.match(reply.content, /The oxygen comes from the water the plant splits\./);
    assert.match(reply.content, /follow-up 2 of 4/);
    assert.ok((messages[0]?.content ?? "").startsWith("> **Q:** Where does the oxygen come from?"));
    const row = bot.db
      .prepare("SELECT parent_id AS parentId, turn FROM answers ORDER BY id DESC LIMIT 1")
      .get() as { parentId: number; turn: number };
    assert.deepEqual({ ...row }, { parentId, turn: 2 });
    followUpReply = reply;
  });

  it("exports a corrected follow-up as one multi-turn example", async () => {
    const correctId = followUpReply.customIds.find((c) => c.startsWith("correct:")) as string;
    const opened = await bot.discord.click({ message: followUpReply, customId: correctId, user: teacher });
    await opened.response();
    const saved = await bot.discord.submitModal({
      from: opened,
      fields: { answer: "The oxygen plants release comes from splitting water molecules." },
    });
    await saved.waitForOriginal((m) => !m.loading && m !== saved.sourceMessage);
    const run = await bot.discord.slash({
      channel: general,
      user: teacher,
      command: "dataset",
      subcommand: "export",
    });
    const reply = await run.waitForOriginal(undefined, { timeoutMs: 20_000 });
    assert.match(reply.content, /1 of them is a follow-up conversation, exported as multi-turn examples/);
    const file = reply.files[0];
    assert.ok(file, "the dataset is attached");
    const lines = file
      .text()
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const convo = lines.find(
      (l) => l.messages.filter((m: { role: string }) => m.role === "user").length === 2,
    );
    assert.ok(convo, "one line holds both questions");
    assert.deepEqual(
      convo.messages.map((m: { role: string; weight?: number }) => [m.role, m.weight]),
      [
        ["system", undefined],
        ["user", undefined],
        ["assistant", 0],
        ["user", undefined],
        ["assistant", 1],
      ],
      "the corrected turn is trained on; the first answer is context",
    );
    assert.equal(
      convo.messages[4].content,
      "The oxygen plants release comes from splitting water molecules.",
    );
  });

  it("a conversation deleted while its follow-up streams: the streamed text goes, the student is told why", async () => {
    const followId = followUpReply.customIds.find((c) => c.startsWith("followup:")) as string;
    const parentId = Number(followId.split(":")[1]);
    const opened = await bot.discord.click({ message: followUpReply, customId: followId, user: sam });
    await opened.response();
    const sent = await bot.discord.submitModal({
      from: opened,
      fields: { question: "Explain photosynthesis in detail" },
    });
    await bot.discord.waitFor(
      () => "the follow-up's answer to show",
      () => edits(sent).some((e) => e.content.includes("In step 1")) || undefined,
      20_000,
    );
    // Mid-stream, the student's /privacy delete (or the retention sweep) removes the conversation.
    bot.db.prepare("DELETE FROM answers WHERE id = ?").run(parentId);
    const told = await sent.waitForFollowUp((m) => /was deleted while the answer/.test(m.content));
    assert.equal(told.ephemeral, true);
    await bot.discord.waitFor(
      () => "the streamed messages to be gone",
      () => sent.messages().every((m) => m.deleted || m.ephemeral) || undefined,
      20_000,
    );
    const usage = bot.db
      .prepare("SELECT error, completion_tokens AS tokens FROM ask_usage ORDER BY id DESC LIMIT 1")
      .get() as { error: string; tokens: number };
    assert.equal(usage.error, "follow_up_not_found");
    assert.ok(usage.tokens > 0, "the tokens streamed are counted");
  });

  it("an answer withheld after it filled a message is replaced by the withheld notice, in every message", async () => {
    const run = await bot.discord.slash({
      channel: lab,
      user: sam,
      command: "ask",
      options: { question: "Tell me the whole battle story" },
    });
    await bot.discord.waitFor(
      () => "the withheld notice",
      () =>
        run.messages().some((m) => !m.deleted && m.content.includes(DEFAULT_MODERATION_MESSAGES.withheld)) ||
        undefined,
      20_000,
    );
    await bot.discord.waitFor(
      () => "the streamed part to be replaced",
      () => run.messages().every((m) => m.deleted || !m.content.includes("In step 1")) || undefined,
      20_000,
    );
    for (const m of run.messages().filter((m) => !m.deleted)) {
      assert.ok(!m.content.includes("[flag:"), m.content);
      assert.ok(!m.content.includes(WRITING_MARKER), m.content);
      assert.doesNotMatch(m.content, /attached as a file/);
    }
  });

  it("keeps what arrived when the stream is cut mid-way, and says so", async () => {
    bot.app.sandbox?.faults.next({ cutStreamAfterChunks: 40 });
    const run = await bot.discord.slash({
      channel: lab,
      user: sam,
      command: "ask",
      // Not the first test's question: that answer is cached now.
      options: { question: "Please explain photosynthesis in detail" },
    });
    const shown = (await finished(run)).map((m) => m.content).join("\n");
    assert.match(shown, /In step 1, the chloroplasts capture light/);
    assert.match(shown, /the answer stopped early: the connection to sandbox broke off/);
    const usage = bot.db
      .prepare("SELECT error, completion_tokens AS tokens FROM ask_usage ORDER BY id DESC LIMIT 1")
      .get() as { error: string; tokens: number };
    assert.deepEqual({ ...usage }, { error: "stream_connection_error", tokens: 40 });
  });
});
