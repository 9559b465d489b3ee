// /ask's moderation step on the real AskService and SQLite: the moderator is the sandbox's /v1/moderations (the
// openai moderator pointed at it, as MODERATION_PROVIDER=sandbox runs), the model a loopback chat endpoint that
// records every request. A flagged question never reaches the model; a flagged answer is replaced; each alert is
// one outbox notice; MODERATION_FAIL decides while moderation is down.
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import OpenAI from "openai";
import { decide } from "../../src/classroom/moderation.ts";
import { parseCategories, SafetySettings } from "../../src/classroom/safety.ts";
import { DEFAULT_MODERATION_MESSAGES } from "../../src/config.ts";
import { GuildSettingsRepository } from "../../src/db/guildSettings.ts";
import { ModerationRepository } from "../../src/db/moderation.ts";
import { openDb } from "../../src/db/open.ts";
import { OutboxRepository } from "../../src/db/outbox.ts";
import { sqliteStore } from "../../src/db/query/store.ts";
import type { ModerationFlaggedPayload, OutboxNotice } from "../../src/domain/notices.ts";
import { silentLogger } from "../../src/logger.ts";
import { Notifier } from "../../src/notices/notifier.ts";
import { type ModerationVerdict, OffModerator } from "../../src/providers/moderation.ts";
import { OpenAIModerator } from "../../src/providers/moderationOpenAI.ts";
import { type Rig, startRig } from "../sandbox/helpers.ts";
import {
  answered,
  buildHarness,
  type ChatServer,
  type Harness,
  refused,
  sandboxModeration,
  startChatServer,
} from "./helpers.ts";

const G = "100000000000000001";
const HALL = "200000000000000002";
const STUDENT = "300000000000000001";
const STORY_ANSWER = "[flag:violence/graphic] Once upon a time there was a battle.";
const SCHOOL_HELP = "Please talk to Ms Rivera, or call the school counsellor on 555-0100 today.";

describe("/ask moderation", () => {
  /** Runs while the model answers: between the question's check and the answer's. */
  let beforeAnswer: (() => void) | undefined;
  let rig: Rig;
  let chat: ChatServer;
  let h: Harness;
  let outbox: OutboxRepository;
  let verdicts: ModerationRepository;

  const gate = (fail: "closed" | "open") => sandboxModeration(rig.sandbox.url, fail, { help: SCHOOL_HELP });

  const build = (fail: "closed" | "open") => {
    h = buildHarness({ fineTuning: { name: "sandbox", url: chat.url }, moderation: gate(fail) });
    outbox = new OutboxRepository(sqliteStore(h.db));
    verdicts = new ModerationRepository(sqliteStore(h.db));
  };
  const ask = (question: string) =>
    h.ask.ask({ guildId: G, channelId: HALL, userId: STUDENT, isTeacher: false, question });
  const moderationCalls = () => rig.sandbox.stats.byRoute["POST /moderations"] ?? 0;
  const alerts = async () => (await outbox.list(G)).filter((n) => n.kind === "moderation_flagged");

  before(async () => {
    rig = await startRig();
    chat = await startChatServer("sandbox", ["gpt-4o-mini-2024-07-18"], {
      answerFor: (q) => {
        beforeAnswer?.();
        return q.includes("story") ? STORY_ANSWER : undefined;
      },
    });
  });
  after(async () => {
    await chat.close();
    await rig.close();
  });
  beforeEach(() => {
    chat.requests.length = 0;
    rig.sandbox.faults.clear();
    build("closed");
  });

  it("never sends a flagged question to the model, refuses it calmly and alerts the teachers once", async () => {
    answered(await ask("What is DNA?"));
    assert.equal(chat.requests.length, 1);

    const r = refused(await ask("What is DNA? [flag:harassment]"));
    assert.equal(r.reason, "moderation_flagged");
    assert.equal(r.message, DEFAULT_MODERATION_MESSAGES.refusal);
    assert.equal(r.teachersNotified, true);
    assert.equal(chat.requests.length, 1, "the model never received it");
    assert.ok(!chat.requests.some((q) => JSON.stringify(q).includes("[flag:")));

    const [alert, ...more] = await alerts();
    assert.ok(alert);
    assert.equal(more.length, 0, "one alert");
    const p = alert.payload as ModerationFlaggedPayload;
    assert.equal(alert.channelId, null, "to the guild's notice channel");
    assert.equal(p.target, "question");
    assert.equal(p.userId, STUDENT);
    assert.equal(p.channelId, HALL);
    assert.equal(p.question, "What is DNA? [flag:harassment]");
    assert.equal(p.answer, null);
    assert.equal(p.studentSaw, "refusal");
    assert.equal(p.severe, false);
    assert.deepEqual(
      p.categories.map((c) => c.category),
      ["harassment"],
    );
    assert.ok((p.categories[0]?.score ?? 0) > 0.9);
    assert.equal(p.provider, "sandbox");

    const [flagged] = (await verdicts.list(G)).filter((v) => v.outcome === "flagged");
    assert.equal(flagged?.answerId, null, "never answered");
    assert.equal(flagged?.flaggedText, "What is DNA? [flag:harassment]");
    assert.equal(alert.dedupeKey, `moderation:${flagged?.id}:flagged`);

    const usage = await h.usage.aggregate(G, "0000", "9999");
    assert.deepEqual(usage.errorsByCode, [{ code: "moderation_flagged", count: 1 }]);

    // Posted exactly once, however often the outbox is drained.
    const sent: OutboxNotice[] = [];
    const notifier = new Notifier({
      store: sqliteStore(h.db),
      sender: {
        send: async (n) => {
          sent.push(n);
          return {};
        },
      },
    });
    await notifier.drain();
    await notifier.drain();
    assert.equal(sent.filter((n) => n.kind === "moderation_flagged").length, 1);
  });

  it("shows the school's help text for self-harm, and marks the alert severe", async () => {
    const r = refused(await ask("I want to hurt myself"));
    assert.equal(r.message, SCHOOL_HELP);
    const p = (await alerts())[0]?.payload as ModerationFlaggedPayload;
    assert.equal(p.severe, true);
    assert.equal(p.studentSaw, "help");
    assert.equal(chat.requests.length, 0);
  });

  it("checks a question before the cache, and stores both verdicts with the answer", async () => {
    const first = answered(await ask("What is osmosis?"));
    const calls = moderationCalls();
    const again = answered(await ask("What is osmosis?"));
    assert.equal(again.cached, true);
    assert.equal(moderationCalls(), calls + 1, "the cached answer's question was checked, not the answer");
    assert.equal(first.moderation, "passed");
    assert.deepEqual(
      (await verdicts.forAnswer(G, first.answerId)).map((v) => [v.target, v.outcome, v.provider]),
      [
        ["question", "passed", "sandbox"],
        ["answer", "passed", "sandbox"],
      ],
    );
    assert.equal((await h.answers.get(G, first.answerId))?.moderation, "passed");
  });

  it("replaces a flagged answer, keeps it for the teachers with an alert, and never caches it", async () => {
    const r = answered(await ask("Tell me a story"));
    assert.equal(r.withheld, true);
    assert.equal(r.moderation, "flagged");
    assert.equal(r.answer, DEFAULT_MODERATION_MESSAGES.withheld);
    const row = await h.answers.get(G, r.answerId);
    assert.equal(row?.answer, STORY_ANSWER, "the model's own words are kept for review");
    assert.equal(row?.moderation, "flagged");
    assert.equal(row?.public, false, "never shown to the class: no votes, no export unless corrected");

    const [alert, ...more] = await alerts();
    assert.equal(more.length, 0);
    const p = alert?.payload as ModerationFlaggedPayload;
    assert.equal(p.target, "answer");
    assert.equal(p.answer, STORY_ANSWER);
    assert.equal(p.answerId, r.answerId);
    assert.equal(p.question, "Tell me a story");
    assert.equal(p.studentSaw, "withheld");
    assert.equal(p.severe, true);

    const again = answered(await ask("Tell me a story"));
    assert.equal(again.cached, false, "a flagged answer is not cached");
    assert.equal(chat.requests.length, 2);
    assert.equal((await alerts()).length, 2, "one alert per flagged answer");
  });

  it("closed: refuses with 'try again shortly' while moderation is down, never asks the model", async () => {
    rig.sandbox.faults.next({ path: "/moderations", status: 503, times: Number.POSITIVE_INFINITY });
    const r = refused(await ask("What is a gene?"));
    assert.equal(r.reason, "moderation_unavailable");
    assert.match(r.message, /try again shortly/);
    refused(await ask("What is a protein?"));
    assert.equal(chat.requests.length, 0);
    const down = (await outbox.list(G)).filter((n) => n.kind === "moderation_unavailable");
    assert.equal(down.length, 1, "the teachers are told once a day");
    assert.deepEqual(down[0]?.payload, {
      policy: "closed",
      provider: "sandbox (omni-moderation-latest)",
      error: "http_503",
    });
    assert.equal((await verdicts.list(G)).filter((v) => v.outcome === "unavailable").length, 2);
  });

  it("closed: withholds an answer its check could not read, and it can never be followed up", async () => {
    build("closed");
    beforeAnswer = () =>
      rig.sandbox.faults.next({ path: "/moderations", status: 503, times: Number.POSITIVE_INFINITY });
    try {
      const r = answered(await ask("What is a gene?"));
      assert.equal(r.moderation, "unchecked");
      assert.equal(r.withheld, true);
      assert.doesNotMatch(r.answer, /You asked/, "the unchecked answer is not shown");
      const row = await h.answers.get(G, r.answerId);
      assert.equal(row?.withheld, true);
      assert.equal(row?.moderation, "unchecked");
      rig.sandbox.faults.clear();
      beforeAnswer = undefined;
      const calls = chat.requests.length;
      const next = refused(
        await h.ask.ask({
          guildId: G,
          channelId: HALL,
          userId: STUDENT,
          isTeacher: false,
          question: "And then?",
          followUpOf: r.answerId,
        }),
      );
      assert.equal(next.reason, "follow_up_not_found");
      assert.equal(chat.requests.length, calls);
    } finally {
      beforeAnswer = undefined;
    }
  });

  it("open: answers while moderation is down, marked unchecked, and the teachers are told", async () => {
    build("open");
    rig.sandbox.faults.next({ path: "/moderations", status: 503, times: Number.POSITIVE_INFINITY });
    const r = answered(await ask("What is a gene?"));
    assert.equal(r.moderation, "unchecked");
    assert.equal(r.withheld, false);
    assert.match(r.answer, /You asked: What is a gene\?/);
    assert.equal((await h.answers.get(G, r.answerId))?.moderation, "unchecked");
    const down = (await outbox.list(G)).filter((n) => n.kind === "moderation_unavailable");
    assert.equal(down.length, 1);
    assert.equal((down[0]?.payload as { policy?: string } | undefined)?.policy, "open");
    // Unchecked answers are not cached: once moderation is back, the next asking is checked.
    rig.sandbox.faults.clear();
    const later = answered(await ask("What is a gene?"));
    assert.equal(later.cached, false);
    assert.equal(later.moderation, "passed");
  });
});

describe("decide", () => {
  const verdict = (over: Partial<ModerationVerdict> = {}): ModerationVerdict => ({
    flagged: false,
    flaggedCategories: [],
    scores: [
      { category: "violence", score: 0.3 },
      { category: "harassment", score: 0.2 },
      { category: "hate", score: 0.01 },
    ],
    provider: "openai",
    model: "omni-moderation-latest",
    severe: false,
    ...over,
  });

  it("follows the provider when the guild set nothing", () => {
    assert.deepEqual(decide(verdict()), { flagged: false, categories: [], severe: false });
  });

  it("lets a guild flag its chosen categories from a lower score, severe ones as severe", () => {
    const d = decide(verdict(), { categories: ["violence", "hate"], threshold: 0.25 });
    assert.deepEqual(d, { flagged: true, categories: [{ category: "violence", score: 0.3 }], severe: true });
    const all = decide(verdict(), { categories: [], threshold: 0.15 });
    assert.deepEqual(
      all.categories.map((c) => c.category),
      ["violence", "harassment"],
    );
  });

  it("never lifts the provider's own flag", () => {
    const flagged = verdict({
      flagged: true,
      flaggedCategories: [{ category: "harassment", score: 0.9 }],
    });
    assert.equal(decide(flagged, { categories: ["violence"], threshold: 0.99 }).flagged, true);
  });
});

describe("SafetySettings", () => {
  const settingsWith = (kind: "sandbox" | "off") => {
    const db = openDb(":memory:");
    const moderator =
      kind === "off"
        ? new OffModerator()
        : new OpenAIModerator({
            client: new OpenAI({ apiKey: "sandbox", baseURL: "http://127.0.0.1:9/v1" }),
            kind: "sandbox",
            model: "omni-moderation-latest",
            logger: silentLogger,
          });
    return new SafetySettings({
      guildSettings: new GuildSettingsRepository(sqliteStore(db)),
      moderator,
      fail: "closed",
    });
  };

  it("reads categories by name, all or a list, and refuses unknown ones by name", () => {
    assert.deepEqual(parseCategories(" all "), []);
    assert.deepEqual(parseCategories("Violence, self-harm/intent violence"), [
      "violence",
      "self-harm/intent",
    ]);
    assert.throws(() => parseCategories("violence, gore"), /Unknown moderation category: "gore"/);
  });

  it("needs a threshold, keeps the categories when only the threshold changes, and is per guild", async () => {
    const safety = settingsWith("sandbox");
    await assert.rejects(async () => safety.tighten(G, { categories: "violence" }), /Give a threshold too/);
    await safety.tighten(G, { categories: "violence", threshold: 0.4 });
    await safety.tighten(G, { threshold: 0.2 });
    assert.deepEqual(await safety.policyFor(G), { categories: ["violence"], threshold: 0.2 });
    assert.equal(
      await safety.policyFor("100000000000000002"),
      undefined,
      "another guild keeps the provider's line",
    );
    await safety.reset(G);
    assert.equal(await safety.policyFor(G), undefined);
  });

  it("refuses to tighten moderation that is off", async () => {
    await assert.rejects(() => settingsWith("off").tighten(G, { threshold: 0.3 }), /Moderation is off/);
  });
});
