import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { progressBar, progressLine, renderNotice } from "../../src/discord/notices.ts";
import type { JobNoticeBase, OutboxNotice } from "../../src/domain/notices.ts";

const base = (provider = "sandbox"): JobNoticeBase => ({
  jobId: 7,
  remoteId: "ftjob-abc",
  provider,
  baseModel: "gpt-4o-mini-2024-07-18",
  suffix: null,
  datasetId: 3,
  datasetName: "@everyone <@&42> quiz.jsonl",
  requesterId: "555",
});

const notice = <K extends OutboxNotice["kind"]>(
  kind: K,
  payload: Extract<OutboxNotice, { kind: K }>["payload"],
): OutboxNotice =>
  ({
    id: 1,
    guildId: "g",
    channelId: null,
    kind,
    payload,
    messageId: null,
    nonce: "ct1r0",
    attempts: 0,
    createdAt: "2026-01-05T09:00:00.000Z",
  }) as OutboxNotice;

describe("renderNotice", () => {
  it("mentions only the requester, and the dataset's name never reaches the content", () => {
    const body = renderNotice(
      notice("job_created", { ...base(), estimatedCostUsd: 0.02, nEpochs: "auto", examples: 20 }),
    );
    assert.equal(body.content, "<@555> your fine-tuning job has started.");
    assert.deepEqual(body.allowed_mentions, { parse: [], users: ["555"] });
    assert.match(body.embeds?.[0]?.title ?? "", /job #7 \(sandbox\)/);
    assert.match(body.embeds?.[0]?.footer?.text ?? "", /Sandbox/);
  });

  it("renders progress as the whole card (no content, so editing it pings nobody)", () => {
    const created = { ...base(), estimatedCostUsd: 0.02, nEpochs: 3, examples: 20 };
    const body = renderNotice(
      notice("job_progress", {
        ...base(),
        status: "running",
        rawStatus: "running",
        progress: { step: 5, totalSteps: 20, loss: 1.23456 },
      }),
      { created },
    );
    assert.equal(body.content, undefined);
    const embed = body.embeds?.[0];
    assert.match(embed?.description ?? "", /`█████░{15}` 25% step 5\/20 · loss 1\.235/);
    assert.equal(embed?.fields?.find((f) => f.name === "Epochs")?.value, "3");
  });

  it("says nothing about the sandbox for a real provider", () => {
    const body = renderNotice(notice("job_cancelled", base("openai")));
    assert.doesNotMatch(JSON.stringify(body), /sandbox/i);
  });

  it("keeps a long success notice inside Discord's embed limits", () => {
    const long = "x".repeat(5000);
    const body = renderNotice(
      notice("job_succeeded", {
        ...base(),
        fineTunedModel: "ft:gpt-4o-mini-2024-07-18:org:class:abc",
        trainedTokens: 12345,
        durationMs: 125_000,
        testAnswers: [1, 2, 3].map(() => ({ question: long, expected: long, answer: long, error: null })),
      }),
      { lossChart: true },
    );
    const embed = body.embeds?.[0];
    assert.ok(embed);
    const total =
      (embed.title?.length ?? 0) +
      (embed.description?.length ?? 0) +
      (embed.footer?.text.length ?? 0) +
      (embed.fields ?? []).reduce((n, f) => n + f.name.length + f.value.length, 0);
    assert.ok(total <= 6000, `embed is ${total} characters`);
    for (const f of embed.fields ?? []) assert.ok(f.name.length <= 256 && f.value.length <= 1024);
    assert.equal(embed.image?.url, "attachment://loss.png");
    assert.equal(embed.fields?.find((f) => f.name === "Duration")?.value, "2m 5s");
  });
});

describe("progressLine", () => {
  it("shows a finished job as complete even when its last reported step was earlier", () => {
    assert.match(
      progressLine({ step: 12, totalSteps: 34, loss: 0.3 }, "succeeded") ?? "",
      /100% step 34\/34/,
    );
    assert.equal(progressLine(null), undefined);
    assert.equal(progressBar(Number.NaN, 4), "`░░░░` 0%");
  });
});
