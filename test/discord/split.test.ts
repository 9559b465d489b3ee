import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { splitMessage } from "../../src/discord/split.ts";

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
