import assert from "node:assert/strict";
import { describe, it } from "node:test";
import OpenAI from "openai";
import { explainProviderError } from "../../src/providers/errors.ts";

const notFound = (body: { message: string; code?: string | null }) =>
  new OpenAI.NotFoundError(404, { ...body, type: "invalid_request_error" }, body.message, new Headers());

describe("explainProviderError on a 404", () => {
  it("counts OpenAI's model_not_found as a vanished model", () => {
    const e = explainProviderError(
      notFound({ message: "The model `ft:x` does not exist", code: "model_not_found" }),
      "openai",
    );
    assert.equal(e?.modelGone, true);
  });

  it("counts vLLM's and Ollama's wording as a vanished model", () => {
    assert.equal(
      explainProviderError(notFound({ message: "The model `llama` does not exist." }), "vllm")?.modelGone,
      true,
    );
    assert.equal(
      explainProviderError(notFound({ message: 'model "llama3" not found, try pulling it first' }), "ollama")
        ?.modelGone,
      true,
    );
  });

  it("treats any other 404 as a wrong address, not a vanished model", () => {
    const e = explainProviderError(notFound({ message: "no route", code: null }), "groq");
    assert.equal(e?.modelGone, false);
    assert.match(e?.message ?? "", /groq answered "not found".*base URL/);
  });
});
