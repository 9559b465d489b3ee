// The CLI contract of `validate` and `sample`, through the real entry point (`node scripts/run.js src/cli.ts`)
// as other tools call it, plus the readable report and progress bar in-process.
import assert from "node:assert/strict";
import { linkSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { ValidationReport } from "../../src/datasets/types.ts";
import { runCliCaptured, spawnCli } from "../helpers/cli.ts";

const dir = mkdtempSync(join(tmpdir(), "classtune-cli-validate-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const cli = (...args: string[]) => spawnCli(args, { cwd: dir, env: { DATA_DIR: join(dir, "data") } });

function inProcess(args: string[], stderrTty = false) {
  return runCliCaptured(
    args,
    { LOG_LEVEL: "silent", DATA_DIR: join(dir, "data") },
    { stderrIsTTY: stderrTty },
  );
}

const example = (i: number) =>
  JSON.stringify({
    messages: [
      { role: "system", content: "You are a geography tutor." },
      { role: "user", content: `What is the capital of country ${i}?` },
      { role: "assistant", content: `The capital of country ${i} is City ${i}.` },
    ],
  });

describe("classtune sample", () => {
  it("writes a correct dataset that validate accepts, exit 0 and one JSON document", async () => {
    const sample = join(dir, "sample.jsonl");
    const s = await cli("sample", "--out", sample);
    assert.equal(s.code, 0, s.err);
    const lines = readFileSync(sample, "utf8").trim().split("\n");
    assert.ok(lines.length >= 10);
    const v = await cli("validate", sample, "--json");
    assert.equal(v.code, 0, v.err);
    const report = JSON.parse(v.out) as ValidationReport;
    assert.equal(report.fineTunable, true);
    assert.equal(report.valid, lines.length);
    assert.equal(report.invalid, 0);
    for (const key of ["format", "model", "encoding", "examples", "errors", "warnings", "tokens", "epochs"]) {
      assert.ok(key in report, key);
    }
    assert.equal(typeof report.billingTokens, "number");
    assert.equal(typeof report.estimatedCostUsd, "number");
  });

  it("prints the dataset on stdout without --out", async () => {
    const r = await inProcess(["sample"]);
    assert.equal(r.code, 0);
    const lines = r.out.trim().split("\n");
    assert.ok(lines.length >= 10);
    for (const line of lines)
      assert.ok(Array.isArray((JSON.parse(line) as { messages: unknown[] }).messages));
  });
});

describe("classtune validate", () => {
  it("exits 1 on a dataset with problems, with the errors in JSON and a cleaned file on request", async () => {
    const broken = join(dir, "broken.jsonl");
    const good = Array.from({ length: 11 }, (_, i) => example(i));
    writeFileSync(broken, `${good.slice(0, 5).join("\n")}\n{"messages": [}\n${good.slice(5).join("\n")}\n`);
    const cleaned = join(dir, "cleaned.jsonl");
    const r = await cli("validate", broken, "--json", "--out", cleaned);
    assert.equal(r.code, 1, r.err);
    const report = JSON.parse(r.out) as ValidationReport;
    assert.equal(report.fineTunable, false);
    assert.deepEqual(report.errors, [
      { line: 6, code: "invalid_json", message: report.errors[0]?.message ?? "" },
    ]);
    assert.equal(readFileSync(cleaned, "utf8"), `${good.join("\n")}\n`);
  });

  it("exits 1 with a JSON report when a line nests 40,000 levels deep", async () => {
    const file = join(dir, "deep.jsonl");
    const deep = `{"messages":[{"role":"user","content":"x"},{"role":"assistant","content":"ok","weight":${"[".repeat(40_000)}${"]".repeat(40_000)}}]}`;
    writeFileSync(file, `${deep}\n${Array.from({ length: 10 }, (_, i) => example(i)).join("\n")}\n`);
    const r = await cli("validate", file, "--json");
    assert.equal(r.code, 1, r.err);
    assert.equal(r.err, "");
    const report = JSON.parse(r.out) as ValidationReport;
    assert.deepEqual(
      report.errors.map((e) => [e.line, e.code]),
      [[1, "too_deeply_nested"]],
    );
    assert.equal(report.valid, 10);
  });

  it("exits 2 with one clear line on stderr for a missing file, an unknown model and bad usage", async () => {
    const missing = await cli("validate", join(dir, "missing.jsonl"), "--json");
    assert.equal(missing.code, 2);
    assert.equal(missing.out, "");
    assert.match(missing.err.trim(), /^classtune validate: cannot read .*missing\.jsonl: no such file$/);
    const file = join(dir, "ok.jsonl");
    writeFileSync(file, example(1));
    const model = await inProcess(["validate", file, "--model", "gpt-5-turbo-max"]);
    assert.equal(model.code, 2);
    assert.match(model.err, /unknown model "gpt-5-turbo-max": known models are gpt-4o-mini-2024-07-18/);
    assert.equal(model.err.trim().split("\n").length, 1);
    const usage = await inProcess(["validate"]);
    assert.equal(usage.code, 2);
    assert.match(usage.err, /no FILE given/);
    const flag = await inProcess(["validate", file, "--frobnicate"]);
    assert.equal(flag.code, 2);
  });

  it("exits 2 with one line and leaves the input untouched when --out is the input through a symlink or a hard link", async () => {
    const input = join(dir, "linked.jsonl");
    const content = `${Array.from({ length: 11 }, (_, i) => example(i)).join("\n")}\n{broken\n`;
    writeFileSync(input, content);
    symlinkSync(input, join(dir, "linked-symlink.jsonl"));
    linkSync(input, join(dir, "linked-hardlink.jsonl"));
    for (const out of ["linked-symlink.jsonl", "linked-hardlink.jsonl"]) {
      const r = await inProcess(["validate", input, "--json", "--out", join(dir, out)]);
      assert.equal(r.code, 2, out);
      assert.equal(r.out, "");
      assert.match(r.err, /^classtune validate: the cleaned output .* is the file being checked/);
      assert.equal(r.err.trim().split("\n").length, 1);
      assert.equal(readFileSync(input, "utf8"), content, `the input is untouched (${out})`);
    }
  });

  it("prints a readable report: errors with lines, counts per code, tokens, an estimated cost", async () => {
    const file = join(dir, "readable.jsonl");
    writeFileSync(file, `${Array.from({ length: 12 }, (_, i) => example(i)).join("\n")}\n[1,2]\n`);
    const r = await inProcess(["validate", file, "--model", "gpt-4.1-mini"]);
    assert.equal(r.code, 1);
    assert.match(r.out, /13 examples: 12 valid, 1 invalid/);
    assert.match(r.out, /line 13: \[data_type\]/);
    assert.match(r.out, /per code: data_type 1/);
    assert.match(r.out, /Tokens per valid example: total [\d,]+/);
    assert.match(r.out, /≈ \$[\d.]+ \(estimated at \$5\/1M, prices as of \d{4}-\d{2}-\d{2}\)/);
    assert.match(r.out, /NOT fine-tunable/);
  });

  it("draws a progress bar on a terminal for a file of several MB", async () => {
    const big = join(dir, "big.jsonl");
    const line = `${example(1).slice(0, -3)}${" and more".repeat(200)}"}]}`;
    const count = Math.ceil((5 * 1024 * 1024) / line.length);
    writeFileSync(big, `${Array.from({ length: count }, () => line).join("\n")}\n`);
    const tty = await inProcess(["validate", big], true);
    assert.match(tty.err, /\[#+-*\] \d+%/);
    assert.match(tty.err, /100%/);
    const piped = await inProcess(["validate", big], false);
    assert.equal(piped.err, "", "no progress bar when stderr is not a terminal");
  });
});
