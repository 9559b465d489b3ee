// The Moderations API (POST /v1/moderations) in OpenAI's shape, answered by the sandbox's deterministic
// word-list classifier (../moderation.ts): what classtune's sandbox moderation mode and its tests talk to.
import type { Handler, Route, SandboxState } from "../context.ts";
import { invalid, invalidType, missingParam } from "../errors.ts";
import { readJsonBody } from "../http.ts";
import { classify } from "../moderation.ts";
import { randomId } from "../trainer.ts";

/** OpenAI's moderation models (ModerationModel in its spec); the sandbox answers for each the same way. */
const MODELS = /^(omni-moderation|text-moderation)-[a-z0-9-]+$/;
/** OpenAI takes up to 32 inputs in one request. */
const MAX_INPUTS = 32;

/** The text of each input: a string, strings, or multimodal parts (an image part classifies as nothing). */
function inputTexts(input: unknown): string[] {
  if (typeof input === "string") return [input];
  if (!Array.isArray(input)) throw invalidType("input", "a string or an array", input);
  if (input.length === 0) {
    throw invalid("Invalid 'input': empty array. Expected at least one input.", "input", "empty_array");
  }
  if (input.length > MAX_INPUTS) {
    throw invalid(
      `Invalid 'input': at most ${MAX_INPUTS} inputs per request.`,
      "input",
      "array_above_max_length",
    );
  }
  if (input.every((i) => typeof i === "string")) return input as string[];
  // Multimodal parts are one input together.
  const parts = input.map((p, i) => {
    if (p === null || typeof p !== "object") throw invalidType(`input[${i}]`, "an object", p);
    const { type, text } = p as { type?: unknown; text?: unknown };
    if (type === "text") {
      if (typeof text !== "string") throw invalidType(`input[${i}].text`, "a string", text);
      return text;
    }
    if (type === "image_url") return "";
    throw invalid(
      `Invalid 'input[${i}].type': expected 'text' or 'image_url'.`,
      `input[${i}].type`,
      "invalid_value",
    );
  });
  return [parts.join("\n")];
}

export function moderationRoutes(_s: SandboxState): Route[] {
  const moderate: Handler = async ({ req }) => {
    const body = await readJsonBody(req);
    if (body.input === undefined || body.input === null) throw missingParam("input");
    const model = body.model ?? "omni-moderation-latest";
    if (typeof model !== "string") throw invalidType("model", "a string", model);
    if (!MODELS.test(model)) {
      throw invalid(`The model \`${model}\` is not a moderation model.`, "model", "model_not_found");
    }
    return {
      id: randomId("modr-", 24),
      model,
      results: inputTexts(body.input).map(classify),
    };
  };
  return [{ method: "POST", pattern: /^\/moderations$/, name: "POST /moderations", handler: moderate }];
}
