// /dataset end to end: a teacher validates a good and a broken attachment (report, line numbers, cleaned file,
// "Fine-tune this"), unknown models, the attachment allow-list and size cap (nothing fetched that should not
// be), /dataset list, and no reply that pings @everyone or a role.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { sampleDatasetJsonl } from "../../src/datasets/sample.ts";
import type { CdnFile, FakeGuild, FakeUser } from "../fakes/discord/index.ts";
import { startTestBot, type TestBot } from "../helpers/bot.ts";
import { addSchool } from "../helpers/school.ts";

const MAX_BYTES = 64 * 1024;
const TOY = readFileSync(new URL("../datasets/fixtures/toy_chat_fine_tuning.jsonl", import.meta.url), "utf8");

let bot: TestBot;
let guild: FakeGuild;
let teacher: FakeUser;
let student: FakeUser;

before(async () => {
  bot = await startTestBot({ env: { MAX_ATTACHMENT_BYTES: String(MAX_BYTES) } });
  const school = addSchool(bot.discord, { channels: ["general", "teachers"], roles: ["class-9b"] });
  ({ guild, teacher } = school);
  [student] = school.students;
});
after(() => bot.close());

/** The sample dataset with line 3 cut short (invalid JSON) and line 7 missing its assistant answer. */
function brokenDataset(): string {
  const lines = sampleDatasetJsonl().trimEnd().split("\n");
  lines[2] = (lines[2] as string).slice(0, 40);
  const seventh = JSON.parse(lines[6] as string) as { messages: { role: string }[] };
  lines[6] = JSON.stringify({ messages: seventh.messages.filter((m) => m.role !== "assistant") });
  return `${lines.join("\n")}\n`;
}

async function validate(file: CdnFile, options: Record<string, string> = {}) {
  const run = await bot.discord.slash({
    channel: guild.channel("teachers"),
    user: teacher,
    command: "dataset",
    subcommand: "validate",
    options: { file, ...options },
  });
  const callback = await run.response();
  return { run, callback, reply: await run.waitForOriginal(undefined, { timeoutMs: 15_000 }) };
}

/** A copy of a CDN file whose URL names another host for the same server (not on the allow-list). */
function elsewhere(file: CdnFile, host: string): CdnFile {
  const url = file.url.replace(new URL(file.url).host, host);
  return { ...file, url, attachment: { ...file.attachment, url, proxy_url: url } };
}

describe("/dataset validate", () => {
  it("acknowledges at once and reports a good dataset with its report file and a Fine-tune this button", async () => {
    const file = bot.discord.cdn.attachment("photosynthesis-tutor.jsonl", sampleDatasetJsonl());
    const { run, reply } = await validate(file);
    assert.equal(run.deferred, true, "deferred first (validation waits on I/O)");
    assert.ok((run.ackLatencyMs ?? Infinity) < 3000);
    assert.equal(reply.ephemeral, true);
    const embed = reply.embeds[0];
    assert.match(embed?.title ?? "", /photosynthesis-tutor\.jsonl/);
    assert.match(embed?.description ?? "", /Ready to fine-tune: 23 valid examples/);
    assert.match(embed?.fields?.find((f) => f.name === "Estimated training cost")?.value ?? "", /\$/);
    const report = JSON.parse(reply.file("photosynthesis-tutor.report.json").text()) as { valid: number };
    assert.equal(report.valid, 23);
    assert.equal(
      reply.files.some((f) => f.filename.endsWith(".cleaned.jsonl")),
      false,
      "no cleaned file when nothing was dropped",
    );
    const id = reply.customIds.find((c) => c.startsWith("finetune:from-dataset:"));
    assert.ok(id, `a Fine-tune this button (has ${reply.customIds.join(", ")})`);
    assert.equal(bot.discord.cdn.requestsFor(file).length, 1, "downloaded once");
  });

  it("lists a broken dataset's errors with line numbers and attaches the cleaned file", async () => {
    const file = bot.discord.cdn.attachment("broken.jsonl", brokenDataset());
    const { reply } = await validate(file);
    const embed = reply.embeds[0];
    assert.match(embed?.description ?? "", /2 of 23 examples have problems/);
    const errors = embed?.fields?.find((f) => f.name === "Errors")?.value ?? "";
    assert.match(errors, /line 3:/);
    assert.match(errors, /line 7:/);
    const cleaned = reply.file("broken.cleaned.jsonl").text().trimEnd().split("\n");
    assert.equal(cleaned.length, 21, "the 21 valid lines");
    const report = JSON.parse(reply.file("broken.report.json").text()) as { errors: { line: number }[] };
    assert.deepEqual(
      [...new Set(report.errors.map((e) => e.line))].sort((a, b) => a - b),
      [3, 7],
    );
    assert.ok(
      reply.customIds.some((c) => c.startsWith("finetune:from-dataset:")),
      "the cleaned file keeps 18 examples: still fine-tunable",
    );
  });

  it("says why the 5-line toy dataset cannot be fine-tuned and offers no button", async () => {
    const file = bot.discord.cdn.attachment("toy_chat_fine_tuning.jsonl", TOY);
    const { reply } = await validate(file);
    assert.match(reply.embeds[0]?.description ?? "", /Only 5 valid examples: OpenAI needs at least 10/);
    assert.deepEqual(reply.customIds, []);
  });

  it("reports a line nested 10,000 levels deep as that line's error, not as a failure", async () => {
    const deep = `{"messages":[{"role":${"[".repeat(10_000)}${"]".repeat(10_000)},"content":"x"},{"role":"assistant","content":"ok"}]}`;
    const file = bot.discord.cdn.attachment("deep.jsonl", `${deep}\n${sampleDatasetJsonl()}`);
    const { reply } = await validate(file);
    const errors = reply.embeds[0]?.fields?.find((f) => f.name === "Errors")?.value ?? "";
    assert.match(errors, /line 1: the line nests lists or objects more than 64 levels deep/);
    assert.match(reply.embeds[0]?.description ?? "", /1 of 24 examples have problems/);
  });

  it("validates for a chosen model, and names the known models for an unknown one", async () => {
    const good = bot.discord.cdn.attachment("tutor-35.jsonl", sampleDatasetJsonl());
    const { reply } = await validate(good, { model: "gpt-3.5-turbo" });
    assert.match(
      reply.embeds[0]?.fields?.find((f) => f.name.startsWith("Tokens"))?.name ?? "",
      /cl100k_base/,
    );

    const file = bot.discord.cdn.attachment("tutor-x.jsonl", sampleDatasetJsonl());
    const { reply: refused } = await validate(file, { model: "gpt-9-ultra" });
    assert.match(refused.content, /unknown model "gpt-9-ultra".*gpt-4o-mini-2024-07-18/);
    assert.equal(bot.discord.cdn.requestsFor(file).length, 0, "the model is checked before downloading");
  });

  it("offers the catalog's models in autocomplete", async () => {
    const choices = await bot.discord.autocomplete({
      channel: guild.channel("teachers"),
      user: teacher,
      command: "dataset",
      subcommand: "validate",
      options: { model: "4.1" },
      focused: "model",
    });
    assert.deepEqual(
      choices.map((c) => c.value),
      ["gpt-4.1-2025-04-14", "gpt-4.1-mini-2025-04-14", "gpt-4.1-nano-2025-04-14"],
    );
  });

  it("refuses an attachment outside the allow-list without fetching it, also after a redirect", async () => {
    const file = bot.discord.cdn.attachment("elsewhere.jsonl", sampleDatasetJsonl());
    const port = new URL(file.url).port;
    const { reply } = await validate(elsewhere(file, `localhost:${port}`));
    assert.match(reply.content, /only accepted from .*localhost:\d+ is not one of them/);
    assert.equal(bot.discord.cdn.requestsFor(file).length, 0, "never fetched");

    const target = bot.discord.cdn.attachment("target.jsonl", sampleDatasetJsonl());
    const redirecting = bot.discord.cdn.attachment("redirect.jsonl", "", {
      redirectTo: elsewhere(target, `localhost:${port}`).url,
    });
    const { reply: redirected } = await validate(redirecting);
    assert.match(redirected.content, /is not one of them/);
    assert.equal(bot.discord.cdn.requestsFor(target).length, 0, "the redirect target was never fetched");
  });

  it("refuses an oversized attachment by its declared size before downloading, and a lying one while downloading", async () => {
    const big = `${sampleDatasetJsonl().repeat(8)}`;
    assert.ok(big.length > MAX_BYTES);
    const declared = bot.discord.cdn.attachment("huge.jsonl", big);
    const { reply } = await validate(declared);
    assert.match(reply.content, /That file is .* the limit is 64\.0 KiB/);
    assert.equal(bot.discord.cdn.requestsFor(declared).length, 0, "refused before any request");

    // Discord's attachment size may understate; the Content-Length then refuses it before the body is read.
    const understated = bot.discord.cdn.attachment("small-really.jsonl", big, { reportedSize: 1000 });
    const { reply: refused } = await validate(understated);
    assert.match(refused.content, /That file is .* the limit is 64\.0 KiB/);
    assert.equal(bot.discord.cdn.requestsFor(understated).length, 1);

    // No Content-Length at all: the bytes are counted as they stream and the download stops at the cap.
    const chunked = bot.discord.cdn.attachment("no-length.jsonl", big, {
      reportedSize: 1000,
      contentLength: "none",
    });
    const { reply: capped } = await validate(chunked);
    assert.match(capped.content, /the limit is 64\.0 KiB/);
    assert.equal(bot.discord.cdn.requestsFor(chunked).length, 1);
  });

  it("does not store a binary or an empty upload, says why, and neither is listed or offered", async () => {
    const png = Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      Buffer.alloc(2000, 9),
    ]);
    const { reply: binary } = await validate(bot.discord.cdn.attachment("diagram.jsonl", png));
    assert.match(binary.content, /^Not stored: this is a PNG image, not a JSONL text file\./);
    assert.match(binary.embeds[0]?.title ?? "", /diagram\.jsonl/);
    assert.match(binary.embeds[0]?.description ?? "", /Not a dataset: this is a PNG image/);
    assert.equal((JSON.parse(binary.file("diagram.report.json").text()) as { examples: number }).examples, 0);
    assert.deepEqual(binary.customIds, []);
    const { reply: empty } = await validate(bot.discord.cdn.attachment("blank.jsonl", "\n\n"));
    assert.match(empty.content, /^Not stored: the file has no examples, only blank lines\./);

    const list = await bot.discord.slash({
      channel: guild.channel("teachers"),
      user: teacher,
      command: "dataset",
      subcommand: "list",
    });
    const listed = (await list.waitForOriginal()).embeds[0]?.description ?? "";
    assert.doesNotMatch(listed, /diagram|blank/);
    const choices = await bot.discord.autocomplete({
      channel: guild.channel("teachers"),
      user: teacher,
      command: "finetune",
      subcommand: "start",
      options: { dataset: "" },
      focused: "dataset",
    });
    assert.ok(choices.length > 0, "the stored datasets are offered");
    assert.deepEqual(
      choices.filter((c) => /diagram|blank/.test(c.name)),
      [],
    );
  });

  it("refuses a student on the server side", async () => {
    const file = bot.discord.cdn.attachment("student.jsonl", sampleDatasetJsonl());
    const run = await bot.discord.slash({
      channel: guild.channel("general"),
      user: student,
      command: "dataset",
      subcommand: "validate",
      options: { file },
    });
    assert.match((await run.waitForOriginal()).content, /Only teachers can do that/);
    assert.equal(bot.discord.cdn.requestsFor(file).length, 0);
  });
});

describe("/dataset list and mentions", () => {
  it("pings nobody for a dataset whose name and content say @everyone or name a role", async () => {
    const role = guild.role("class-9b");
    const text = sampleDatasetJsonl().replaceAll("secondary-school", `@everyone @here ${role.mention}`);
    const file = bot.discord.cdn.attachment("@everyone-quiz.jsonl", text);
    const { reply } = await validate(file);
    assert.match(reply.embeds[0]?.title ?? "", /@everyone-quiz/);
    assert.deepEqual(reply.pings, { everyone: false, users: [], roles: [] });
  });

  it("lists this guild's datasets with their counts and verdicts", async () => {
    const run = await bot.discord.slash({
      channel: guild.channel("teachers"),
      user: teacher,
      command: "dataset",
      subcommand: "list",
    });
    const reply = await run.waitForOriginal();
    const description = reply.embeds[0]?.description ?? "";
    assert.match(description, /photosynthesis-tutor\.jsonl · 23\/23 examples · ✅ valid/);
    assert.match(description, /broken\.jsonl · 21\/23 examples · ⚠️ 2 invalid/);
    assert.match(description, /toy\\_chat\\_fine\\_tuning\.jsonl · 5\/5 examples · ❌ too few examples/);
    assert.match(description, /gpt-3\.5-turbo-0125/);
  });

  it("never let a payload ping @everyone or a role", () => {
    for (const message of bot.discord.messages()) {
      assert.equal(message.pings.everyone, false, `message ${message.id} pings @everyone`);
      assert.deepEqual(message.pings.roles, [], `message ${message.id} pings a role`);
    }
    assert.deepEqual(bot.discord.unhandledRequests, []);
  });
});

describe("start-up", () => {
  it("removes the temporary files a killed bot left in DATA_DIR and $TMPDIR when it starts again", async () => {
    const { pid: dead } = spawnSync(process.execPath, ["-e", ""]);
    const datasets = join(bot.dataDir, "datasets");
    mkdirSync(datasets, { recursive: true });
    const scratch = join(datasets, `.cleaning-${dead}-1700000000000-x1y2z3.jsonl`);
    writeFileSync(scratch, "partial");
    const upload = join(tmpdir(), `classtune-upload-${dead}-Kil1ed`);
    mkdirSync(upload, { recursive: true });
    writeFileSync(join(upload, "upload.jsonl"), "partial");
    await bot.restart();
    assert.equal(existsSync(scratch), false, "the cleaned scratch file is gone");
    assert.equal(existsSync(upload), false, "the download directory is gone");
    assert.ok(
      readdirSync(datasets).some((f) => f.endsWith(".jsonl")),
      "the stored datasets stay",
    );
  });
});
