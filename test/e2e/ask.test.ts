// /ask end to end on the fake Discord with the sandbox: a class channel answered publicly by the class's
// fine-tuned model, private answers elsewhere, long answers split cleanly, no pings, votes and corrections.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { AnswerRepository } from "../../src/db/answers.ts";
import { sqliteStore } from "../../src/db/query/store.ts";
import type { FakeGuild, FakeInteraction, FakeMessage, FakeUser } from "../fakes/discord/index.ts";
import { startTestBot, type TestBot } from "../helpers/bot.ts";
import { fineTuneInGuild } from "../helpers/finetune.ts";
import { addSchool, OTHER_SCHOOL } from "../helpers/school.ts";

let bot: TestBot;
let guild: FakeGuild;
let other: FakeGuild;
let teacher: FakeUser;
let sam: FakeUser;
let ana: FakeUser;
let outsider: FakeUser;
let model: string;

const paragraph = (topic: string) =>
  `${topic} `.repeat(1) +
  "Mitochondria take the sugar from food and the oxygen we breathe and turn them into ATP, the cell's energy currency. ".repeat(
    5,
  );
const CODE_BLOCK = [
  "```python",
  ...Array.from({ length: 12 }, (_, i) => `atp_per_glucose_step_${i} = ${i * 2 + 30}  # a line of the model`),
  "```",
].join("\n");
const LONG_ANSWER = [
  paragraph("First,"),
  paragraph("Second,"),
  paragraph("Third,"),
  CODE_BLOCK,
  paragraph("Fourth,"),
  paragraph("Fifth,"),
].join("\n\n");

const BIG_CODE = [
  "```python",
  ...Array.from(
    { length: 60 },
    (_, i) => `cell_energy[${i}] = glucose[${i}] * 36  # step ${i} of respiration`,
  ),
  "```",
].join("\n");

const PAIRS = (studentsRole: string): [string, string][] => [
  ["Show me the whole respiration simulation code", BIG_CODE],
  [
    "What is photosynthesis?",
    "Photosynthesis is how plants turn light, water and carbon dioxide into sugar.",
  ],
  ["What is a cell?", "A cell is the smallest unit of life."],
  ["What is osmosis?", "Osmosis is water crossing a membrane toward the side with more dissolved particles."],
  ["What do mitochondria do in a cell?", LONG_ANSWER],
  ["Who should hear about the field trip?", `Tell @everyone in class, and the <@&${studentsRole}> role too.`],
  ["What is DNA?", "DNA is the molecule that carries genetic instructions."],
  ["What is an ecosystem?", "An ecosystem is living things and their environment working together."],
  ["What is evolution?", "Evolution is the change in inherited traits of populations over generations."],
  ["What is a gene?", "A gene is a stretch of DNA that codes for a protein."],
  ["What is a virus?", "A virus is a tiny infectious agent that copies itself inside living cells."],
  ["What is a protein?", "A protein is a chain of amino acids folded into a working shape."],
];

async function ask(user: FakeUser, channel: string, question: string, g = guild): Promise<FakeInteraction> {
  return bot.discord.slash({ channel: g.channel(channel), user, command: "ask", options: { question } });
}

/** A click's own reply (not the clicked message), once finished. */
function clickReply(run: FakeInteraction): Promise<FakeMessage> {
  return run.waitForOriginal((m) => m !== run.sourceMessage && !m.loading);
}

/** Every message of an interaction once it finished (original, then follow-ups). */
async function replies(run: FakeInteraction): Promise<FakeMessage[]> {
  await run.waitForOriginal();
  return run.messages();
}

before(async () => {
  bot = await startTestBot();
  const school = addSchool(bot.discord, { channels: ["general", "biology"], studentRole: "students" });
  ({ guild, teacher } = school);
  [sam, ana] = school.students;
  const otherSchool = addSchool(bot.discord, OTHER_SCHOOL);
  other = otherSchool.guild;
  [outsider] = otherSchool.students;
  model = await fineTuneInGuild(bot.app, guild.id, teacher.id, PAIRS(guild.role("students").id), "bio");

  const setup = await bot.discord.slash({
    channel: guild.channel("general"),
    user: teacher,
    command: "classroom",
    subcommand: "setup",
    options: { channel: guild.channel("biology"), model, "max-tokens": 4000 },
  });
  assert.match((await setup.waitForOriginal()).content, /is a class channel/);
});
after(() => bot.close());

describe("/ask in a class channel", () => {
  let answer: FakeMessage;

  it("answers a student publicly with the fine-tuned model's trained answer and its name", async () => {
    const run = await ask(sam, "biology", "What is osmosis?");
    const callback = await run.response();
    assert.equal(run.deferred, true, "acknowledged at once with a deferral");
    assert.ok((run.ackLatencyMs ?? 9999) < 3000);
    assert.equal(callback.data.flags === undefined || (Number(callback.data.flags) & 64) === 0, true);
    answer = await run.waitForOriginal();
    assert.equal(answer.ephemeral, false, "public in a class channel");
    assert.ok(answer.content.startsWith("> **Q:** What is osmosis?\n\n"), "the class sees the question");
    assert.match(answer.content, /Osmosis is water crossing a membrane/);
    assert.ok(answer.content.includes(`answered by \`${model}\` (sandbox)`), answer.content);
    const id = answer.customIds.find((c) => c.startsWith("vote:up:"))?.split(":")[2];
    assert.ok(id, "carries the vote buttons");
    assert.deepEqual(answer.customIds, [
      `vote:up:${id}`,
      `vote:down:${id}`,
      `correct:${id}`,
      `followup:${id}`,
    ]);
  });

  it("splits an answer over 2,000 characters into parts, none too long, no code block cut", async () => {
    const run = await ask(sam, "biology", "What do mitochondria do in a cell?");
    await run.waitForOriginal();
    const parts = await bot.discord.waitFor(
      () => "every part of the long answer",
      () => {
        const all = run.messages();
        return all.some((m) => m.content.includes("Fifth,")) ? all : undefined;
      },
      5000,
    );
    assert.ok(parts.length >= 2, `split into ${parts.length} messages`);
    for (const p of parts) {
      assert.ok(p.content.length <= 2000, `a part of ${p.content.length} characters`);
      assert.equal((p.content.match(/```/g) ?? []).length % 2, 0, "every code fence is closed in its part");
      assert.equal(p.ephemeral, false);
    }
    assert.ok(
      parts.some((p) => p.content.includes(CODE_BLOCK)),
      "the code block arrives whole in one part",
    );
    const text = parts.map((p) => p.content).join("\n\n");
    for (const marker of ["First,", "Second,", "Third,", "Fourth,", "Fifth,"])
      assert.ok(text.includes(marker));
    const last = parts[parts.length - 1] as FakeMessage;
    assert.match(last.content, /answered by/);
    assert.ok(
      last.customIds.some((c) => c.startsWith("vote:up:")),
      "the buttons are on the last part",
    );
    assert.equal(parts.slice(0, -1).flatMap((p) => p.customIds).length, 0);
  });

  it("attaches an answer as a .txt when a code block alone is over 2,000 characters", async () => {
    assert.ok(BIG_CODE.length > 2000);
    const run = await ask(sam, "biology", "Show me the whole respiration simulation code");
    const reply = await run.waitForOriginal();
    assert.match(reply.content, /attached as a file/);
    assert.ok(reply.content.length <= 2000);
    assert.ok(reply.file("answer.txt").text().includes(BIG_CODE), "the code block is whole in the file");
    assert.ok(reply.customIds.some((c) => c.startsWith("vote:up:")));
  });

  it("never pings, even when the question and the answer contain @everyone and a role", async () => {
    const run = await ask(sam, "biology", "@everyone who should hear about the field trip?");
    const messages = await replies(run);
    const text = messages.map((m) => m.content).join("\n");
    assert.match(text, /Tell @everyone in class/);
    assert.match(text, /> \*\*Q:\*\* @\u200beveryone who should hear/, "the quoted @everyone is plain text");
    for (const m of messages) {
      assert.deepEqual(m.pings, { everyone: false, users: [], roles: [] });
      assert.deepEqual(m.allowedMentions?.parse ?? [], []);
    }
  });

  it("republishes a student's question with its links, headings, mentions and spoilers as plain text", async () => {
    const run = await ask(
      sam,
      "biology",
      `# Free nitro [discord.gift](https://evil.example/claim) ||<@${teacher.id}> says so|| https://evil.example/x`,
    );
    const quoted = (await run.waitForOriginal()).content.split("\n")[0] ?? "";
    assert.ok(quoted.startsWith("> **Q:** \u200b# Free nitro"), quoted);
    assert.doesNotMatch(quoted, /\]\(|\|\||<@\d/, "no masked link, spoiler or mention left");
    assert.ok(
      quoted.includes("(<https://evil.example/claim>)"),
      "the masked link's address shows, unembedded",
    );
    assert.ok(quoted.endsWith("<https://evil.example/x>"), "a raw link does not embed");
  });

  it("counts one vote per student per answer; clicking again changes it", async () => {
    const up = `vote:up:${answer.customIds[0]?.split(":")[2]}`;
    const down = up.replace(":up:", ":down:");
    const click = async (user: FakeUser, customId: string) => {
      const run = await bot.discord.click({ message: answer, customId, user });
      const reply = await clickReply(run);
      assert.equal(reply.ephemeral, true);
      return reply.content;
    };
    assert.match(await click(sam, up), /👍 1 · 👎 0/);
    assert.match(await click(sam, up), /👍 1 · 👎 0/, "a second 👍 from the same student counts once");
    assert.match(await click(ana, down), /👍 1 · 👎 1/);
    assert.match(await click(sam, down), /👍 0 · 👎 2/, "sam changed his vote");
  });

  it("re-checks the answer's guild on a click from another server", async () => {
    const run = await bot.discord.click({
      message: answer,
      customId: answer.customIds[0] as string,
      user: outsider,
      channel: other.channel("general"),
    });
    const reply = await clickReply(run);
    assert.equal(reply.ephemeral, true);
    assert.match(reply.content, /no longer exists in this server/);
  });

  it("refuses forged vote ids for a private answer, or from another channel, as not found", async () => {
    const privateRun = await ask(ana, "general", "Is my private homework answer right?");
    assert.equal((await privateRun.waitForOriginal()).ephemeral, true);
    const answers = new AnswerRepository(sqliteStore(bot.db));
    const privateId = (await answers.withScores(guild.id, "0000")).findLast((a) => !a.public)?.id;
    assert.ok(privateId, "the private answer is stored");
    const publicId = Number(answer.customIds[0]?.split(":")[2]);
    const forge = async (customId: string, channel = guild.channel("biology")) => {
      const run = await bot.discord.click({ message: answer, customId, user: sam, channel, forged: true });
      const reply = await clickReply(run);
      assert.equal(reply.ephemeral, true);
      return reply.content;
    };
    const before = await answers.tally(guild.id, publicId);
    for (const direction of ["up", "down"]) {
      assert.match(await forge(`vote:${direction}:${privateId}`), /no longer exists in this server/);
      assert.match(await forge(`vote:${direction}:${privateId + 1000}`), /no longer exists in this server/);
      assert.match(
        await forge(`vote:${direction}:${publicId}`, guild.channel("general")),
        /no longer exists in this server/,
        "a public answer's vote from another channel",
      );
    }
    assert.deepEqual(
      await answers.tally(guild.id, privateId),
      { up: 0, down: 0, score: 0 },
      "nothing counted",
    );
    assert.deepEqual(await answers.tally(guild.id, publicId), before);
  });

  it("lets only a teacher correct an answer, through a modal prefilled with it", async () => {
    const correctId = answer.customIds[2] as string;
    const refused = await bot.discord.click({ message: answer, customId: correctId, user: sam });
    assert.match((await clickReply(refused)).content, /Only teachers/);

    const opened = await bot.discord.click({ message: answer, customId: correctId, user: teacher });
    await opened.response();
    const modal = opened.modal;
    assert.ok(modal, "the button opens a modal");
    const input = JSON.stringify(modal.components);
    assert.ok(input.includes("Osmosis is water crossing a membrane"), "prefilled with the answer");
    assert.match(input, /"max_length":4000/);

    const submitted = await bot.discord.submitModal({
      from: opened,
      fields: { answer: "Osmosis is the diffusion of water across a semi-permeable membrane." },
    });
    const saved = await clickReply(submitted);
    assert.equal(saved.ephemeral, true);
    assert.match(saved.content, /Saved/);
    const id = Number(correctId.split(":")[1]);
    const row = await new AnswerRepository(sqliteStore(bot.db)).get(guild.id, id);
    assert.equal(row?.correctedAnswer, "Osmosis is the diffusion of water across a semi-permeable membrane.");
    assert.equal(row?.correctedBy, teacher.id);
  });
});

describe("/ask model: for students and teachers", () => {
  const BASE = "gpt-4o-mini-2024-07-18";
  const offered = async (user: FakeUser, channel: string) =>
    (
      await bot.discord.autocomplete({
        channel: guild.channel(channel),
        user,
        command: "ask",
        options: { question: "x", model: "" },
        focused: "model",
      })
    ).map((c) => c.value);

  it("refuses a student's priced base model in a class channel, privately, naming what they may use", async () => {
    const run = await bot.discord.slash({
      channel: guild.channel("biology"),
      user: sam,
      command: "ask",
      options: { question: "What is a cell?", model: "gpt-4o-2024-08-06" },
    });
    const refusal = await bot.discord.waitFor(
      () => "the refusal",
      () =>
        run
          .messages()
          .flatMap((m) => m.bodies)
          .find((b) => String(b.content ?? "").includes("Students can't choose")),
      5000,
    );
    assert.match(String(refusal.content), new RegExp(`Ask without model: to use \`${model}\`\\.`));
    const visible = bot.discord
      .channelMessages(guild.channel("biology"))
      .filter((m) => m.interactionId === run.id && !m.ephemeral && !m.deleted);
    assert.deepEqual(visible, [], "nothing public is left");
  });

  it("offers a student only the models they may use, and a teacher the base model too", async () => {
    assert.deepEqual(await offered(sam, "biology"), [model], "the class's model");
    assert.deepEqual(await offered(sam, "general"), [model, BASE], "registered and the server's default");
    assert.deepEqual(await offered(teacher, "biology"), [model, BASE]);
  });
});

describe("/ask outside a class channel", () => {
  it("answers privately with the base model, marked as the sandbox, with only the Follow up button", async () => {
    const run = await ask(ana, "general", "What is photosynthesis?");
    await run.response();
    assert.equal(run.deferred, true);
    const reply = await run.waitForOriginal();
    assert.equal(reply.ephemeral, true);
    assert.match(reply.content, /answered by `gpt-4o-mini-2024-07-18` \(sandbox\)/);
    assert.equal(reply.customIds.length, 1);
    assert.match(
      reply.customIds[0] ?? "",
      /^followup:\d+$/,
      "no votes or corrections outside a class channel",
    );
  });

  it("refuses an unknown model name of any length in words, within Discord's limits", async () => {
    for (const channel of ["general", "biology"]) {
      const run = await bot.discord.slash({
        channel: guild.channel(channel),
        user: ana,
        command: "ask",
        options: { question: "What is a cell?", model: `nope-${"x".repeat(3000)}` },
      });
      const refusal = await bot.discord.waitFor(
        () => `the refusal in #${channel}`,
        () =>
          run
            .messages()
            .flatMap((m) => m.bodies)
            .find((b) => String(b.content ?? "").includes("There is no model called")),
        5000,
      );
      assert.ok(String(refusal.content).length <= 2000);
      const visible = bot.discord
        .channelMessages(guild.channel(channel))
        .filter((m) => m.interactionId === run.id && !m.ephemeral && !m.deleted);
      assert.deepEqual(visible, [], `nothing public is left in #${channel}`);
    }
  });
});
