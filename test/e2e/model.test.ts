// /model and /classroom end to end: routing precedence (explicit > channel > guild > default) through the
// commands, per-subcommand access, models another provider serves, class channels, and guild isolation.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { PermissionFlagsBits } from "discord.js";
import OpenAI from "openai";
import type { FakeGuild, FakeInteraction, FakeMessage, FakeUser } from "../fakes/discord/index.ts";
import { startTestBot, type TestBot } from "../helpers/bot.ts";
import { fineTuneInGuild } from "../helpers/finetune.ts";
import { addSchool, OTHER_SCHOOL } from "../helpers/school.ts";

const DEFAULT = "gpt-4o-mini-2024-07-18";
const GUILD_MODEL = "gpt-4.1-nano-2025-04-14";
const CHANNEL_MODEL = "gpt-4o-2024-08-06";
const EXPLICIT = "gpt-3.5-turbo-0125";

let bot: TestBot;
let a: FakeGuild;
let b: FakeGuild;
let teacher: FakeUser;
let student: FakeUser;
let teacherB: FakeUser;
let studentB: FakeUser;
let model: string;

const PAIRS: [string, string][] = Array.from({ length: 11 }, (_, i) => [
  `What happens in experiment ${i + 1} of the physics lab?`,
  `In experiment ${i + 1} the ball rolls ${i + 2} metres.`,
]);

function run(
  g: FakeGuild,
  user: FakeUser,
  command: string,
  subcommand: string | undefined,
  options: Record<string, unknown> = {},
  channel = "general",
): Promise<FakeInteraction> {
  return bot.discord.slash({
    channel: g.channel(channel),
    user,
    command,
    ...(subcommand ? { subcommand } : {}),
    options: options as never,
  });
}

async function reply(r: Promise<FakeInteraction>): Promise<FakeMessage> {
  return (await r).waitForOriginal();
}

/** Which model answered a question (from the answer's footer). */
async function answeredBy(
  g: FakeGuild,
  user: FakeUser,
  channel: string,
  question: string,
  explicit?: string,
): Promise<string> {
  const m = await reply(
    run(g, user, "ask", undefined, { question, ...(explicit ? { model: explicit } : {}) }, channel),
  );
  return /answered by `([^`]+)`/.exec(m.content)?.[1] ?? `no model in: ${m.content}`;
}

before(async () => {
  bot = await startTestBot({
    env: {
      CHAT_PROVIDERS: JSON.stringify([{ name: "school", baseURL: "http://127.0.0.1:9/v1", free: true }]),
      CHAT_MAX_RETRIES: "0",
      ASK_USER_BURST: "100",
    },
  });
  const schoolA = addSchool(bot.discord, { channels: ["general", "physics", "lab", "annex", "attic"] });
  const schoolB = addSchool(bot.discord, OTHER_SCHOOL);
  ({ guild: a, teacher } = schoolA);
  [student] = schoolA.students;
  ({ guild: b, teacher: teacherB } = schoolB);
  [studentB] = schoolB.students;
  model = await fineTuneInGuild(bot.app, a.id, teacher.id, PAIRS, "physics");
});
after(() => bot.close());

describe("deployment", () => {
  it("deploys /ask and /model for everyone, /classroom and /usage for Manage Server", () => {
    const perms = (name: string) =>
      bot.discord.commands().find((c) => c.name === name)?.default_member_permissions;
    assert.equal(perms("ask"), null);
    assert.equal(perms("model"), null);
    assert.equal(perms("classroom"), PermissionFlagsBits.ManageGuild.toString());
    assert.equal(perms("usage"), PermissionFlagsBits.ManageGuild.toString());
  });
});

describe("routing precedence through the commands", () => {
  it("uses the configured base model when nothing is set", async () => {
    assert.equal(await answeredBy(a, student, "general", "What is inertia?"), DEFAULT);
  });

  it("refuses /model use to a student, server side", async () => {
    const m = await reply(run(a, student, "model", "use", { model: GUILD_MODEL }));
    assert.equal(m.ephemeral, true);
    assert.match(m.content, /Only teachers/);
    assert.equal(await answeredBy(a, student, "general", "What is mass?"), DEFAULT);
  });

  it("guild default > configured default; channel > guild; explicit (a teacher's, or a registered model) > channel", async () => {
    assert.match((await reply(run(a, teacher, "model", "use", { model: GUILD_MODEL }))).content, /now uses/);
    assert.equal(await answeredBy(a, student, "general", "What is a force?"), GUILD_MODEL);

    const set = await reply(
      run(a, teacher, "model", "use", { model: CHANNEL_MODEL, channel: a.channel("physics") }),
    );
    assert.match(set.content, new RegExp(`<#${a.channel("physics").id}>`));
    assert.equal(await answeredBy(a, student, "physics", "What is a force?"), CHANNEL_MODEL);
    assert.equal(
      await answeredBy(a, student, "general", "What is energy?"),
      GUILD_MODEL,
      "only that channel",
    );

    assert.equal(await answeredBy(a, teacher, "physics", "What is energy?", EXPLICIT), EXPLICIT);
    assert.equal(await answeredBy(a, student, "physics", "What is a lever?", model), model);
    const notForStudents = await reply(
      run(a, student, "ask", undefined, { question: "What is energy?", model: EXPLICIT }, "physics"),
    );
    assert.match(
      notForStudents.content,
      new RegExp(`Students can't choose "${EXPLICIT}" here. Ask without model: to use \`${CHANNEL_MODEL}\``),
      "a student may not pick another base model",
    );
  });

  it("keeps a channel default private: only class channels answer publicly", async () => {
    const r = await run(a, student, "ask", undefined, { question: "What is speed?" }, "physics");
    assert.equal((await r.waitForOriginal()).ephemeral, true);
  });
});

describe("/model list, add and autocomplete", () => {
  it("lists the guild's models for a student: provider, base model, when trained", async () => {
    const m = await reply(run(a, student, "model", "list"));
    const embed = m.embeds[0];
    assert.ok(embed);
    assert.match(embed.description ?? "", new RegExp(`Server default for /ask: \`${GUILD_MODEL}\``));
    const field = embed.fields?.find((f) => f.name === model);
    assert.ok(field, `lists ${model}`);
    assert.match(
      field.value,
      /provider sandbox \(sandbox\) · base gpt-4o-mini-2024-07-18 · trained \d{4}-\d{2}-\d{2}/,
    );
  });

  it("adds a model another provider serves, with the provider from autocomplete", async () => {
    const providers = await bot.discord.autocomplete({
      channel: a.channel("general"),
      user: teacher,
      command: "model",
      subcommand: "add",
      options: { model: "llama-3.1-8b", provider: "sch" },
      focused: "provider",
    });
    assert.deepEqual(providers, [{ name: "school", value: "school" }]);
    const added = await reply(
      run(a, teacher, "model", "add", { model: "llama-3.1-8b", provider: "school", label: "School Llama" }),
    );
    assert.match(added.content, /Registered `llama-3.1-8b` \(school\) as "School Llama"/);
    const unknown = await reply(run(a, teacher, "model", "add", { model: "x", provider: "nowhere" }));
    assert.match(unknown.content, /no chat provider called "nowhere".*sandbox, school/);

    const listed = await reply(run(a, student, "model", "list"));
    assert.match(
      listed.embeds[0]?.fields?.find((f) => f.name === "School Llama")?.value ?? "",
      /provider school/,
    );
  });

  it("explains provider trouble in plain words, privately", async () => {
    const r = await run(a, student, "ask", undefined, { question: "Hello?", model: "llama-3.1-8b" });
    const m = await r.waitForOriginal();
    assert.equal(m.ephemeral, true);
    assert.match(m.content, /Couldn't reach school right now/);
  });

  it("offers the guild's own models in autocomplete", async () => {
    const choices = await bot.discord.autocomplete({
      channel: a.channel("general"),
      user: student,
      command: "ask",
      options: { question: "x", model: "ft:" },
      focused: "model",
    });
    assert.deepEqual(
      choices.map((c) => c.value),
      [model],
    );
  });
});

describe("/classroom", () => {
  it("sets up, lists and removes a class channel", async () => {
    const refused = await reply(run(a, student, "classroom", "setup", { channel: a.channel("lab"), model }));
    assert.match(refused.content, /Only teachers/);
    const setup = await reply(
      run(a, teacher, "classroom", "setup", {
        channel: a.channel("lab"),
        model,
        "fallback-model": DEFAULT,
        "system-prompt": "You are the physics lab's assistant.",
        temperature: 0.2,
      }),
    );
    assert.match(setup.content, /is a class channel.*fallback `gpt-4o-mini-2024-07-18`.*temperature 0.2/);
    const inClass = await run(
      a,
      student,
      "ask",
      undefined,
      { question: "What happens in experiment 3 of the physics lab?" },
      "lab",
    );
    const answer = await inClass.waitForOriginal();
    assert.equal(answer.ephemeral, false);
    assert.match(answer.content, /In experiment 3 the ball rolls 4 metres\./);

    const listed = await reply(run(a, teacher, "classroom", "list"));
    const fields = listed.embeds[0]?.fields ?? [];
    assert.ok(fields.some((f) => f.name === "Class channel" && f.value.includes(a.channel("lab").id)));
    assert.ok(fields.some((f) => f.name === "Channel model" && f.value.includes(a.channel("physics").id)));

    const removed = await reply(run(a, teacher, "classroom", "remove", { channel: a.channel("lab") }));
    assert.match(removed.content, /no longer a class channel/);
    const again = await reply(run(a, teacher, "classroom", "remove", { channel: a.channel("lab") }));
    assert.match(again.content, /not a class channel/);
    const after = await run(a, student, "ask", undefined, { question: "What is torque?" }, "lab");
    assert.equal((await after.waitForOriginal()).ephemeral, true);
  });
});

describe("a vanished model", () => {
  const GONE = "ft:gpt-4o-mini-2024-07-18:classtune-sandbox:gone:zzz999";

  it("is answered by the class channel's fallback, which says so; without one the student is told plainly", async () => {
    const added = await reply(run(a, teacher, "model", "add", { model: GONE, provider: "sandbox" }));
    assert.match(added.content, /Registered/);
    await reply(
      run(a, teacher, "classroom", "setup", {
        channel: a.channel("annex"),
        model: GONE,
        "fallback-model": DEFAULT,
      }),
    );
    const r = await run(a, student, "ask", undefined, { question: "What is a photon?" }, "annex");
    const m = await r.waitForOriginal();
    assert.equal(m.ephemeral, false);
    assert.ok(
      m.content.includes(
        `answered by fallback \`${DEFAULT}\` (sandbox) because \`${GONE}\` is no longer available`,
      ),
      m.content,
    );

    await reply(run(a, teacher, "model", "use", { model: GONE, channel: a.channel("attic") }));
    const none = await run(a, student, "ask", undefined, { question: "What is a photon?" }, "attic");
    const refusal = await none.waitForOriginal();
    assert.equal(refusal.ephemeral, true);
    assert.match(refusal.content, /no longer available.*no working fallback model/);
  });
});

describe("guild isolation", () => {
  it("guild B cannot see guild A's model in /model list or autocomplete", async () => {
    const listed = await reply(run(b, studentB, "model", "list"));
    assert.ok(!JSON.stringify(listed.embeds).includes(model));
    assert.ok(!JSON.stringify(listed.embeds).includes("llama"));
    for (const [command, sub, focused] of [
      ["ask", undefined, "model"],
      ["model", "use", "model"],
      ["classroom", "setup", "model"],
    ] as const) {
      const choices = await bot.discord.autocomplete({
        channel: b.channel("general"),
        user: teacherB,
        command,
        ...(sub ? { subcommand: sub } : {}),
        options: { [focused]: "" },
        focused,
      });
      assert.ok(
        !choices.some((c) => String(c.value).startsWith("ft:")),
        `${command} offers no foreign model`,
      );
    }
  });

  it("guild B cannot use guild A's model: /model use, /classroom setup, /ask model:", async () => {
    const use = await reply(run(b, teacherB, "model", "use", { model }));
    assert.match(use.content, /There is no model called/);
    const setup = await reply(
      run(b, teacherB, "classroom", "setup", { channel: b.channel("general"), model }),
    );
    assert.match(setup.content, /There is no model called/);
    const r = await run(b, studentB, "ask", undefined, {
      question: "What happens in experiment 3 of the physics lab?",
      model,
    });
    const m = await r.waitForOriginal();
    assert.equal(m.ephemeral, true);
    assert.match(m.content, /There is no model called/);
    assert.ok(!m.content.includes("ball rolls"));
  });

  it("guild B cannot register guild A's fine-tuned model with /model add, then use it", async () => {
    const added = await reply(run(b, teacherB, "model", "add", { model, provider: "sandbox" }));
    assert.match(added.content, /There is no model called/);
    assert.ok(!added.content.includes("Registered"));
    const r = await run(b, studentB, "ask", undefined, {
      question: "What happens in experiment 3 of the physics lab?",
      model,
    });
    const m = await r.waitForOriginal();
    assert.match(m.content, /There is no model called/);
    assert.ok(!m.content.includes("ball rolls"));
    // Guild A itself may still register its own model again (idempotent).
    const again = await reply(run(a, teacher, "model", "add", { model, provider: "sandbox" }));
    assert.match(again.content, /Registered/);
  });

  /** A checkpoint of guild A's model, as the provider reports it for A's job (the oldest: not the final model). */
  async function checkpointOfA(): Promise<{ checkpoint: string; remoteId: string }> {
    const job = (await bot.app.ctx.jobs.list(a.id)).find((j) => j.fineTunedModel === model);
    assert.ok(job && bot.app.sandbox, "guild A's job, on the sandbox");
    const client = new OpenAI({ apiKey: "sandbox", baseURL: bot.app.sandbox.url, maxRetries: 0 });
    const page = await client.fineTuning.jobs.checkpoints.list(job.remoteId);
    const checkpoint = page.data.at(-1)?.fine_tuned_model_checkpoint;
    assert.ok(checkpoint && checkpoint !== model, `a checkpoint besides the final model: ${checkpoint}`);
    return { checkpoint, remoteId: job.remoteId };
  }

  it("guild B cannot register a checkpoint of guild A's model, or any name of A's job, in any spelling", async () => {
    const { checkpoint, remoteId } = await checkpointOfA();
    for (const name of [
      checkpoint,
      `  ${checkpoint.toUpperCase()}  `,
      checkpoint.replace(":ckpt", "\u200b:ckpt"),
      checkpoint.replace(":ckpt", "\uff1ackpt"),
      `${model}:ckpt-step-999`,
      ` ${model.toUpperCase()}`,
      remoteId,
    ]) {
      const added = await reply(run(b, teacherB, "model", "add", { model: name, provider: "sandbox" }));
      assert.match(added.content, /There is no model called/, JSON.stringify(name));
      assert.ok(!added.content.includes("Registered"), JSON.stringify(name));
    }
    assert.deepEqual(await bot.app.ctx.models.list(b.id), [], "guild B registered nothing");
    const r = await run(b, studentB, "ask", undefined, {
      question: "What happens in experiment 3 of the physics lab?",
      model: checkpoint,
    });
    const m = await r.waitForOriginal();
    assert.match(m.content, /There is no model called/);
    assert.ok(!m.content.includes("ball rolls"));
  });

  it("a checkpoint of guild A's model registered in guild B before the check is not used by /ask or /model use", async () => {
    const { checkpoint } = await checkpointOfA();
    // As a database from before the check holds it.
    await bot.app.ctx.models.register({
      guildId: b.id,
      name: checkpoint,
      provider: "sandbox",
      baseModel: checkpoint,
      jobId: null,
    });
    try {
      const r = await run(b, studentB, "ask", undefined, {
        question: "What happens in experiment 3 of the physics lab?",
        model: checkpoint,
      });
      const m = await r.waitForOriginal();
      assert.equal(m.ephemeral, true);
      assert.match(m.content, /There is no model called/);
      assert.ok(!m.content.includes("ball rolls"));
      const use = await reply(run(b, teacherB, "model", "use", { model: checkpoint }));
      assert.match(use.content, /There is no model called/);
      const again = await reply(run(b, teacherB, "model", "add", { model: checkpoint, provider: "sandbox" }));
      assert.match(again.content, /There is no model called/);
    } finally {
      await bot.app.ctx.models.remove(b.id, checkpoint);
    }
  });

  it("guild A registers its own checkpoint with /model add and asks it", async () => {
    const { checkpoint } = await checkpointOfA();
    const added = await reply(run(a, teacher, "model", "add", { model: checkpoint, provider: "sandbox" }));
    assert.match(added.content, /Registered/);
    const r = await run(a, student, "ask", undefined, {
      question: "What happens in experiment 3 of the physics lab?",
      model: checkpoint,
    });
    const m = await r.waitForOriginal();
    assert.ok(m.content.includes(`answered by \`${checkpoint}\``), m.content);
    assert.match(m.content, /In experiment 3 the ball rolls 4 metres\./);
  });
});
