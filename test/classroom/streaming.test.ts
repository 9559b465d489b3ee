// The moderated release of a streamed answer (classroom/streaming.ts): text reaches the student only in checked
// chunks, each check reads the answer so far, a flagged chunk stops everything after it, and without moderation
// every delta goes straight through.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { AnswerScreening } from "../../src/classroom/moderation.ts";
import { chunkEnd, ModeratedRelease } from "../../src/classroom/streaming.ts";

const passed = (text: string): AnswerScreening => ({
  status: "passed",
  withheld: false,
  shown: text,
  verdict: undefined,
  error: undefined,
});
const flagged: AnswerScreening = {
  status: "flagged",
  withheld: true,
  shown: "held back",
  verdict: undefined,
  error: undefined,
};

const sentence = (i: number) => `Sentence number ${i} is about photosynthesis in plants. `;

describe("chunkEnd", () => {
  it("waits for enough new text, then cuts at the last sentence end", () => {
    assert.equal(chunkEnd("Short. Text.", 0, 50), undefined);
    const text = `${sentence(1)}${sentence(2)}half a senten`;
    const end = chunkEnd(text, 0, 50);
    assert.equal(text.slice(0, end), `${sentence(1)}${sentence(2)}`.trimEnd());
  });

  it("counts from where the last chunk ended", () => {
    const text = `${sentence(1)}${sentence(2)}${sentence(3)}`;
    const first = chunkEnd(text, 0, 50) as number;
    assert.equal(chunkEnd(text, text.length - 10, 50), undefined);
    assert.ok(first > 50);
  });

  it("does not cut inside a long run with no sentence end", () => {
    assert.equal(chunkEnd("x".repeat(500), 0, 50), undefined);
  });
});

describe("ModeratedRelease", () => {
  it("without moderation, passes every delta through at once", async () => {
    const seen: string[] = [];
    const r = new ModeratedRelease((d) => seen.push(d), undefined);
    r.offer("Hel");
    r.offer("Hello wor");
    r.offer("Hello world.");
    assert.deepEqual(seen, ["Hel", "lo wor", "ld."]);
    assert.equal(await r.finish("Hello world."), undefined);
    assert.deepEqual(seen, ["Hel", "lo wor", "ld."]);
  });

  it("with moderation, lets text through only after the answer so far passed, and the rest at the end", async () => {
    const checked: string[] = [];
    const seen: string[] = [];
    const r = new ModeratedRelease(
      (d) => seen.push(d),
      async (t) => {
        checked.push(t);
        return passed(t);
      },
      50,
    );
    let text = "";
    for (let i = 1; i <= 4; i++) {
      text += sentence(i);
      r.offer(text);
      assert.ok(
        seen.join("").length <= (checked.at(-1)?.length ?? 0),
        "nothing is shown before it is checked",
      );
      await new Promise((resolve) => setImmediate(resolve));
    }
    text += "And a tail";
    r.offer(text);
    const final = await r.finish(text);
    assert.equal(final?.status, "passed");
    assert.equal(seen.join(""), text, "the student gets the whole answer");
    assert.equal(checked.at(-1), text, "the last check reads the whole answer");
    assert.ok(checked.length >= 2, `checked in chunks (${checked.length} checks)`);
    for (let i = 1; i < checked.length; i++) {
      assert.ok(checked[i]?.startsWith(checked[i - 1] as string), "each check reads the answer so far");
    }
  });

  it("a flagged chunk stops the release: nothing after it is shown, and finish returns the flag", async () => {
    const seen: string[] = [];
    const r = new ModeratedRelease(
      (d) => seen.push(d),
      async (t) => (t.includes("BAD") ? flagged : passed(t)),
      50,
    );
    let text = `${sentence(1)}${sentence(2)}`;
    r.offer(text);
    await new Promise((resolve) => setImmediate(resolve));
    const shownBefore = seen.join("");
    assert.ok(shownBefore.length > 0, "the clean first chunk was shown");
    text += `BAD words here. ${sentence(3)}${sentence(4)}`;
    r.offer(text);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(r.stopped, true);
    const final = await r.finish(`${text}more`);
    assert.equal(final?.status, "flagged");
    assert.equal(seen.join(""), shownBefore, "nothing after the flagged chunk was let through");
    assert.ok(!seen.join("").includes("BAD"));
  });

  it("a whole answer flagged at the end shows nothing more", async () => {
    const seen: string[] = [];
    const r = new ModeratedRelease(
      (d) => seen.push(d),
      async (t) => (t.endsWith("BAD") ? flagged : passed(t)),
      1000,
    );
    r.offer("Short answer, then BAD");
    const final = await r.finish("Short answer, then BAD");
    assert.equal(final?.withheld, true);
    assert.deepEqual(seen, []);
  });
});
