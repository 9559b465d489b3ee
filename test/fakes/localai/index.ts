// A fake LocalAI on one loopback port: its experimental fine-tuning API and the OpenAI-compatible /v1 it serves
// exported models on. Shapes follow mudler/LocalAI core/schema/finetune.go and
// core/http/endpoints/localai/finetune.go: POST /api/fine-tuning/datasets (multipart "file") -> 200 {path};
// POST /api/fine-tuning/jobs -> 201 {id, status, message} (400 {"error"} without model or dataset_source);
// GET /api/fine-tuning/jobs -> a bare list of FineTuneJob; GET /jobs/:id (404 {"error"}); POST /jobs/:id/stop
// -> {status: "stopped", message}; GET /jobs/:id/progress -> SSE `data: <FineTuneProgressEvent>\n\n`, held
// open while the job runs; POST /jobs/:id/export {name, export_format} -> 202 {status: "exporting", message,
// model_name}, the job's export_status moving "exporting" -> "completed" and the model then listed on
// /v1/models and answering /v1/chat/completions. Every request is recorded; faults are injected per route.
import { randomBytes, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import busboy from "busboy";

export const LOCALAI_STATUSES = [
  "queued",
  "loading_model",
  "loading_dataset",
  "training",
  "saving",
  "completed",
  "failed",
  "stopped",
] as const;
export type LocalAIStatus = (typeof LOCALAI_STATUSES)[number] | (string & {});

/** The order a healthy job walks through (what autoAdvance does, one step per GET of the job). */
const LIFECYCLE: readonly string[] = [
  "queued",
  "loading_model",
  "loading_dataset",
  "training",
  "saving",
  "completed",
];
const TERMINAL = new Set(["completed", "failed", "stopped"]);

export interface FakeJob {
  id: string;
  model: string;
  backend: string;
  training_type: string;
  training_method: string;
  status: LocalAIStatus;
  message: string;
  output_dir: string;
  created_at: string;
  export_status: string;
  export_message: string;
  export_model_name: string;
  config: Record<string, unknown>;
  /** Not sent with the job: what its progress stream replays. */
  progress: Record<string, unknown>[];
  /** Reads of the job left before a running export completes. */
  exportReadsLeft: number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: unknown;
  /** For the dataset upload: the file part's name and bytes. */
  file?: { filename: string; bytes: number; content: string };
}

export interface FakeLocalAIOptions {
  /** When set, every request must carry `Authorization: Bearer <apiKey>` (LocalAI started with API keys). */
  apiKey?: string;
  /** Each read of a job (listed or got) moves it one status along the lifecycle (queued -> … -> completed). */
  autoAdvance?: boolean;
  /** Steps the training reports (loss going down), spread over the training and saving states. */
  steps?: number;
  /** Reads of a job before its export completes (default 1: one tick sees it exporting). */
  exportReads?: number;
  /** End every progress stream after its history, even a running job's (quick tests); default held open. */
  closeStreams?: boolean;
}

export interface FakeLocalAI {
  /** The OpenAI-compatible root, http://127.0.0.1:PORT/v1 (what an entry's baseURL is). */
  url: string;
  requests: RecordedRequest[];
  jobs: Map<string, FakeJob>;
  /** Uploaded datasets by their path. */
  datasets: Map<string, string>;
  /** Models served on /v1 (exported ones are added). */
  models: Set<string>;
  setStatus(id: string, status: LocalAIStatus, message?: string): void;
  addProgress(id: string, event: Record<string, unknown>): void;
  /** The next `count` requests matching answer `status` with {"error"} before doing anything. */
  fail(match: { method: string; path: RegExp }, status: number, count?: number): void;
  /** The next matching request is handled, then answered 500: the work is done, the answer lost. */
  failAfterHandling(match: { method: string; path: RegExp }): void;
  /** Progress streams of running jobs stay open (as LocalAI's do) until the client lets go. */
  openStreams(): number;
  close(): Promise<void>;
}

interface Fault {
  method: string;
  path: RegExp;
  status: number;
  count: number;
  afterHandling: boolean;
}

export async function startFakeLocalAI(options: FakeLocalAIOptions = {}): Promise<FakeLocalAI> {
  const requests: RecordedRequest[] = [];
  const jobs = new Map<string, FakeJob>();
  const datasets = new Map<string, string>();
  const models = new Set<string>(["meta-llama/Llama-3.1-8B-Instruct"]);
  const faults: Fault[] = [];
  const streams = new Set<ServerResponse>();
  const steps = options.steps ?? 6;

  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  const lossAt = (step: number) => Math.round((2.5 / (1 + step * 0.5)) * 1000) / 1000;
  const progressEvent = (job: FakeJob, step: number): Record<string, unknown> => ({
    job_id: job.id,
    current_step: step,
    total_steps: steps,
    current_epoch: (step / steps) * Number(job.config.num_epochs ?? 1),
    total_epochs: Number(job.config.num_epochs ?? 1),
    loss: lossAt(step),
    learning_rate: 0.0002,
    grad_norm: 1.1,
    eval_loss: step === steps ? lossAt(step) + 0.1 : 0,
    eta_seconds: (steps - step) * 10,
    progress_percent: (step / steps) * 100,
    status: "training",
  });
  const advance = (job: FakeJob) => {
    const at = LIFECYCLE.indexOf(job.status);
    if (at === -1 || at === LIFECYCLE.length - 1) return;
    const next = LIFECYCLE[at + 1] as string;
    job.status = next;
    const half = Math.ceil(steps / 2);
    if (next === "training") for (let s = 1; s <= half; s++) job.progress.push(progressEvent(job, s));
    if (next === "saving") for (let s = half + 1; s <= steps; s++) job.progress.push(progressEvent(job, s));
    if (next === "completed") job.message = "Training completed";
  };
  const settleExport = (job: FakeJob) => {
    if (job.export_status !== "exporting") return;
    if (job.exportReadsLeft > 0) {
      job.exportReadsLeft -= 1;
      return;
    }
    job.export_status = "completed";
    job.export_message = "Model exported and registered";
    models.add(job.export_model_name);
  };
  const wire = (job: FakeJob) => {
    const { progress: _p, exportReadsLeft: _e, ...rest } = job;
    return Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== ""));
  };

  async function readBody(req: IncomingMessage): Promise<{ body: unknown; file?: RecordedRequest["file"] }> {
    const type = req.headers["content-type"] ?? "";
    if (type.startsWith("multipart/form-data")) {
      return new Promise((resolve, reject) => {
        const bb = busboy({ headers: req.headers });
        let file: RecordedRequest["file"];
        const fields: Record<string, string> = {};
        bb.on("file", (name, stream, info) => {
          const chunks: Buffer[] = [];
          stream.on("data", (c: Buffer) => chunks.push(c));
          stream.on("end", () => {
            if (name === "file") {
              const buf = Buffer.concat(chunks);
              file = { filename: info.filename ?? "", bytes: buf.length, content: buf.toString("utf8") };
            }
          });
        });
        bb.on("field", (name, value) => {
          fields[name] = value;
        });
        bb.on("close", () => resolve(file ? { body: fields, file } : { body: fields }));
        bb.on("error", reject);
        req.pipe(bb);
      });
    }
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    if (text === "") return { body: undefined };
    try {
      return { body: JSON.parse(text) };
    } catch {
      return { body: text };
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://fake");
    const method = req.method ?? "GET";
    const path = url.pathname;
    const { body, file } = await readBody(req);
    requests.push({
      method,
      path,
      headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)])),
      body,
      ...(file ? { file } : {}),
    });
    const fault = faults.find((f) => f.method === method && f.path.test(path));
    if (fault && !fault.afterHandling) {
      fault.count -= 1;
      if (fault.count <= 0) faults.splice(faults.indexOf(fault), 1);
      json(res, fault.status, { error: `injected failure ${fault.status}` });
      return;
    }
    if (options.apiKey && req.headers.authorization !== `Bearer ${options.apiKey}`) {
      json(res, 401, { error: "An authentication key is required" });
      return;
    }
    // The work is done, then the answer replaced: what a proxy timeout or a crash after the write looks like.
    const respond = (status: number, payload: unknown) => {
      if (fault?.afterHandling) {
        faults.splice(faults.indexOf(fault), 1);
        json(res, 500, { error: "injected failure after the work was done" });
        return;
      }
      json(res, status, payload);
    };

    if (method === "POST" && path === "/api/fine-tuning/datasets") {
      if (!file) return respond(400, { error: "file is required" });
      const stored = `/models/fine-tuning/datasets/${randomBytes(4).toString("hex")}-${file.filename}`;
      datasets.set(stored, file.content);
      return respond(200, { path: stored });
    }
    if (method === "POST" && path === "/api/fine-tuning/jobs") {
      const b = (body ?? {}) as Record<string, unknown>;
      if (typeof b.model !== "string" || b.model === "") return respond(400, { error: "model is required" });
      if (typeof b.dataset_source !== "string" || b.dataset_source === "")
        return respond(400, { error: "dataset_source is required" });
      const id = randomUUID();
      const job: FakeJob = {
        id,
        model: b.model,
        backend: String(b.backend ?? ""),
        training_type: String(b.training_type ?? "lora"),
        training_method: String(b.training_method ?? "sft"),
        status: "queued",
        message: "",
        output_dir: `/models/fine-tuning/jobs/${id}`,
        created_at: new Date().toISOString(),
        export_status: "",
        export_message: "",
        export_model_name: "",
        config: b,
        progress: [],
        exportReadsLeft: 0,
      };
      jobs.set(id, job);
      return respond(201, { id, status: "queued", message: "Fine-tuning job started" });
    }
    if (method === "GET" && path === "/api/fine-tuning/jobs") {
      for (const j of jobs.values()) {
        if (options.autoAdvance) advance(j);
        settleExport(j);
      }
      return respond(200, [...jobs.values()].map(wire));
    }
    const m = /^\/api\/fine-tuning\/jobs\/([^/]+)(?:\/(stop|progress|export))?$/.exec(path);
    if (m) {
      const job = jobs.get(decodeURIComponent(m[1] ?? ""));
      if (!job) return respond(404, { error: `job not found: ${m[1]}` });
      const action = m[2];
      if (method === "GET" && action === undefined) {
        if (options.autoAdvance) advance(job);
        settleExport(job);
        return respond(200, wire(job));
      }
      if (method === "POST" && action === "stop") {
        if (TERMINAL.has(job.status)) return respond(404, { error: `job ${job.id} is not running` });
        job.status = "stopped";
        job.message = "Training stopped by user";
        return respond(200, { status: "stopped", message: "Fine-tuning job stopped" });
      }
      if (method === "GET" && action === "progress") {
        res.writeHead(200, {
          "content-type": "text/event-stream",
          "cache-control": "no-cache",
          connection: "keep-alive",
        });
        for (const e of job.progress) res.write(`data: ${JSON.stringify(e)}\n\n`);
        if (TERMINAL.has(job.status) || options.closeStreams) {
          res.end();
          return;
        }
        streams.add(res);
        res.on("close", () => streams.delete(res));
        return;
      }
      if (method === "POST" && action === "export") {
        if (job.status !== "completed") return respond(500, { error: `job ${job.id} is not completed` });
        const b = (body ?? {}) as Record<string, unknown>;
        const name = typeof b.name === "string" && b.name !== "" ? b.name : `${job.id}-export`;
        job.export_status = "exporting";
        job.export_message = "";
        job.export_model_name = name;
        job.exportReadsLeft = options.exportReads ?? 1;
        return respond(202, {
          status: "exporting",
          message: `Export started for model '${name}'`,
          model_name: name,
        });
      }
    }
    if (method === "GET" && path === "/v1/models") {
      return respond(200, { object: "list", data: [...models].map((id) => ({ id, object: "model" })) });
    }
    if (method === "POST" && path === "/v1/chat/completions") {
      const b = (body ?? {}) as { model?: string; messages?: { role: string; content: string }[] };
      const model = b.model ?? "";
      if (!models.has(model)) {
        return respond(404, { error: { code: 404, message: `model ${model} not found`, type: "" } });
      }
      const question = [...(b.messages ?? [])].reverse().find((x) => x.role === "user")?.content ?? "";
      const answer = `(${model}) You asked: ${question}`;
      return respond(200, {
        id: `chatcmpl-${randomBytes(6).toString("hex")}`,
        object: "chat.completion",
        created: Math.floor(Date.now() / 1000),
        model,
        choices: [{ index: 0, finish_reason: "stop", message: { role: "assistant", content: answer } }],
        usage: { prompt_tokens: 12, completion_tokens: 9, total_tokens: 21 },
      });
    }
    respond(404, { error: `no route for ${method} ${path}` });
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) json(res, 500, { error: String(err) });
      else res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    jobs,
    datasets,
    models,
    setStatus(id, status, message) {
      const job = jobs.get(id);
      if (!job) throw new Error(`no job ${id}`);
      job.status = status;
      if (message !== undefined) job.message = message;
      if (TERMINAL.has(status)) for (const s of streams) s.end();
    },
    addProgress(id, event) {
      jobs.get(id)?.progress.push(event);
    },
    fail(match, status, count = 1) {
      faults.push({ ...match, status, count, afterHandling: false });
    },
    failAfterHandling(match) {
      faults.push({ ...match, status: 500, count: 1, afterHandling: true });
    },
    openStreams: () => streams.size,
    close: async () => {
      for (const s of streams) s.end();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
