// Together AI's dedicated endpoints, shaped as its API (docs.together.ai/reference: createendpoint, listendpoints,
// getendpoint, updateendpoint, deleteendpoint; togethercomputer/openapi; the together-ai SDK's
// resources/endpoints): POST /v1/endpoints {model, hardware, autoscaling: {min_replicas, max_replicas},
// display_name?, state?} makes an endpoint for a fine-tuned model, which moves PENDING -> STARTING -> STARTED on
// the sandbox clock; PATCH /v1/endpoints/{id} {state: "STOPPED"} stops it (STOPPING -> STOPPED) and {state:
// "STARTED"} starts it again; DELETE answers 204; GET /v1/endpoints lists them ({object: "list", data} of
// Together's shorter ListEndpoint, without display_name; `type` filter) and GET /v1/endpoints/{id} shows one.
// Chat completions take an endpoint's `name` only while it is STARTED (routes/chat.ts). Together bills an endpoint
// by the minute while it runs, even idle; the sandbox bills nothing but keeps the lifecycle, so auto-stop and
// hosting cost can be rehearsed without keys.
import { randomBytes, randomUUID } from "node:crypto";
import { FINE_TUNED_OWNER, resolveBaseModel } from "../catalog.ts";
import { type Handler, NO_CONTENT, type RequestContext, type Route, type SandboxState } from "../context.ts";
import { invalid, invalidType, missingParam, modelNotFound, SandboxApiError } from "../errors.ts";
import { readJsonBody } from "../http.ts";
import type { EndpointPhase, EndpointRow } from "../store.ts";

/** Sandbox time (in training steps, like DEPLOY_STEPS) an endpoint spends in each state on its way. */
export const ENDPOINT_PENDING_STEPS = 20;
export const ENDPOINT_STARTING_STEPS = 40;
export const ENDPOINT_STOPPING_STEPS = 20;

/** The sandbox's own cap on replicas (Together's depends on the account). */
export const MAX_ENDPOINT_REPLICAS = 16;
const MAX_DISPLAY_NAME_LENGTH = 256;
/** Together's hardware ids ("1x_nvidia_h100_80gb_sxm"): the same check as a Together entry's endpointHardware. */
const HARDWARE_PATTERN = /^[\w.-]{1,100}$/;

export type EndpointState = "PENDING" | "STARTING" | "STARTED" | "STOPPING" | "STOPPED" | "ERROR";

/** The state at `now`, from the latest start or stop request. */
export function endpointState(e: EndpointPhase, now: number): EndpointState {
  if (e.phase === "stop") return now < e.settlesAtMs ? "STOPPING" : "STOPPED";
  if (e.pendingUntilMs !== null && now < e.pendingUntilMs) return "PENDING";
  if (now < e.settlesAtMs) return "STARTING";
  return e.plannedError ? "ERROR" : "STARTED";
}

function startPhase(now: number, stepMs: number, plannedError: boolean): EndpointPhase {
  const pendingUntilMs = now + ENDPOINT_PENDING_STEPS * stepMs;
  return {
    phase: "start",
    phaseAtMs: now,
    pendingUntilMs,
    settlesAtMs: pendingUntilMs + ENDPOINT_STARTING_STEPS * stepMs,
    plannedError,
  };
}

function stopPhase(now: number, stepMs: number): EndpointPhase {
  return {
    phase: "stop",
    phaseAtMs: now,
    pendingUntilMs: null,
    settlesAtMs: now + ENDPOINT_STOPPING_STEPS * stepMs,
    plannedError: false,
  };
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

function parseAutoscaling(value: unknown): { minReplicas: number; maxReplicas: number } {
  if (!isObject(value)) throw invalidType("autoscaling", "an object", value);
  const count = (key: "min_replicas" | "max_replicas", min: number): number => {
    const v = value[key];
    if (v === undefined || v === null) throw missingParam(`autoscaling.${key}`);
    if (typeof v !== "number" || !Number.isInteger(v))
      throw invalidType(`autoscaling.${key}`, "an integer", v);
    if (v < min || v > MAX_ENDPOINT_REPLICAS) {
      throw invalid(
        `Invalid 'autoscaling.${key}': ${v} is out of range; expected ${min} to ${MAX_ENDPOINT_REPLICAS}.`,
        `autoscaling.${key}`,
        "invalid_value",
      );
    }
    return v;
  };
  const minReplicas = count("min_replicas", 0);
  const maxReplicas = count("max_replicas", 1);
  if (minReplicas > maxReplicas) {
    throw invalid(
      `Invalid 'autoscaling': min_replicas (${minReplicas}) is more than max_replicas (${maxReplicas}).`,
      "autoscaling",
      "invalid_value",
    );
  }
  return { minReplicas, maxReplicas };
}

function parseDisplayName(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw invalidType("display_name", "a string", value);
  if (value.trim() === "" || value.length > MAX_DISPLAY_NAME_LENGTH) {
    throw invalid(
      `Invalid 'display_name': expected 1 to ${MAX_DISPLAY_NAME_LENGTH} characters.`,
      "display_name",
      "invalid_value",
    );
  }
  return value;
}

function parseState(value: unknown): "STARTED" | "STOPPED" | undefined {
  if (value === undefined || value === null) return undefined;
  if (value !== "STARTED" && value !== "STOPPED") {
    throw invalid(
      `Invalid 'state': expected "STARTED" or "STOPPED", got ${JSON.stringify(value)}.`,
      "state",
      "invalid_value",
    );
  }
  return value;
}

/** Together stops an endpoint after this many idle minutes; the sandbox does not simulate it (say so, never ignore). */
function refuseInactiveTimeout(value: unknown): void {
  if (value === undefined || value === null || value === 0) return;
  throw invalid(
    'The sandbox does not simulate \'inactive_timeout\': send null or 0, and stop the endpoint with PATCH /v1/endpoints/{id} {"state": "STOPPED"}.',
    "inactive_timeout",
    "unsupported_value",
  );
}

export function endpointRoutes(s: SandboxState): Route[] {
  const { store, faults, stepMs, logger, fineTuned } = s;

  const view = (e: EndpointRow, now: number): Record<string, unknown> => ({
    object: "endpoint",
    id: e.id,
    name: e.name,
    display_name: e.displayName,
    model: e.model,
    hardware: e.hardware,
    type: "dedicated",
    owner: FINE_TUNED_OWNER,
    state: endpointState(e, now),
    autoscaling: { min_replicas: e.minReplicas, max_replicas: e.maxReplicas },
    created_at: new Date(e.createdAtMs).toISOString(),
  });

  /** Together's ListEndpoint: no display_name, hardware or autoscaling (GET /endpoints/{id} has them). */
  const listView = (e: EndpointRow, now: number): Record<string, unknown> => ({
    object: "endpoint",
    id: e.id,
    name: e.name,
    model: e.model,
    type: "dedicated",
    owner: FINE_TUNED_OWNER,
    state: endpointState(e, now),
    created_at: new Date(e.createdAtMs).toISOString(),
  });

  const notFound = (id: string) =>
    new SandboxApiError(404, `Endpoint ${id} not found.`, { code: "not_found", param: "endpointId" });

  const endpointOf = (ctx: RequestContext): EndpointRow => {
    const id = ctx.params[0] ?? "";
    const e = store.endpointById(id);
    if (!e) throw notFound(id);
    return e;
  };

  const create: Handler = async ({ req, now }) => {
    const body = await readJsonBody(req);
    const { model, hardware } = body;
    if (model === undefined || model === null) throw missingParam("model");
    if (typeof model !== "string") throw invalidType("model", "a string", model);
    if (hardware === undefined || hardware === null) throw missingParam("hardware");
    if (typeof hardware !== "string") throw invalidType("hardware", "a string", hardware);
    if (!HARDWARE_PATTERN.test(hardware)) {
      throw invalid(
        `Invalid 'hardware': ${JSON.stringify(hardware)} is no hardware id (e.g. "1x_nvidia_h100_80gb_sxm").`,
        "hardware",
        "invalid_value",
      );
    }
    if (body.autoscaling === undefined || body.autoscaling === null) throw missingParam("autoscaling");
    const replicas = parseAutoscaling(body.autoscaling);
    const displayName = parseDisplayName(body.display_name);
    const state = parseState(body.state) ?? "STARTED";
    refuseInactiveTimeout(body.inactive_timeout);
    if (resolveBaseModel(model)) {
      throw invalid(
        `The sandbox serves dedicated endpoints for its fine-tuned models only; ${model} is a base model (chat with it directly).`,
        "model",
        "invalid_value",
      );
    }
    if (!fineTuned(model, now)) throw modelNotFound(model);
    const name = `${FINE_TUNED_OWNER}/${model}-${randomBytes(4).toString("hex")}`;
    const row: EndpointRow = {
      id: `endpoint-${randomUUID()}`,
      name,
      displayName: displayName ?? name,
      model,
      hardware,
      ...replicas,
      createdAtMs: now,
      ...(state === "STARTED" ? startPhase(now, stepMs, faults.takeEndpointFailure()) : stopPhase(now, 0)),
    };
    store.insertEndpoint(row);
    logger.info({ endpoint: row.id, model }, "sandbox: dedicated endpoint created");
    return view(row, now);
  };

  const list: Handler = ({ url, now }) => {
    const type = url.searchParams.get("type");
    if (type !== null && type !== "dedicated" && type !== "serverless") {
      throw invalid(
        `Invalid 'type': expected "dedicated" or "serverless", got ${JSON.stringify(type)}.`,
        "type",
        "invalid_value",
      );
    }
    // The sandbox's base models answer without an endpoint: it lists no serverless ones.
    const data = type === "serverless" ? [] : store.listEndpoints().map((e) => listView(e, now));
    return { object: "list", data };
  };

  const retrieve: Handler = (ctx) => view(endpointOf(ctx), ctx.now);

  const update: Handler = async (ctx) => {
    const e = endpointOf(ctx);
    const body = await readJsonBody(ctx.req);
    const { now } = ctx;
    const displayName = parseDisplayName(body.display_name);
    const replicas =
      body.autoscaling === undefined || body.autoscaling === null
        ? undefined
        : parseAutoscaling(body.autoscaling);
    const wanted = parseState(body.state);
    refuseInactiveTimeout(body.inactive_timeout);
    const current = endpointState(e, now);
    if (wanted === "STARTED" && current === "STOPPING") {
      // A 400, not a 409: the SDKs retry a 409, and this one stands until the endpoint has stopped.
      throw invalid(
        `Endpoint ${e.id} is stopping; start it again once it is STOPPED.`,
        "state",
        "invalid_state",
      );
    }
    store.updateEndpointSettings(e.id, {
      displayName: displayName ?? e.displayName,
      minReplicas: replicas?.minReplicas ?? e.minReplicas,
      maxReplicas: replicas?.maxReplicas ?? e.maxReplicas,
    });
    // Asking for the state it is in (or on its way to) changes nothing; ERROR may be started again or stopped.
    if (wanted === "STOPPED" && e.phase === "start") {
      store.setEndpointPhase(e.id, stopPhase(now, stepMs));
      logger.info({ endpoint: e.id }, "sandbox: dedicated endpoint stopping");
    } else if (wanted === "STARTED" && (current === "STOPPED" || current === "ERROR")) {
      store.setEndpointPhase(e.id, startPhase(now, stepMs, faults.takeEndpointFailure()));
      logger.info({ endpoint: e.id }, "sandbox: dedicated endpoint starting");
    }
    const updated = store.endpointById(e.id);
    if (!updated) throw notFound(e.id);
    return view(updated, now);
  };

  const remove: Handler = (ctx) => {
    const e = endpointOf(ctx);
    store.markEndpointDeleted(e.id);
    logger.info({ endpoint: e.id }, "sandbox: dedicated endpoint deleted");
    return NO_CONTENT;
  };

  const one = /^\/endpoints\/([^/]+)$/;
  return [
    { method: "POST", pattern: /^\/endpoints$/, name: "POST /endpoints", handler: create },
    { method: "GET", pattern: /^\/endpoints$/, name: "GET /endpoints", handler: list },
    { method: "GET", pattern: one, name: "GET /endpoints/:id", handler: retrieve },
    { method: "PATCH", pattern: one, name: "PATCH /endpoints/:id", handler: update },
    { method: "DELETE", pattern: one, name: "DELETE /endpoints/:id", handler: remove },
  ];
}
