// The deploy step of an open-model host, shaped as Nebius Token Factory's custom-model API
// (docs.tokenfactory.nebius.com, "Create a custom model" and "Get a custom model by short name"):
// POST /v0/models {name, base_model, source: "<ftjob-id>:<ftckpt-id>", description?} answers the model with
// its full name (`<base_model>-LoRa:<name>-<4 letters>`, the id chat completions take) and status
// "validating"; GET /v0/models/{name} (short or full name) shows it move to "active" on the sandbox clock,
// or "error" with a status_reason. A taken name is 409; DELETE removes it (then GET is 404).
import { createHash } from "node:crypto";
import { resolveBaseModel } from "../catalog.ts";
import type { Handler, RequestContext, Route, SandboxState } from "../context.ts";
import { SandboxApiError } from "../errors.ts";
import { readJsonBody } from "../http.ts";
import type { DeploymentRow } from "../store.ts";
import { checkpointsOf } from "../views.ts";

/** Validating a LoRA adapter and loading it takes this many training steps' worth of sandbox time. */
export const DEPLOY_STEPS = 30;

/** What Nebius accepts as a custom model's name here: letters, digits, "-", "_", "."; 1 to 64 characters. */
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export type DeploymentStatus = "validating" | "active" | "error";

export function deploymentStatus(d: DeploymentRow, now: number): DeploymentStatus {
  if (now < d.readyAtMs) return "validating";
  return d.plannedError === null ? "active" : "error";
}

/** The served id: Nebius appends a short tag to the name under the base model's "-LoRa" family. */
export function fullNameOf(name: string, baseModel: string, jobId: string): string {
  const digest = createHash("sha256").update(`${jobId}\u0000${name}`).digest();
  const tag = Array.from(digest.subarray(0, 4), (b) => String.fromCharCode(97 + (b % 26))).join("");
  return `${baseModel}-LoRa:${name}-${tag}`;
}

const field = (loc: string, msg: string, type: string) => ({ loc: ["body", loc], msg, type });

export function deploymentRoutes(s: SandboxState): Route[] {
  const { store, faults, stepMs, logger, getJob } = s;

  const view = (d: DeploymentRow, now: number): Record<string, unknown> => {
    const status = deploymentStatus(d, now);
    return {
      type: "text2text",
      name: d.fullName,
      base_model: d.baseModel,
      source: d.source,
      description: d.description,
      created_at: Math.floor(d.createdAtMs / 1000),
      status,
      status_reason: status === "error" ? d.plannedError : null,
      job_id: d.jobId,
      checkpoint_id: d.checkpointId,
    };
  };

  const create: Handler = async ({ req, now }) => {
    const body = await readJsonBody(req);
    const missing = (["name", "base_model", "source"] as const).filter((k) => typeof body[k] !== "string");
    if (missing.length > 0) {
      // FastAPI's answer to a body that does not match the schema.
      throw new SandboxApiError(422, "Validation error", {
        detail: missing.map((k) =>
          body[k] === undefined
            ? field(k, "Field required", "missing")
            : field(k, "Input should be a valid string", "string_type"),
        ),
      });
    }
    const name = body.name as string;
    const baseModel = body.base_model as string;
    const source = body.source as string;
    const description = typeof body.description === "string" ? body.description : null;
    if (!NAME_PATTERN.test(name)) {
      throw new SandboxApiError(
        400,
        `Invalid model name '${name}': use 1 to 64 letters, digits, '-', '_' or '.', starting with a letter or digit.`,
      );
    }
    const base = resolveBaseModel(baseModel);
    if (!base?.openWeight) {
      throw new SandboxApiError(400, `Base model '${baseModel}' does not support LoRA adapters.`);
    }
    const m = /^(ftjob-[A-Za-z0-9]+):(ftckpt_[A-Za-z0-9]+)$/.exec(source);
    if (!m?.[1] || !m[2]) {
      throw new SandboxApiError(
        400,
        `Invalid source '${source}': expected '<fine-tuning job id>:<checkpoint id>' (e.g. ftjob-123:ftckpt_456).`,
      );
    }
    let job: ReturnType<typeof getJob>;
    try {
      job = getJob(m[1], now);
    } catch {
      throw new SandboxApiError(404, `Fine-tuning job ${m[1]} not found.`);
    }
    if (job.status !== "succeeded") {
      throw new SandboxApiError(400, `Fine-tuning job ${job.id} has not succeeded (status ${job.status}).`);
    }
    if (!checkpointsOf(job).some((c) => c.id === m[2])) {
      throw new SandboxApiError(404, `Checkpoint ${m[2]} not found in fine-tuning job ${job.id}.`);
    }
    if (resolveBaseModel(job.baseModel)?.id !== base.id) {
      throw new SandboxApiError(
        400,
        `Checkpoint ${m[2]} was trained on ${job.baseModel}, not on ${baseModel}: deploy it on its own base model.`,
      );
    }
    const row: Omit<DeploymentRow, "deleted"> = {
      name,
      fullName: fullNameOf(name, base.id, job.id),
      baseModel: base.id,
      source,
      jobId: job.id,
      checkpointId: m[2],
      description,
      createdAtMs: now,
      readyAtMs: now + DEPLOY_STEPS * stepMs,
      plannedError: faults.takeDeploymentFailure() ?? null,
    };
    if (!store.insertDeployment(row)) {
      throw new SandboxApiError(409, `Model with name '${name}' already exists.`);
    }
    logger.info({ name, job: job.id }, "sandbox: custom model created");
    const created = store.deploymentByName(name);
    return created ? view(created, now) : view({ ...row, deleted: false }, now);
  };

  const nameParam = (ctx: RequestContext): string => {
    const raw = ctx.params[0] ?? "";
    try {
      return decodeURIComponent(raw);
    } catch {
      return raw;
    }
  };

  const notFound = (name: string) => new SandboxApiError(404, `Model '${name}' not found.`);

  const retrieve: Handler = (ctx) => {
    const name = nameParam(ctx);
    const d = store.deploymentByName(name);
    if (!d) throw notFound(name);
    return view(d, ctx.now);
  };

  const remove: Handler = (ctx) => {
    const name = nameParam(ctx);
    if (!store.markDeploymentDeleted(name)) throw notFound(name);
    return { name, deleted: true };
  };

  return [
    { api: "v0", method: "POST", pattern: /^\/models$/, name: "POST /v0/models", handler: create },
    {
      api: "v0",
      method: "GET",
      pattern: /^\/models\/(.+)$/,
      name: "GET /v0/models/:name",
      handler: retrieve,
    },
    {
      api: "v0",
      method: "DELETE",
      pattern: /^\/models\/(.+)$/,
      name: "DELETE /v0/models/:name",
      handler: remove,
    },
  ];
}
