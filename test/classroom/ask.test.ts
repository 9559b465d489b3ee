import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import { ChatPriceTable } from "../../src/classroom/prices.ts";
import { openDb } from "../../src/db/open.ts";
import { DEFAULT_MAX_TOKENS, DEFAULT_SYSTEM_PROMPT } from "../../src/domain/assistant.ts";
import {
  addModel,
  answered,
  buildHarness,
  type ChatServer,
  type Harness,
  refused,
  startChatServer,
} from "./helpers.ts";

const G = "100000000000000001";
const OTHER_G = "100000000000000002";
const CLASS = "200000000000000001";
const HALL = "200000000000000002";
const STUDENT = "300000000000000001";
const STUDENT2 = "300000000000000002";
const TEACHER = "300000000000000009";
const BASE = "gpt-4o-mini-2024-07-18";
const FT = "ft:gpt-4o-mini-2024-07-18:classtune-sandbox:bio:abc123";

describe("AskService", () => {
  let sandbox: ChatServer;
  let groq: ChatServer;
  let h: Harness;

  before(async () => {
    sandbox = await startChatServer("sandbox", [BASE, FT, "gpt-4o-2024-08-06"]);
    groq = await startChatServer("groq", ["llama-3.1-8b-instant"]);
  });
  after(async () => {
    await sandbox.close();
    await groq.close();
  });
  beforeEach(async () => {
    sandbox.requests.length = 0;
    groq.requests.length = 0;
    h = buildHarness({
      fineTuning: { name: "sandbox", url: sandbox.url },
      extra: [{ name: "groq", url: groq.url }],
    });
    await addModel(h, G, { name: FT, provider: "sandbox", baseModel: BASE });
    await addModel(h, G, { name: "llama-3.1-8b-instant", provider: "groq" });
  });

  const ask = (over: Partial<Parameters<Harness["ask"]["ask"]>[0]> = {}) =>
    h.ask.ask({
      guildId: G,
      channelId: HALL,
      userId: STUDENT,
      isTeacher: false,
      question: "What is DNA?",
      ...over,
    });

  describe("with the settings the command read for the question", () => {
    it("answers under them and reads neither the guild's nor the channel's settings again", async () => {
      const trace: string[] = [];
      h = buildHarness({
        fineTuning: { name: "sandbox", url: sandbox.url },
        extra: [{ name: "groq", url: groq.url }],
        db: openDb(":memory:", { verbose: (sql) => trace.push(sql) }),
      });
      await addModel(h, G, { name: "llama-3.1-8b-instant", provider: "groq" });
      await h.settings.setGuildModel(G, "llama-3.1-8b-instant");
      // A plain channel: the guild's default model answers (the router's one guild_settings read, when not given).
      const settings = await h.settings.question(G, HALL);
      // Changed after the command read them: this question goes by what was read.
      await h.settings.setGuildModel(G, BASE);
      trace.length = 0;
      const r = answered(await ask({ settings }));
      assert.deepEqual([r.model, r.source], ["llama-3.1-8b-instant", "guild"]);
      assert.deepEqual(
        trace.filter((s) => /\b(guild_settings|channel_settings)\b/.test(s)),
        [],
        "the question read settings it was given",
      );
      // Without them, the service reads them itself (and sees the change).
      assert.equal(answered(await ask({ question: "q2" })).model, BASE);
    });
  });

  describe("routing", () => {
    it("uses the configured base model when nothing else is set", async () => {
      const r = answered(await ask());
      assert.equal(r.model, BASE);
      assert.equal(r.source, "default");
      assert.equal(r.provider, "sandbox");
      assert.equal(r.public, false);
    });

    it("prefers explicit over channel over guild default over the configured base model", async () => {
      await h.settings.setGuildModel(G, "llama-3.1-8b-instant");
      assert.equal(answered(await ask({ question: "q1" })).source, "guild");
      assert.equal(answered(await ask({ question: "q1" })).model, "llama-3.1-8b-instant");
      await h.settings.setChannelModel(G, HALL, FT, TEACHER);
      const channel = answered(await ask({ question: "q2" }));
      assert.deepEqual([channel.model, channel.source], [FT, "channel"]);
      const explicit = answered(
        await ask({ question: "q3", model: "gpt-4o-2024-08-06", userId: TEACHER, isTeacher: true }),
      );
      assert.deepEqual([explicit.model, explicit.source], ["gpt-4o-2024-08-06", "explicit"]);
      assert.equal(explicit.public, false, "a plain channel default is not a class channel");
    });

    it("sends each model to its own provider", async () => {
      const viaGroq = answered(await ask({ model: "llama-3.1-8b-instant" }));
      const viaSandbox = answered(await ask({ model: FT }));
      assert.equal(viaGroq.provider, "groq");
      assert.equal(viaSandbox.provider, "sandbox");
      assert.deepEqual(
        groq.requests.map((r) => r.model),
        ["llama-3.1-8b-instant"],
      );
      assert.deepEqual(
        sandbox.requests.map((r) => r.model),
        [FT],
      );
      assert.match(viaGroq.answer, /^\[groq:/);
    });

    it("lets a student in a class channel ask only its model, its fallback and the server's registered models", async () => {
      await h.settings.setup({
        guildId: G,
        channelId: CLASS,
        model: FT,
        fallbackModel: BASE,
        teacherId: TEACHER,
      });
      for (const model of [FT, BASE, "llama-3.1-8b-instant"]) {
        assert.equal(answered(await ask({ channelId: CLASS, model, question: `q ${model}` })).model, model);
      }
      const before = sandbox.requests.length;
      const r = refused(await ask({ channelId: CLASS, model: "gpt-4o-2024-08-06" }));
      assert.equal(r.reason, "model_not_allowed");
      assert.match(r.message, /Students can't choose "gpt-4o-2024-08-06" here/);
      for (const name of [FT, BASE, "llama-3.1-8b-instant"])
        assert.ok(r.message.includes(`\`${name}\``), name);
      assert.equal(sandbox.requests.length, before, "the refused model is never called");
      const teacher = answered(
        await ask({ channelId: CLASS, model: "gpt-4o-2024-08-06", userId: TEACHER, isTeacher: true }),
      );
      assert.equal(teacher.model, "gpt-4o-2024-08-06", "a teacher may use any model");
    });

    it("lets a student elsewhere ask only the server's chosen model and its registered models", async () => {
      answered(await ask({ model: BASE, question: "the configured model" }));
      const r = refused(await ask({ model: "gpt-4o-2024-08-06" }));
      assert.equal(r.reason, "model_not_allowed");
      assert.match(
        r.message,
        new RegExp(`Ask without model: to use \`${BASE}\`, or choose \`llama-3.1-8b-instant\`, \`${FT}\`\\.`),
      );
      await h.settings.setGuildModel(G, "llama-3.1-8b-instant");
      assert.equal(
        refused(await ask({ model: BASE })).reason,
        "model_not_allowed",
        "not the server's choice",
      );
      await h.settings.setChannelModel(G, HALL, BASE, TEACHER);
      answered(await ask({ model: BASE, question: "the channel's model" }));
      assert.deepEqual(await h.router.studentModels(G, (await h.settings.list(G))[0], 25), [
        BASE,
        "llama-3.1-8b-instant",
        FT,
      ]);
    });

    it("treats another guild's model, and unknown names, as not found without calling anyone", async () => {
      const r = refused(
        await h.ask.ask({
          guildId: OTHER_G,
          channelId: HALL,
          userId: STUDENT,
          isTeacher: false,
          question: "q",
          model: FT,
        }),
      );
      assert.equal(r.reason, "model_not_found");
      assert.equal(refused(await ask({ model: "made-up-model" })).reason, "model_not_found");
      assert.equal(sandbox.requests.length + groq.requests.length, 0);
      await assert.rejects(() => h.settings.setChannelModel(OTHER_G, HALL, FT, TEACHER), /no model called/);
    });

    it("answers publicly in a class channel with its system prompt, temperature and max tokens", async () => {
      await h.settings.setup({
        guildId: G,
        channelId: CLASS,
        model: FT,
        systemPrompt: "You teach biology to 14-year-olds.",
        temperature: 0.2,
        teacherId: TEACHER,
      });
      const r = answered(await ask({ channelId: CLASS }));
      assert.equal(r.public, true);
      assert.equal(r.model, FT);
      const sent = sandbox.requests.at(-1);
      assert.equal(sent?.messages[0]?.content, "You teach biology to 14-year-olds.");
      assert.equal(sent?.temperature, 0.2);
      assert.deepEqual(
        (await h.settings.list(G)).map((c) => [c.channelId, c.isClass, c.maxTokens]),
        [[CLASS, true, 500]],
      );
      await h.settings.remove(G, CLASS);
      assert.equal(answered(await ask({ channelId: CLASS, question: "again" })).public, false);
      await assert.rejects(() => h.settings.remove(G, CLASS), /not a class channel/);
    });

    it("/model add registers a model with a configured provider, for this guild only", async () => {
      const row = await h.settings.addModel(OTHER_G, "llama-3.1-8b-instant", "groq", "Fast Llama");
      assert.deepEqual([row.guildId, row.provider, row.label], [OTHER_G, "groq", "Fast Llama"]);
      const r = answered(
        await h.ask.ask({
          guildId: OTHER_G,
          channelId: HALL,
          userId: STUDENT,
          isTeacher: false,
          question: "hi",
          model: "llama-3.1-8b-instant",
        }),
      );
      assert.equal(r.provider, "groq");
      await assert.rejects(
        async () => h.settings.addModel(OTHER_G, "x", "openrouter"),
        /no chat provider called "openrouter"/,
      );
      await assert.rejects(
        async () => h.settings.addModel(OTHER_G, "llama-3.1-8b-instant", "sandbox"),
        /already registered/,
      );
    });

    it("refuses over-long and empty questions", async () => {
      assert.equal(refused(await ask({ question: "x".repeat(2001) })).reason, "question_too_long");
      assert.equal(refused(await ask({ question: "   " })).reason, "empty_question");
      assert.equal(sandbox.requests.length, 0);
    });
  });

  describe("fallback", () => {
    beforeEach(async () => {
      await h.settings.setup({
        guildId: G,
        channelId: CLASS,
        model: FT,
        fallbackModel: BASE,
        teacherId: TEACHER,
      });
    });

    it("answers with the channel's fallback when the provider says the model is gone (404)", async () => {
      sandbox.models.delete(FT);
      try {
        const r = answered(await ask({ channelId: CLASS }));
        assert.equal(r.model, BASE);
        assert.equal(r.usedFallback, true);
        assert.equal(r.unavailableModel, FT);
        assert.match(r.notice ?? "", /no longer available/);
        assert.deepEqual(
          sandbox.requests.map((q) => q.model),
          [FT, BASE],
        );
        assert.equal(h.notices.length, 1);
        assert.equal(h.notices[0]?.info.fallbackModel, BASE);
        const rows = await h.usage.between(G, "2000", "2100");
        assert.deepEqual(
          rows.map((u) => [u.model, u.error]),
          [[BASE, null]],
          "one usage row per question",
        );
      } finally {
        sandbox.models.add(FT);
      }
    });

    it("answers with the fallback once the model's shutdown date has passed, without asking for it", async () => {
      await addModel(h, G, { name: FT, provider: "sandbox", shutdownDate: "2026-11-01" });
      const r = answered(await ask({ channelId: CLASS }));
      assert.equal(r.model, BASE);
      assert.deepEqual(
        sandbox.requests.map((q) => q.model),
        [BASE],
      );
    });

    it("without a fallback tells the student plainly and notifies the teachers once a day", async () => {
      await h.settings.setChannelModel(G, HALL, FT, TEACHER);
      sandbox.models.delete(FT);
      try {
        const first = refused(await ask());
        assert.equal(first.reason, "model_unavailable");
        assert.equal(first.teachersNotified, true);
        assert.match(first.message, /no longer available/);
        const second = refused(await ask({ userId: STUDENT2 }));
        assert.equal(second.teachersNotified, false);
        assert.equal(h.notices.length, 1);
        h.clock.now += 86_400_000;
        refused(await ask({ question: "next day" }));
        assert.equal(h.notices.length, 2);
        assert.deepEqual(
          (await h.usage.between(G, "2000", "2100")).map((u) => u.error),
          ["model_unavailable", "model_unavailable", "model_unavailable"],
        );
      } finally {
        sandbox.models.add(FT);
      }
    });
  });

  describe("limits", () => {
    it("refuses a student's sixth question in a minute and says when to try again; teachers are exempt", async () => {
      h = buildHarness({
        fineTuning: { name: "sandbox", url: sandbox.url },
        limits: { userPerMinute: 5, userBurst: 5, guildPerMinute: 60, guildBurst: 60 },
      });
      for (let i = 0; i < 5; i++) answered(await ask({ question: `q${i}` }));
      const r = refused(await ask({ question: "q5" }));
      assert.equal(r.reason, "rate_limited");
      assert.equal(r.retryAfterSeconds, 12);
      assert.match(r.message, /12 seconds/);
      answered(await ask({ question: "q5", userId: TEACHER, isTeacher: true }));
      answered(await ask({ question: "q5", userId: STUDENT2 }));
      h.clock.now += 12_000;
      answered(await ask({ question: "q6" }));
      assert.equal(refused(await ask({ question: "q7" })).reason, "rate_limited");
    });

    it("limits the whole guild, teachers included", async () => {
      h = buildHarness({
        fineTuning: { name: "sandbox", url: sandbox.url },
        limits: { guildPerMinute: 3, guildBurst: 3 },
      });
      for (let i = 0; i < 3; i++) answered(await ask({ question: `q${i}`, userId: `30000000000000010${i}` }));
      const r = refused(await ask({ question: "q", userId: TEACHER, isTeacher: true }));
      assert.equal(r.code, "guild_rate_limit");
      assert.equal(r.retryAfterSeconds, 20);
      assert.equal(sandbox.requests.length, 3);
    });

    it("stops paid answers at the daily spend cap until midnight UTC; free models still answer", async () => {
      const paid = await startChatServer("paid", ["gpt-4o-2024-08-06"]);
      try {
        h = buildHarness({
          fineTuning: { name: "sandbox", url: sandbox.url },
          extra: [{ name: "openai", url: paid.url }],
          limits: { dailyBudgetUsd: 0.000_01 },
        });
        await addModel(h, G, { name: "gpt-4o-2024-08-06", provider: "openai" });
        const first = answered(await ask({ model: "gpt-4o-2024-08-06", question: "one two three" }));
        assert.ok(first.costUsd > 0.000_01, `cost ${first.costUsd}`);
        const capped = refused(await ask({ model: "gpt-4o-2024-08-06", question: "another" }));
        assert.equal(capped.reason, "spend_cap");
        assert.equal(capped.retryAfterSeconds, 14 * 3600);
        answered(await ask({ question: "the sandbox is free" }));
        h.clock.now += 14 * 3600 * 1000;
        answered(await ask({ model: "gpt-4o-2024-08-06", question: "another" }));
      } finally {
        await paid.close();
      }
    });
  });

  describe("spend cap under concurrent questions", () => {
    const GPT4O = "gpt-4o-2024-08-06";
    const prices = ChatPriceTable.load();
    const question = (i: number) => `Question ${String(i).padStart(2, "0")}: what do ribosomes make?`;
    /** The most one of these questions can cost: what the cap reserves while it is in flight. */
    const estimate = prices.estimate(GPT4O, [DEFAULT_SYSTEM_PROMPT, question(0)], DEFAULT_MAX_TOKENS);
    let paid: ChatServer;
    const dayStart = "2026-11-25T00:00:00.000Z";

    before(async () => {
      // Bills every answer at max_tokens: the worst case the reservation must cover.
      paid = await startChatServer("paid", [GPT4O], { longestAnswers: true });
    });
    after(() => paid.close());
    const paidHarness = async (budgetUsd: number) => {
      paid.requests.length = 0;
      h = buildHarness({
        fineTuning: { name: "sandbox", url: sandbox.url },
        extra: [{ name: "openai", url: paid.url }],
        limits: { dailyBudgetUsd: budgetUsd },
      });
      await addModel(h, G, { name: GPT4O, provider: "openai" });
    };

    it("refuses most of 40 questions asked at once against a budget that fits two, never overshooting by more than one question's estimate", async () => {
      const budget = 2 * estimate;
      await paidHarness(budget);
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          ask({
            model: GPT4O,
            question: question(i),
            userId: `3000000000000001${String(i).padStart(2, "0")}`,
          }),
        ),
      );
      const answers = results.filter((r) => r.ok);
      const refusals = results.filter((r) => !r.ok);
      assert.ok(answers.length >= 1 && answers.length <= 3, `${answers.length} of 40 answered`);
      for (const r of refusals) {
        assert.equal(r.reason, "spend_cap");
        assert.match(r.message, /used today's \/ask budget/);
      }
      assert.equal(paid.requests.length, answers.length, "a refused question never reaches the provider");
      const spent = await h.usage.spentSince(G, dayStart);
      assert.ok(spent <= budget + estimate, `spent $${spent} against a cap of $${budget}`);

      // Settled: the reservations are gone and only what the answers cost counts.
      const next = answered(await ask({ model: GPT4O, question: question(40) }));
      assert.ok(next.costUsd > 0);
      assert.equal(refused(await ask({ model: GPT4O, question: question(41) })).reason, "spend_cap");
      assert.ok((await h.usage.spentSince(G, dayStart)) <= budget + estimate);
    });

    it("counts a reservation released while another question's read of the spend was under way", async () => {
      // A budget the first answer alone uses up. The second question's read of the recorded spend is taken while
      // the first is in flight (before its usage row) and arrives after the first has been answered and released
      // its reservation: neither the stale read nor the reservations would count the first answer.
      await paidHarness(1e-9);
      const read = h.usage.spentSince.bind(h.usage);
      const seen: number[] = [];
      let letSecondRead: () => void = () => undefined;
      const secondRead = new Promise<void>((resolve) => {
        letSecondRead = resolve;
      });
      h.usage.spentSince = async (guildId, sinceIso) => {
        const spent = await read(guildId, sinceIso);
        seen.push(spent);
        if (seen.length === 2) await secondRead;
        return spent;
      };
      const first = ask({ model: GPT4O, question: question(1) });
      const second = ask({ model: GPT4O, question: question(2), userId: STUDENT2 });
      answered(await first);
      letSecondRead();
      const r = await second;
      assert.deepEqual(seen, [0, 0], "both reads were taken before the first answer was recorded");
      assert.equal(refused(r).reason, "spend_cap");
      assert.equal(paid.requests.length, 1, "the second question never reached the paid provider");
    });

    it("releases a question's reservation when the provider fails", async () => {
      await paidHarness(estimate / 2);
      paid.failNext(503, { message: "overloaded", type: "server_error", code: null });
      assert.equal(refused(await ask({ model: GPT4O, question: question(1) })).reason, "provider_error");
      answered(await ask({ model: GPT4O, question: question(2) }));
      assert.equal(refused(await ask({ model: GPT4O, question: question(3) })).reason, "spend_cap");
    });
  });

  describe("cache", () => {
    it("answers an exact repeat from the cache, without a second request, at no cost", async () => {
      const first = answered(await ask({ question: "What is  photosynthesis?" }));
      const again = answered(await ask({ question: "  what is photosynthesis!! ", userId: STUDENT2 }));
      assert.equal(first.cached, false);
      assert.equal(again.cached, true);
      assert.equal(again.answer, first.answer);
      assert.equal(again.costUsd, 0);
      assert.equal(sandbox.requests.length, 1);
      assert.notEqual(again.answerId, first.answerId);
      answered(await ask({ question: "What is photosynthesis?", model: FT }));
      assert.equal(sandbox.requests.length, 2, "another model is another cache entry");
      h.clock.now += 3600_000;
      assert.equal(answered(await ask({ question: "What is photosynthesis" })).cached, false, "expired");
    });
  });

  describe("provider errors", () => {
    it("explains insufficient_quota, rate limits and outages in plain words and records them", async () => {
      sandbox.failNext(429, {
        message: "You exceeded your current quota",
        type: "insufficient_quota",
        code: "insufficient_quota",
      });
      const quota = refused(await ask({ question: "a" }));
      assert.equal(quota.reason, "provider_error");
      assert.equal(quota.code, "insufficient_quota");
      assert.match(quota.message, /run out of credit/);
      sandbox.failNext(429, { message: "Rate limit reached", type: "requests", code: "rate_limit_exceeded" });
      assert.match(refused(await ask({ question: "b" })).message, /rate-limiting us/);
      sandbox.failNext(503, { message: "overloaded", type: "server_error", code: null });
      assert.match(refused(await ask({ question: "c" })).message, /having trouble/);
      const rows = await h.usage.between(G, "2000-01-01", "2100-01-01");
      assert.deepEqual(
        rows.map((r) => r.error),
        ["insufficient_quota", "provider_rate_limited", "provider_unavailable"],
      );
    });
  });
});
