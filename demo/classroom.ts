// `npm run demo`: the whole product in under a minute with no accounts. Starts a fake Discord, the embedded
// sandbox and the real bot, plays a short classroom script, and prints the conversation as a transcript.
import { PermissionFlagsBits } from "discord.js";
import { SAMPLE_QA, sampleDatasetJsonl } from "../src/datasets/sample.ts";
import type { FakeInteraction, FakeMessage } from "../test/fakes/discord/index.ts";
import { startTestBot } from "../test/helpers/bot.ts";
import { type NameOf, renderMessage } from "./transcript.ts";

const started = Date.now();
const out = (line = "") => process.stdout.write(`${line}\n`);
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;

// The same rig as the end-to-end tests, but with the real cron schedule: notices arrive on their own.
const bot = await startTestBot({ env: { POLL_SCHEDULE: "*/2 * * * * *", SANDBOX_SECONDS_PER_STEP: "0.03" } });
const { discord, app } = bot;

const school = discord.addGuild({ name: "Lincoln High", channels: ["teachers", "biology-9b"] });
const teacher = discord.addUser({ username: "ms-rivera" });
const sam = discord.addUser({ username: "sam" });
const alex = discord.addUser({ username: "alex" });
school.addMember(teacher, { permissions: PermissionFlagsBits.ManageGuild });
school.addMember(sam);
school.addMember(alex);

const users = new Map([teacher, sam, alex, discord.botUser].map((u) => [u.id, u.username]));
const channels = new Map(["teachers", "biology-9b"].map((n) => [school.channel(n).id, n]));
const nameOf: NameOf = (kind, id) =>
  (kind === "user" ? users.get(id) : kind === "channel" ? channels.get(id) : undefined) ?? id;
const says = (who: string, channel: string, what: string) => out(`\n[#${channel}] ${who}: ${what}`);
const botSays = (m: FakeMessage) => out(renderMessage("classtune", m, nameOf));
const settle = (run: FakeInteraction) =>
  run.waitForOriginal((m) => !m.loading && m !== run.sourceMessage, { timeoutMs: 30_000 });
/** A click's answer: a new message, or the clicked message edited in place. */
const click = async (message: FakeMessage, customId: string, user: typeof teacher) => {
  const edits = message.bodies.length;
  const run = await discord.click({ message, customId, user });
  return run.waitForOriginal((m) => !m.loading && (m !== message || m.bodies.length > edits), {
    timeoutMs: 30_000,
  });
};

out("classtune demo — a fake Discord, the embedded sandbox (no keys, no cost) and the real bot");
out("=".repeat(96));

try {
  const teachers = school.channel("teachers");
  const biology = school.channel("biology-9b");

  says("ms-rivera", "teachers", "/config notifications channel:#teachers");
  botSays(
    await settle(
      await discord.slash({
        channel: teachers,
        user: teacher,
        command: "config",
        subcommand: "notifications",
        options: { channel: teachers },
      }),
    ),
  );

  says("ms-rivera", "teachers", "/dataset validate file:science-tutor.jsonl (20 Q&A examples)");
  const file = discord.cdn.attachment("science-tutor.jsonl", sampleDatasetJsonl());
  const report = await settle(
    await discord.slash({
      channel: teachers,
      user: teacher,
      command: "dataset",
      subcommand: "validate",
      options: { file },
    }),
  );
  botSays(report);

  const fineTuneThis = report.customIds.find((id) => id.startsWith("finetune:"));
  if (!fineTuneThis) throw new Error("the report offered no Fine-tune this button");
  says("ms-rivera", "teachers", "clicks [Fine-tune this]");
  const confirmation = await click(report, fineTuneThis, teacher);
  botSays(confirmation);

  const start = confirmation.customIds.find((id) => /start/i.test(id));
  if (!start) throw new Error("the confirmation offered no Start button");
  says("ms-rivera", "teachers", "clicks [Start]");
  botSays(await click(confirmation, start, teacher));

  out(`\n… the sandbox trains; the poller checks every 2 seconds (${elapsed()}) …`);
  const card = await discord.waitForMessage(
    teachers,
    (m) => !m.ephemeral && m.embeds.some((e) => /succeeded/i.test(e.title ?? "")),
    {
      timeoutMs: 60_000,
    },
  );
  // The job's card gets its final state in the same drain as the result notice, or the next one.
  const isCard = (m: FakeMessage) => !m.ephemeral && m.id !== card.id && m.embeds.length > 0;
  for (
    let i = 0;
    i < 50 &&
    discord
      .channelMessages(teachers)
      .some((m) => isCard(m) && /Training\.|Queued|Validating/i.test(m.embeds[0]?.description ?? ""));
    i++
  ) {
    await new Promise((r) => setTimeout(r, 100));
  }
  for (const notice of discord.channelMessages(teachers).filter((m) => !m.ephemeral)) {
    out(
      `\n[#teachers] notice${notice.editCount > 0 ? ` (edited ${notice.editCount}× as training ran)` : ""}`,
    );
    botSays(notice);
  }
  const job = app.ctx.jobs.list(school.id)[0];
  const model = job?.fineTunedModel;
  if (!job || !model) throw new Error("the job finished without a model");

  says("ms-rivera", "teachers", `/classroom setup channel:#biology-9b model:${model}`);
  botSays(
    await settle(
      await discord.slash({
        channel: teachers,
        user: teacher,
        command: "classroom",
        subcommand: "setup",
        options: { channel: biology, model },
      }),
    ),
  );

  // Ask what the model was trained on (the held-out test questions were kept out of training).
  const heldOut = new Set(job.testQuestions.map((q) => q.question));
  const trained = SAMPLE_QA.filter((qa) => !heldOut.has(qa.question));
  const questions: [typeof sam, string][] = [
    [sam, trained[4]?.question.toLowerCase() ?? "why does ice float?"],
    [alex, trained[9]?.question ?? "what is photosynthesis"],
  ];
  for (const [student, question] of questions) {
    says(student.username, "biology-9b", `/ask question:${question}`);
    botSays(
      await settle(
        await discord.slash({ channel: biology, user: student, command: "ask", options: { question } }),
      ),
    );
  }
  out(
    `\n${"=".repeat(96)}\nDone in ${elapsed()}. Everything above ran through the real bot; nothing left this machine.`,
  );
} catch (err) {
  process.exitCode = 1;
  out(`\ndemo failed: ${err instanceof Error ? err.message : String(err)}`);
} finally {
  await bot.close();
}
