// PROVIDER_NAME without OPENAI_API_KEY: the embedded sandbox is the provider whatever the name says, so a
// model it fine-tunes must still answer /ask (its provider has to be the one the chat registry knows).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startTestBot, type TestBot } from "../helpers/bot.ts";
import { fineTuneInGuild } from "../helpers/finetune.ts";
import { addSchool } from "../helpers/school.ts";

const PAIRS: [string, string][] = Array.from({ length: 10 }, (_, i) => [
  `What is rule ${i + 1} of the chemistry lab?`,
  `Rule ${i + 1}: wear goggles for ${i + 2} minutes after mixing.`,
]);

let bot: TestBot;
before(async () => {
  bot = await startTestBot({ env: { PROVIDER_NAME: "school-openai" } });
});
after(() => bot.close());

describe("PROVIDER_NAME with the embedded sandbox", () => {
  it("the sandbox's fine-tuned model answers /ask", async () => {
    const { guild, teacher, students } = addSchool(bot.discord);
    const model = await fineTuneInGuild(bot.app, guild.id, teacher.id, PAIRS, "chem");
    const result = await bot.app.ctx.classroom.ask({
      guildId: guild.id,
      channelId: guild.channel("general").id,
      userId: students[0].id,
      isTeacher: false,
      question: "What is rule 3 of the chemistry lab?",
      model,
    });
    assert.equal(result.ok, true, result.ok ? "" : result.message);
    assert.ok(result.ok && /goggles/.test(result.answer));
  });
});
