import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, describe, it } from "node:test";
import { FeedbackService } from "../../src/classroom/feedback.ts";
import { storeDataset } from "../../src/datasets/store.ts";
import { sqliteStore } from "../../src/db/query/store.ts";
import { buildHarness, type ChatServer, type Harness, startChatServer } from "./helpers.ts";

const G = "100000000000000001";
const OTHER_G = "100000000000000002";
const CLASS = "200000000000000001";
const HALL = "200000000000000002";
const TEACHER = "300000000000000009";
const students = Array.from({ length: 6 }, (_, i) => `30000000000000000${i + 1}`);
/** Asks the questions; never one of the voters unless a test says so. */
const ASKER = "300000000000000008";
const BASE = "gpt-4o-mini-2024-07-18";

describe("FeedbackService", () => {
  let server: ChatServer;
  let h: Harness;
  let feedback: FeedbackService;
  let dataDir: string;

  before(async () => {
    server = await startChatServer("sandbox", [BASE]);
  });
  after(() => server.close());
  beforeEach(async () => {
    h = buildHarness({ fineTuning: { name: "sandbox", url: server.url } });
    dataDir = mkdtempSync(join(tmpdir(), "classtune-feedback-"));
    feedback = new FeedbackService({
      answers: h.answers,
      storeDataset: (input) => storeDataset({ ...input, store: sqliteStore(h.db), dataDir }),
      defaultModel: BASE,
      now: () => h.clock.now,
    });
    for (const g of [G, OTHER_G]) {
      await h.settings.setup({
        guildId: g,
        channelId: CLASS,
        model: BASE,
        systemPrompt: "You teach biology.",
        teacherId: TEACHER,
      });
    }
  });

  async function askIn(guildId: string, channelId: string, question: string, userId = ASKER) {
    const r = await h.ask.ask({ guildId, channelId, userId, isTeacher: false, question });
    if (!r.ok) assert.fail(r.message);
    return r.answerId;
  }

  it("keeps one vote per student per answer; voting again replaces it", async () => {
    const id = await askIn(G, CLASS, "What is a cell?");
    const [s1, s2] = students as [string, string];
    await feedback.vote(G, CLASS, id, s1, "up");
    await feedback.vote(G, CLASS, id, s1, "up");
    assert.deepEqual(await feedback.vote(G, CLASS, id, s2, "up"), { up: 2, down: 0, score: 2 });
    assert.deepEqual(await feedback.vote(G, CLASS, id, s1, "down"), { up: 1, down: 1, score: 0 });
    await assert.rejects(async () => await feedback.vote(OTHER_G, CLASS, id, s1, "up"), /no longer exists/);
    assert.deepEqual(await feedback.tally(G, id), { up: 1, down: 1, score: 0 });
  });

  it("takes votes only on a public answer and only from its channel; any other id is not found", async () => {
    const [s1] = students as [string];
    const publicId = await askIn(G, CLASS, "What is a cell?");
    const privateId = await askIn(G, HALL, "Is my homework right?");
    for (const [channel, id] of [
      [HALL, privateId],
      [CLASS, privateId],
      [HALL, publicId],
      [CLASS, privateId + 1000],
    ] as const) {
      await assert.rejects(
        async () => await feedback.vote(G, channel, id, s1, "up"),
        /That answer no longer exists in this server/,
        `answer ${id} from channel ${channel}`,
      );
    }
    assert.deepEqual(await h.answers.tally(G, privateId), { up: 0, down: 0, score: 0 }, "no vote was stored");
    assert.deepEqual(await h.answers.tally(G, publicId), { up: 0, down: 0, score: 0 });
    assert.deepEqual(await feedback.vote(G, CLASS, publicId, s1, "up"), { up: 1, down: 0, score: 1 });
  });

  it("exports well-rated public answers and teacher corrections; the export round-trips through the validator", async () => {
    const ids: number[] = [];
    for (let i = 0; i < 12; i++) ids.push(await askIn(G, CLASS, `Biology question number ${i}?`));
    // 10 well-rated, one disputed, one never voted.
    for (const id of ids.slice(0, 10)) {
      for (const s of students.slice(0, 3)) await feedback.vote(G, CLASS, id, s, "up");
      await feedback.vote(G, CLASS, id, students[3] as string, "down");
    }
    const disputed = ids[10] as number;
    await feedback.vote(G, CLASS, disputed, students[0] as string, "up");
    await feedback.vote(G, CLASS, disputed, students[1] as string, "down");
    // A private answer, corrected by a teacher; another private answer, not corrected.
    const privateCorrected = await askIn(G, HALL, "What does the mitochondria do?");
    await askIn(G, HALL, "Is my homework right?");
    await feedback.correct(G, privateCorrected, TEACHER, "It makes most of the cell's energy (ATP).");
    // The other guild's answers, however well rated, never appear.
    const foreign = await askIn(OTHER_G, CLASS, "Secret question from another school?");
    for (const s of students) await feedback.vote(OTHER_G, CLASS, foreign, s, "up");

    const result = await feedback.exportDataset({ guildId: G, requesterId: TEACHER, minScore: 2 });
    assert.equal(result.examples, 11);
    assert.equal(result.fromVotes, 10);
    assert.equal(result.fromCorrections, 1);
    assert.equal(result.report.valid, 11);
    assert.equal(result.report.invalid, 0);
    assert.equal(result.report.fineTunable, true);
    assert.equal(result.row.guildId, G);
    assert.equal(result.row.uploaderId, TEACHER);
    const lines = readFileSync(result.row.storedPath, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { messages: { role: string; content: string }[] });
    const text = JSON.stringify(lines);
    assert.doesNotMatch(text, /another school/);
    assert.doesNotMatch(text, /homework/);
    assert.doesNotMatch(text, /number 10\?/, "the disputed answer stays out");
    assert.doesNotMatch(text, /number 11\?/, "the unvoted answer stays out");
    const mito = lines.find((l) => l.messages[1]?.content.includes("mitochondria"));
    assert.equal(mito?.messages[2]?.content, "It makes most of the cell's energy (ATP).");
    assert.equal(mito?.messages[0]?.content, "You are a helpful educational assistant.");
    assert.equal(lines[1]?.messages[0]?.content, "You teach biology.");

    const other = await feedback.exportDataset({ guildId: OTHER_G, requesterId: TEACHER });
    assert.equal(other.examples, 1);
    assert.equal(other.report.fineTunable, false, "fewer than 10 examples: stored, but not fine-tunable");
    assert.doesNotMatch(readFileSync(other.row.storedPath, "utf8"), /mitochondria|Biology question/);
  });

  it("leaves the asker's own vote out of the export score; another student's vote counts", async () => {
    const [asker, classmate] = students as [string, string];
    const id = await askIn(G, CLASS, "Is my own answer great?", asker);
    assert.deepEqual(
      await feedback.vote(G, CLASS, id, asker, "up"),
      { up: 1, down: 0, score: 1 },
      "the vote is stored",
    );
    await assert.rejects(
      feedback.exportDataset({ guildId: G, requesterId: TEACHER }),
      /Nothing to export yet/,
      "the asker's 👍 alone does not export their Q&A",
    );
    await feedback.vote(G, CLASS, id, classmate, "up");
    const r = await feedback.exportDataset({ guildId: G, requesterId: TEACHER });
    assert.equal(r.fromVotes, 1);
    assert.match(readFileSync(r.row.storedPath, "utf8"), /Is my own answer great\?/);
    const [scored] = await h.answers.withScores(G, "0000");
    assert.deepEqual(
      [scored?.up, scored?.down, scored?.score],
      [1, 0, 1],
      "only the classmate's vote is scored",
    );
  });

  it("filters by date, and refuses an empty export with a clear message", async () => {
    const old = await askIn(G, CLASS, "Old question?");
    await feedback.vote(G, CLASS, old, students[0] as string, "up");
    h.clock.now += 10 * 86_400_000;
    const recent = await askIn(G, CLASS, "New question?");
    await feedback.vote(G, CLASS, recent, students[0] as string, "up");
    const r = await feedback.exportDataset({ guildId: G, requesterId: TEACHER, since: "2026-12-01" });
    assert.equal(r.examples, 1);
    await assert.rejects(
      feedback.exportDataset({ guildId: G, requesterId: TEACHER, since: "2027-01-01" }),
      /Nothing to export yet/,
    );
    await assert.rejects(
      feedback.exportDataset({ guildId: G, requesterId: TEACHER, since: "yesterday-ish" }),
      /not a date/,
    );
    await assert.rejects(
      feedback.exportDataset({ guildId: G, requesterId: TEACHER, minScore: 0 }),
      /min-score/,
    );
  });
});
