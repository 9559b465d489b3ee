// A loopback fake of Together AI's API, the parts classtune drives, with the shapes of the together-ai SDK
// (0.52, src/resources/*) and docs.together.ai: the two-step file upload (POST /v1/files answers 302 with Location
// and x-together-file-id; the bytes are PUT to that signed URL, here /storage/<id>, no auth), files, fine-tunes
// (create, list {data}, retrieve, cancel, events {data}, metrics {metrics: [{timestamp ns, "train/global_step",
// "train/loss"}]}, checkpoints {data}), dedicated endpoints (create, list {object:"list", data}, retrieve,
// delete; states PENDING|STARTING|STARTED|STOPPING|STOPPED|ERROR), models (an array) and OpenAI-compatible chat
// completions by the endpoint's name. Errors use Together's envelope {error: {message, type, code}}. Every request
// is recorded; failures are injected before the work (failNext) or after it (failAfterWork: the ambiguous case).
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type JobStatus =
  | "pending"
  | "queued"
  | "running"
  | "compressing"
  | "uploading"
  | "cancel_requested"
  | "cancelled"
  | "error"
  | "completed";

export type EndpointState = "PENDING" | "STARTING" | "STARTED" | "STOPPING" | "STOPPED" | "ERROR";

/** The order a healthy job moves in (docs: pending → queued → running → uploading → completed). */
export const LIFECYCLE: readonly JobStatus[] = [
  "pending",
  "queued",
  "running",
  "compressing",
  "uploading",
  "completed",
];

export interface StoredJob {
  id: string;
  status: JobStatus;
  model: string;
  training_file: string;
  n_epochs: number;
  suffix: string | undefined;
  created_at: string;
  updated_at: string;
  model_output_name: string;
  body: Record<string, unknown>;
  events: Array<{ created_at: string; message: string; type: string; level: string }>;
  metrics: Array<Record<string, number>>;
}

export interface StoredEndpoint {
  id: string;
  name: string;
  display_name: string;
  model: string;
  hardware: string;
  autoscaling: unknown;
  state: EndpointState;
  created_at: string;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: unknown;
  /** Bytes received for a PUT of file content. */
  bytes?: number;
}

interface Match {
  method: string;
  path: RegExp;
}

export interface FakeTogetherOptions {
  apiKey: string;
  /** Each read of a job (retrieve or list) moves it one step along LIFECYCLE, with a metrics point while it runs. */
  autoAdvance?: boolean;
  /** Each read of an endpoint moves PENDING -> STARTING -> STARTED. */
  autoStartEndpoints?: boolean;
}

export interface FakeTogether {
  /** http://127.0.0.1:PORT/v1: the provider entry's baseURL. */
  url: string;
  requests: RecordedRequest[];
  jobs: Map<string, StoredJob>;
  files: Map<string, { id: string; filename: string; bytes: number; complete: boolean; created_at: number }>;
  endpoints: Map<string, StoredEndpoint>;
  setStatus(id: string, status: JobStatus): void;
  /** Adds a training metrics point (and the eval one when validLoss is given). */
  addMetric(id: string, step: number, trainLoss: number, validLoss?: number): void;
  setEndpointState(id: string, state: EndpointState): void;
  /** The next `times` matching requests answer `status` before doing anything. */
  failNext(match: Match, status: number, times?: number, code?: string): void;
  /** The next matching request does its work, then answers `status` (a 500 after the job was made). */
  failAfterWork(match: Match, status: number): void;
  /** Forgets every injected failure still waiting. */
  clearFaults(): void;
  chats: Array<{ model: string; messages: unknown }>;
  close(): Promise<void>;
}

export async function startFakeTogether(options: FakeTogetherOptions): Promise<FakeTogether> {
  const requests: RecordedRequest[] = [];
  const jobs = new Map<string, StoredJob>();
  const files: FakeTogether["files"] = new Map();
  const endpoints = new Map<string, StoredEndpoint>();
  const chats: FakeTogether["chats"] = [];
  const before: Array<Match & { status: number; times: number; code: string }> = [];
  const after: Array<Match & { status: number }> = [];
  let origin = "";

  const send = (
    res: ServerResponse,
    status: number,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
    res.writeHead(status, {
      ...(body !== undefined ? { "content-type": "application/json" } : {}),
      "x-request-id": randomBytes(6).toString("hex"),
      ...headers,
    });
    res.end(body === undefined ? undefined : JSON.stringify(body));
  };
  const fail = (res: ServerResponse, status: number, message: string, code: string | null = null) =>
    send(res, status, { error: { message, type: "invalid_request_error", param: null, code } });

  const now = () => new Date().toISOString();
  const event = (job: StoredJob, type: string, message: string) =>
    job.events.push({ created_at: now(), message, type, level: "info" });

  const setStatus = (id: string, status: JobStatus) => {
    const job = jobs.get(id);
    if (!job) throw new Error(`no job ${id}`);
    job.status = status;
    job.updated_at = now();
    const types: Partial<Record<JobStatus, string>> = {
      queued: "job_pending",
      running: "training_start",
      compressing: "model_compressing",
      uploading: "model_uploading",
      completed: "job_complete",
      cancelled: "job_stopped",
      error: "job_error",
    };
    const type = types[status];
    if (type) event(job, type, status === "error" ? "Training failed: CUDA out of memory" : `Job ${status}`);
  };
  const addMetric = (id: string, step: number, trainLoss: number, validLoss?: number) => {
    const job = jobs.get(id);
    if (!job) throw new Error(`no job ${id}`);
    const timestamp = Date.now() * 1e6;
    job.metrics.push({
      timestamp,
      "train/global_step": step,
      "train/epoch": step / 10,
      "train/loss": trainLoss,
      "train/grad_norm": 1.1,
    });
    if (validLoss !== undefined)
      job.metrics.push({ timestamp, "eval/global_step": step, "eval/loss": validLoss });
  };
  const advance = (job: StoredJob) => {
    if (job.status === "cancel_requested") return setStatus(job.id, "cancelled");
    const i = LIFECYCLE.indexOf(job.status);
    if (i < 0 || i === LIFECYCLE.length - 1) return;
    const next = LIFECYCLE[i + 1] as JobStatus;
    if (job.status === "running") addMetric(job.id, job.metrics.length + 1, 2.4 - job.metrics.length * 0.3);
    setStatus(job.id, next);
    if (next === "running") addMetric(job.id, 1, 2.4);
  };
  const truncated = (j: StoredJob) => ({
    id: j.id,
    status: j.status,
    model: j.model,
    training_file: j.training_file,
    n_epochs: j.n_epochs,
    suffix: j.suffix,
    created_at: j.created_at,
    updated_at: j.updated_at,
    ...(j.status === "completed" || j.status === "uploading"
      ? { model_output_name: j.model_output_name }
      : {}),
    training_type: { type: "Lora", lora_r: 8, lora_alpha: 8 },
    training_method: { method: "sft", train_on_inputs: "auto" },
    token_count: j.metrics.length > 0 ? 1000 * j.metrics.length : undefined,
  });
  const full = (j: StoredJob) => ({
    ...truncated(j),
    events: j.events,
    user_id: "user-1",
    owner_address: "0x",
  });
  const endpointView = (e: StoredEndpoint) => ({
    object: "endpoint",
    type: "dedicated",
    owner: "classtune-school",
    ...e,
  });
  const readEndpoint = (e: StoredEndpoint) => {
    if (options.autoStartEndpoints !== false) {
      if (e.state === "PENDING") e.state = "STARTING";
      else if (e.state === "STARTING") e.state = "STARTED";
    }
  };

  const readBody = async (req: IncomingMessage): Promise<{ text: string; bytes: number }> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const buf = Buffer.concat(chunks);
    return { text: buf.toString("utf8"), bytes: buf.length };
  };

  type Route = (
    m: RegExpExecArray,
    body: unknown,
    q: URLSearchParams,
    res: ServerResponse,
    rec: RecordedRequest,
  ) => void;
  const routes: Array<{ method: string; path: RegExp; handle: Route }> = [
    {
      method: "POST",
      path: /^\/v1\/files$/,
      handle: (_m, _b, q, res) => {
        const id = `file-${randomBytes(8).toString("hex")}`;
        files.set(id, {
          id,
          filename: q.get("file_name") ?? "upload.jsonl",
          bytes: 0,
          complete: false,
          created_at: Math.floor(Date.now() / 1000),
        });
        send(res, 302, undefined, {
          location: `${origin}/storage/${id}?X-Amz-Signature=${randomBytes(8).toString("hex")}`,
          "x-together-file-id": id,
        });
      },
    },
    {
      method: "GET",
      path: /^\/v1\/files\/([^/]+)$/,
      handle: (m, _b, _q, res) => {
        const f = files.get(m[1] as string);
        if (!f) return fail(res, 404, "File not found", "file_not_found");
        send(res, 200, {
          id: f.id,
          object: "file",
          bytes: f.bytes,
          created_at: f.created_at,
          filename: f.filename,
          FileType: "jsonl",
          purpose: "fine-tune",
          Processed: f.complete,
          LineCount: 0,
        });
      },
    },
    {
      method: "DELETE",
      path: /^\/v1\/files\/([^/]+)$/,
      handle: (m, _b, _q, res) => {
        const had = files.delete(m[1] as string);
        send(
          res,
          had ? 200 : 404,
          had ? { id: m[1], deleted: true } : { error: { message: "File not found" } },
        );
      },
    },
    {
      method: "POST",
      path: /^\/v1\/fine-tunes$/,
      handle: (_m, body, _q, res) => {
        const b = (body ?? {}) as Record<string, unknown>;
        const file = files.get(String(b.training_file));
        if (typeof b.model !== "string") return fail(res, 400, "model is required");
        if (!file?.complete) return fail(res, 400, `training_file ${String(b.training_file)} not found`);
        const id = `ft-${randomBytes(4).toString("hex")}-${randomBytes(2).toString("hex")}`;
        const suffix = typeof b.suffix === "string" ? b.suffix : undefined;
        const job: StoredJob = {
          id,
          status: "pending",
          model: b.model,
          training_file: file.id,
          n_epochs: typeof b.n_epochs === "number" ? b.n_epochs : 1,
          suffix,
          created_at: now(),
          updated_at: now(),
          model_output_name: `classtune-school/${b.model.split("/").at(-1)}${suffix ? `-${suffix}` : ""}-${id.slice(3, 11)}`,
          body: b,
          events: [],
          metrics: [],
        };
        jobs.set(id, job);
        event(job, "job_pending", "Fine-tune request created");
        send(res, 200, truncated(job));
      },
    },
    {
      method: "GET",
      path: /^\/v1\/fine-tunes$/,
      handle: (_m, _b, _q, res) => {
        const all = [...jobs.values()];
        if (options.autoAdvance) for (const j of all) advance(j);
        send(res, 200, { data: all.map(truncated) });
      },
    },
    {
      method: "GET",
      path: /^\/v1\/fine-tunes\/([^/]+)$/,
      handle: (m, _b, _q, res) => {
        const job = jobs.get(m[1] as string);
        if (!job) return fail(res, 404, "Fine-tune job not found", "not_found");
        if (options.autoAdvance) advance(job);
        send(res, 200, full(job));
      },
    },
    {
      method: "POST",
      path: /^\/v1\/fine-tunes\/([^/]+)\/cancel$/,
      handle: (m, _b, _q, res) => {
        const job = jobs.get(m[1] as string);
        if (!job) return fail(res, 404, "Fine-tune job not found", "not_found");
        if (["completed", "cancelled", "error"].includes(job.status)) {
          return fail(res, 400, `Job ${job.id} has already finished`);
        }
        setStatus(job.id, "cancel_requested");
        send(res, 200, truncated(job));
      },
    },
    {
      method: "GET",
      path: /^\/v1\/fine-tunes\/([^/]+)\/events$/,
      handle: (m, _b, _q, res) => {
        const job = jobs.get(m[1] as string);
        if (!job) return fail(res, 404, "Fine-tune job not found", "not_found");
        send(res, 200, { data: job.events.map((e) => ({ object: "fine-tune-event", ...e })) });
      },
    },
    {
      method: "GET",
      path: /^\/v1\/fine-tunes\/([^/]+)\/metrics$/,
      handle: (m, _b, _q, res) => {
        const job = jobs.get(m[1] as string);
        if (!job) return fail(res, 404, "Fine-tune job not found", "not_found");
        send(res, 200, { metrics: job.metrics });
      },
    },
    {
      method: "GET",
      path: /^\/v1\/fine-tunes\/([^/]+)\/checkpoints$/,
      handle: (m, _b, _q, res) => {
        const job = jobs.get(m[1] as string);
        if (!job) return fail(res, 404, "Fine-tune job not found", "not_found");
        const done = job.status === "completed";
        send(res, 200, {
          data: done
            ? [
                {
                  checkpoint_type: "Final",
                  created_at: job.updated_at,
                  path: `s3://ft/${job.id}/final`,
                  step: 10,
                },
              ]
            : [],
        });
      },
    },
    {
      method: "POST",
      path: /^\/v1\/endpoints$/,
      handle: (_m, body, _q, res) => {
        const b = (body ?? {}) as Record<string, unknown>;
        if (typeof b.model !== "string" || typeof b.hardware !== "string" || !b.autoscaling) {
          return fail(res, 400, "model, hardware and autoscaling are required");
        }
        const known = [...jobs.values()].some(
          (j) => j.status === "completed" && j.model_output_name === b.model,
        );
        if (!known) return fail(res, 404, `Model ${b.model} not found`, "model_not_found");
        const id = `endpoint-${randomBytes(6).toString("hex")}`;
        const e: StoredEndpoint = {
          id,
          name: `classtune-school/${b.model.split("/").at(-1)}-${randomBytes(3).toString("hex")}`,
          display_name: typeof b.display_name === "string" ? b.display_name : id,
          model: b.model,
          hardware: b.hardware,
          autoscaling: b.autoscaling,
          state: "PENDING",
          created_at: now(),
        };
        endpoints.set(id, e);
        send(res, 200, endpointView(e));
      },
    },
    {
      method: "GET",
      path: /^\/v1\/endpoints$/,
      handle: (_m, _b, _q, res) => {
        const all = [...endpoints.values()];
        for (const e of all) readEndpoint(e);
        send(res, 200, { object: "list", data: all.map(endpointView) });
      },
    },
    {
      method: "GET",
      path: /^\/v1\/endpoints\/([^/]+)$/,
      handle: (m, _b, _q, res) => {
        const e = endpoints.get(m[1] as string);
        if (!e) return fail(res, 404, "Endpoint not found", "not_found");
        readEndpoint(e);
        send(res, 200, endpointView(e));
      },
    },
    {
      method: "DELETE",
      path: /^\/v1\/endpoints\/([^/]+)$/,
      handle: (m, _b, _q, res) => {
        if (!endpoints.delete(m[1] as string)) return fail(res, 404, "Endpoint not found", "not_found");
        send(res, 204);
      },
    },
    {
      method: "GET",
      path: /^\/v1\/models$/,
      handle: (_m, _b, _q, res) => {
        const done = [...jobs.values()].filter((j) => j.status === "completed");
        send(
          res,
          200,
          done.map((j) => ({
            id: j.model_output_name,
            object: "model",
            created: Math.floor(Date.parse(j.updated_at) / 1000),
            type: "chat",
            organization: "classtune-school",
          })),
        );
      },
    },
    {
      method: "POST",
      path: /^\/v1\/chat\/completions$/,
      handle: (_m, body, _q, res) => {
        const b = (body ?? {}) as { model?: string; messages?: Array<{ role: string; content: string }> };
        const e = [...endpoints.values()].find((x) => x.name === b.model);
        if (e?.state !== "STARTED") {
          return fail(
            res,
            404,
            `Unable to access model ${b.model}: no running endpoint`,
            "model_not_available",
          );
        }
        chats.push({ model: String(b.model), messages: b.messages });
        const question = b.messages?.findLast((m) => m.role === "user")?.content ?? "";
        send(res, 200, {
          id: `chatcmpl-${randomBytes(6).toString("hex")}`,
          object: "chat.completion",
          created: Math.floor(Date.now() / 1000),
          model: b.model,
          choices: [
            {
              index: 0,
              message: { role: "assistant", content: `Together (${e.name}) answers: ${question}` },
              finish_reason: "stop",
            },
          ],
          usage: { prompt_tokens: 12, completion_tokens: 8, total_tokens: 20 },
        });
      },
    },
  ];

  const matches = (m: Match, method: string, path: string) => m.method === method && m.path.test(path);

  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? "/", "http://fake");
      const method = req.method ?? "GET";
      const { text, bytes } = await readBody(req);
      let body: unknown;
      if ((req.headers["content-type"] ?? "").includes("json") && text !== "") body = JSON.parse(text);
      else if ((req.headers["content-type"] ?? "").includes("x-www-form-urlencoded"))
        body = Object.fromEntries(new URLSearchParams(text));
      const rec: RecordedRequest = {
        method,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: Object.fromEntries(
          Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(",") : (v ?? "")]),
        ),
        body,
      };
      requests.push(rec);
      const storage = /^\/storage\/([^/]+)$/.exec(url.pathname);
      if (storage && method === "PUT") {
        rec.bytes = bytes;
        const f = files.get(storage[1] as string);
        if (!f || !url.searchParams.get("X-Amz-Signature"))
          return send(res, 403, { message: "bad signature" });
        f.bytes = bytes;
        f.complete = true;
        return send(res, 200);
      }
      if (req.headers.authorization !== `Bearer ${options.apiKey}`) {
        return fail(res, 401, "Invalid API key provided", "invalid_api_key");
      }
      const injected = before.findIndex((f) => matches(f, method, url.pathname));
      if (injected >= 0) {
        const f = before[injected] as (typeof before)[number];
        f.times -= 1;
        if (f.times <= 0) before.splice(injected, 1);
        res.setHeader("retry-after-ms", "5");
        return fail(res, f.status, `injected ${f.status}`, f.code || null);
      }
      const route = routes.find((r) => r.method === method && r.path.test(url.pathname));
      if (!route) return fail(res, 404, `no route ${method} ${url.pathname}`, "not_found");
      const lost = after.findIndex((f) => matches(f, method, url.pathname));
      if (lost >= 0) {
        const f = after.splice(lost, 1)[0] as (typeof after)[number];
        const sink = { writeHead: () => sink, end: () => sink } as unknown as ServerResponse;
        route.handle(route.path.exec(url.pathname) as RegExpExecArray, body, url.searchParams, sink, rec);
        return fail(res, f.status, "Internal server error", null);
      }
      route.handle(route.path.exec(url.pathname) as RegExpExecArray, body, url.searchParams, res, rec);
    })().catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, { error: { message: String(err) } });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  origin = `http://127.0.0.1:${port}`;
  return {
    url: `${origin}/v1`,
    requests,
    jobs,
    files,
    endpoints,
    chats,
    setStatus,
    addMetric,
    setEndpointState: (id, state) => {
      const e = endpoints.get(id);
      if (!e) throw new Error(`no endpoint ${id}`);
      e.state = state;
    },
    failNext: (match, status, times = 1, code = "") => before.push({ ...match, status, times, code }),
    failAfterWork: (match, status) => after.push({ ...match, status }),
    clearFaults: () => {
      before.length = 0;
      after.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
