// /dataset validate for a chosen fine-tuning provider: `provider:` autocompletes from the configured providers,
// `model:` from that provider's catalog, and the report says which provider and model the file was checked
// against, with the provider's rules (Together trains 5 examples; its Llama counted by its own template).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { PermissionFlagsBits } from "discord.js";
import type { ValidationReport } from "../../src/datasets/types.ts";
import type { FakeGuild, FakeUser } from "../fakes/discord/index.ts";
import { startTestBot, type TestBot } from "../helpers/bot.ts";

const TOY = readFileSync(new URL("../datasets/fixtures/toy_chat_fine_tuning.jsonl", import.meta.url), "utf8");
const LLAMA_REFERENCE = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference";

let bot: TestBot;
let guild: FakeGuild;
let teacher: FakeUser;

before(async () => {
  bot = await startTestBot({
    env: {
      FINETUNE_PROVIDERS: JSON.stringify([
        { name: "sandbox", kind: "sandbox" },
        {
          name: "school-together",
          kind: "together",
          baseURL: "https://api.together.xyz/v1",
          apiKeyEnv: "TOGETHER_API_KEY",
        },
      ]),
      FINETUNE_DEFAULT_PROVIDER: "sandbox",
      TOGETHER_API_KEY: ["tg", "test"].join("-"),
    },
  });
  guild = bot.discord.addGuild({ name: "Lincoln High", channels: ["teachers"] });
  teacher = bot.discord.addUser({ username: "ms-rivera" });
  guild.addMember(teacher, { permissions: PermissionFlagsBits.ManageGuild });
});
after(() => bot.close());

const complete = (focused: "provider" | "model", options: Record<string, string>) =>
  bot.discord.autocomplete({
    channel: guild.channel("teachers"),
    user: teacher,
    command: "dataset",
    subcommand: "validate",
    options,
    focused,
  });

describe("/dataset validate provider:", () => {
  it("offers the configured providers, and the chosen provider's models", async () => {
    assert.deepEqual(
      (await complete("provider", { provider: "" })).map((c) => c.value),
      ["sandbox", "school-together"],
    );
    assert.deepEqual(
      (await complete("provider", { provider: "toge" })).map((c) => c.name),
      ["school-together · together at api.together.xyz"],
    );
    assert.deepEqual(
      (await complete("model", { provider: "school-together", model: "" })).map((c) => c.value),
      [LLAMA_REFERENCE, "meta-llama/Meta-Llama-3.1-70B-Instruct-Reference", "Qwen/Qwen2.5-7B-Instruct"],
    );
    const defaults = (await complete("model", { model: "4.1-m" })).map((c) => c.value);
    assert.deepEqual(defaults, ["gpt-4.1-mini-2025-04-14"], "no provider chosen: the default's models");
  });

  it("checks the file by the chosen provider's rules and model, and says so", async () => {
    const file = bot.discord.cdn.attachment("toy.jsonl", TOY);
    const run = await bot.discord.slash({
      channel: guild.channel("teachers"),
      user: teacher,
      command: "dataset",
      subcommand: "validate",
      options: { file, provider: "school-together", model: LLAMA_REFERENCE },
    });
    const reply = await run.waitForOriginal(undefined, { timeoutMs: 20_000 });
    const embed = reply.embeds[0];
    assert.match(embed?.description ?? "", /Ready to fine-tune: 5 valid examples/, "Together's minimum is 1");
    assert.match(
      embed?.fields?.find((f) => f.name === "Checked against")?.value ?? "",
      /Meta-Llama-3\.1-8B-Instruct-Reference on provider school-together \(together\) · the model's own chat template/,
    );
    const report = JSON.parse(reply.file("toy.report.json").text()) as ValidationReport;
    assert.deepEqual(
      [report.provider, report.tokenizer, report.tokens.total],
      ["school-together", "llama3.1", 8356],
    );

    // "Fine-tune this" starts at the provider the file was checked for, never quietly at the default.
    const fineTuneThis = reply.customIds.find((c) => c.startsWith("finetune:from-dataset:"));
    assert.ok(fineTuneThis, reply.customIds.join(", "));
    const click = await bot.discord.click({ message: reply, customId: fineTuneThis, user: teacher });
    const answer = await click.waitForOriginal((m) => m !== click.sourceMessage && !m.loading, {
      timeoutMs: 15_000,
    });
    const field = (name: string) => answer.embeds[0]?.fields?.find((f) => f.name === name)?.value;
    assert.equal(field("Provider"), "school-together", answer.content);
  });

  it("names the configured providers for an unknown one, before downloading", async () => {
    const file = bot.discord.cdn.attachment("toy-2.jsonl", TOY);
    const run = await bot.discord.slash({
      channel: guild.channel("teachers"),
      user: teacher,
      command: "dataset",
      subcommand: "validate",
      options: { file, provider: "school-fireworks" },
    });
    const reply = await run.waitForOriginal();
    assert.match(
      reply.content,
      /unknown provider "school-fireworks".*sandbox \(sandbox, default\), school-together \(together\)/,
    );
    assert.equal(bot.discord.cdn.requestsFor(file).length, 0);
  });
});
