import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, loadConfig } from "../src/config.ts";

describe("loadConfig", () => {
  it("uses the sandbox with defaults when nothing is set", () => {
    const config = loadConfig({});
    assert.equal(config.provider.kind, "sandbox");
    assert.equal(config.provider.name, "sandbox");
    assert.equal(config.discord.apiUrl, "https://discord.com/api");
    assert.deepEqual(config.discord.attachmentHosts, ["cdn.discordapp.com", "media.discordapp.net"]);
    assert.equal(config.discord.maxAttachmentBytes, 25 * 1024 * 1024);
    assert.equal(config.maxJobCostUsd, 25);
    assert.match(config.databasePath, /data\/classtune\.db$/);
  });

  it("takes a PostgreSQL DATABASE_URL, and names a bad one without its password", () => {
    assert.equal(loadConfig({}).databaseUrl, undefined);
    const url = "postgres://classtune:pw@db.school.test:5432/classtune";
    assert.equal(loadConfig({ DATABASE_URL: url }).databaseUrl, url);
    assert.equal(
      loadConfig({ DATABASE_URL: "postgresql://db.test/x" }).databaseUrl,
      "postgresql://db.test/x",
    );
    for (const bad of ["mysql://u:hunter22@db.test/x", "not a url", "sqlite:///data/classtune.db"]) {
      assert.throws(
        () => loadConfig({ DATABASE_URL: bad }),
        (err: unknown) =>
          err instanceof ConfigError &&
          /DATABASE_URL: must be a postgres:\/\/user:password@host:port\/database URL/.test(err.message) &&
          !err.message.includes("hunter22"),
        bad,
      );
    }
  });

  it("selects an OpenAI-compatible host from the SDK's own variable names", () => {
    const config = loadConfig({ OPENAI_API_KEY: "k", OPENAI_BASE_URL: "https://example.test/openai/v1/" });
    assert.equal(config.provider.kind, "openai-compatible");
    assert.equal(config.provider.baseURL, "https://example.test/openai/v1");
  });

  it("reports every bad variable in one error", () => {
    assert.throws(
      () =>
        loadConfig({
          MAX_ATTACHMENT_BYTES: "lots",
          DISCORD_CLIENT_ID: "abc",
          OPENAI_BASE_URL: "ftp://x",
          LOG_LEVEL: "loud",
          POLL_SCHEDULE: "every minute",
        }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        const text = err.problems.join("\n");
        for (const name of [
          "MAX_ATTACHMENT_BYTES",
          "DISCORD_CLIENT_ID",
          "OPENAI_BASE_URL",
          "LOG_LEVEL",
          "POLL_SCHEDULE",
        ]) {
          assert.match(text, new RegExp(name));
        }
        return true;
      },
    );
  });

  it("reads the privacy periods: defaults, 'keep', and a clear error for each bad one", () => {
    assert.deepEqual(loadConfig({}).privacy, {
      dataRetentionDays: 365,
      datasetRetentionDays: undefined,
      guildGraceDays: 30,
    });
    assert.deepEqual(
      loadConfig({ DATA_RETENTION_DAYS: "30", DATASET_RETENTION_DAYS: "730", GUILD_DATA_GRACE_DAYS: "0" })
        .privacy,
      { dataRetentionDays: 30, datasetRetentionDays: 730, guildGraceDays: 0 },
    );
    assert.equal(loadConfig({ DATASET_RETENTION_DAYS: "keep" }).privacy.datasetRetentionDays, undefined);
    assert.throws(
      () =>
        loadConfig({
          DATA_RETENTION_DAYS: "0",
          DATASET_RETENTION_DAYS: "a year",
          GUILD_DATA_GRACE_DAYS: "-1",
        }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        const text = err.problems.join("\n");
        assert.match(text, /DATA_RETENTION_DAYS.*≥ 1, got "0"/);
        assert.match(text, /DATASET_RETENTION_DAYS.*"keep", got "a year"/);
        assert.match(text, /GUILD_DATA_GRACE_DAYS.*got "-1"/);
        return true;
      },
    );
  });

  it("paces the sandbox's streamed answers at 40 tokens a second unless SANDBOX_STREAM_TOKENS_PER_SECOND says otherwise", () => {
    assert.equal(loadConfig({}).sandbox.streamTokensPerSecond, 40);
    assert.equal(loadConfig({ SANDBOX_STREAM_TOKENS_PER_SECOND: "0" }).sandbox.streamTokensPerSecond, 0);
    assert.equal(
      loadConfig({ SANDBOX_STREAM_TOKENS_PER_SECOND: "12.5" }).sandbox.streamTokensPerSecond,
      12.5,
    );
    assert.throws(
      () => loadConfig({ SANDBOX_STREAM_TOKENS_PER_SECOND: "-1" }),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.problems.some((p) => p.includes("SANDBOX_STREAM_TOKENS_PER_SECOND")),
    );
  });

  it("reads how many questions a follow-up conversation holds: 4 by default, 1 turns follow-ups off, 1..20", () => {
    assert.equal(loadConfig({}).ask.contextTurns, 4);
    assert.equal(loadConfig({ ASK_CONTEXT_TURNS: "1" }).ask.contextTurns, 1);
    assert.equal(loadConfig({ ASK_CONTEXT_TURNS: " 20 " }).ask.contextTurns, 20);
    for (const bad of ["0", "21", "2.5", "many"]) {
      assert.throws(
        () => loadConfig({ ASK_CONTEXT_TURNS: bad }),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError);
          assert.match(err.problems.join("\n"), new RegExp(`ASK_CONTEXT_TURNS.*from 1 to 20, got "${bad}"`));
          return true;
        },
      );
    }
  });

  it("parses attachment hosts with ports and rejects junk", () => {
    assert.deepEqual(
      loadConfig({ ATTACHMENT_HOSTS: "127.0.0.1:8080, CDN.example.com" }).discord.attachmentHosts,
      ["127.0.0.1:8080", "cdn.example.com"],
    );
    assert.throws(() => loadConfig({ ATTACHMENT_HOSTS: "http://evil/" }), ConfigError);
  });
});

describe("loadConfig: health endpoints", () => {
  it("are off unless HEALTH_PORT is set, and bind loopback unless HEALTH_HOST says otherwise", () => {
    assert.deepEqual(loadConfig({}).health, { port: undefined, host: "127.0.0.1" });
    assert.deepEqual(loadConfig({ HEALTH_PORT: "8080" }).health, { port: 8080, host: "127.0.0.1" });
    assert.deepEqual(loadConfig({ HEALTH_PORT: "8080", HEALTH_HOST: "0.0.0.0" }).health, {
      port: 8080,
      host: "0.0.0.0",
    });
  });

  it("report a port that is not one", () => {
    for (const bad of ["http", "-1", "65536", "80.5"]) {
      assert.throws(
        () => loadConfig({ HEALTH_PORT: bad }),
        (err: unknown) =>
          err instanceof ConfigError && err.problems.some((p) => p.startsWith("HEALTH_PORT:")),
        bad,
      );
    }
  });
});

describe("loadConfig: sharding", () => {
  const problemsOf = (env: Record<string, string>): string[] => {
    try {
      loadConfig(env);
    } catch (err) {
      if (err instanceof ConfigError) return err.problems;
      throw err;
    }
    return assert.fail(`${JSON.stringify(env)} was accepted`);
  };

  it("runs one unsharded connection unless SHARD_COUNT is set", () => {
    assert.equal(loadConfig({}).discord.shards, undefined);
  });

  it("runs every shard, the recommended number, or the listed ones", () => {
    assert.deepEqual(loadConfig({ SHARD_COUNT: "3" }).discord.shards, { ids: [0, 1, 2], count: 3 });
    assert.deepEqual(loadConfig({ SHARD_COUNT: "auto" }).discord.shards, { ids: "auto" });
    assert.deepEqual(loadConfig({ SHARD_COUNT: "8", SHARD_IDS: "2, 5" }).discord.shards, {
      ids: [2, 5],
      count: 8,
    });
  });

  it("names each bad shard setting", () => {
    assert.match(problemsOf({ SHARD_COUNT: "0" }).join(), /^SHARD_COUNT: must be "auto" or a whole number/);
    assert.match(problemsOf({ SHARD_COUNT: "two" }).join(), /^SHARD_COUNT:/);
    assert.match(problemsOf({ SHARD_IDS: "0" }).join(), /^SHARD_IDS: needs SHARD_COUNT/);
    assert.match(
      problemsOf({ SHARD_COUNT: "auto", SHARD_IDS: "0" }).join(),
      /^SHARD_IDS: needs SHARD_COUNT as a number/,
    );
    assert.match(
      problemsOf({ SHARD_COUNT: "2", SHARD_IDS: "1,2" }).join(),
      /^SHARD_IDS: shard ids run from 0 to 1 .*got 2$/,
    );
    assert.match(
      problemsOf({ SHARD_COUNT: "4", SHARD_IDS: "1,1" }).join(),
      /^SHARD_IDS: shard 1 is listed twice/,
    );
    assert.match(problemsOf({ SHARD_COUNT: "4", SHARD_IDS: "0,x" }).join(), /^SHARD_IDS: must be shard ids/);
  });

  it("in a process a ShardingManager spawned, runs its SHARDS, not the manager's SHARD_IDS, and offsets HEALTH_PORT", () => {
    const child = {
      SHARDING_MANAGER: "true",
      SHARDS: "1",
      SHARD_COUNT: "2",
      SHARD_IDS: "0,1",
      HEALTH_PORT: "9100",
    };
    const config = loadConfig(child);
    assert.deepEqual(config.discord.shards, { ids: [1], count: 2 });
    assert.equal(config.health.port, 9101);
    assert.equal(loadConfig({ ...child, HEALTH_PORT: "0" }).health.port, 0);
    assert.deepEqual(loadConfig({ ...child, SHARDS: "[0,1]" }).discord.shards, { ids: [0, 1], count: 2 });
    assert.match(problemsOf({ SHARDING_MANAGER: "true" }).join(), /^SHARDING_MANAGER: set, but SHARDS/);
  });
});

describe("loadConfig: moderation", () => {
  const key = ["sk", "test", "moderation"].join("-");

  it("moderates with the sandbox when no OpenAI key is set, failing closed", () => {
    const m = loadConfig({}).moderation;
    assert.equal(m.provider, "sandbox");
    assert.equal(m.fail, "closed");
    assert.equal(m.model, undefined, "the moderator's own default");
    assert.match(m.messages.unavailable, /try again shortly/);
  });

  it("moderates with OpenAI when an OpenAI key is set, and with the sandbox for another host's key", () => {
    const m = loadConfig({ OPENAI_API_KEY: key }).moderation;
    assert.equal(m.provider, "openai");
    assert.equal(m.openaiProvider, "openai");
    const other = loadConfig({ OPENAI_API_KEY: key, OPENAI_BASE_URL: "https://example.test/v1" }).moderation;
    assert.equal(other.provider, "sandbox", "an OpenAI-compatible host may serve no /moderations");
  });

  it("takes the school's texts, the model and the fail policy", () => {
    const m = loadConfig({
      MODERATION_PROVIDER: "off",
      MODERATION_MODEL: "omni-moderation-2024-09-26",
      MODERATION_FAIL: "open",
      MODERATION_HELP_TEXT: "  Talk to Ms Rivera in room 12.  ",
      MODERATION_REFUSAL_TEXT: "",
    }).moderation;
    assert.equal(m.provider, "off");
    assert.equal(m.model, "omni-moderation-2024-09-26");
    assert.equal(m.fail, "open");
    assert.equal(m.messages.help, "Talk to Ms Rivera in room 12.");
    assert.match(m.messages.refusal, /Let's keep \/ask for schoolwork/, "an empty text keeps the default");
  });

  it("reports what a moderation setting is missing or wrong, with the other problems", () => {
    assert.throws(
      () =>
        loadConfig({
          MODERATION_PROVIDER: "guard",
          MODERATION_FAIL: "maybe",
          MODERATION_HELP_TEXT: "x".repeat(1501),
        }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        const text = err.problems.join("\n");
        assert.match(text, /MODERATION_GUARD_PROVIDER: MODERATION_PROVIDER=guard needs the chat provider/);
        assert.match(text, /MODERATION_FAIL/);
        assert.match(text, /MODERATION_HELP_TEXT: must be at most 1500 characters/);
        return true;
      },
    );
    assert.throws(() => loadConfig({ MODERATION_PROVIDER: "openai" }), /openai needs an OpenAI key/);
    assert.throws(
      () => loadConfig({ MODERATION_PROVIDER: "guard", MODERATION_GUARD_PROVIDER: "nope" }),
      /"nope" is no configured chat provider \(configured: sandbox\)/,
    );
    const guard = loadConfig({
      MODERATION_PROVIDER: "guard",
      MODERATION_GUARD_PROVIDER: "sandbox",
    }).moderation;
    assert.equal(guard.guardProvider, "sandbox");
  });
});
