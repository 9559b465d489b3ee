import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { quoteQuestion } from "../../src/commands/ask.ts";
import { neutraliseMarkdown } from "../../src/discord/markdown.ts";
import { isWellFormed } from "../helpers/text.ts";

const ZWSP = "\u200b";
/** What the reader sees: the text without the zero-width spaces. */
const visible = (s: string) => s.replaceAll(ZWSP, "");

describe("neutraliseMarkdown", () => {
  it("breaks a masked link so the real address shows, and keeps it from embedding", () => {
    const out = neutraliseMarkdown("Free nitro: [discord.gift](https://evil.example/claim?x=1) now");
    assert.doesNotMatch(out, /\]\(/, "no masked link syntax left");
    assert.ok(out.includes("(<https://evil.example/claim?x=1>)"), out);
    assert.equal(visible(out), "Free nitro: [discord.gift](<https://evil.example/claim?x=1>) now");
  });

  it("breaks masked links written with an angle-bracketed address or a title", () => {
    for (const text of ["[ok](<https://evil.example>)", '[ok](https://evil.example "title")']) {
      assert.doesNotMatch(neutraliseMarkdown(text), /\]\(/, text);
    }
  });

  it("wraps raw links in <> so they do not embed, leaving wrapped ones and trailing punctuation alone", () => {
    assert.equal(
      neutraliseMarkdown("See https://example.com/a, and <https://example.com/b>."),
      "See <https://example.com/a>, and <https://example.com/b>.",
    );
    assert.equal(
      neutraliseMarkdown("Read https://en.wikipedia.org/wiki/Cell_(biology) first"),
      "Read <https://en.wikipedia.org/wiki/Cell_(biology)> first",
    );
    assert.equal(neutraliseMarkdown("an open <https://example.com"), "an open <<https://example.com>");
    assert.equal(neutraliseMarkdown("HTTP://EXAMPLE.COM!"), "<HTTP://EXAMPLE.COM>!");
  });

  it("turns headings and subtext at a line's start into plain text", () => {
    const out = neutraliseMarkdown("# Big\n## Bigger\n### Biggest\n-# small print\n> # quoted\n- # listed");
    for (const line of out.split("\n")) assert.match(line, new RegExp(`${ZWSP}(#{1,3}|-#) `), line);
    assert.equal(
      visible(out),
      "# Big\n## Bigger\n### Biggest\n-# small print\n> # quoted\n- # listed",
      "the text reads the same",
    );
    assert.equal(neutraliseMarkdown("C# is a language and #5 a number"), "C# is a language and #5 a number");
  });

  it("turns mentions into plain text: @everyone, @here, users, roles, channels and commands", () => {
    const text =
      "@everyone @here <@123456789012345678> <@!123456789012345678> <@&22> <#33> </dataset export:44>";
    const out = neutraliseMarkdown(text);
    assert.doesNotMatch(out, /@(everyone|here)/);
    assert.doesNotMatch(out, /<(@|@!|@&|#|\/)[^\u200b]/);
    assert.equal(visible(out), text);
  });

  it("breaks spoilers, however many bars", () => {
    for (const text of ["||hidden||", "|||odd|||", "a || b"]) {
      const out = neutraliseMarkdown(text);
      assert.doesNotMatch(out, /\|\|/, text);
      assert.equal(visible(out), text);
    }
  });

  it("breaks code fences and keeps bold, italics and inline code as written", () => {
    assert.doesNotMatch(neutraliseMarkdown("```js\nalert(1)\n```"), /```/);
    const plain = "Is **osmosis** _passive_? What does `x[0]` mean?";
    assert.equal(neutraliseMarkdown(plain), plain);
  });
});

describe("quoteQuestion", () => {
  it("quotes the question on one line with its misleading markdown neutralised", () => {
    const q = quoteQuestion("# FREE NITRO\n[discord.gift](https://evil.example) ||@everyone||");
    assert.ok(q.startsWith("> **Q:** "));
    assert.doesNotMatch(q, /\n/);
    assert.doesNotMatch(q, /\]\(|\|\||@everyone|[^<]https:/);
  });

  it("clips a long question without leaving half a link or half an emoji", () => {
    const q = quoteQuestion(`${"a".repeat(298)}😀 https://evil.example/${"x".repeat(50)}`);
    assert.ok(isWellFormed(q));
    assert.match(q, /…$/);
    const link = quoteQuestion(`${"a".repeat(250)} https://evil.example/${"x".repeat(100)}`);
    assert.match(link, /<https:\/\/evil\.example\/x+…>$/, "the clipped link is still wrapped");
  });
});
