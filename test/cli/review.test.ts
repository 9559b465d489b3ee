// `classtune review`: the guild's rows in the terminal (escape sequences made inert), as JSON, and as a CSV
// with RFC 4180 quoting and a formula-injection guard; bad arguments exit 2 with a one-line reason.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { csvCell, toCsv } from "../../src/cli/csv.ts";
import { AnswerRepository } from "../../src/db/answers.ts";
import { openDb } from "../../src/db/open.ts";
import { sqliteStore } from "../../src/db/query/store.ts";
import { runCliCaptured } from "../helpers/cli.ts";

const G = "100000000000000001";
const OTHER_G = "100000000000000002";
const CLASS = "200000000000000001";
const SAM = "300000000000000001";
const ANA = "300000000000000002";

/** Parses RFC 4180 CSV (quoted fields may hold commas, quotes and line breaks): what a spreadsheet reads. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      row.push(cell);
      cell = "";
    } else if (c === "\r" && text[i + 1] === "\n") {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = "";
      i++;
    } else cell += c;
  }
  assert.equal(cell + row.join(""), "", "the file ends with a complete line");
  return rows;
}

let dir: string;
let env: NodeJS.ProcessEnv;
const HOSTILE_QUESTION = 'Is "osmosis", like,\ndiffusion?';

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "classtune-review-"));
  const dbPath = join(dir, "t.db");
  const db = openDb(dbPath);
  const answers = new AnswerRepository(sqliteStore(db));
  const now = new Date().toISOString();
  const insert = async (guildId: string, userId: string, question: string, answer: string) =>
    await answers.insert({
      guildId,
      channelId: CLASS,
      userId,
      question,
      answer,
      model: "gpt-4o-mini-2024-07-18",
      systemPrompt: "You teach biology.",
      public: true,
      createdAt: now,
    });
  const first = await insert(G, SAM, HOSTILE_QUESTION, "Osmosis is water crossing a membrane.");
  await answers.vote(G, first, ANA, 1, now);
  await answers.correct(G, first, '=HYPERLINK("https://evil.example","click")', ANA, now);
  await insert(G, ANA, "+1+1", "@SUM(1,2)");
  await insert(G, ANA, "-2 degrees?\u001b[2J\u001b[31mred", "\tTabbed answer");
  await insert(OTHER_G, SAM, "Another school's question", "Not for this guild.");
  db.close();
  env = { DATABASE_PATH: dbPath };
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe("classtune review", () => {
  it("lists the guild's answers newest first, with votes and corrections, escape sequences inert", async () => {
    const r = await runCliCaptured(["review", "--guild", G], env);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`^Review for guild ${G}, last 7 days .*: 3 answers`));
    assert.ok(!r.out.includes("Another school"), "only this guild");
    assert.ok(!r.out.includes("\u001b"), "no escape character reaches the terminal");
    assert.match(r.out, /Q: -2 degrees\?\?\[2J\?\[31mred/);
    assert.match(r.out, /Q: Is "osmosis", like, diffusion\?/, "one line per text");
    assert.match(r.out, new RegExp(`\\+1 -0  corrected by ${ANA}`));
    assert.ok(r.out.indexOf("+1+1") < r.out.indexOf("osmosis"), "newest first");

    const only = await runCliCaptured(["review", "--guild", G, "--student", SAM, "--days", "1"], env);
    assert.match(only.out, /: 1 answer\n/);
  });

  it("prints the rows as JSON", async () => {
    const r = await runCliCaptured(["review", "--guild", G, "--json"], env);
    assert.equal(r.code, 0, r.err);
    const out = JSON.parse(r.out) as {
      total: number;
      rows: { question: string; up: number; flagged: boolean }[];
    };
    assert.equal(out.total, 3);
    assert.equal(out.rows[2]?.question, HOSTILE_QUESTION);
    assert.deepEqual([out.rows[2]?.up, out.rows[2]?.flagged], [1, false]);
  });

  it("writes a CSV a spreadsheet reads back exactly, formulas made text", async () => {
    const file = join(dir, "review.csv");
    const r = await runCliCaptured(["review", "--guild", G, "--csv", file], env);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, "", "the CSV goes to the file, not the terminal");
    assert.match(r.err, /wrote 3 answers to .*review\.csv/);
    const rows = parseCsv(readFileSync(file, "utf8"));
    const [header, ...data] = rows;
    assert.deepEqual(header?.slice(0, 9), [
      "answer_id",
      "created_at",
      "guild_id",
      "channel_id",
      "user_id",
      "visibility",
      "model",
      "question",
      "answer",
    ]);
    const col = (name: string) => header?.indexOf(name) ?? -1;
    assert.equal(data.length, 3);
    const [newest, middle, oldest] = data as [string[], string[], string[]];
    assert.equal(oldest[col("question")], HOSTILE_QUESTION, "quotes, commas and line breaks survive");
    assert.equal(oldest[col("corrected_answer")], '\'=HYPERLINK("https://evil.example","click")');
    assert.equal(oldest[col("votes_up")], "1");
    assert.equal(oldest[col("flagged")], "false");
    assert.deepEqual([middle[col("question")], middle[col("answer")]], ["'+1+1", "'@SUM(1,2)"]);
    assert.equal(newest[col("question")]?.startsWith("'-2 degrees"), true);
    assert.equal(newest[col("answer")], "'\tTabbed answer");
    for (const cells of data) {
      for (const cell of cells)
        assert.doesNotMatch(cell, /^[=+\-@\t\r]/, `a cell a spreadsheet would run: ${cell}`);
    }
  });

  it("exits 2 with the reason on bad arguments", async () => {
    for (const [args, reason] of [
      [["review"], /--guild is required/],
      [["review", "--guild", "lincoln"], /--guild must be a Discord server id/],
      [["review", "--guild", G, "--days", "x"], /--days must be a whole number/],
      [["review", "--guild", G, "--days", "400"], /Days must be a whole number from 1 to 90/],
      [["review", "--guild", G, "--student", "@sam"], /student must be a Discord id/],
      [["review", "--guild", G, "--nope"], /Unknown option '--nope'/],
      [["review", "--guild", G, "--csv", join(dir, "missing", "x.csv")], /cannot write/],
    ] as const) {
      const r = await runCliCaptured([...args], env);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.err}`);
      assert.match(r.err, reason);
    }
  });
});

describe("CSV cells", () => {
  it("quotes only what needs it and doubles quotes", async () => {
    assert.equal(csvCell("plain"), "plain");
    assert.equal(csvCell('say "hi"'), '"say ""hi"""');
    assert.equal(csvCell("a,b"), '"a,b"');
    assert.equal(csvCell("line\r\nbreak"), '"line\r\nbreak"');
    assert.equal(csvCell(" padded "), '" padded "');
    assert.equal(csvCell(null), "");
    assert.equal(csvCell(42), "42");
    assert.equal(toCsv(["a", "b"], [[1, "x"]]), "a,b\r\n1,x\r\n");
  });

  it("makes a cell that starts like a formula read as text", async () => {
    for (const start of ["=", "+", "-", "@", "\t", "\r"]) {
      const cell = csvCell(`${start}cmd|' /C calc'!A0`);
      assert.ok(cell.startsWith("'") || cell.startsWith(`"'`), JSON.stringify(cell));
    }
    assert.equal(csvCell("a=b"), "a=b", "only the first character counts");
  });
});
