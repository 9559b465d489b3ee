// /dataset export validates the new dataset for a fine-tunable base model from the catalog (MODELS_FILE and
// PRICES_FILE included), never for the /ask chat default: a school whose students are answered by a chat-only
// model (Groq's llama-3.1-8b-instant, say) can still export.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { FakeGuild, FakeInteraction, FakeMessage, FakeUser } from "../fakes/discord/index.ts";
import { startTestBot, type TestBot } from "../helpers/bot.ts";
import { addSchool } from "../helpers/school.ts";

let bot: TestBot;
let school: FakeGuild;
let teacher: FakeUser;
let sam: FakeUser;

const reply = (run: FakeInteraction): Promise<FakeMessage> =>
  run.waitForOriginal((m) => m !== run.sourceMessage && !m.loading);

before(async () => {
  bot = await startTestBot({ env: { ASK_DEFAULT_MODEL: "llama-3.1-8b-instant", ASK_USER_BURST: "100" } });
  const lincoln = addSchool(bot.discord, { channels: ["general", "class"] });
  ({ guild: school, teacher } = lincoln);
  [sam] = lincoln.students;
  await bot.discord
    .slash({
      channel: school.channel("general"),
      user: teacher,
      command: "classroom",
      subcommand: "setup",
      options: { channel: school.channel("class"), model: "gpt-4o-mini-2024-07-18" },
    })
    .then((r) => r.waitForOriginal());
});
after(() => bot.close());

describe("/dataset export with a chat-only /ask default model", () => {
  it("validates the export for the catalog's default base model instead of refusing an unknown model", async () => {
    for (let i = 1; i <= 10; i++) {
      const asked = await bot.discord.slash({
        channel: school.channel("class"),
        user: sam,
        command: "ask",
        options: { question: `Question ${i}: what does a cell membrane do at step ${i}?` },
      });
      const answer = await asked.waitForOriginal();
      const opened = await bot.discord.click({
        message: answer,
        customId: answer.customIds.find((c) => c.startsWith("correct:")) as string,
        user: teacher,
      });
      await opened.response();
      await reply(
        await bot.discord.submitModal({
          from: opened,
          fields: { answer: `It controls what enters and leaves the cell (${i}).` },
        }),
      );
    }
    const run = await bot.discord.slash({
      channel: school.channel("general"),
      user: teacher,
      command: "dataset",
      subcommand: "export",
    });
    const exported = await run.waitForOriginal(undefined, { timeoutMs: 20_000 });
    assert.doesNotMatch(exported.content, /unknown model/i);
    assert.match(exported.content, /Exported 10 example\(s\): 10 corrected by a teacher/);
    assert.match(JSON.stringify(exported.embeds), /gpt-4o-mini/, "validated for the catalog default");
  });
});
