// The export of follow-up conversations: a conversation whose turns qualify is one multi-turn example, OpenAI's
// `weight` 1 on the answers that qualified on their own (corrected, or rated by the class) and 0 on the context,
// corrected text winning; no (conversation so far, question) is trained on twice; the file passes the real
// validator; only the guild's own conversations are read; a DPO pair of a follow-up carries its conversation.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, beforeEach, describe, it } from "node:test";
import {
  type ExportLine,
  FeedbackService,
  type PreferenceLine,
  selectForExport,
} from "../../src/classroom/feedback.ts";
import { builtInCatalog, takesMessageWeight } from "../../src/datasets/catalog.ts";
import { storeDataset } from "../../src/datasets/store.ts";
import { AnswerRepository, type NewAnswer } from "../../src/db/answers.ts";
import { DatasetExportRepository } from "../../src/db/datasetExports.ts";
import { type Db, openDb } from "../../src/db/open.ts";
import { sqliteStore } from "../../src/db/query/store.ts";

const G = "100000000000000001";
const OTHER_G = "100000000000000002";
const CLASS = "200000000000000001";
const TEACHER = "300000000000000009";
const ASKER = "300000000000000008";
const CLASSMATE = "300000000000000007";
const voters = Array.from({ length: 4 }, (_, i) => `30000000000000000${i + 1}`);
const BASE = "gpt-4o-mini-2024-07-18";
const PROMPT = "You teach biology.";

let db: Db;
let answers: AnswerRepository;
let feedback: FeedbackService;
let at = Date.parse("2026-11-25T10:00:00Z");
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

beforeEach(async () => {
  db = openDb(":memory:");
  answers = new AnswerRepository(sqliteStore(db));
  const dataDir = mkdtempSync(join(tmpdir(), "classtune-conversation-"));
  dirs.push(dataDir);
  feedback = new FeedbackService({
    answers,
    storeDataset: (input) => storeDataset({ ...input, store: sqliteStore(db), dataDir }),
    exports: new DatasetExportRepository(sqliteStore(db)),
    defaultModel: BASE,
    now: () => at,
  });
});

async function ask(question: string, over: Partial<NewAnswer> = {}): Promise<number> {
  at += 1000;
  return await answers.insert({
    guildId: G,
    channelId: CLASS,
    userId: ASKER,
    question,
    answer: `Model answer to: ${question}`,
    model: BASE,
    systemPrompt: PROMPT,
    public: true,
    createdAt: new Date(at).toISOString(),
    ...over,
  });
}

const upvote = async (id: number, guildId = G) => {
  for (const v of voters.slice(0, 2)) await answers.vote(guildId, id, v, 1, new Date(at).toISOString());
};
const correct = async (id: number, text: string, guildId = G) =>
  await answers.correct(guildId, id, text, TEACHER, new Date(at).toISOString());

const readLines = <T>(path: string): T[] =>
  readFileSync(path, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as T);

/** A line as [role, content, weight] triples, weight omitted where the line has none. */
const shape = (line: ExportLine) =>
  line.messages.map((m) => (m.weight === undefined ? [m.role, m.content] : [m.role, m.content, m.weight]));

describe("multi-turn supervised export", () => {
  it("writes a conversation as one example: weight 1 on what qualified, 0 on context, the correction's text; it validates", async () => {
    const first = await ask("What is a cell?");
    await upvote(first);
    const second = await ask("Is it alive?", { parentId: first });
    const third = await ask("And a virus?", { parentId: second });
    await correct(third, "A virus is not a cell: it cannot live on its own.");

    const result = await feedback.exportDataset({ guildId: G, requesterId: TEACHER });

    assert.deepEqual(
      [result.examples, result.multiTurn, result.fromCorrections, result.fromVotes],
      [1, 1, 1, 0],
    );
    assert.deepEqual([result.report.valid, result.report.invalid], [1, 0], "the real validator accepts it");
    assert.equal(result.report.format, "chat");
    const [line] = readLines<ExportLine>(result.row.storedPath);
    assert.deepEqual(shape(line as ExportLine), [
      ["system", PROMPT],
      ["user", "What is a cell?"],
      ["assistant", "Model answer to: What is a cell?", 1],
      ["user", "Is it alive?"],
      ["assistant", "Model answer to: Is it alive?", 0],
      ["user", "And a virus?"],
      ["assistant", "A virus is not a cell: it cannot live on its own.", 1],
    ]);
    const rows = db
      .prepare("SELECT student_id AS s FROM dataset_exports WHERE dataset_id = ?")
      .all(result.row.id);
    assert.deepEqual(rows, [{ s: ASKER }], "one line, its asker recorded once for /privacy");
  });

  it("cuts a conversation after its last turn that qualifies: one turn left is a line as for a single answer", async () => {
    const first = await ask("What is a cell?");
    await upvote(first);
    await ask("Thanks!", { parentId: first });
    const { lines, multiTurn } = selectForExport(await answers.withScores(G, "0000"), 1);
    assert.equal(multiTurn, 0);
    assert.deepEqual(
      lines.map(shape),
      [
        [
          ["system", PROMPT],
          ["user", "What is a cell?"],
          ["assistant", "Model answer to: What is a cell?"],
        ],
      ],
      "no weight key, no unqualified follow-up",
    );
  });

  it("keeps an unqualified first question as context (weight 0) for a follow-up that qualified", async () => {
    const first = await ask("What is a cell?");
    const second = await ask("Why so small?", { parentId: first });
    await upvote(second);
    const { lines } = selectForExport(await answers.withScores(G, "0000"), 1);
    assert.deepEqual(
      lines.map((l) => l.messages.map((m) => m.weight)),
      [[undefined, undefined, 0, undefined, 1]],
    );
  });

  it("trains each turn once: never also alone, never twice across two follow-ups of one answer", async () => {
    const first = await ask("What is a cell?");
    await upvote(first);
    const a = await ask("Is it alive?", { parentId: first });
    const b = await ask("How big is it?", { parentId: first });
    await upvote(a);
    await upvote(b);
    // The same question asked alone elsewhere is the first turn again: not trained a second time.
    await upvote(await ask("What is a cell?"));
    const { lines, multiTurn } = selectForExport(await answers.withScores(G, "0000"), 1);
    assert.equal(multiTurn, 2);
    assert.deepEqual(
      lines.map((l) => [l.messages[3]?.content, l.messages[2]?.weight, l.messages[4]?.weight]),
      [
        ["Is it alive?", 1, 1],
        ["How big is it?", 0, 1],
      ],
    );
  });

  it("for a trainer without `weight`, stops a conversation before a turn that would be weight 0", async () => {
    const first = await ask("What is a cell?");
    await upvote(first);
    const second = await ask("Is it alive?", { parentId: first });
    await upvote(await ask("And a virus?", { parentId: second }));
    const { lines } = selectForExport(await answers.withScores(G, "0000"), 1, { weights: false });
    assert.deepEqual(lines.map(shape), [
      [
        ["system", PROMPT],
        ["user", "What is a cell?"],
        ["assistant", "Model answer to: What is a cell?"],
      ],
    ]);
    assert.equal(takesMessageWeight(BASE, builtInCatalog("openai")), true);
    assert.equal(takesMessageWeight("meta-llama/Llama-3.1-8B-Instruct", builtInCatalog("nebius")), false);
  });

  it("exports only the guild's conversations, and none begun before `since`", async () => {
    const early = await ask("Early question?");
    at += 10 * 86_400_000;
    const late = await ask("A follow-up asked after the cut-off?", { parentId: early });
    await upvote(late);
    const foreign = await ask("Another school's question?", { guildId: OTHER_G });
    const foreignFollowUp = await ask("Another school's follow-up?", { guildId: OTHER_G, parentId: foreign });
    await correct(foreignFollowUp, "Another school's correction.", OTHER_G);
    const mine = await ask("What is a cell?", { userId: CLASSMATE });
    await correct(await ask("Why?", { userId: CLASSMATE, parentId: mine }), "Because.");

    const all = await feedback.exportDataset({ guildId: G, requesterId: TEACHER });
    const text = readFileSync(all.row.storedPath, "utf8");
    assert.doesNotMatch(text, /Another school/);
    assert.match(text, /cut-off/);
    assert.deepEqual([all.examples, all.report.invalid], [2, 0]);

    const since = new Date(at - 86_400_000).toISOString();
    const recent = await feedback.exportDataset({ guildId: G, requesterId: TEACHER, since });
    assert.doesNotMatch(
      readFileSync(recent.row.storedPath, "utf8"),
      /cut-off/,
      "its first question is older",
    );
    assert.equal(recent.examples, 1);
  });
});

describe("preference export of a follow-up", () => {
  it("puts the conversation so far in input.messages, and the file validates", async () => {
    const first = await ask("What is a cell?");
    const second = await ask("Is it alive?", { parentId: first });
    await correct(second, "Yes: a cell is the smallest living unit.");
    const result = await feedback.exportDataset({ guildId: G, requesterId: TEACHER, format: "preference" });
    assert.deepEqual([result.examples, result.multiTurn, result.report.invalid], [1, 1, 0]);
    assert.equal(result.report.format, "preference");
    const [line] = readLines<PreferenceLine>(result.row.storedPath);
    assert.deepEqual(
      line?.input.messages.map((m) => [m.role, m.content]),
      [
        ["system", PROMPT],
        ["user", "What is a cell?"],
        ["assistant", "Model answer to: What is a cell?"],
        ["user", "Is it alive?"],
      ],
    );
    assert.equal(line?.preferred_output[0]?.content, "Yes: a cell is the smallest living unit.");
    assert.equal(line?.non_preferred_output[0]?.content, "Model answer to: Is it alive?");
  });
});
