// The fine-tuning jobs API: create (validated by the engine; a refused file fails the job), list with
// `after`/`limit`/`metadata[k]=v`, retrieve, cancel, events and checkpoints. Open-model jobs take LoRA
// hyperparameters and report trained_steps/total_steps (Nebius's job shape).

import { isUserError } from "../../domain/errors.ts";
import { resolveBaseModel } from "../catalog.ts";
import { type Handler, parseLimit, type Route, type SandboxState } from "../context.ts";
import { invalid } from "../errors.ts";
import { readJsonBody } from "../http.ts";
import { parseCreateJob, planTraining } from "../requests.ts";
import { type JobRow, TERMINAL } from "../store.ts";
import { advanceJob, cancelJob, initialProgress, randomId } from "../trainer.ts";
import { AUTO_LEARNING_RATE_MULTIPLIER, checkpointsOf, eventView } from "../views.ts";

/** Validation and queueing each take this many steps' worth of time. */
export const PHASE_STEPS = 20;

export function jobRoutes(s: SandboxState): Route[] {
  const { store, faults, logger, stepMs, reportFor, jobView, getJob, fineTuned } = s;

  const createJob: Handler = async ({ req, now }) => {
    const request = parseCreateJob(await readJsonBody(req));
    let base = resolveBaseModel(request.model);
    let model = base?.id;
    if (!base && request.model.startsWith("ft:")) {
      const parent = fineTuned(request.model, now);
      base = parent ? resolveBaseModel(parent.baseModel) : undefined;
      model = request.model;
    }
    if (!base || !model) {
      throw invalid(
        `Model ${request.model} is not available for fine-tuning or does not exist.`,
        "model",
        "model_not_available",
      );
    }
    if (request.loraParam !== null && !base.openWeight) {
      // OpenAI trains its own models its own way: it refuses parameters it does not know.
      throw invalid(`Unknown parameter: '${request.loraParam}'.`, request.loraParam, "unknown_parameter");
    }
    const file = store.getFile(request.trainingFile);
    if (!file) throw invalid(`invalid training_file: ${request.trainingFile}`, "training_file");
    if (file.purpose !== "fine-tune") {
      throw invalid(
        `File ${file.id} has purpose '${file.purpose}'; a training file must be uploaded with purpose 'fine-tune'.`,
        "training_file",
      );
    }
    if (request.validationFile !== null && !store.getFile(request.validationFile)) {
      throw invalid(`invalid validation_file: ${request.validationFile}`, "validation_file");
    }

    const forced = faults.takeJobFailure();
    let plan: ReturnType<typeof planTraining>;
    try {
      // The engine knows every base model the sandbox offers: open models are counted by their own template.
      plan = planTraining(await reportFor(file.id, file.path, base.id), request);
    } catch (err) {
      logger.warn({ err, file: file.id }, "sandbox: validation engine failed");
      plan = {
        examples: 0,
        nEpochs: 0,
        batchSize: 1,
        totalSteps: 0,
        trainedTokens: 0,
        // The engine refuses a file it cannot read as a dataset with a UserError; anything else is ours.
        error: isUserError(err)
          ? {
              code: "invalid_training_file",
              message: `The job failed due to an invalid training file. ${err.message}`,
              param: "training_file",
            }
          : {
              code: "server_error",
              message: `The job failed due to an internal error in the sandbox (${err instanceof Error ? err.message : String(err)}). Please try again.`,
              param: null,
            },
      };
    }
    const plannedError =
      plan.error ??
      (forced
        ? {
            code: forced.code ?? "server_error",
            message: forced.message ?? "The job failed due to an internal error. Please try again.",
            param: forced.param ?? null,
          }
        : null);
    const hp = request.hyperparameters;
    const job: Omit<JobRow, keyof ReturnType<typeof initialProgress> | "modelDeleted"> = {
      id: randomId("ftjob-"),
      model,
      baseModel: base.id,
      trainingFile: file.id,
      validationFile: request.validationFile,
      suffix: request.suffix,
      seed: request.seed ?? Math.floor(Math.random() * 2147483647),
      method: request.method,
      requestedHyperparameters: { ...hp },
      metadata: request.metadata,
      createdAtMs: now,
      validateMs: PHASE_STEPS * stepMs,
      queueMs: PHASE_STEPS * stepMs,
      stepMs,
      examples: plan.examples,
      nEpochs: plan.nEpochs,
      batchSize: plan.batchSize,
      learningRateMultiplier:
        hp.learning_rate_multiplier === "auto" ? AUTO_LEARNING_RATE_MULTIPLIER : hp.learning_rate_multiplier,
      totalSteps: plan.error ? 0 : plan.totalSteps,
      trainedTokensPlanned: plan.trainedTokens,
      plannedError,
      plannedErrorAfterSteps: plan.error || !forced ? null : (forced.afterSteps ?? null),
    };
    store.insertJob(job, initialProgress(now));
    logger.info(
      { job: job.id, model, examples: plan.examples, steps: job.totalSteps },
      "sandbox: job created",
    );
    return jobView(getJob(job.id, now), now);
  };

  const listJobs: Handler = ({ url, now }) => {
    const limit = parseLimit(url, 20, 100);
    const rows = store.listJobs({
      after: url.searchParams.get("after") ?? undefined,
      limit: limit + 1,
      metadata: parseMetadataFilter(url),
    });
    const page = rows.slice(0, limit).map((j) => jobView(advanceJob(store, j, now), now));
    return { object: "list", data: page, has_more: rows.length > limit };
  };

  const cancel: Handler = ({ params, now }) => {
    const job = getJob(params[0] ?? "", now);
    if (TERMINAL.has(job.status)) {
      throw invalid(
        `Job ${job.id} has already ${job.status === "cancelled" ? "been cancelled" : job.status} and cannot be cancelled.`,
      );
    }
    return jobView(cancelJob(store, job, now), now);
  };

  const listEvents: Handler = ({ params, url, now }) => {
    const job = getJob(params[0] ?? "", now);
    const limit = parseLimit(url, 20, 100);
    const rows = store.listEvents(job.id, url.searchParams.get("after") ?? undefined, limit + 1);
    const data = rows.slice(0, limit).map((e) => faults.eventAsServed(job.id, e.seq, eventView(e)));
    return { object: "list", data, has_more: rows.length > limit };
  };

  const listCheckpoints: Handler = ({ params, url, now }) => {
    const job = getJob(params[0] ?? "", now);
    const limit = parseLimit(url, 10, 100);
    let all = checkpointsOf(job);
    const after = url.searchParams.get("after");
    if (after) {
      const i = all.findIndex((c) => c.id === after);
      all = i < 0 ? [] : all.slice(i + 1);
    }
    const data = all.slice(0, limit);
    return {
      object: "list",
      data,
      first_id: data[0]?.id ?? null,
      last_id: data[data.length - 1]?.id ?? null,
      has_more: all.length > limit,
    };
  };

  return [
    { method: "POST", pattern: /^\/fine_tuning\/jobs$/, name: "POST /fine_tuning/jobs", handler: createJob },
    { method: "GET", pattern: /^\/fine_tuning\/jobs$/, name: "GET /fine_tuning/jobs", handler: listJobs },
    {
      method: "GET",
      pattern: /^\/fine_tuning\/jobs\/([^/]+)$/,
      name: "GET /fine_tuning/jobs/:id",
      handler: ({ params, now }) => jobView(getJob(params[0] ?? "", now), now),
    },
    {
      method: "POST",
      pattern: /^\/fine_tuning\/jobs\/([^/]+)\/cancel$/,
      name: "POST /fine_tuning/jobs/:id/cancel",
      handler: cancel,
    },
    {
      method: "GET",
      pattern: /^\/fine_tuning\/jobs\/([^/]+)\/events$/,
      name: "GET /fine_tuning/jobs/:id/events",
      handler: listEvents,
    },
    {
      method: "GET",
      pattern: /^\/fine_tuning\/jobs\/([^/]+)\/checkpoints$/,
      name: "GET /fine_tuning/jobs/:id/checkpoints",
      handler: listCheckpoints,
    },
  ];
}

/** `metadata[k]=v` pairs (the SDK's bracket style); `metadata=null` means "jobs without metadata". */
function parseMetadataFilter(url: URL): Record<string, string> | null | undefined {
  const pairs: Record<string, string> = {};
  let any = false;
  for (const [key, value] of url.searchParams) {
    const m = /^metadata\[(.+)\]$/.exec(key);
    if (m?.[1] !== undefined) {
      pairs[m[1]] = value;
      any = true;
    } else if (key === "metadata" && (value === "null" || value === "")) {
      return null;
    }
  }
  return any ? pairs : undefined;
}
