// The feedback loop end to end: class answers rated with 👍/👎 and corrected by a teacher become a new dataset
// with /dataset export, which goes through the validator (its report, and the attached JSONL re-validated);
// private answers stay private and another guild's Q&A never appears.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { validateFile } from "../../src/datasets/validator.ts";
import type { FakeGuild, FakeInteraction, FakeMessage, FakeUser } from "../fakes/discord/index.ts";
import { startTestBot, type TestBot } from "../helpers/bot.ts";
import { addSchool, OTHER_SCHOOL } from "../helpers/school.ts";

let bot: TestBot;
let a: FakeGuild;
let b: FakeGuild;
let teacher: FakeUser;
let sam: FakeUser;
let ana: FakeUser;
let teacherB: FakeUser;
let studentB: FakeUser;
let classmateB: FakeUser;

function clickReply(run: FakeInteraction): Promise<FakeMessage> {
  return run.waitForOriginal((m) => m !== run.sourceMessage && !m.loading);
}

async function askIn(g: FakeGuild, user: FakeUser, channel: string, question: string): Promise<FakeMessage> {
  const run = await bot.discord.slash({
    channel: g.channel(channel),
    user,
    command: "ask",
    options: { question },
  });
  return run.waitForOriginal();
}

async function click(message: FakeMessage, prefix: string, user: FakeUser): Promise<FakeMessage> {
  const customId = message.customIds.find((c) => c.startsWith(prefix));
  assert.ok(customId, `the answer has a ${prefix} button`);
  return clickReply(await bot.discord.click({ message, customId, user }));
}

async function exportIn(
  g: FakeGuild,
  user: FakeUser,
  options: Record<string, unknown> = {},
): Promise<FakeMessage> {
  const run = await bot.discord.slash({
    channel: g.channel("general"),
    user,
    command: "dataset",
    subcommand: "export",
    options: options as never,
  });
  return run.waitForOriginal(undefined, { timeoutMs: 20_000 });
}

function classSetup(g: FakeGuild, user: FakeUser) {
  return bot.discord
    .slash({
      channel: g.channel("general"),
      user,
      command: "classroom",
      subcommand: "setup",
      options: { channel: g.channel("class"), model: "gpt-4o-mini-2024-07-18" },
    })
    .then((r) => r.waitForOriginal());
}

before(async () => {
  bot = await startTestBot({ env: { ASK_USER_BURST: "100" } });
  const schoolA = addSchool(bot.discord, { channels: ["general", "class"] });
  const schoolB = addSchool(bot.discord, { ...OTHER_SCHOOL, channels: ["general", "class"] });
  ({ guild: a, teacher } = schoolA);
  [sam, ana] = schoolA.students;
  ({ guild: b, teacher: teacherB } = schoolB);
  [studentB, classmateB] = schoolB.students;
  await classSetup(a, teacher);
  await classSetup(b, teacherB);
});
after(() => bot.close());

describe("/dataset export", () => {
  it("is for teachers, and says plainly when there is nothing to export", async () => {
    assert.match((await exportIn(a, sam)).content, /Only teachers/);
    assert.match((await exportIn(a, teacher)).content, /Nothing to export yet/);
  });

  it("exports rated and corrected class answers, validated, and never another guild's", async () => {
    // Nine answers the class likes, one a teacher corrects, one the class dislikes, one never rated.
    for (let i = 1; i <= 9; i++) {
      const m = await askIn(a, sam, "class", `Lincoln question ${i}: why is the sky blue at hour ${i}?`);
      assert.match(await click(m, "vote:up:", ana).then((r) => r.content), /👍 1/);
    }
    const corrected = await askIn(a, sam, "class", "Lincoln question 10: what is a photon?");
    const opened = await bot.discord.click({
      message: corrected,
      customId: corrected.customIds.find((c) => c.startsWith("correct:")) as string,
      user: teacher,
    });
    await opened.response();
    await clickReply(
      await bot.discord.submitModal({ from: opened, fields: { answer: "A photon is a particle of light." } }),
    );
    const disliked = await askIn(a, sam, "class", "Lincoln question 11: is the moon made of cheese?");
    await click(disliked, "vote:down:", ana);
    await askIn(a, sam, "class", "Lincoln question 12: never rated?");
    const privateAnswer = await askIn(a, sam, "general", "Lincoln private question: my grades?");
    assert.equal(privateAnswer.ephemeral, true);

    const bAnswer = await askIn(b, studentB, "class", "Other School secret question about volcanoes?");
    await click(bAnswer, "vote:up:", studentB);
    assert.match(
      (await exportIn(b, teacherB)).content,
      /Nothing to export yet/,
      "the asker's own 👍 alone does not export their Q&A",
    );
    await click(bAnswer, "vote:up:", classmateB);

    const exported = await exportIn(a, teacher, { "min-score": 1 });
    assert.equal(exported.ephemeral, true);
    assert.match(
      exported.content,
      /Exported 10 example\(s\): 1 corrected by a teacher, 9 rated by the class/,
    );
    const embed = exported.embeds[0];
    assert.ok(embed);
    assert.match(embed.description ?? "", /Ready to fine-tune: 10 valid examples/);
    assert.ok(
      exported.customIds.some((c) => c.startsWith("finetune:from-dataset:")),
      "Fine-tune this",
    );

    const file = exported.files.find((f) => f.filename.endsWith(".jsonl"));
    assert.ok(file, "the JSONL is attached");
    const jsonl = file.text();
    const lines = jsonl
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.equal(lines.length, 10);
    assert.ok(jsonl.includes("A photon is a particle of light."), "the teacher's correction wins");
    for (const absent of ["cheese", "never rated", "private question", "Other School", "volcanoes"]) {
      assert.ok(!jsonl.includes(absent), `"${absent}" is not exported`);
    }

    // The attached file round-trips through the validator on its own.
    const dir = await mkdtemp(join(tmpdir(), "classtune-export-e2e-"));
    try {
      const path = join(dir, file.filename);
      await writeFile(path, file.bytes);
      const report = await validateFile(path, { model: "gpt-4o-mini-2024-07-18" });
      assert.deepEqual([report.valid, report.invalid, report.fineTunable], [10, 0, true]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }

    const fromB = await exportIn(b, teacherB);
    const bText = fromB.files.find((f) => f.filename.endsWith(".jsonl"))?.text() ?? "";
    assert.match(bText, /volcanoes/);
    assert.ok(!bText.includes("Lincoln"), "guild B's export never contains guild A's Q&A");
    assert.match(fromB.content, /Exported 1 example/);
    assert.match(fromB.embeds[0]?.description ?? "", /Only 1 valid examples/);
  });

  it("honours since", async () => {
    assert.match((await exportIn(a, teacher, { since: "2999-01-01" })).content, /Nothing to export yet/);
    assert.match((await exportIn(a, teacher, { since: "not a date" })).content, /is not a date/);
  });
});
