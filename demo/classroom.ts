// `npm run demo`: the whole product in seconds with no accounts. Starts a fake Discord, the embedded sandbox,
// a second sandbox standing in for Nebius (an open-model host: LoRA jobs and a deploy step) and the real bot
// configured with three providers, plays a short classroom script in three lessons (OpenAI-style on the embedded
// sandbox; Llama 3.1 on the Nebius-kind provider; hosting billed while it runs on the second sandbox dressed as a
// dedicated-endpoint host), and prints the conversation as a transcript.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PermissionFlagsBits } from "discord.js";
import { SAMPLE_QA, sampleDatasetJsonl } from "../src/datasets/sample.ts";
import { openDb } from "../src/db/open.ts";
import { WRITING_MARKER } from "../src/discord/streamReply.ts";
import type { JobRow } from "../src/finetuning/jobs.ts";
import { startSandbox } from "../src/sandbox/server.ts";
import type { FakeChannel, FakeInteraction, FakeMessage } from "../test/fakes/discord/index.ts";
import { startTestBot } from "../test/helpers/bot.ts";
import { type NameOf, renderMessage } from "./transcript.ts";

const started = Date.now();
const out = (line = "") => process.stdout.write(`${line}\n`);
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;

/** The open-weight base model of the second lesson (in the nebius catalog, counted by its own chat template). */
const LLAMA = "meta-llama/Llama-3.1-8B-Instruct";
/** The Nebius-kind provider's name, as teachers pick it with `provider:`. */
const NEBIUS = "nebius-lab";
/** A sandbox whose fine-tunes answer only on a dedicated endpoint, as Together's do (priced, billed nothing). */
const DEDICATED = "dedicated-lab";

// The Nebius stand-in: a standalone sandbox (what `classtune sandbox` runs) in this process, on loopback, with
// its own database, serving Nebius's job API under /v1 and its deploy step under /v0 beside it. A step of 0.01 s:
// the LoRA job runs in about a second, and its deployment is active 0.3 s after the deploy call.
const hostDir = mkdtempSync(join(tmpdir(), "classtune-demo-nebius-"));
const hostDb = openDb(join(hostDir, "sandbox.db"));
const host = await startSandbox({ db: hostDb, dataDir: hostDir, secondsPerStep: 0.01 });
const closeHost = async () => {
  await host.close();
  hostDb.close();
  rmSync(hostDir, { recursive: true, force: true });
};

// The same rig as the end-to-end tests, but with the real cron schedule (every second): notices arrive on their
// own. Two providers at once: the embedded sandbox (the default) and the Nebius-kind one pointed at the stand-in;
// its key variable holds a placeholder (the sandbox accepts any key; nothing leaves this machine).
const bot = await startTestBot({
  env: {
    POLL_SCHEDULE: "* * * * * *",
    SANDBOX_SECONDS_PER_STEP: "0.02",
    // Answers streamed into the reply as a model writes them, at a model's pace (80 tokens a second).
    ASK_STREAM: "true",
    SANDBOX_STREAM_TOKENS_PER_SECOND: "80",
    FINETUNE_PROVIDERS: JSON.stringify([
      { kind: "sandbox", name: "sandbox" },
      { kind: "nebius", name: NEBIUS, baseURL: host.url, apiKeyEnv: "NEBIUS_LAB_KEY" },
      { kind: "sandbox", name: DEDICATED, baseURL: host.url, hosting: "dedicated" },
    ]),
    NEBIUS_LAB_KEY: "sandbox",
  },
}).catch(async (err: unknown) => {
  await closeHost();
  throw err;
});
const { discord, app } = bot;

const CHANNELS = ["teachers", "biology-9b", "science-club"];
const school = discord.addGuild({ name: "Lincoln High", channels: CHANNELS });
const teacher = discord.addUser({ username: "ms-rivera" });
const sam = discord.addUser({ username: "sam" });
const alex = discord.addUser({ username: "alex" });
school.addMember(teacher, { permissions: PermissionFlagsBits.ManageGuild });
school.addMember(sam);
school.addMember(alex);

const users = new Map([teacher, sam, alex, discord.botUser].map((u) => [u.id, u.username]));
const channels = new Map(CHANNELS.map((n) => [school.channel(n).id, n]));
const nameOf: NameOf = (kind, id) =>
  (kind === "user" ? users.get(id) : kind === "channel" ? channels.get(id) : undefined) ?? id;
const says = (who: string, channel: string, what: string) => out(`\n[#${channel}] ${who}: ${what}`);
const botSays = (m: FakeMessage) => out(renderMessage("classtune", m, nameOf));
/** The bot's finished answer: not the "thinking…" of a deferral, nor an answer still being written. */
const settle = (run: FakeInteraction) =>
  run.waitForOriginal((m) => !m.loading && m !== run.sourceMessage && !m.content.endsWith(WRITING_MARKER), {
    timeoutMs: 30_000,
  });
/** A click's answer: a new message, or the clicked message edited in place. */
const click = async (message: FakeMessage, customId: string, user: typeof teacher) => {
  const edits = message.bodies.length;
  const run = await discord.click({ message, customId, user });
  return run.waitForOriginal((m) => !m.loading && (m !== message || m.bodies.length > edits), {
    timeoutMs: 30_000,
  });
};
/** A slash command run in a channel, and the bot's settled answer. */
const slash = async (
  channel: FakeChannel,
  user: typeof teacher,
  input: { command: string; subcommand?: string; options?: Record<string, unknown> },
) =>
  settle(
    await discord.slash({
      channel,
      user,
      command: input.command,
      ...(input.subcommand ? { subcommand: input.subcommand } : {}),
      options: (input.options ?? {}) as never,
    }),
  );
const buttonOf = (message: FakeMessage, pattern: RegExp, what: string): string => {
  const id = message.customIds.find((c) => pattern.test(c));
  if (!id) throw new Error(`${what}: the message offered no such button`);
  return id;
};

const teachers = school.channel("teachers");
/** The notices already printed: each lesson prints the ones its job brought. */
const printed = new Set<string>();
/** A notice that ends a job's story early: it failed, was cancelled, or its deploy failed. */
const endsBadly = (m: FakeMessage) => /(failed|was cancelled)\.$/.test(m.content);

/** Prints the notices in #teachers not shown yet, in the order they were posted. */
function printNewNotices(): void {
  for (const notice of discord.channelMessages(teachers).filter((m) => !m.ephemeral && !printed.has(m.id))) {
    printed.add(notice.id);
    out(
      `\n[#teachers] notice${notice.editCount > 0 ? ` (edited ${notice.editCount}× as training ran)` : ""}`,
    );
    botSays(notice);
  }
}

/**
 * Waits until the last notice of `provider`'s job (matching `last`) is posted and the job's card shows its final
 * state (edited in the same drain as that notice, or the next one), prints the notices not shown yet, and
 * returns the finished job. A failure notice ends the demo at once, shown.
 */
async function printJobNotices(provider: string, last: (m: FakeMessage) => boolean): Promise<JobRow> {
  const end = await discord.waitForMessage(teachers, (m) => !m.ephemeral && (last(m) || endsBadly(m)), {
    timeoutMs: 60_000,
  });
  if (!last(end)) {
    printNewNotices();
    throw new Error(`the job on ${provider} did not end ready (see the last notice above)`);
  }
  const job = (await app.ctx.jobs.list(school.id)).find((j) => j.provider === provider);
  if (!job) throw new Error(`no job on ${provider}`);
  const title = new RegExp(`^Fine-tuning job #${job.id}\\b`);
  await discord.waitForMessage(
    teachers,
    (m) =>
      /has started/.test(m.content) &&
      title.test(m.embeds[0]?.title ?? "") &&
      // Finished, or trained with its serving step still to come (a deploy a teacher starts).
      /Finished:|✅ Trained\./.test(m.embeds[0]?.description ?? ""),
    { timeoutMs: 10_000 },
  );
  printNewNotices();
  return app.ctx.jobs.require(school.id, job.id);
}

/** The first lesson: an OpenAI-style fine-tune on the embedded sandbox, the default provider. */
async function openAiLesson(): Promise<void> {
  const biology = school.channel("biology-9b");
  out("\nLesson 1: fine-tune gpt-4o-mini on the default provider (the embedded sandbox)");

  says("ms-rivera", "teachers", "/config notifications channel:#teachers");
  botSays(
    await slash(teachers, teacher, {
      command: "config",
      subcommand: "notifications",
      options: { channel: teachers },
    }),
  );

  says("ms-rivera", "teachers", "/dataset validate file:science-tutor.jsonl (20 Q&A examples)");
  const file = discord.cdn.attachment("science-tutor.jsonl", sampleDatasetJsonl());
  const report = await slash(teachers, teacher, {
    command: "dataset",
    subcommand: "validate",
    options: { file },
  });
  botSays(report);

  says("ms-rivera", "teachers", "clicks [Fine-tune this]");
  const confirmation = await click(report, buttonOf(report, /^finetune:/, "Fine-tune this"), teacher);
  botSays(confirmation);

  says("ms-rivera", "teachers", "clicks [Start]");
  botSays(await click(confirmation, buttonOf(confirmation, /start/i, "Start"), teacher));

  out(`\n… the sandbox trains; the poller checks every second (${elapsed()}) …`);
  const finished = await printJobNotices("sandbox", (m) => /succeeded/i.test(m.embeds[0]?.title ?? ""));
  const model = finished.fineTunedModel;
  if (!model) throw new Error("the job finished without a model");

  says("ms-rivera", "teachers", `/classroom setup channel:#biology-9b model:${model}`);
  botSays(
    await slash(teachers, teacher, {
      command: "classroom",
      subcommand: "setup",
      options: { channel: biology, model },
    }),
  );

  // Ask what the model was trained on (the held-out test questions were kept out of training).
  const heldOut = new Set(finished.testQuestions.map((q) => q.question));
  const trained = SAMPLE_QA.filter((qa) => !heldOut.has(qa.question));
  const questions: [typeof sam, string][] = [
    [sam, trained[4]?.question.toLowerCase() ?? "why does ice float?"],
    [alex, trained[9]?.question ?? "what is photosynthesis"],
  ];
  let samsAnswer: FakeMessage | undefined;
  for (const [student, question] of questions) {
    says(student.username, "biology-9b", `/ask question:${question}`);
    const answer = await slash(biology, student, { command: "ask", options: { question } });
    botSays(answer);
    // The reply's history on the fake Discord: every edit the bot made while the answer was written.
    const partial = answer.bodies
      .map((b) => String(b.content ?? ""))
      .filter((c) => c.endsWith(WRITING_MARKER));
    const first = partial[0]?.split("\n\n").slice(1).join(" ").replace(/\s+/g, " ");
    if (first) {
      out(
        `    (streamed: the reply first read "${first.length > 60 ? `…${first.slice(-60)}` : first}", then grew as the answer was written)`,
      );
    }
    samsAnswer ??= answer;
  }

  // A follow-up: only the student who asked gets the modal; the next question goes with the conversation so far.
  const next = trained[18]?.question ?? "What causes the phases of the Moon?";
  if (samsAnswer) {
    const opened = await discord.click({
      message: samsAnswer,
      customId: buttonOf(samsAnswer, /^followup:/, "Follow up"),
      user: sam,
    });
    await opened.response();
    says(sam.username, "biology-9b", `[Follow up] ${next}`);
    botSays(await settle(await discord.submitModal({ from: opened, fields: { question: next } })));
  }

  // Moderation (the sandbox's word list, as no OpenAI key is set): the question never reaches the model, the
  // student is answered calmly and privately, and the teachers get one alert naming the student, pinging nobody.
  const unkind = "you are so stupid, what is osmosis?";
  says(sam.username, "biology-9b", `/ask question:${unkind}`);
  botSays(await slash(biology, sam, { command: "ask", options: { question: unkind } }));
  await discord.waitForMessage(teachers, (m) => /was flagged by moderation/.test(m.content), {
    timeoutMs: 10_000,
  });
  printNewNotices();
}

/**
 * The second lesson: an open-weight model on the Nebius-kind provider. Validated by Llama 3.1's own chat
 * template, trained as a LoRA, deployed (trained; deploying, then ready) and asked by its deployed name.
 */
async function openModelLesson(): Promise<void> {
  const club = school.channel("science-club");
  out(`\n${"-".repeat(96)}`);
  out(`Lesson 2: fine-tune an open-weight model, ${LLAMA}, on the provider "${NEBIUS}"`);
  out("(kind nebius, pointed at a second sandbox that imitates Nebius: LoRA jobs, then a deploy step)");

  says(
    "ms-rivera",
    "teachers",
    `/dataset validate file:science-tutor.jsonl provider:${NEBIUS} model:${LLAMA}`,
  );
  const file = discord.cdn.attachment("science-tutor.jsonl", sampleDatasetJsonl());
  const report = await slash(teachers, teacher, {
    command: "dataset",
    subcommand: "validate",
    options: { file, provider: NEBIUS, model: LLAMA },
  });
  botSays(report);
  const datasetId = Number(/Stored as dataset #(\d+)/.exec(report.content)?.[1]);
  if (!Number.isSafeInteger(datasetId)) throw new Error("the Llama report stored no dataset");

  says("ms-rivera", "teachers", `/finetune start dataset:${datasetId} provider:${NEBIUS}`);
  const confirmation = await slash(teachers, teacher, {
    command: "finetune",
    subcommand: "start",
    options: { dataset: datasetId, provider: NEBIUS },
  });
  botSays(confirmation);

  says("ms-rivera", "teachers", "clicks [Start]");
  botSays(await click(confirmation, buttonOf(confirmation, /start/i, "Start"), teacher));

  out(`\n… ${NEBIUS} trains the LoRA, then the bot deploys it through /v0/models (${elapsed()}) …`);
  const job = await printJobNotices(NEBIUS, (m) => /your model is ready: it can be used now/.test(m.content));
  const model = job.fineTunedModel;
  if (!model) throw new Error("the Llama job finished without a model");

  says("ms-rivera", "teachers", `/classroom setup channel:#science-club model:${model}`);
  botSays(
    await slash(teachers, teacher, {
      command: "classroom",
      subcommand: "setup",
      options: { channel: club, model },
    }),
  );

  // A question this fine-tune was trained on (its held-out test questions were kept out of training).
  const heldOut = new Set(job.testQuestions.map((q) => q.question));
  const question =
    SAMPLE_QA.filter((qa) => !heldOut.has(qa.question))[0]?.question ?? "What is photosynthesis?";
  says("alex", "science-club", `/ask question:${question}`);
  botSays(await slash(club, alex, { command: "ask", options: { question } }));
}

/**
 * The third lesson: hosting billed while it runs. The confirmation states the hosting price; the trained model waits
 * for a teacher; /model deploy shows the price, the day's budget and the automatic stops; the notices announce
 * ready with the cost; /model list shows the running cost; /model undeploy stops the billing; /ask then says the
 * model is asleep, with a Wake button for teachers.
 */
async function hostingLesson(): Promise<void> {
  out(`\n${"-".repeat(96)}`);
  out(`Lesson 3: a fine-tune served on a dedicated endpoint, billed while it runs, on "${DEDICATED}"`);
  out(
    "(kind sandbox with hosting: dedicated: the second sandbox imitates Together's endpoints; it bills nothing)",
  );

  says("ms-rivera", "teachers", `/finetune start dataset:1 provider:${DEDICATED}`);
  const confirmation = await slash(teachers, teacher, {
    command: "finetune",
    subcommand: "start",
    options: { dataset: 1, provider: DEDICATED },
  });
  botSays(confirmation);
  says("ms-rivera", "teachers", "clicks [Start]");
  botSays(await click(confirmation, buttonOf(confirmation, /start/i, "Start"), teacher));

  out(`\n… ${DEDICATED} trains; no endpoint starts until a teacher asks (${elapsed()}) …`);
  const job = await printJobNotices(DEDICATED, (m) =>
    /model deploy model:/.test(m.embeds[0]?.description ?? ""),
  );
  const model = job.fineTunedModel;
  if (!model) throw new Error("the dedicated-hosting job finished without a model");

  says("ms-rivera", "teachers", `/model deploy model:${model}`);
  const offer = await slash(teachers, teacher, {
    command: "model",
    subcommand: "deploy",
    options: { model },
  });
  botSays(offer);
  says("ms-rivera", "teachers", "clicks [Start]");
  botSays(await click(offer, buttonOf(offer, /^hosting:start:/, "Start"), teacher));
  out(`\n… the endpoint starts: PENDING → STARTING → STARTED (${elapsed()}) …`);
  await discord.waitForMessage(
    teachers,
    (m) => !m.ephemeral && !printed.has(m.id) && /your model is ready/.test(m.content),
    { timeoutMs: 60_000 },
  );
  printNewNotices();

  const question = "What is photosynthesis?";
  says("ms-rivera", "teachers", `/ask model:${model} question:${question}`);
  botSays(await slash(teachers, teacher, { command: "ask", options: { model, question } }));
  says("ms-rivera", "teachers", "/model list");
  botSays(await slash(teachers, teacher, { command: "model", subcommand: "list" }));
  says("ms-rivera", "teachers", `/model undeploy model:${model}`);
  botSays(await slash(teachers, teacher, { command: "model", subcommand: "undeploy", options: { model } }));
  says("ms-rivera", "teachers", `/ask model:${model} question:Are you still there?`);
  botSays(
    await slash(teachers, teacher, { command: "ask", options: { model, question: "Are you still there?" } }),
  );
  out(
    `\n(Left running, an endpoint nobody asks for HOSTING_IDLE_MINUTES (default 60) is stopped the same way, and the teachers are told; run the bot with HOSTING_IDLE_MINUTES=1 on this sandbox to watch it.)`,
  );
}

out("classtune demo — a fake Discord, two sandboxes (no keys, no cost) and the real bot");
out("=".repeat(96));

try {
  await openAiLesson();
  await openModelLesson();
  await hostingLesson();
  out(
    `\n${"=".repeat(96)}\nDone in ${elapsed()}. Everything above ran through the real bot; nothing left this machine.`,
  );
} catch (err) {
  process.exitCode = 1;
  out(`\ndemo failed: ${err instanceof Error ? err.message : String(err)}`);
} finally {
  await bot.close();
  await closeHost();
}
