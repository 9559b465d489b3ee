import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { minimalNotice, progressBar, progressLine, renderNotice } from "../../src/discord/notices.ts";
import type { JobCreatedPayload, JobNoticeBase, NoticeKind, OutboxNotice } from "../../src/domain/notices.ts";
import { validateMessage } from "../fakes/discord/fakeDiscord.ts";

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

  it("shows a job's estimate under a cent as the confirmation did (an open model's $0.0039 is not $0.00)", () => {
    const body = renderNotice(
      notice("job_created", {
        ...base("nebius-lab"),
        estimatedCostUsd: 0.00385,
        nEpochs: "auto",
        examples: 20,
      }),
    );
    assert.equal(
      body.embeds?.[0]?.fields?.find((f) => f.name === "Estimated cost")?.value,
      "$0.0039 (estimate)",
    );
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

/** Every notice kind with every text set by `text` (empty, blank or huge) and `n` test answers. */
function everyKind(text: string, n: number, error: string | null = null): OutboxNotice[] {
  const b: JobNoticeBase = {
    jobId: 7,
    remoteId: text,
    provider: text,
    baseModel: text,
    suffix: text,
    datasetId: 3,
    datasetName: text,
    requesterId: "555",
  };
  const answers = Array.from({ length: n }, () => ({ question: text, expected: text, answer: text, error }));
  const kinds: { [K in NoticeKind]: Extract<OutboxNotice, { kind: K }>["payload"] } = {
    job_created: { ...b, estimatedCostUsd: null, nEpochs: "auto", examples: 0 },
    job_progress: {
      ...b,
      status: "running",
      rawStatus: text,
      progress: { step: 3, totalSteps: 9, loss: null },
    },
    job_succeeded: {
      ...b,
      fineTunedModel: text,
      trainedTokens: null,
      durationMs: null,
      testAnswers: answers,
    },
    job_failed: { ...b, errorCode: text, errorMessage: text },
    job_cancelled: b,
    model_ready: {
      ...b,
      fineTunedModel: text,
      deploymentName: text,
      attempt: 2,
      caveat: text,
      servedAs: text,
      testAnswers: answers,
      hosting: { usdPerHour: 3.36, hardware: text, idleMinutes: 60, dailyBudgetUsd: 20 },
    },
    model_deploy_failed: {
      ...b,
      fineTunedModel: text,
      deploymentName: text,
      attempt: 1,
      caveat: text,
      errorMessage: text,
    },
    model_unavailable: { model: text, provider: text, shutdownDate: text, reason: text, redeployJobId: 7 },
    hosting_stopped: {
      model: text,
      label: text,
      provider: text,
      deploymentName: text,
      reason: "idle",
      minutes: 61,
      costUsd: 3.42,
      usdPerHour: 3.36,
      idleMinutes: 60,
      dailyBudgetUsd: 20,
      spentTodayUsd: 3.42,
      stopError: error ?? undefined,
    },
    moderation_flagged: {
      verdictId: 7,
      target: "answer",
      userId: "555",
      channelId: "666",
      categories: Array.from({ length: n }, () => ({ category: "violence" as const, score: 0.5 })),
      severe: true,
      provider: text,
      model: text,
      question: text,
      answer: text,
      answerId: 7,
      studentSaw: "withheld",
    },
    moderation_unavailable: { policy: "closed", provider: text, error: text },
  };
  const all = Object.entries(kinds).map(([kind, payload]) => notice(kind as NoticeKind, payload as never));
  // A success whose model still waits for its deploy: each serving state's texts at the same extremes.
  for (const status of ["deploying", "manual", "failed", "asleep"] as const) {
    all.push(
      notice("job_succeeded", {
        ...kinds.job_succeeded,
        testAnswers: [],
        serving: { status, servedAs: null, deploymentName: text, instructions: text, caveat: text },
      }),
    );
  }
  return all;
}

describe("renderNotice against Discord's payload validation", () => {
  const cases: [string, OutboxNotice[]][] = [
    ["empty texts", everyKind("", 3)],
    ["blank texts", everyKind(" \n ", 3)],
    ["no test answers", everyKind("", 0)],
    ["huge texts and many test answers", everyKind("é".repeat(10_000), 40)],
    ["huge texts and failed test answers", everyKind("x".repeat(10_000), 40, "y".repeat(10_000))],
  ];
  for (const [what, notices] of cases) {
    it(`renders every notice kind with ${what} as an embed Discord accepts`, () => {
      const created = notices.find((n) => n.kind === "job_created")?.payload as JobCreatedPayload;
      for (const n of notices) {
        const body = renderNotice(n, { created, lossChart: true }) as Record<string, unknown>;
        const refusal = validateMessage(body, [], true);
        assert.equal(refusal, undefined, `${n.kind}: ${JSON.stringify(refusal?.body)}`);
        assert.equal((body.embeds as unknown[]).length, 1, `${n.kind} keeps its embed`);
      }
    });
  }

  it("shows an empty answer as such instead of an empty field", () => {
    const [succeeded] = everyKind("", 1).filter((n) => n.kind === "job_succeeded");
    assert.ok(succeeded?.kind === "job_succeeded");
    succeeded.payload.testAnswers = [
      { question: "What is osmosis?", expected: null, answer: "", error: null },
      { question: "What is a cell?", expected: "", answer: " ", error: null },
    ];
    const fields = renderNotice(succeeded).embeds?.[0]?.fields ?? [];
    assert.deepEqual(
      fields.filter((f) => f.name.startsWith("Q:")).map((f) => [f.name, f.value]),
      [
        ["Q: What is osmosis?", "(empty answer)"],
        ["Q: What is a cell?", "(empty answer)"],
      ],
    );
  });
});

describe("minimalNotice", () => {
  for (const text of ["", "x".repeat(10_000)]) {
    it(`says every notice kind in short plain text, without an embed (texts of ${text.length} characters)`, () => {
      for (const n of everyKind(text, 40)) {
        const body = minimalNotice(n);
        assert.equal(validateMessage(body as Record<string, unknown>, [], true), undefined, n.kind);
        assert.deepEqual(body.embeds, [], `${n.kind} has no embed`);
        assert.ok((body.content ?? "").length <= 600, `${n.kind} is short`);
        assert.match(
          body.content ?? "",
          n.kind === "model_unavailable" || n.kind === "moderation_unavailable"
            ? /unavailable/
            : n.kind === "moderation_flagged"
              ? /withheld by moderation/
              : n.kind === "hosting_stopped"
                ? /Hosting of/
                : /#7/,
        );
      }
    });
  }

  it("still pings only the requester", () => {
    const [succeeded] = everyKind("@everyone", 1).filter((n) => n.kind === "job_succeeded");
    assert.ok(succeeded);
    const body = minimalNotice(succeeded);
    assert.match(body.content ?? "", /^<@555> your model is ready/);
    assert.deepEqual(body.allowed_mentions, { parse: [], users: ["555"] });
  });
});
