// The sandbox's POST /v1/moderations through the real openai SDK: OpenAI's response shape (results[] with
// flagged, categories, category_scores, category_applied_input_types for all thirteen categories), the word
// lists and the rehearsal token, and OpenAI's 400s for a bad request.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { OPENAI_CATEGORIES } from "../../src/domain/moderation.ts";
import { QUESTIONS, type Rig, startRig } from "./helpers.ts";

let rig: Rig;
before(async () => {
  rig = await startRig();
});
after(() => rig.close());

const sorted = (o: object) => Object.keys(o).sort();

describe("sandbox /v1/moderations", () => {
  it("answers in OpenAI's shape: every category, a score each, and a flag", async () => {
    const r = await rig.client.moderations.create({ model: "omni-moderation-latest", input: "What is DNA?" });
    assert.match(r.id, /^modr-/);
    assert.equal(r.model, "omni-moderation-latest");
    assert.equal(r.results.length, 1);
    const [result] = r.results;
    assert.ok(result);
    assert.equal(result.flagged, false);
    assert.deepEqual(sorted(result.categories), [...OPENAI_CATEGORIES].sort());
    assert.deepEqual(sorted(result.category_scores), [...OPENAI_CATEGORIES].sort());
    assert.deepEqual(sorted(result.category_applied_input_types), [...OPENAI_CATEGORIES].sort());
    for (const score of Object.values(result.category_scores)) assert.ok(score >= 0 && score < 0.5);
  });

  it("passes every ordinary classroom question", async () => {
    const r = await rig.client.moderations.create({ input: QUESTIONS.flat() });
    assert.equal(r.results.length, QUESTIONS.length * 2, "one result per input, in order");
    assert.deepEqual(
      r.results.map((x) => x.flagged),
      QUESTIONS.flat().map(() => false),
    );
  });

  it("flags a category's words, with its family, and says the input was text", async () => {
    const [result] = (await rig.client.moderations.create({ input: "sometimes I want to kill myself" }))
      .results;
    assert.ok(result?.flagged);
    assert.equal(result.categories["self-harm/intent"], true);
    assert.equal(result.categories["self-harm"], true, "a subcategory implies its family");
    assert.equal(result.categories.violence, false);
    assert.ok(result.category_scores["self-harm/intent"] > 0.9);
    assert.deepEqual(result.category_applied_input_types["self-harm/intent"], ["text"]);
    assert.deepEqual(result.category_applied_input_types.violence, []);
  });

  it("flags a category on purpose with the rehearsal token", async () => {
    const { results } = await rig.client.moderations.create({
      input: ["a test [flag:violence/graphic]", "[flag:harassment] and [flag:illicit]", "[flag:nonsense]"],
    });
    const flaggedOf = (i: number) =>
      Object.entries(results[i]?.categories ?? {})
        .filter(([, v]) => v)
        .map(([k]) => k)
        .sort();
    assert.deepEqual(flaggedOf(0), ["violence", "violence/graphic"]);
    assert.deepEqual(flaggedOf(1), ["harassment", "illicit"]);
    assert.deepEqual(flaggedOf(2), [], "an unknown category's token flags nothing");
  });

  it("takes multimodal parts as one input", async () => {
    const { results } = await rig.client.moderations.create({
      input: [
        { type: "text", text: "look at this [flag:sexual]" },
        { type: "image_url", image_url: { url: "https://example.invalid/x.png" } },
      ],
    });
    assert.equal(results.length, 1);
    assert.equal(results[0]?.categories.sexual, true);
  });

  it("refuses a missing input and a model that is not a moderation model, as OpenAI does (400)", async () => {
    await assert.rejects(
      rig.client.moderations.create({ input: undefined as unknown as string }),
      (err: unknown) => err instanceof OpenAI.BadRequestError && /input/.test(err.message),
    );
    await assert.rejects(
      rig.client.moderations.create({ model: "gpt-4o-mini", input: "hi" }),
      (err: unknown) => err instanceof OpenAI.BadRequestError && err.code === "model_not_found",
    );
  });
});

describe("sandbox /v1/moderations, mild words", () => {
  it("scores a leaning word below the flag, where a guild's lower threshold can catch it", async () => {
    const [result] = (await rig.client.moderations.create({ input: "why did they fight?" })).results;
    assert.equal(result?.flagged, false);
    assert.equal(result?.category_scores.violence, 0.3);
  });
});
