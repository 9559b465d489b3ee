import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AnswerCache, normaliseQuestion } from "../../src/classroom/cache.ts";
import { TokenBuckets } from "../../src/classroom/limits.ts";

describe("TokenBuckets", () => {
  it("allows a burst, then one token per refill interval", () => {
    const b = new TokenBuckets({ perMinute: 6, burst: 2 });
    const t = 1_000_000;
    assert.equal(b.waitSeconds("k", t), 0);
    b.take("k", t);
    b.take("k", t);
    assert.equal(b.waitSeconds("k", t), 10);
    assert.equal(b.waitSeconds("k", t + 4_000), 6);
    assert.equal(b.waitSeconds("k", t + 10_000), 0);
  });

  it("never holds more keys than its cap, dropping full buckets first", () => {
    const b = new TokenBuckets({ perMinute: 1, burst: 1, maxKeys: 100 });
    for (let i = 0; i < 1000; i++) b.take(`user-${i}`, i);
    assert.ok(b.size <= 100, `size ${b.size}`);
    assert.ok(b.waitSeconds("user-999", 1000) > 0, "the most recent users are still limited");
  });
});

describe("AnswerCache", () => {
  const v = (answer: string) => ({ answer, model: "m", provider: "p" });

  it("normalises case, whitespace and trailing punctuation only", () => {
    assert.equal(normaliseQuestion("  What IS\n a  cell?!? "), "what is a cell");
    assert.notEqual(normaliseQuestion("What is a cell?"), normaliseQuestion("What is a cell wall?"));
  });

  it("is keyed by guild, model and system prompt", () => {
    const keys = new Set([
      AnswerCache.key("g1", "m", "p", "q"),
      AnswerCache.key("g2", "m", "p", "q"),
      AnswerCache.key("g1", "m2", "p", "q"),
      AnswerCache.key("g1", "m", "p2", "q"),
    ]);
    assert.equal(keys.size, 4);
    assert.equal(AnswerCache.key("g1", "m", "p", "Q?"), AnswerCache.key("g1", "m", "p", "q"));
  });

  it("is capped (least recently used out) and expires entries", () => {
    const c = new AnswerCache(2, 1000);
    c.set("a", v("A"), 0);
    c.set("b", v("B"), 0);
    assert.equal(c.get("a", 1)?.answer, "A"); // a is now the most recent
    c.set("c", v("C"), 2);
    assert.equal(c.size, 2);
    assert.equal(c.get("b", 3), undefined);
    assert.equal(c.get("a", 999)?.answer, "A");
    assert.equal(c.get("c", 1002), undefined, "expired");
  });
});
