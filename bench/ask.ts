// `npm run bench -- ask`: the whole /ask path on loopback. The fake Discord dispatches INTERACTION_CREATE to the
// real bot (startApp: discord.js, router, /ask, AskService, SQLite), the embedded sandbox answers with zero
// latency, and the reply (deferral + edit) comes back to the fake. Reports sustained questions per second,
// classtune's overhead per question (dispatch → final reply, minus the time inside the provider's HTTP call,
// timed around the SDK's fetch), the time moderation adds (the sandbox's /v1/moderations, the bot's default
// without an OpenAI key: the question and the answer checked, timed the same way), and the cache-hit path. Medians of several runs. Limits raised via env.
// bench/ask-core.ts measures the services alone (no Discord).
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { PermissionFlagsBits } from "discord.js";
import { startApp } from "../src/app.ts";
import { loadConfig } from "../src/config.ts";
import { deployCommands } from "../src/discord/deploy.ts";
import { silentLogger } from "../src/logger.ts";
import { type FakeUser, startFakeDiscord } from "../test/fakes/discord/index.ts";
import { median, pct } from "./stats.ts";

const IN_FLIGHT = 32;
const STUDENTS = 40;

const ms = (x: number) => `${x.toFixed(2)} ms`;

interface RunResult {
  sustainedQps: number;
  overheadP50: number;
  overheadP99: number;
  modelP50: number;
  moderationP50: number;
  moderationP99: number;
  cacheQps: number;
  cacheP50: number;
  cacheP99: number;
  firstTextP50: number;
  firstTextP99: number;
}

export async function main(args: string[] = []): Promise<void> {
  const quick = args.includes("--quick");
  const runs = quick ? 3 : 5;
  const perRun = quick ? 300 : 1000;
  const dir = mkdtempSync(join(tmpdir(), "classtune-bench-ask-e2e-"));

  // Time inside the provider's chat call. The openai SDK picks up the global fetch when its client is built
  // (in startApp), so wrapping it first times exactly the HTTP round trip to the sandbox.
  const realFetch = globalThis.fetch;
  let modelMs = 0;
  let moderationMs = 0;
  globalThis.fetch = async (input, init) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    if (url.endsWith("/moderations")) {
      const t = performance.now();
      try {
        const res = await realFetch(input, init);
        const body = await res.arrayBuffer();
        return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
      } finally {
        moderationMs += performance.now() - t;
      }
    }
    if (!url.endsWith("/chat/completions")) return realFetch(input, init);
    const t = performance.now();
    const res = await realFetch(input, init);
    if (!res.headers.get("content-type")?.startsWith("text/event-stream") || !res.body) {
      try {
        // The SDK reads the body after fetch resolves; include it so the model call is fully subtracted.
        const body = await res.arrayBuffer();
        return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
      } finally {
        modelMs += performance.now() - t;
      }
    }
    // A stream is passed on as it arrives (buffering it would change what the SDK reads); its time runs to its end.
    const timed = res.body.pipeThrough(
      new TransformStream({
        flush() {
          modelMs += performance.now() - t;
        },
      }),
    );
    return new Response(timed, { status: res.status, statusText: res.statusText, headers: res.headers });
  };

  const discord = await startFakeDiscord();
  const config = loadConfig({
    DISCORD_TOKEN: discord.token,
    DISCORD_CLIENT_ID: discord.applicationId,
    DISCORD_API_URL: discord.apiUrl,
    DATA_DIR: dir,
    POLL_SCHEDULE: "0 0 1 1 *",
    LOG_LEVEL: "silent",
    ASK_USER_PER_MINUTE: "1000000",
    ASK_USER_BURST: "1000000",
    ASK_GUILD_PER_MINUTE: "1000000",
    ASK_GUILD_BURST: "1000000",
    ASK_DAILY_BUDGET_USD: "1000000",
    ASK_CACHE_MAX_ENTRIES: String(runs * perRun * 2),
    SANDBOX_STREAM_TOKENS_PER_SECOND: "0",
    // --no-moderation: the same run with MODERATION_PROVIDER=off, to compare.
    ...(args.includes("--no-moderation") ? { MODERATION_PROVIDER: "off" } : {}),
    // --no-stream: whole answers (ASK_STREAM=false), to compare.
    ...(args.includes("--no-stream") ? { ASK_STREAM: "false" } : {}),
  });
  const { token, clientId, apiUrl } = config.discord;
  if (!token || !clientId) throw new Error("fake Discord gave no token");
  await deployCommands({ token, clientId, apiUrl });
  const app = await startApp({ config, logger: silentLogger });

  try {
    await app.ready;
    const guild = discord.addGuild({ name: "Bench High", channels: ["general", "class"] });
    const teacher = discord.addUser({ username: "teacher" });
    guild.addMember(teacher, { permissions: PermissionFlagsBits.ManageGuild });
    const students: FakeUser[] = Array.from({ length: STUDENTS }, (_, i) => {
      const u = discord.addUser({ username: `student-${i}` });
      guild.addMember(u);
      return u;
    });
    const channel = guild.channel("class");
    await app.ctx.classroom.settings.setup({
      guildId: guild.id,
      channelId: channel.id,
      model: config.ask.defaultModel,
      teacherId: teacher.id,
    });

    let firstTextMs = 0;
    const ask = async (user: FakeUser, question: string) => {
      const t0 = performance.now();
      const run = await discord.slash({ channel, user, command: "ask", options: { question } });
      // The first edit that shows text (streamed), then the finished reply with its footer.
      const first = run
        .waitForOriginal((m) => !m.loading && m.content !== "", { timeoutMs: 30_000 })
        .then(() => performance.now() - t0);
      const reply = await run.waitForOriginal((m) => m.content.includes("answered by"), {
        timeoutMs: 30_000,
      });
      firstTextMs = await first;
      return reply;
    };
    const student = (i: number) => students[i % STUDENTS] as FakeUser;

    // Warm-up: token tables, prepared statements, JIT.
    for (let i = 0; i < 100; i++) await ask(student(i), `Warm-up question ${i}?`);

    const results: RunResult[] = [];
    for (let r = 0; r < runs; r++) {
      // Overhead: one question at a time, so the model time subtracted is that question's own.
      const overhead: number[] = [];
      const model: number[] = [];
      const moderation: number[] = [];
      const firstText: number[] = [];
      for (let i = 0; i < perRun; i++) {
        modelMs = 0;
        moderationMs = 0;
        const t = performance.now();
        await ask(student(i), `Run ${r} sequential question ${i}?`);
        overhead.push(performance.now() - t - modelMs);
        model.push(modelMs);
        moderation.push(moderationMs);
        firstText.push(firstTextMs);
      }
      firstText.sort((x, y) => x - y);
      overhead.sort((x, y) => x - y);
      model.sort((x, y) => x - y);
      moderation.sort((x, y) => x - y);

      // Sustained: IN_FLIGHT questions at once, every one distinct (each reaches the sandbox).
      let next = 0;
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: IN_FLIGHT }, async () => {
          while (next < perRun) {
            const i = next++;
            await ask(student(i), `Run ${r} concurrent question ${i}?`);
          }
        }),
      );
      const sustainedQps = perRun / ((performance.now() - t0) / 1000);

      // Cache hits: a teacher repeats the sequential questions (the footer says "cached" to teachers).
      const hits: number[] = [];
      const t1 = performance.now();
      for (let i = 0; i < perRun; i++) {
        const t = performance.now();
        const reply = await ask(teacher, `run ${r} sequential question ${i}`);
        if (!reply.content.includes("cached")) throw new Error("expected a cache hit");
        hits.push(performance.now() - t);
      }
      const cacheQps = perRun / ((performance.now() - t1) / 1000);
      hits.sort((x, y) => x - y);
      results.push({
        sustainedQps,
        overheadP50: pct(overhead, 0.5),
        overheadP99: pct(overhead, 0.99),
        modelP50: pct(model, 0.5),
        moderationP50: pct(moderation, 0.5),
        moderationP99: pct(moderation, 0.99),
        cacheQps,
        cacheP50: pct(hits, 0.5),
        cacheP99: pct(hits, 0.99),
        firstTextP50: pct(firstText, 0.5),
        firstTextP99: pct(firstText, 0.99),
      });
    }

    const m = (k: keyof RunResult) => median(results.map((x) => x[k]));
    const cpu = cpus();
    process.stdout.write(
      [
        `machine: ${cpu.length} cores (${cpu[0]?.model.trim() ?? "unknown"}), node ${process.version}, ${process.platform}`,
        `/ask end to end: fake Discord (gateway + REST on loopback) → bot → sandbox base model → deferral + reply`,
        `runs: ${runs} × ${perRun} questions per phase; medians over runs`,
        `sustained (${IN_FLIGHT} in flight): ${m("sustainedQps").toFixed(0)} questions/s   [bar ≥ 200]`,
        `overhead per question excl. the model call: p50 ${ms(m("overheadP50"))}, p99 ${ms(m("overheadP99"))}   [bar p99 ≤ 25 ms]`,
        `model call (sandbox HTTP, subtracted): p50 ${ms(m("modelP50"))}`,
        `moderation added (${app.ctx.classroom.moderator.describe}: question + answer, included above): p50 ${ms(m("moderationP50"))}, p99 ${ms(m("moderationP99"))}`,
        `time to first visible text (sequential, streamed; moderation checks the answer before it shows): p50 ${ms(m("firstTextP50"))}, p99 ${ms(m("firstTextP99"))}`,
        `cache-hit path (sequential): ${m("cacheQps").toFixed(0)} questions/s, p50 ${ms(m("cacheP50"))}, p99 ${ms(m("cacheP99"))}`,
        `per run: ${results.map((x) => `${x.sustainedQps.toFixed(0)} q/s, p99 ${x.overheadP99.toFixed(1)} ms`).join(" | ")}`,
        "",
      ].join("\n"),
    );
  } finally {
    await app.close();
    await discord.close();
    globalThis.fetch = realFetch;
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main(process.argv.slice(2));
