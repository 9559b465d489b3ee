// Checks a create-job request the way OpenAI does (400 with param and code), and turns a validation
// report into the job's plan: epochs, steps, billed tokens, or the error the job will fail with. Open-model
// jobs also take Nebius's LoRA hyperparameters (lora, lora_r, lora_alpha, lora_dropout, context_length,
// packing: docs.tokenfactory.nebius.com, "Create a fine-tuning job"); OpenAI models refuse them.
import type { ValidationReport } from "../datasets/types.ts";
import { invalid, invalidType, missingParam, tooLong } from "./errors.ts";
import type { JobError } from "./store.ts";

export const MAX_SUFFIX_LENGTH = 64;
export const MAX_METADATA_PAIRS = 16;

export interface CreateJobRequest {
  model: string;
  trainingFile: string;
  validationFile: string | null;
  suffix: string | null;
  seed: number | null;
  metadata: Record<string, string> | null;
  method: "supervised" | "dpo";
  hyperparameters: {
    n_epochs: number | "auto";
    batch_size: number | "auto";
    learning_rate_multiplier: number | "auto";
    beta?: number | "auto";
  } & Partial<LoraHyperparameters>;
  /** The first LoRA hyperparameter the request named (for refusing them on OpenAI models), or null. */
  loraParam: string | null;
}

/** Nebius's LoRA settings, as its job objects echo them. */
export interface LoraHyperparameters {
  lora: boolean;
  lora_r: number;
  lora_alpha: number;
  lora_dropout: number;
  context_length: number;
  packing: boolean;
}

/** What an open-model job reports for settings left unset (the values of Nebius's documented example). */
export const LORA_DEFAULTS: LoraHyperparameters = {
  lora: false,
  lora_r: 8,
  lora_alpha: 8,
  lora_dropout: 0,
  context_length: 8192,
  packing: true,
};

/** The sandbox's accepted ranges (its own: Nebius publishes defaults, not limits). */
export const LORA_LIMITS = {
  lora_r: { min: 1, max: 256 },
  lora_alpha: { min: 1, max: 1024 },
  lora_dropout: { min: 0, max: 0.9 },
  context_length: { min: 512, max: 131_072 },
} as const;

const LORA_KEYS = ["lora", "lora_r", "lora_alpha", "lora_dropout", "context_length", "packing"] as const;

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

function autoOrNumber(
  value: unknown,
  param: string,
  check: { integer: boolean; min: number; max: number; exclusiveMin?: boolean },
): number | "auto" {
  if (value === undefined || value === null || value === "auto") return "auto";
  if (typeof value !== "number" || !Number.isFinite(value) || (check.integer && !Number.isInteger(value))) {
    throw invalidType(param, check.integer ? "'auto' or an integer" : "'auto' or a number", value);
  }
  const low = check.exclusiveMin ? value <= check.min : value < check.min;
  if (low || value > check.max) {
    throw invalid(
      `Invalid '${param}': ${value} is out of range; expected ${check.exclusiveMin ? "more than" : "at least"} ${check.min} and at most ${check.max}.`,
      param,
      "invalid_value",
    );
  }
  return value;
}

export function parseCreateJob(body: Record<string, unknown>): CreateJobRequest {
  const {
    model,
    training_file: trainingFile,
    validation_file: validationFile,
    suffix,
    seed,
    metadata,
  } = body;
  if (model === undefined || model === null) throw missingParam("model");
  if (typeof model !== "string") throw invalidType("model", "a string", model);
  if (trainingFile === undefined || trainingFile === null) throw missingParam("training_file");
  if (typeof trainingFile !== "string") throw invalidType("training_file", "a string", trainingFile);
  if (validationFile !== undefined && validationFile !== null && typeof validationFile !== "string") {
    throw invalidType("validation_file", "a string", validationFile);
  }
  if (suffix !== undefined && suffix !== null) {
    if (typeof suffix !== "string") throw invalidType("suffix", "a string", suffix);
    if (suffix.length > MAX_SUFFIX_LENGTH) throw tooLong("suffix", MAX_SUFFIX_LENGTH, suffix.length);
    if (suffix.length === 0) {
      throw invalid(
        "Invalid 'suffix': empty string. Expected a string with minimum length 1.",
        "suffix",
        "empty_string",
      );
    }
  }
  if (seed !== undefined && seed !== null) {
    if (typeof seed !== "number" || !Number.isInteger(seed)) throw invalidType("seed", "an integer", seed);
    if (seed < 0 || seed > 2147483647) {
      throw invalid(
        `Invalid 'seed': ${seed} is out of range; expected 0 to 2147483647.`,
        "seed",
        "invalid_value",
      );
    }
  }
  const meta = parseMetadata(metadata);

  let methodType: "supervised" | "dpo" = "supervised";
  let hp: Record<string, unknown> = isObject(body.hyperparameters) ? body.hyperparameters : {};
  let hpParam = "hyperparameters";
  if (body.method !== undefined && body.method !== null) {
    if (!isObject(body.method)) throw invalidType("method", "an object", body.method);
    const type = body.method.type;
    if (type === undefined) throw missingParam("method.type");
    if (type !== "supervised" && type !== "dpo") {
      throw invalid(
        type === "reinforcement"
          ? "The sandbox does not simulate reinforcement fine-tuning; use method.type 'supervised' or 'dpo'."
          : `Invalid value for 'method.type': expected one of 'supervised', 'dpo', 'reinforcement', got ${JSON.stringify(type)}.`,
        "method.type",
        "invalid_value",
      );
    }
    methodType = type;
    const section = body.method[type];
    if (isObject(section) && isObject(section.hyperparameters)) {
      hp = section.hyperparameters;
      hpParam = `method.${type}.hyperparameters`;
    }
  }
  const hyperparameters: CreateJobRequest["hyperparameters"] = {
    n_epochs: autoOrNumber(hp.n_epochs, `${hpParam}.n_epochs`, { integer: true, min: 1, max: 50 }),
    batch_size: autoOrNumber(hp.batch_size, `${hpParam}.batch_size`, { integer: true, min: 1, max: 256 }),
    learning_rate_multiplier: autoOrNumber(
      hp.learning_rate_multiplier,
      `${hpParam}.learning_rate_multiplier`,
      {
        integer: false,
        min: 0,
        max: 1000,
        exclusiveMin: true,
      },
    ),
  };
  Object.assign(hyperparameters, parseLora(hp, hpParam));
  const loraKey = LORA_KEYS.find((k) => hp[k] !== undefined && hp[k] !== null);
  if (methodType === "dpo") {
    hyperparameters.beta = autoOrNumber(hp.beta, `${hpParam}.beta`, {
      integer: false,
      min: 0,
      max: 2,
      exclusiveMin: true,
    });
  }
  return {
    model,
    trainingFile,
    validationFile: typeof validationFile === "string" ? validationFile : null,
    suffix: typeof suffix === "string" ? suffix : null,
    seed: typeof seed === "number" ? seed : null,
    metadata: meta,
    method: methodType,
    hyperparameters,
    loraParam: loraKey === undefined ? null : `${hpParam}.${loraKey}`,
  };
}

function parseLora(hp: Record<string, unknown>, hpParam: string): Partial<LoraHyperparameters> {
  const out: Partial<LoraHyperparameters> = {};
  const flag = (key: "lora" | "packing"): void => {
    const v = hp[key];
    if (v === undefined || v === null) return;
    if (typeof v !== "boolean") throw invalidType(`${hpParam}.${key}`, "a boolean", v);
    out[key] = v;
  };
  const number = (key: keyof typeof LORA_LIMITS, integer: boolean): void => {
    const v = hp[key];
    if (v === undefined || v === null) return;
    if (typeof v !== "number" || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
      throw invalidType(`${hpParam}.${key}`, integer ? "an integer" : "a number", v);
    }
    const { min, max } = LORA_LIMITS[key];
    if (v < min || v > max) {
      throw invalid(
        `Invalid '${hpParam}.${key}': ${v} is out of range; expected at least ${min} and at most ${max}.`,
        `${hpParam}.${key}`,
        "invalid_value",
      );
    }
    out[key] = v;
  };
  flag("lora");
  flag("packing");
  number("lora_r", true);
  number("lora_alpha", true);
  number("lora_dropout", false);
  number("context_length", true);
  return out;
}

function parseMetadata(metadata: unknown): Record<string, string> | null {
  if (metadata === undefined || metadata === null) return null;
  if (!isObject(metadata)) throw invalidType("metadata", "an object", metadata);
  const entries = Object.entries(metadata);
  if (entries.length > MAX_METADATA_PAIRS) {
    throw invalid(
      `Invalid 'metadata': too many properties. Expected an object with at most ${MAX_METADATA_PAIRS} properties, but got an object with ${entries.length} properties instead.`,
      "metadata",
      "object_above_max_properties",
    );
  }
  for (const [k, v] of entries) {
    if (k.length > 64) throw tooLong(`metadata.${k.slice(0, 20)}…`, 64, k.length);
    if (typeof v !== "string") throw invalidType(`metadata.${k}`, "a string", v);
    if (v.length > 512) throw tooLong(`metadata.${k}`, 512, v.length);
  }
  return metadata as Record<string, string>;
}

export interface TrainingPlan {
  examples: number;
  nEpochs: number;
  batchSize: number;
  totalSteps: number;
  trainedTokens: number;
  error: JobError | null;
}

const INVALID_FILE = "The job failed due to an invalid training file.";

/** What the job will do with this file: OpenAI's refusals become the job's failure, not a 400. */
export function planTraining(report: ValidationReport, request: CreateJobRequest): TrainingPlan {
  const examples = report.valid;
  const nEpochs =
    request.hyperparameters.n_epochs === "auto"
      ? Math.max(1, report.epochs)
      : request.hyperparameters.n_epochs;
  const batchSize = request.hyperparameters.batch_size === "auto" ? 1 : request.hyperparameters.batch_size;
  const perEpoch = report.epochs > 0 ? report.billingTokens / report.epochs : report.tokens.total;
  const plan: TrainingPlan = {
    examples,
    nEpochs,
    batchSize,
    totalSteps: nEpochs * Math.ceil(examples / batchSize),
    trainedTokens:
      request.hyperparameters.n_epochs === "auto" ? report.billingTokens : Math.round(perEpoch * nEpochs),
    error: null,
  };
  const fail = (message: string): TrainingPlan => ({
    ...plan,
    totalSteps: 0,
    error: { code: "invalid_training_file", message: `${INVALID_FILE} ${message}`, param: "training_file" },
  });

  const wantedFormat = request.method === "dpo" ? "preference" : "chat";
  if (report.invalid > 0 || report.errors.length > 0) {
    const first = report.errors[0];
    const more = report.errors.length + report.errorsOmitted - 1;
    const where = first && first.line > 0 ? `Line ${first.line}: ` : "";
    const text = first ? `Invalid file format. ${where}${first.message}` : "Invalid file format.";
    return fail(more > 0 ? `${text} (and ${more} more problem(s) in the file)` : text);
  }
  if (report.format !== wantedFormat && examples > 0) {
    return fail(
      request.method === "dpo"
        ? "DPO fine-tuning needs preference examples (input, preferred_output, non_preferred_output), but the file holds chat examples."
        : "Supervised fine-tuning needs chat examples ({\"messages\": [...]}), but the file holds preference examples; use method.type 'dpo'.",
    );
  }
  // The minimum of the provider the sandbox imitates for this model (its catalog's, in the report).
  if (examples < report.minExamples) {
    return fail(
      `Training file has ${examples} example(s), but must have at least ${report.minExamples} examples`,
    );
  }
  return plan;
}
