import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { splitMessage } from "../../src/discord/split.ts";
import { isWellFormed } from "../helpers/text.ts";

const para = (n: number, len: number) =>
  `${"Paragraph ".concat(String(n), ". ")}${"word ".repeat(len / 5)}`.trim();

describe("splitMessage", () => {
  it("leaves a short answer whole", () => {
    assert.deepEqual(splitMessage("Short answer."), { parts: ["Short answer."] });
  });

  it("splits at paragraph boundaries and keeps every part within the limit", () => {
    const text = [para(1, 900), para(2, 900), para(3, 900)].join("\n\n");
    const { parts, attachment } = splitMessage(text);
    assert.equal(attachment, undefined);
    assert.ok(parts.length >= 2);
    for (const p of parts) assert.ok(p.length <= 2000, `part of ${p.length}`);
    assert.equal(parts.join("\n\n"), text, "no text is lost or changed");
  });

  it("splits one long paragraph between sentences", () => {
    const sentence = "This sentence is about photosynthesis and chlorophyll. ";
    const text = sentence.repeat(60).trim();
    const { parts } = splitMessage(text);
    assert.ok(parts.length >= 2);
    for (const p of parts) {
      assert.ok(p.length <= 2000);
      assert.match(p, /\.$/, "each part ends at a sentence");
    }
  });

  it("never cuts inside a code block", () => {
    const code = `\`\`\`python\n${"print('hello')\n".repeat(60)}\`\`\``;
    const text = `${para(1, 1500)}\n\n${code}\n\n${para(2, 200)}`;
    const { parts } = splitMessage(text);
    const withCode = parts.filter((p) => p.includes("```"));
    assert.equal(withCode.length, 1, "the code block sits in one part");
    assert.equal((withCode[0]?.match(/```/g) ?? []).length, 2, "with both fences");
  });

  it("attaches a code block too large for one message as a .txt", () => {
    const text = `Here:\n\n\`\`\`\n${"x = 1\n".repeat(500)}\`\`\``;
    const result = splitMessage(text);
    assert.deepEqual(result.parts, []);
    assert.equal(result.attachment?.content, text);
    assert.match(result.attachment?.name ?? "", /\.txt$/);
  });
});

describe("splitMessage with emoji at a message boundary", () => {
  const graphemes = new Intl.Segmenter(undefined, { granularity: "grapheme" });
  /** Offsets (in UTF-16 units) where a grapheme of `text` starts, and its end. */
  const boundaries = (text: string) =>
    new Set([...[...graphemes.segment(text)].map((s) => s.index), text.length]);

  const EMOJI = {
    "a family (ZWJ sequence)": "👨‍👩‍👧‍👦",
    "a rainbow flag (ZWJ with a variation selector)": "🏳️‍🌈",
    "a flag (regional indicators)": "🇫🇷",
    "a thumb with a skin tone": "👍🏽",
    "a keycap": "1️⃣",
    "a plain emoji (a surrogate pair)": "😀",
    "an accented letter (combining mark)": "e\u0301",
  };

  for (const [what, emoji] of Object.entries(EMOJI)) {
    it(`never cuts ${what} in half, wherever the 2,000th character falls`, () => {
      for (let lead = 2000 - emoji.length - 1; lead <= 2000; lead++) {
        const text = "a".repeat(lead) + emoji.repeat(20);
        const { parts, attachment } = splitMessage(text);
        assert.equal(attachment, undefined);
        assert.ok(parts.length >= 2, `${lead}: split`);
        assert.equal(parts.join(""), text, `${lead}: joining the parts gives the text back`);
        const starts = boundaries(text);
        let at = 0;
        for (const p of parts) {
          assert.ok(p.length <= 2000, `${lead}: a part of ${p.length} UTF-16 units`);
          assert.ok(isWellFormed(p), `${lead}: a part with a lone surrogate`);
          assert.ok(starts.has(at), `${lead}: a part starts inside a grapheme, at ${at}`);
          at += p.length;
        }
      }
    });
  }

  it("splits a single grapheme longer than a message between code points, never between surrogates", () => {
    const text = `x${"👍\u200d".repeat(800)}`; // then one extended grapheme cluster of 2,400 UTF-16 units
    const { parts } = splitMessage(text);
    assert.ok(parts.length >= 2);
    for (const p of parts) {
      assert.ok(p.length <= 2000, `a part of ${p.length}`);
      assert.ok(isWellFormed(p), "a part with a lone surrogate");
    }
    assert.equal(parts.join(""), text);
  });

  it("keeps flags whole in a long run of flags after ordinary prose", () => {
    const text = `${"word ".repeat(301)}x${"🇯🇵".repeat(600)} and the end.`;
    const { parts } = splitMessage(text);
    assert.ok(parts.length >= 2);
    for (const p of parts) {
      assert.ok(p.length <= 2000, `a part of ${p.length}`);
      assert.ok(isWellFormed(p), "a part with a lone surrogate");
      const halves = p.match(/[\u{1F1E6}-\u{1F1FF}]/gu)?.length ?? 0;
      assert.equal(halves % 2, 0, "a part holds half a flag");
    }
    const noSpace = (t: string) => t.replace(/\s+/g, "");
    assert.equal(noSpace(parts.join("")), noSpace(text), "only boundary whitespace is lost");
  });
});
