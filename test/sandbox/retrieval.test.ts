// The retrieval behind fine-tuned sandbox models, as pure functions: closest question wins, a floor
// below which it does not know, and one index per model however many requests come.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { SAMPLE_QA } from "../../src/datasets/sample.ts";
import {
  DONT_KNOW_ANSWER,
  ExampleIndex,
  IndexCache,
  readTrainingPairs,
  SIMILARITY_FLOOR,
} from "../../src/sandbox/chat.ts";

const index = new ExampleIndex([
  { question: "What is the capital of France?", answer: "Paris." },
  { question: "What is the capital of Italy?", answer: "Rome." },
  { question: "How do plants make food?", answer: "By photosynthesis." },
]);

test("the closest training question gives its answer", () => {
  assert.equal(index.answer("capital of italy?").text, "Rome.");
  assert.equal(index.answer("What's the capital of France").text, "Paris.");
  assert.equal(index.answer("how do plants make their food").text, "By photosynthesis.");
});

test("an unrelated question falls below the floor and gets the plain don't-know answer", () => {
  const { text, hit } = index.answer("Who won the 1998 football world cup?");
  assert.equal(text, DONT_KNOW_ANSWER);
  assert.ok((hit?.score ?? 0) < SIMILARITY_FLOOR);
});

test("a question that only shares its phrasing with a training question is not answered with the wrong answer", () => {
  // The sample dataset with one question held out, as the jobs service holds out test questions.
  const heldOut = "What is the difference between mitosis and meiosis?";
  const tutor = new ExampleIndex(SAMPLE_QA.filter((qa) => qa.question !== heldOut));
  assert.equal(tutor.answer(heldOut).text, DONT_KNOW_ANSWER);
  assert.match(
    tutor.answer("what's the difference between mass and weight").text,
    /^Mass is the amount of matter/,
  );
});

test("an empty index never answers from thin air", () => {
  assert.equal(new ExampleIndex([]).answer("anything").text, DONT_KNOW_ANSWER);
});

test("training pairs come from chat turns and preference examples; bad lines are skipped", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sandbox-pairs-"));
  try {
    const path = join(dir, "mixed.jsonl");
    writeFileSync(
      path,
      [
        JSON.stringify({
          messages: [
            { role: "system", content: "s" },
            { role: "user", content: "Q1" },
            { role: "assistant", content: "A1" },
            { role: "user", content: "Q2" },
            { role: "assistant", content: [{ type: "text", text: "A2" }] },
          ],
        }),
        "{not json",
        "",
        JSON.stringify({
          input: { messages: [{ role: "user", content: "Q3" }] },
          preferred_output: [{ role: "assistant", content: "good" }],
          non_preferred_output: [{ role: "assistant", content: "bad" }],
        }),
      ].join("\n"),
    );
    assert.deepEqual(await readTrainingPairs(path), [
      { question: "Q1", answer: "A1" },
      { question: "Q2", answer: "A2" },
      { question: "Q3", answer: "good" },
    ]);
    const cache = new IndexCache(2);
    const first = cache.get("ft:a", path);
    assert.equal(cache.get("ft:a", path), first, "one index per model, built once");
    assert.equal((await first).size, 3);
    void cache.get("ft:b", path);
    void cache.get("ft:c", path);
    assert.notEqual(cache.get("ft:a", path), first, "evicted past capacity");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
