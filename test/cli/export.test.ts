// `classtune export --guild ID --format preference|supervised [--out FILE] [--json]` and `classtune finetune FILE
// --method dpo [--beta B]` against the embedded sandbox: a guild's corrected answers exported as DPO pairs (only
// that guild's), trained by DPO to a model; the wrong method for a file, a provider without DPO, bad flags.
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { FinetuneResult } from "../../src/cli/finetune.ts";
import { SAMPLE_QA } from "../../src/datasets/sample.ts";
import { AnswerRepository } from "../../src/db/answers.ts";
import { openDb } from "../../src/db/open.ts";
import { sqliteStore } from "../../src/db/query/store.ts";
import { chatLines } from "../finetuning/jobs.fixture.ts";
import { type CliRun, runCliCaptured } from "../helpers/cli.ts";

const G = "100000000000000001";
const OTHER_G = "100000000000000002";
let dir: string;

function cli(...argv: string[]): Promise<CliRun> {
  return cliWith({}, ...argv);
}

function cliWith(env: Record<string, string>, ...argv: string[]): Promise<CliRun> {
  return runCliCaptured(argv, {
    DATA_DIR: join(dir, "data"),
    LOG_LEVEL: "silent",
    SANDBOX_SECONDS_PER_STEP: "0.002",
    ...env,
  });
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "classtune-cli-export-"));
  const db = openDb(join(dir, "data", "classtune.db"));
  const answers = new AnswerRepository(sqliteStore(db));
  const at = "2026-11-25T10:00:00.000Z";
  // Guild G: every sample question answered badly and corrected by a teacher; the other guild: two of its own.
  const rows = [
    ...SAMPLE_QA.map((qa, i) => ({
      guildId: G,
      question: qa.question,
      answer: `Not sure (${i}).`,
      fix: qa.answer,
    })),
    ...[1, 2].map((i) => ({
      guildId: OTHER_G,
      question: `What about volcanoes ${i}?`,
      answer: `Something wrong about volcanoes ${i}.`,
      fix: `The right thing about volcanoes ${i}.`,
    })),
  ];
  for (const r of rows) {
    const id = await answers.insert({
      guildId: r.guildId,
      channelId: "200000000000000001",
      userId: "300000000000000008",
      question: r.question,
      answer: r.answer,
      model: "gpt-4o-mini-2024-07-18",
      systemPrompt: "You teach science.",
      public: true,
      createdAt: at,
    });
    await answers.correct(r.guildId, id, r.fix, "300000000000000009", at);
  }
  db.close();
});
after(() => rm(dir, { recursive: true, force: true }));

test("export --format preference writes the guild's DPO pairs, validated and stored, and only that guild's", async () => {
  const out = join(dir, "pairs.jsonl");
  const r = await cli("export", "--guild", G, "--format", "preference", "--out", out, "--json");
  assert.equal(r.code, 0, r.err);
  const summary = JSON.parse(r.out) as {
    format: string;
    datasetId: number;
    examples: number;
    fromCorrections: number;
    report: { format: string; valid: number; invalid: number; fineTunable: boolean };
  };
  assert.equal(summary.format, "preference");
  assert.deepEqual([summary.examples, summary.fromCorrections], [23, 23]);
  assert.deepEqual(
    [summary.report.format, summary.report.valid, summary.report.invalid, summary.report.fineTunable],
    ["preference", 23, 0, true],
  );
  const text = await readFile(out, "utf8");
  const lines = text.trim().split("\n");
  assert.equal(lines.length, 23);
  assert.deepEqual(JSON.parse(lines[0] as string).preferred_output, [
    { role: "assistant", content: SAMPLE_QA[0]?.answer },
  ]);
  assert.doesNotMatch(text, /volcanoes/, "another guild's answers never appear");

  const plain = await cli("export", "--guild", G);
  assert.equal(plain.code, 0, plain.err);
  assert.match(
    plain.out,
    /Exported 23 example\(s\) \(23 corrected by a teacher, 0 rated by the class\) from guild/,
  );
  assert.equal(
    (await cli("export", "--guild", "100000000000000099", "--format", "preference")).code,
    1,
    "nothing to export",
  );
});

test("export writes a follow-up conversation as one multi-turn example, validated, and says so", async () => {
  const guild = "100000000000000003";
  const db = openDb(join(dir, "data", "classtune.db"));
  const answers = new AnswerRepository(sqliteStore(db));
  const base = {
    guildId: guild,
    channelId: "200000000000000001",
    userId: "300000000000000008",
    model: "gpt-4o-mini-2024-07-18",
    systemPrompt: "You teach science.",
    public: true,
    createdAt: "2026-11-26T10:00:00.000Z",
  };
  const first = await answers.insert({
    ...base,
    question: "What is erosion?",
    answer: "Wearing away of rock.",
  });
  const second = await answers.insert({
    ...base,
    parentId: first,
    question: "By what?",
    answer: "Only by wind.",
  });
  await answers.correct(guild, second, "By water, wind and ice.", "300000000000000009", base.createdAt);
  db.close();

  const out = join(dir, "conversation.jsonl");
  const r = await cli("export", "--guild", guild, "--out", out, "--json");
  assert.equal(r.code, 0, r.err);
  const summary = JSON.parse(r.out) as {
    examples: number;
    multiTurn: number;
    report: { valid: number; invalid: number };
  };
  assert.deepEqual(
    [summary.examples, summary.multiTurn, summary.report.valid, summary.report.invalid],
    [1, 1, 1, 0],
  );
  const line = JSON.parse((await readFile(out, "utf8")).trim()) as {
    messages: { content: string; weight?: number }[];
  };
  assert.deepEqual(
    line.messages.map((m) => m.weight),
    [undefined, undefined, 0, undefined, 1],
  );
  assert.equal(line.messages[4]?.content, "By water, wind and ice.");
  const plain = await cli("export", "--guild", guild);
  assert.match(
    plain.out,
    /1 corrected by a teacher, 0 rated by the class; 1 of them follow-up conversations\)/,
  );
});

test("export refuses bad flags with one line", async () => {
  const noGuild = await cli("export", "--format", "preference");
  assert.equal(noGuild.code, 2);
  assert.match(noGuild.err, /--guild is required/);
  const badFormat = await cli("export", "--guild", G, "--format", "dpo");
  assert.equal(badFormat.code, 2);
  assert.match(badFormat.err, /--format must be supervised or preference, got "dpo"/);
  const badScore = await cli("export", "--guild", G, "--min-score", "0");
  assert.match(badScore.err, /--min-score must be a whole number of at least 1/);
});

test("finetune --method dpo --beta trains the exported pairs by DPO to a model, with held-out pairs asked", async () => {
  const out = join(dir, "pairs-2.jsonl");
  assert.equal((await cli("export", "--guild", G, "--format", "preference", "--out", out)).code, 0);
  const r = await cli("finetune", out, "--method", "dpo", "--beta", "0.1", "--wait", "--json");
  assert.equal(r.code, 0, r.err);
  const result = JSON.parse(r.out) as FinetuneResult;
  assert.equal(result.job.status, "succeeded");
  assert.equal(result.job.hyperparameters.method, "dpo");
  assert.equal(result.job.hyperparameters.beta, 0.1);
  // Held out: the three rephrased questions; the sandbox answers each with the answer of the one it rephrases.
  assert.deepEqual(
    result.testAnswers.map((a) => a.question),
    SAMPLE_QA.slice(20).map((qa) => qa.question),
  );
  for (const a of result.testAnswers) assert.equal(a.answer, a.expected);
  assert.ok((result.metrics[0]?.trainLoss ?? 9) < 0.8, "a DPO loss curve");
});

test("finetune refuses the wrong method for the file, a provider without DPO, and a bad --method", async () => {
  const chat = join(dir, "chat.jsonl");
  await writeFile(chat, chatLines(12));
  const wrong = await cli("finetune", chat, "--method", "dpo");
  assert.equal(wrong.code, 1);
  assert.match(wrong.err, /holds chat examples, but a DPO job trains on preference examples/);

  const out = join(dir, "pairs-3.jsonl");
  assert.equal((await cli("export", "--guild", G, "--format", "preference", "--out", out)).code, 0);
  // Nobody listens at this LocalAI: had anything been uploaded, the error would be a connection error.
  const providers = JSON.stringify([
    { kind: "sandbox", name: "sandbox" },
    { kind: "localai", name: "gpu", baseURL: "http://127.0.0.1:9/v1" },
  ]);
  const noDpo = await cliWith({ FINETUNE_PROVIDERS: providers }, "finetune", out, "--provider", "gpu");
  assert.equal(noDpo.code, 2);
  assert.match(
    noDpo.err,
    /gpu cannot run DPO \(preference\) jobs here; these providers can: sandbox\. Nothing was uploaded\./,
  );

  const bad = await cli("finetune", out, "--method", "rlhf");
  assert.equal(bad.code, 2);
  assert.match(bad.err, /--method must be supervised or dpo, got "rlhf"/);
  const badBeta = await cli("finetune", out, "--beta", "x");
  assert.match(badBeta.err, /--beta must be a number, got "x"/);
});
