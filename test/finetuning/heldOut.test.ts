// The held-out choice as a pure function: rephrasings of trained questions first (the later wording held out,
// its twin kept), then questions with no close neighbour, and never, for a model that answers by retrieval, a
// question whose close neighbour answers differently.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SAMPLE_QA } from "../../src/datasets/sample.ts";
import { QuestionIndex, SIMILARITY_FLOOR } from "../../src/datasets/similarity.ts";
import { chooseHeldOut, type ExamplePair } from "../../src/finetuning/heldOut.ts";

const retrieval = { answersByRetrieval: true };
const other = { answersByRetrieval: false };
const questionsAt = (pairs: readonly ExamplePair[], at: number[]) => at.map((i) => pairs[i]?.question);

/** Each topic twice, answered differently: "fractions lesson 1" and "fractions lesson 2" look alike. */
const lookalikes: ExamplePair[] = [
  "fractions",
  "volcanoes",
  "gravity",
  "verbs",
  "atoms",
  "the water cycle",
  "cells",
].flatMap((topic) =>
  [1, 2].map((n) => ({
    question: `What should I remember about ${topic} lesson ${n}?`,
    answer: `The key idea of ${topic} lesson ${n} is number ${n}.`,
  })),
);

describe("chooseHeldOut", () => {
  it("holds out the sample's three rephrasings, each with its twin kept in training", () => {
    const picks = chooseHeldOut(SAMPLE_QA, 3, retrieval);
    assert.deepEqual(questionsAt(SAMPLE_QA, picks), [
      "What makes the sky look blue during the day?",
      "How do you work out the area of a circle?",
      "Why do we get seasons on Earth?",
    ]);
    // In what remains, each finds the question it rephrases, whose answer is its own.
    const training = new QuestionIndex(SAMPLE_QA.filter((_, i) => !picks.includes(i)));
    for (const i of picks) {
      const hit = training.search(SAMPLE_QA[i]?.question ?? "");
      assert.ok(hit && hit.score >= SIMILARITY_FLOOR);
      assert.equal(hit.answer, SAMPLE_QA[i]?.answer);
    }
    assert.deepEqual(chooseHeldOut(SAMPLE_QA, 3, other), picks, "the same for every provider");
  });

  it("without rephrasings, holds out questions with no close neighbour, which the sandbox says it does not know", () => {
    const distinct = SAMPLE_QA.slice(0, 20);
    const picks = chooseHeldOut(distinct, 3, retrieval);
    assert.equal(picks.length, 3);
    const training = new QuestionIndex(distinct.filter((_, i) => !picks.includes(i)));
    for (const i of picks) {
      assert.ok(
        (training.search(distinct[i]?.question ?? "")?.score ?? 0) < SIMILARITY_FLOOR,
        distinct[i]?.question,
      );
    }
  });

  it("never holds out a question whose close neighbour answers differently, for a model that answers by retrieval", () => {
    assert.deepEqual(chooseHeldOut(lookalikes, 3, retrieval), []);
    // A model that does not answer by retrieval is still tested on them (to fill up, spread through the file).
    assert.equal(chooseHeldOut(lookalikes, 3, other).length, 3);
  });

  it("prefers a rephrasing over a loner, and skips lines with nothing to ask", () => {
    const pairs: (ExamplePair | undefined)[] = [
      ...lookalikes,
      undefined,
      { question: "Why is the sky blue?", answer: "Scattering." },
      { question: "Who painted the Mona Lisa?", answer: "Leonardo." },
      { question: "Why does the sky look blue?", answer: "scattering. " },
    ];
    const picks = chooseHeldOut(pairs, 2, retrieval);
    assert.deepEqual(
      picks.map((i) => pairs[i]?.question),
      ["Who painted the Mona Lisa?", "Why does the sky look blue?"],
    );
    assert.deepEqual(chooseHeldOut(pairs, 0, retrieval), []);
    assert.deepEqual(chooseHeldOut([], 3, retrieval), []);
  });
});
