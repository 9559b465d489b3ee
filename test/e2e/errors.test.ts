// The error boundary end to end: an unexpected failure (here the database losing a table, as a locked or
// damaged database would fail) reaches the user as the short generic message, never as the internal error.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { GENERIC_ERROR } from "../../src/discord/router.ts";
import type { FakeGuild, FakeUser } from "../fakes/discord/index.ts";
import { startTestBot, type TestBot } from "../helpers/bot.ts";
import { addSchool } from "../helpers/school.ts";

let bot: TestBot;
let guild: FakeGuild;
let student: FakeUser;

before(async () => {
  bot = await startTestBot();
  const school = addSchool(bot.discord, { name: "Errors High" });
  guild = school.guild;
  [student] = school.students;
});
after(() => bot.close());

describe("an unexpected error", () => {
  it("is answered with the generic message, without the internal details", async () => {
    bot.db.exec("DROP TABLE answer_votes; DROP TABLE answers");
    const run = await bot.discord.slash({
      channel: guild.channel("general"),
      user: student,
      command: "ask",
      options: { question: "What is a cell?" },
    });
    const reply = await run.waitForOriginal((m) => !m.loading);
    assert.equal(reply.content, GENERIC_ERROR);
    assert.ok(!/no such table|answers/i.test(reply.content));
  });
});
