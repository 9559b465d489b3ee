// Guild isolation end to end: guild B can neither see nor use guild A's dataset or job, whether through
// lists, autocomplete, options typed by hand, or buttons replayed from guild A's messages.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { sampleDatasetJsonl } from "../../src/datasets/sample.ts";
import type {
  FakeChannel,
  FakeGuild,
  FakeInteraction,
  FakeMessage,
  FakeUser,
  OptionValue,
} from "../fakes/discord/index.ts";
import { startTestBot, type TestBot } from "../helpers/bot.ts";
import { addSchool, addTeacher, OTHER_SCHOOL } from "../helpers/school.ts";

let bot: TestBot;
let guildA: FakeGuild;
let guildB: FakeGuild;
let roomA: FakeChannel;
let roomB: FakeChannel;
let teacherA: FakeUser;
let teacherB: FakeUser;
let report: FakeMessage;
let confirmation: FakeMessage;
let datasetId: number;
let jobId: number;

const answerTo = (i: FakeInteraction, predicate: (m: FakeMessage) => boolean = () => true) =>
  i.waitForOriginal((m) => m !== i.sourceMessage && !m.loading && predicate(m), { timeoutMs: 15_000 });

async function slash(
  channel: FakeChannel,
  user: FakeUser,
  command: string,
  subcommand: string,
  options: Record<string, OptionValue> = {},
): Promise<FakeMessage> {
  const run = await bot.discord.slash({ channel, user, command, subcommand, options });
  return answerTo(run);
}

const customId = (message: FakeMessage, prefix: string) => {
  const id = message.customIds.find((c) => c.startsWith(prefix));
  assert.ok(id, `${prefix}… on the message (has ${message.customIds.join(", ")})`);
  return id;
};

before(async () => {
  bot = await startTestBot({ env: { SANDBOX_SECONDS_PER_STEP: "1" } });
  ({ guild: guildA, teacher: teacherA } = addSchool(bot.discord, {
    name: "School A",
    channels: ["staff", "notices"],
  }));
  ({ guild: guildB, teacher: teacherB } = addSchool(bot.discord, {
    ...OTHER_SCHOOL,
    name: "School B",
    channels: ["staff"],
  }));
  roomA = guildA.channel("staff");
  roomB = guildB.channel("staff");
  // Teacher A also teaches in guild B: even the same person cannot carry A's rows over.
  addTeacher(guildB, teacherA);
  await slash(roomA, teacherA, "config", "notifications", { channel: guildA.channel("notices") });

  const file = bot.discord.cdn.attachment("school-a-secrets.jsonl", sampleDatasetJsonl());
  report = await slash(roomA, teacherA, "dataset", "validate", { file });
  datasetId = Number(customId(report, "finetune:from-dataset:").split(":")[2]);
  const started = await slash(roomA, teacherA, "finetune", "start", { dataset: datasetId });
  const click = await bot.discord.click({
    message: started,
    customId: customId(started, "finetune:start:"),
    user: teacherA,
  });
  const done = await click.waitForOriginal((m) => /Job #\d+ started/.test(m.content), { timeoutMs: 15_000 });
  jobId = Number(/Job #(\d+)/.exec(done.content)?.[1]);
  // A second confirmation, left pending, to replay from guild B.
  confirmation = await slash(roomA, teacherA, "finetune", "start", { dataset: datasetId });
});
after(() => bot.close());

describe("guild B and guild A's rows", () => {
  it("lists none of A's datasets or jobs in B", async () => {
    assert.match((await slash(roomB, teacherB, "dataset", "list")).content, /No datasets yet/);
    assert.match((await slash(roomB, teacherB, "finetune", "list")).content, /No fine-tuning jobs yet/);
  });

  it("offers none of A's datasets or jobs in B's autocomplete, even when typed", async () => {
    for (const [subcommand, focused, typed] of [
      ["start", "dataset", ""],
      ["start", "dataset", String(datasetId)],
      ["start", "dataset", "secrets"],
      ["status", "job", ""],
      ["status", "job", String(jobId)],
      ["cancel", "job", ""],
    ] as const) {
      const choices = await bot.discord.autocomplete({
        channel: roomB,
        user: teacherB,
        command: "finetune",
        subcommand,
        focused,
        options: { [focused]: typed },
      });
      assert.deepEqual(choices, [], `${subcommand} ${focused} "${typed}"`);
    }
    const inA = await bot.discord.autocomplete({
      channel: roomA,
      user: teacherA,
      command: "finetune",
      subcommand: "status",
      focused: "job",
    });
    assert.deepEqual(
      inA.map((c) => c.value),
      [jobId],
      "guild A sees its own job (the check above can fail)",
    );
  });

  it("answers 'not found' for A's dataset and job ids typed in B", async () => {
    const start = await slash(roomB, teacherB, "finetune", "start", { dataset: datasetId });
    assert.match(start.content, new RegExp(`Dataset #${datasetId} was not found`));
    assert.deepEqual(start.customIds, []);
    assert.match(
      (await slash(roomB, teacherB, "finetune", "status", { job: jobId })).content,
      new RegExp(`Job #${jobId} was not found`),
    );
    assert.match(
      (await slash(roomB, teacherB, "finetune", "cancel", { job: jobId })).content,
      new RegExp(`Job #${jobId} was not found`),
    );
    assert.notEqual(
      (await bot.app.ctx.jobs.get(guildA.id, jobId))?.status,
      "cancelled",
      "A's job was not cancelled",
    );
  });

  it("refuses A's buttons replayed in B", async () => {
    const fromDataset = await bot.discord.click({
      message: report,
      customId: customId(report, "finetune:from-dataset:"),
      user: teacherB,
      channel: roomB,
    });
    assert.match((await answerTo(fromDataset)).content, new RegExp(`Dataset #${datasetId} was not found`));

    const start = await bot.discord.click({
      message: confirmation,
      customId: customId(confirmation, "finetune:start:"),
      user: teacherA,
      channel: roomB,
    });
    assert.match((await answerTo(start)).content, /expired or was already used/);
    assert.equal((await bot.app.ctx.jobs.list(guildB.id)).length, 0);
    assert.equal((await bot.app.ctx.jobs.list(guildA.id)).length, 1, "no second job in A either");
  });
});
