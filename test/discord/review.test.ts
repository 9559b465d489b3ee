// /review's rendering: the worst page stays within Discord's embed limits, students' markdown is neutralised,
// and the page buttons' custom ids round-trip, stay within 100 characters and refuse anything forged.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MAX_REVIEW_DAYS, type ReviewPage, type ReviewRow } from "../../src/classroom/review.ts";
import { DiscordLimits } from "../../src/discord/limits.ts";
import {
  parseReviewPageId,
  reviewComponents,
  reviewEmbed,
  reviewPageId,
} from "../../src/discord/render/review.ts";

const SNOWFLAKE = "12345678901234567890";
const HOSTILE = `@everyone <@&${SNOWFLAKE}> ||spoiler|| [gift](https://evil.example) \`\`\` # heading 😀`;

function row(i: number, text: string): ReviewRow {
  return {
    answerId: 1_000_000 + i,
    channelId: SNOWFLAKE,
    userId: SNOWFLAKE,
    question: text,
    answer: text,
    model: `ft:${"m".repeat(300)}`,
    public: i % 2 === 0,
    up: 999,
    down: 999,
    correctedAnswer: text,
    correctedBy: SNOWFLAKE,
    correctedAt: "2026-11-25T10:00:00.000Z",
    createdAt: "2026-11-25T10:00:00.000Z",
    flags: ["self-harm", "violence"],
    flagged: true,
  };
}

function page(rows: ReviewRow[], over: Partial<ReviewPage> = {}): ReviewPage {
  return {
    guildId: SNOWFLAKE,
    filter: { days: MAX_REVIEW_DAYS, channelId: SNOWFLAKE, studentId: SNOWFLAKE, flaggedOnly: true },
    rows,
    page: 2,
    pageCount: 3,
    total: 15,
    size: 5,
    anchor: 9_999_999_999,
    since: "2026-08-28T00:00:00.000Z",
    ...over,
  };
}

function embedLength(e: ReturnType<ReturnType<typeof reviewEmbed>["toJSON"]>): number {
  return (
    (e.title?.length ?? 0) +
    (e.description?.length ?? 0) +
    (e.footer?.text.length ?? 0) +
    (e.fields ?? []).reduce((n, f) => n + f.name.length + f.value.length, 0)
  );
}

describe("/review rendering", () => {
  it("keeps the longest possible page within Discord's embed limits", () => {
    // Texts of every shape at their longest: plain, one of markdown that neutralising lengthens, emoji.
    for (const text of ["x".repeat(4000), "||".repeat(2000), "😀".repeat(2000), HOSTILE.repeat(40)]) {
      const e = reviewEmbed(page([0, 1, 2, 3, 4].map((i) => row(i, text)))).toJSON();
      assert.ok(embedLength(e) <= DiscordLimits.embedTotal, `${embedLength(e)} characters`);
      assert.equal(e.fields?.length, 5);
      for (const f of e.fields ?? []) {
        assert.ok(f.name.length <= DiscordLimits.embedFieldName);
        assert.ok(f.value.length <= DiscordLimits.embedFieldValue);
        assert.doesNotMatch(f.value, /[\uD800-\uDBFF](?![\uDC00-\uDFFF])/, "no half emoji");
      }
    }
  });

  it("shows who asked as a mention, the votes, the correction and the flags; students' markdown is inert", () => {
    const e = reviewEmbed(page([row(0, HOSTILE)])).toJSON();
    const value = e.fields?.[0]?.value ?? "";
    assert.ok(value.startsWith(`<@${SNOWFLAKE}> in <#${SNOWFLAKE}> · <t:`), value);
    assert.match(value, /👍 999 · 👎 999/);
    assert.match(value, /⚠️ flagged: self-harm, violence/);
    assert.match(value, new RegExp(`✏️ \\*\\*Corrected\\*\\* by <@${SNOWFLAKE}>:`));
    for (const line of value.split("\n").slice(1)) {
      assert.doesNotMatch(line, /@everyone|<@&|\|\||\]\(|```/, line);
    }
    assert.match(e.description ?? "", /Page 2 of 3 · 15 answers/);
  });

  it("gives the page buttons distinct ids within 100 characters that name the filter and page", () => {
    const p = page([row(0, "q")]);
    const ids = reviewComponents(p).flatMap((r) =>
      r.toJSON().components.map((c) => ("custom_id" in c ? c.custom_id : "")),
    );
    assert.equal(new Set(ids).size, ids.length);
    for (const id of ids) assert.ok(id.length <= DiscordLimits.customId, `${id.length}: ${id}`);
    assert.deepEqual(ids.slice(2), ["correct:1000000"], "each answer's Correct opens /ask's modal");
    assert.deepEqual(parseReviewPageId(ids[1] as string), {
      filter: p.filter,
      cursor: { page: 3, anchor: p.anchor },
    });
    const single = reviewComponents(page([], { page: 1, pageCount: 1, total: 0 }));
    const buttons = single[0]?.toJSON().components ?? [];
    assert.deepEqual(
      buttons.map((b) => ("disabled" in b ? b.disabled : undefined)),
      [true, true],
    );
    assert.equal(single.length, 1, "no Correct row without answers");
  });

  it("refuses a forged or damaged page id as not valid", () => {
    const good = reviewPageId("n", { days: 7 }, { page: 2, anchor: 10 });
    assert.deepEqual(parseReviewPageId(good), {
      filter: { days: 7, flaggedOnly: false },
      cursor: { page: 2, anchor: 10 },
    });
    for (const bad of [
      "review",
      `${good}:extra`,
      good.replace(":2:", ":0:"),
      good.replace(":2:", ":-1:"),
      good.replace(":7:", ":91:"),
      good.replace(":n:", ":x:"),
      "review:n:2:10:7:0:<#1>:",
      "review:n:2:10:7:0::abc",
      "review:n:1e3:10:7:0::",
    ]) {
      assert.throws(() => parseReviewPageId(bad), /not valid any more/, bad);
    }
  });
});
