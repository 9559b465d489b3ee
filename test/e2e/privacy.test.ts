// Privacy end to end on the fake Discord: /privacy show (ephemeral, the caller's rows only, as JSON), /privacy
// delete behind a button only the caller can press (no row of the student's is left in this server but what a
// teacher exported, which the student is told about, with the teacher), /dataset remove-student, and a server
// removing the bot (GUILD_DELETE) and inviting it back (GUILD_CREATE).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { privacyCoverageProblems, schemaTables } from "../../src/db/privacy.ts";
import type { FakeGuild, FakeInteraction, FakeMessage, FakeUser } from "../fakes/discord/index.ts";
import { startTestBot, type TestBot } from "../helpers/bot.ts";
import { addSchool, OTHER_SCHOOL } from "../helpers/school.ts";
import { userIdCells } from "../privacy/helpers.ts";

let bot: TestBot;
let a: FakeGuild;
let b: FakeGuild;
let teacher: FakeUser;
let sam: FakeUser;
let ana: FakeUser;

const reply = (run: FakeInteraction) => run.waitForOriginal((m) => m !== run.sourceMessage && !m.loading);

async function slash(g: FakeGuild, user: FakeUser, command: string, subcommand?: string, options = {}) {
  const run = await bot.discord.slash({
    channel: g.channel("general"),
    user,
    command,
    ...(subcommand ? { subcommand } : {}),
    options: options as never,
  });
  return run.waitForOriginal(undefined, { timeoutMs: 20_000 });
}

async function ask(g: FakeGuild, user: FakeUser, question: string): Promise<FakeMessage> {
  const run = await bot.discord.slash({
    channel: g.channel("class"),
    user,
    command: "ask",
    options: { question },
  });
  return run.waitForOriginal();
}

async function click(message: FakeMessage, prefix: string, user: FakeUser): Promise<FakeMessage> {
  const customId = message.customIds.find((c) => c.startsWith(prefix));
  assert.ok(customId, `a ${prefix} button`);
  return reply(await bot.discord.click({ message, customId, user }));
}

/** Waits for a condition the bot reaches on a gateway event (no timing is asserted). */
async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 250; i++) {
    if (check()) return;
    await sleep(20);
  }
  assert.fail(`timed out waiting for ${what}`);
}

const lastUsage = () =>
  bot.db.prepare(`SELECT cache_hit AS hit FROM ask_usage ORDER BY id DESC LIMIT 1`).get() as { hit: number };

before(async () => {
  bot = await startTestBot({ env: { ASK_USER_BURST: "100", DATA_RETENTION_DAYS: "2" } });
  const schoolA = addSchool(bot.discord, { channels: ["general", "class"] });
  const schoolB = addSchool(bot.discord, { ...OTHER_SCHOOL, channels: ["general", "class"] });
  ({ guild: a, teacher } = schoolA);
  [sam, ana] = schoolA.students;
  b = schoolB.guild;
  b.addMember(sam);
  for (const [g, t] of [
    [a, teacher],
    [b, schoolB.teacher],
  ] as const) {
    await slash(g, t, "classroom", "setup", { channel: g.channel("class"), model: "gpt-4o-mini-2024-07-18" });
  }
  // Sam asks twice in Lincoln (Ana likes both), once in the other school; Ana asks once.
  for (const q of ["What is photosynthesis?", "Why do leaves fall?"]) {
    await click(await ask(a, sam, q), "vote:up:", ana);
  }
  await click(await ask(a, ana, "What is a cell?"), "vote:up:", sam);
  await ask(b, sam, "Where are volcanoes?");
  // A question the (sandbox) moderator flags: a verdict row and the teachers' alert, both naming Sam.
  await ask(a, sam, "[flag:harassment] Everyone in this class is useless");
  // Ana repeats Sam's question: answered from the cache.
  await ask(a, ana, "what is photosynthesis");
  assert.equal(lastUsage().hit, 1);
  await slash(a, teacher, "dataset", "export", { "min-score": 1 });
});
after(() => bot.close());

describe("/privacy", () => {
  it("show: ephemeral, counts and last questions, the caller's rows in this server as JSON, and the export named", async () => {
    const shown = await slash(a, sam, "privacy", "show");
    assert.equal(shown.ephemeral, true);
    assert.match(shown.content, /questions and answers \(`answers\.user_id`\): 2/);
    assert.match(shown.content, /votes \(`answer_votes\.user_id`\): 1/);
    assert.match(shown.content, /Why do leaves fall\?/);
    assert.match(
      shown.content,
      new RegExp(`2 answer\\(s\\) in dataset #\\d+ .*exported by <@${teacher.id}>`),
    );
    const file = shown.files.find((f) => f.filename === "classtune-privacy.json");
    assert.ok(file, "the JSON is attached");
    const json = file.text();
    assert.ok(json.includes("Why do leaves fall?"));
    for (const absent of ["volcanoes", "What is a cell?"]) {
      assert.ok(!json.includes(absent), `"${absent}" (another server's, another student's) is not in it`);
    }
    const report = JSON.parse(json) as { rows: { rows: Record<string, unknown>[] }[] };
    assert.ok(report.rows.flatMap((r) => r.rows).every((r) => r.guild_id === a.id));
  });

  it("delete: only the caller can press the button; then no row of theirs is left here but the teacher's export", async () => {
    const confirm = await slash(a, sam, "privacy", "delete");
    assert.equal(confirm.ephemeral, true);
    assert.match(confirm.content, /cannot be undone/);
    assert.match(confirm.content, /Not deleted by this:[\s\S]*\/dataset remove-student/);
    const someoneElse = await click(confirm, "privacy:delete:", ana);
    assert.match(someoneElse.content, /only they can press it/);
    assert.ok(
      userIdCells(bot.db, sam.id).some((c) => c.table === "answers"),
      "nothing deleted by Ana's press",
    );
    const samBefore = userIdCells(bot.db, sam.id).filter((c) => c.guildId === a.id);
    for (const table of ["moderation_verdicts", "outbox", "answers", "answer_votes", "ask_usage"]) {
      assert.ok(
        samBefore.some((c) => c.table === table),
        `Sam is in ${table} before`,
      );
    }
    const anaBefore = userIdCells(bot.db, ana.id);
    const samInB = userIdCells(bot.db, sam.id).filter((c) => c.guildId === b.id);

    const done = await click(confirm, "privacy:delete:", sam);
    assert.match(done.content, /Done: \d+ row\(s\) deleted or anonymised, 2 cached answer\(s\) forgotten/);
    assert.match(done.content, new RegExp(`exported by <@${teacher.id}>`));

    assert.deepEqual(
      privacyCoverageProblems(bot.db),
      [],
      "the bot's own database (sandbox included) is covered",
    );
    const left = userIdCells(bot.db, sam.id);
    assert.deepEqual(
      [...new Set(left.filter((c) => c.guildId === a.id).map((c) => `${c.table}.${c.column}`))],
      ["dataset_exports.student_id"],
    );
    assert.deepEqual(
      left.filter((c) => c.guildId === b.id),
      samInB,
      "the other server's rows are untouched",
    );
    // Ana's rows stay, but her vote on Sam's deleted answers goes with them.
    const anaAfter = userIdCells(bot.db, ana.id);
    assert.ok(
      anaAfter.some((c) => c.table === "answers"),
      "Ana's own question stays",
    );
    assert.equal(anaAfter.filter((c) => c.table === "answer_votes").length, 0);
    assert.equal(anaBefore.filter((c) => c.table === "answer_votes").length, 2);
    assert.ok(
      (
        bot.db
          .prepare(`SELECT COUNT(*) AS n FROM ask_usage WHERE guild_id = ? AND user_id = 'deleted'`)
          .get(a.id) as {
          n: number;
        }
      ).n >= 2,
      "Sam's usage stays in the totals, without his id",
    );
    for (const { table, columns } of schemaTables(bot.db)) {
      for (const column of columns) {
        const hit = bot.db
          .prepare(`SELECT 1 FROM "${table}" WHERE instr(CAST("${column}" AS TEXT), ?) > 0 LIMIT 1`)
          .get("class is useless");
        assert.equal(hit, undefined, `Sam's flagged question is not left in ${table}.${column}`);
      }
    }
    await ask(a, ana, "What is photosynthesis?");
    assert.equal(lastUsage().hit, 0, "the cached answer to Sam's question is gone");
    assert.match((await slash(a, sam, "privacy", "show")).content, /2 answer\(s\) in dataset/);
  });

  it("/dataset remove-student (teachers) rewrites the server's datasets without the student's answers", async () => {
    assert.match(
      (await slash(a, ana, "dataset", "remove-student", { student: sam })).content,
      /Only teachers/,
    );
    // A job trained on the export holds two of its questions back to test the model: Sam's goes too.
    const dataset = bot.db.prepare(`SELECT id FROM datasets WHERE guild_id = ?`).get(a.id) as { id: number };
    bot.db
      .prepare(
        `INSERT INTO jobs (tag, guild_id, provider, remote_id, dataset_id, requester_id, base_model, hyperparameters,
           training_file_id, status, raw_status, test_questions, created_at, updated_at)
         VALUES ('ct-privacy', ?, 'sandbox', 'ftjob-privacy', ?, ?, 'gpt-4o-mini-2024-07-18', '{}', 'file-x',
           'succeeded', 'succeeded', ?, '2026-12-01', '2026-12-01')`,
      )
      .run(
        a.id,
        dataset.id,
        teacher.id,
        JSON.stringify([
          { question: "Why do leaves fall?", expected: "…" },
          { question: "What is a cell?", expected: "…" },
        ]),
      );
    const removed = await slash(a, teacher, "dataset", "remove-student", { student: sam });
    const held = bot.db.prepare(`SELECT test_questions AS t FROM jobs WHERE tag = 'ct-privacy'`).get() as {
      t: string;
    };
    assert.deepEqual(
      (JSON.parse(held.t) as { question: string }[]).map((q) => q.question),
      ["What is a cell?"],
    );
    assert.match(removed.content, /dataset #\d+ .*: 2 example\(s\) removed, 1 left/);
    const row = bot.db
      .prepare(`SELECT stored_path AS p, examples FROM datasets WHERE guild_id = ?`)
      .get(a.id) as {
      p: string;
      examples: number;
    };
    const text = readFileSync(row.p, "utf8");
    assert.ok(text.includes("What is a cell?"), "Ana's answer stays");
    assert.ok(!/photosynthesis|leaves/.test(text), "Sam's answers are gone from the file");
    assert.equal(row.examples, 1);
    assert.deepEqual(
      userIdCells(bot.db, sam.id).filter((c) => c.guildId === a.id),
      [],
      "now nothing of Sam's is left in this server",
    );
    assert.match(
      (await slash(a, teacher, "dataset", "remove-student", { student: sam })).content,
      /No dataset/,
    );
  });
});

describe("retention on the poller's tick", () => {
  it("deletes what is past DATA_RETENTION_DAYS, and /usage still counts it, anonymously", async () => {
    const old = new Date(Date.now() - 5 * 86_400_000).toISOString();
    bot.db
      .prepare(
        `INSERT INTO ask_usage (guild_id, channel_id, user_id, model, provider, prompt_tokens, completion_tokens,
           created_at) VALUES (?, ?, ?, 'gpt-4o-mini-2024-07-18', 'sandbox', 40, 2, ?)`,
      )
      .run(a.id, a.channel("class").id, ana.id, old);
    bot.db
      .prepare(
        `INSERT INTO answers (guild_id, channel_id, user_id, question, answer, model, system_prompt, public, created_at)
         VALUES (?, ?, ?, 'An old question?', 'An old answer.', 'm', 's', 1, ?)`,
      )
      .run(a.id, a.channel("class").id, ana.id, old);
    const before = await slash(a, teacher, "usage", undefined, { days: 7 });
    const questions = (m: FakeMessage) =>
      Number(/\*\*(\d+)\*\* questions/.exec(m.embeds[0]?.description ?? "")?.[1]);
    await bot.app.ctx.poller.tick();
    const n = (sql: string) => (bot.db.prepare(sql).get(old) as { n: number }).n;
    assert.equal(n(`SELECT COUNT(*) AS n FROM ask_usage WHERE created_at <= ?`), 0);
    assert.equal(n(`SELECT COUNT(*) AS n FROM answers WHERE created_at <= ?`), 0);
    assert.ok(
      (bot.db.prepare(`SELECT COUNT(*) AS n FROM answers`).get() as { n: number }).n > 0,
      "today's answers stay",
    );
    const afterPurge = await slash(a, teacher, "usage", undefined, { days: 7 });
    assert.equal(questions(afterPurge), questions(before), "the purged day is still counted");
    const field = afterPurge.embeds[0]?.fields?.find((f) => f.name === "Past the retention window");
    assert.match(field?.value ?? "", /^1 question\(s\) are from days past the retention window/);
  });
});

describe("a server removing the bot", () => {
  const departure = () =>
    bot.db.prepare(`SELECT delete_after AS at FROM guild_departures WHERE guild_id = ?`).get(b.id) as
      | { at: string }
      | undefined;

  it("schedules the server's data for deletion on GUILD_DELETE, and cancels it on GUILD_CREATE", async () => {
    bot.discord.removeBot(b);
    await until("the departure to be recorded", () => departure() !== undefined);
    const days = (Date.parse(departure()?.at ?? "") - Date.now()) / 86_400_000;
    assert.ok(days > 29 && days <= 30, `deleted after GUILD_DATA_GRACE_DAYS (30), got ${days}`);
    assert.ok(
      userIdCells(bot.db, sam.id).some((c) => c.guildId === b.id),
      "nothing is deleted yet",
    );
    bot.discord.reinviteBot(b);
    await until("the deletion to be cancelled", () => departure() === undefined);
  });

  it("a server that removed the bot while it was offline is scheduled on the next connect", async () => {
    await bot.app.close();
    const guilds = bot.discord.guilds;
    guilds.splice(guilds.indexOf(b), 1);
    await bot.restart();
    assert.ok(departure(), "scheduled on READY");
    bot.discord.reinviteBot(b);
    await until("the deletion to be cancelled", () => departure() === undefined);
  });
});
