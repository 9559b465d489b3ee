// A fake of Fireworks AI on one loopback port, following docs.fireworks.ai's API reference: the REST API under
// /v1/accounts/{account}/ (datasets with :upload as multipart, supervisedFineTuningJobs with the caller's
// supervisedFineTuningJobId, :cancel, deployments with deploymentId, models), gRPC-gateway's error envelope
// {code, message, details} (409 ALREADY_EXISTS, 404 NOT_FOUND), a job's loss in a JSONL metrics file at a signed
// URL (lines {step, timestamp, data: {"train/loss", "train/epoch"}}) and the OpenAI-compatible chat at
// /inference/v1/chat/completions, where a fine-tune answers only on a READY deployment, called as
// "<model>#accounts/<a>/deployments/<id>". Jobs move one state per read (CREATING → VALIDATING → RUNNING →
// COMPLETED) unless held. Every request is recorded so tests assert its shape and auth.
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import busboy from "busboy";

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: unknown;
}

export interface FakeDataset {
  id: string;
  state: "UPLOADING" | "READY";
  content: string | null;
  /** Reads left before an uploaded dataset shows READY. */
  readsUntilReady: number;
}

export interface FakeJob {
  id: string;
  body: Record<string, unknown>;
  state: string;
  createTime: string;
  /** States still to come, one per read; empty: it stays. */
  script: string[];
  held: boolean;
  statusMessage: string | null;
}

export interface FakeDeployment {
  id: string;
  baseModel: string;
  state: "CREATING" | "READY" | "FAILED" | "DELETING";
  readsUntilReady: number;
  deleted: boolean;
}

interface Fault {
  method: string;
  path: RegExp;
  status: number;
  /** "before": refuse; "after": do the work, then answer the error (an ambiguous create). */
  when: "before" | "after" | "drop";
  times: number;
}

export interface FakeFireworks {
  /** The inference root (…/inference/v1): the entry's baseURL. */
  baseURL: string;
  /** The server's root. */
  url: string;
  account: string;
  apiKey: string;
  requests: RecordedRequest[];
  datasets: Map<string, FakeDataset>;
  jobs: Map<string, FakeJob>;
  deployments: Map<string, FakeDeployment>;
  /** PUTs to the signed upload URLs (large files). */
  signedUploads: RecordedRequest[];
  /** Requests to the signed metrics URLs. */
  metricsReads: RecordedRequest[];
  /** Every chat request's model. */
  chatModels: string[];
  /** Answer matching requests with `status` (gRPC-gateway error) `times` times. */
  fail(match: { method: string; path: RegExp }, status: number, times?: number, when?: Fault["when"]): void;
  /** Keeps a job in its state (or sets one) until released. */
  hold(id: string, state?: string): void;
  release(id: string, script?: string[]): void;
  /** Injected failures not yet served. */
  pendingFaults(): number;
  /** Runs once, when a job next enters `state` (to start a storm while it trains). */
  onJobState(state: string, fn: () => void): void;
  close(): Promise<void>;
}

export const FAKE_FIREWORKS_SCRIPT = [
  "JOB_STATE_VALIDATING",
  "JOB_STATE_RUNNING",
  "JOB_STATE_RUNNING",
  "JOB_STATE_COMPLETED",
];

const GRPC: Record<number, [number, string]> = {
  400: [3, "INVALID_ARGUMENT"],
  401: [16, "UNAUTHENTICATED"],
  403: [7, "PERMISSION_DENIED"],
  404: [5, "NOT_FOUND"],
  409: [6, "ALREADY_EXISTS"],
  429: [8, "RESOURCE_EXHAUSTED"],
  500: [13, "INTERNAL"],
  503: [14, "UNAVAILABLE"],
};

export async function startFakeFireworks(
  options: { account?: string; apiKey?: string; script?: string[]; deployReadsUntilReady?: number } = {},
): Promise<FakeFireworks> {
  const account = options.account ?? "school-lab";
  const apiKey = options.apiKey ?? ["fw", "test", randomBytes(6).toString("hex")].join("_");
  const script = options.script ?? FAKE_FIREWORKS_SCRIPT;
  const requests: RecordedRequest[] = [];
  const metricsReads: RecordedRequest[] = [];
  const signedUploads: RecordedRequest[] = [];
  const chatModels: string[] = [];
  const datasets = new Map<string, FakeDataset>();
  const jobs = new Map<string, FakeJob>();
  const deployments = new Map<string, FakeDeployment>();
  const faults: Fault[] = [];
  const stateHooks: Array<{ state: string; fn: () => void }> = [];
  let url = "";

  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, {
      "content-type": "application/json",
      "x-request-id": randomBytes(6).toString("hex"),
    });
    res.end(JSON.stringify(body));
  };
  const grpcError = (res: ServerResponse, status: number, message: string) => {
    const [code, name] = GRPC[status] ?? [2, "UNKNOWN"];
    send(res, status, { code, message, details: [], status: name });
  };

  const prefix = `/v1/accounts/${account}`;
  const jobName = (id: string) => `accounts/${account}/supervisedFineTuningJobs/${id}`;

  const metricsFor = (job: FakeJob): string => {
    const steps = job.state === "JOB_STATE_RUNNING" ? 2 : 4;
    const base = Date.parse(job.createTime) / 1000;
    return Array.from({ length: steps }, (_, i) => {
      const step = i + 1;
      const loss = Number((2.2 / step).toFixed(4));
      // Both shapes Fireworks has written: nested under data, and flattened.
      return step % 2 === 1
        ? JSON.stringify({ step, timestamp: base + step, data: { "train/loss": loss, "train/epoch": 0 } })
        : JSON.stringify({ step, "train/step": step, "train/loss": loss, "train/lr": 0.0001 });
    }).join("\n");
  };

  const jobView = (job: FakeJob) => {
    const running = job.state === "JOB_STATE_RUNNING";
    const done = job.state === "JOB_STATE_COMPLETED" || job.state === "JOB_STATE_EARLY_STOPPED";
    return {
      name: jobName(job.id),
      displayName: job.body.displayName ?? "",
      dataset: job.body.dataset,
      baseModel: job.body.baseModel,
      outputModel: job.body.outputModel ?? `accounts/${account}/models/${job.id}`,
      epochs: job.body.epochs ?? 1,
      state: job.state,
      status: {
        code: job.state === "JOB_STATE_FAILED" ? "INTERNAL" : "OK",
        message: job.statusMessage ?? "",
      },
      createTime: job.createTime,
      updateTime: new Date().toISOString(),
      ...(done ? { completedTime: new Date().toISOString() } : {}),
      jobProgress: { percent: done ? 100 : running ? 50 : 0, epoch: 0 },
      ...(running || done
        ? {
            metricsFileSignedUrl: `${url}/signed/metrics/${job.id}.jsonl?sig=${randomBytes(4).toString("hex")}`,
          }
        : {}),
    };
  };
  const advance = (job: FakeJob) => {
    if (job.held) return;
    const next = job.script.shift();
    if (!next) return;
    job.state = next;
    for (let i = stateHooks.length - 1; i >= 0; i--) {
      const hook = stateHooks[i];
      if (hook?.state === next) {
        stateHooks.splice(i, 1);
        hook.fn();
      }
    }
  };
  const deploymentView = (d: FakeDeployment) => ({
    name: `accounts/${account}/deployments/${d.id}`,
    displayName: d.id,
    baseModel: d.baseModel,
    state: d.state,
    status: {
      code: d.state === "FAILED" ? "INTERNAL" : "OK",
      message: d.state === "FAILED" ? "out of GPUs" : "",
    },
  });

  const readJson = async (req: IncomingMessage): Promise<unknown> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    if (text === "") return undefined;
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  };
  const readMultipart = (req: IncomingMessage): Promise<{ field: string; content: string } | null> =>
    new Promise((resolve, reject) => {
      const bb = busboy({ headers: req.headers });
      let found: { field: string; content: string } | null = null;
      bb.on("file", (field, stream) => {
        const parts: Buffer[] = [];
        stream.on("data", (d: Buffer) => parts.push(d));
        stream.on("end", () => {
          found = { field, content: Buffer.concat(parts).toString("utf8") };
        });
      });
      bb.on("close", () => resolve(found));
      bb.on("error", reject);
      req.pipe(bb);
    });

  const handle = async (req: IncomingMessage, res: ServerResponse, u: URL, body: unknown) => {
    const method = req.method ?? "GET";
    const path = decodeURIComponent(u.pathname);

    if (method === "POST" && path === "/inference/v1/chat/completions") {
      const b = body as { model?: string; messages?: Array<{ role: string; content: string }> };
      const model = b.model ?? "";
      chatModels.push(model);
      const m = /^(accounts\/[^/]+\/models\/[^#]+)#accounts\/([^/]+)\/deployments\/(.+)$/.exec(model);
      const d = m ? deployments.get(m[3] ?? "") : undefined;
      const serverless = model.startsWith("accounts/fireworks/models/");
      if (!serverless && (!m || !d || d.deleted || d.state !== "READY" || d.baseModel !== m[1])) {
        send(res, 404, {
          error: {
            object: "error",
            type: "invalid_request_error",
            message: `Model not found, inaccessible, and/or not deployed: ${model}`,
          },
        });
        return;
      }
      const question = b.messages?.filter((x) => x.role === "user").at(-1)?.content ?? "";
      const answer = `Fireworks (${serverless ? "serverless" : `deployment ${m?.[3]}`}) answers: ${question}`;
      send(res, 200, {
        id: `chatcmpl-${randomBytes(6).toString("hex")}`,
        object: "chat.completion",
        created: Math.floor(Date.now() / 1000),
        model,
        choices: [{ index: 0, message: { role: "assistant", content: answer }, finish_reason: "stop" }],
        usage: { prompt_tokens: 12, completion_tokens: 9, total_tokens: 21 },
      });
      return;
    }

    if (method === "POST" && path === `${prefix}/datasets`) {
      const b = body as { datasetId?: string };
      const id = b.datasetId ?? "";
      if (!/^[a-z][a-z0-9-]{0,62}$/.test(id)) return grpcError(res, 400, "invalid datasetId");
      if (datasets.has(id)) return grpcError(res, 409, `dataset ${id} already exists`);
      datasets.set(id, { id, state: "UPLOADING", content: null, readsUntilReady: 1 });
      return send(res, 200, {
        name: `accounts/${account}/datasets/${id}`,
        state: "UPLOADING",
        exampleCount: "0",
      });
    }
    let m = new RegExp(`^${prefix}/datasets/([^/:]+):(getUploadEndpoint|validateUpload)$`).exec(path);
    if (method === "POST" && m) {
      const d = datasets.get(m[1] ?? "");
      if (!d) return grpcError(res, 404, "dataset not found");
      if (m[2] === "getUploadEndpoint") {
        const sizes = (body as { filenameToSize?: Record<string, number> } | undefined)?.filenameToSize ?? {};
        const filenameToSignedUrls = Object.fromEntries(
          Object.keys(sizes).map((f) => [f, `${url}/signed/upload/${d.id}/${encodeURIComponent(f)}?sig=up`]),
        );
        return send(res, 200, { filenameToSignedUrls });
      }
      if (d.content === null) return grpcError(res, 400, "nothing was uploaded to validate");
      return send(res, 200, {});
    }
    m = new RegExp(`^${prefix}/datasets/([^/:]+):upload$`).exec(path);
    if (method === "POST" && m) {
      const d = datasets.get(m[1] ?? "");
      if (!d) return grpcError(res, 404, "dataset not found");
      const part = body as { field: string; content: string } | null;
      if (part?.field !== "file") return grpcError(res, 400, "expected a multipart field named file");
      d.content = part.content;
      return send(res, 200, {});
    }
    m = new RegExp(`^${prefix}/datasets/([^/:]+)$`).exec(path);
    if (m) {
      const d = datasets.get(m[1] ?? "");
      if (!d) return grpcError(res, 404, "dataset not found");
      if (method === "DELETE") {
        datasets.delete(d.id);
        return send(res, 200, {});
      }
      if (d.content !== null && d.state !== "READY" && --d.readsUntilReady <= 0) d.state = "READY";
      const examples = d.content ? d.content.split("\n").filter((l) => l.trim() !== "").length : 0;
      return send(res, 200, {
        name: `accounts/${account}/datasets/${d.id}`,
        state: d.state,
        exampleCount: String(examples),
      });
    }

    if (path === `${prefix}/supervisedFineTuningJobs`) {
      if (method === "POST") {
        const id =
          u.searchParams.get("supervisedFineTuningJobId") ?? `auto-${randomBytes(4).toString("hex")}`;
        if (jobs.has(id))
          return grpcError(res, 409, `supervised fine-tuning job ${jobName(id)} already exists`);
        const b = body as Record<string, unknown>;
        const datasetId =
          String(b.dataset ?? "")
            .split("/")
            .at(-1) ?? "";
        const d = datasets.get(datasetId);
        if (d?.state !== "READY") return grpcError(res, 400, `dataset ${String(b.dataset)} is not READY`);
        if (typeof b.baseModel !== "string") return grpcError(res, 400, "baseModel is required");
        const job: FakeJob = {
          id,
          body: b,
          state: "JOB_STATE_CREATING",
          createTime: new Date().toISOString(),
          script: [...script],
          held: false,
          statusMessage: null,
        };
        jobs.set(id, job);
        return send(res, 200, jobView(job));
      }
      const list = [...jobs.values()].sort((a, b) => b.createTime.localeCompare(a.createTime));
      for (const j of list) advance(j);
      const size = Number(u.searchParams.get("pageSize") ?? 50);
      const start = Number(u.searchParams.get("pageToken") ?? 0);
      const page = list.slice(start, start + size);
      return send(res, 200, {
        supervisedFineTuningJobs: page.map(jobView),
        nextPageToken: start + size < list.length ? String(start + size) : "",
        totalSize: list.length,
      });
    }
    m = new RegExp(`^${prefix}/supervisedFineTuningJobs/([^/:]+)(:cancel)?$`).exec(path);
    if (m) {
      const job = jobs.get(m[1] ?? "");
      if (!job) return grpcError(res, 404, `supervised fine-tuning job ${jobName(m[1] ?? "")} not found`);
      if (m[2] === ":cancel" && method === "POST") {
        if (!["JOB_STATE_COMPLETED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"].includes(job.state)) {
          job.state = "JOB_STATE_CANCELLED";
          job.script = [];
        }
        return send(res, 200, {});
      }
      advance(job);
      return send(res, 200, jobView(job));
    }

    if (path === `${prefix}/deployments` && method === "POST") {
      const id = u.searchParams.get("deploymentId") ?? "";
      const existing = deployments.get(id);
      if (existing && !existing.deleted) return grpcError(res, 409, `deployment ${id} already exists`);
      const b = body as { baseModel?: unknown };
      const model = typeof b.baseModel === "string" ? b.baseModel : "";
      const trained = [...jobs.values()].some(
        (j) => jobView(j).outputModel === model && j.state === "JOB_STATE_COMPLETED",
      );
      if (!trained) return grpcError(res, 400, `model ${model} is not a completed fine-tune`);
      const d: FakeDeployment = {
        id,
        baseModel: model,
        state: "CREATING",
        readsUntilReady: options.deployReadsUntilReady ?? 1,
        deleted: false,
      };
      deployments.set(id, d);
      return send(res, 200, deploymentView(d));
    }
    m = new RegExp(`^${prefix}/deployments/([^/:]+)$`).exec(path);
    if (m) {
      const d = deployments.get(m[1] ?? "");
      if (!d || d.deleted) return grpcError(res, 404, "deployment not found");
      if (method === "DELETE") {
        d.deleted = true;
        return send(res, 200, {});
      }
      if (d.state === "CREATING" && --d.readsUntilReady <= 0) d.state = "READY";
      return send(res, 200, deploymentView(d));
    }
    if (path === `${prefix}/models` && method === "GET") {
      const models = [...jobs.values()]
        .filter((j) => j.state === "JOB_STATE_COMPLETED")
        .map((j) => ({
          name: jobView(j).outputModel,
          createTime: j.createTime,
          state: "READY",
          kind: "HF_PEFT_ADDON",
        }));
      return send(res, 200, { models, nextPageToken: "" });
    }
    return grpcError(res, 404, `no route ${method} ${path}`);
  };

  const server: Server = createServer((req, res) => {
    void (async () => {
      const u = new URL(req.url ?? "/", "http://x");
      const method = req.method ?? "GET";
      const path = decodeURIComponent(u.pathname);
      const headers = Object.fromEntries(
        Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(",") : (v ?? "")]),
      );
      if (path.startsWith("/signed/upload/") && method === "PUT") {
        const [, , , id] = path.split("/");
        const d = datasets.get(id ?? "");
        const chunks: Buffer[] = [];
        for await (const c of req) chunks.push(c as Buffer);
        signedUploads.push({
          method,
          path,
          query: Object.fromEntries(u.searchParams),
          headers,
          body: undefined,
        });
        if (!d || u.searchParams.get("sig") !== "up") {
          res.writeHead(403).end();
          return;
        }
        d.content = Buffer.concat(chunks).toString("utf8");
        res.writeHead(200).end();
        return;
      }
      if (path.startsWith("/signed/metrics/")) {
        metricsReads.push({
          method,
          path,
          query: Object.fromEntries(u.searchParams),
          headers,
          body: undefined,
        });
        const job = jobs.get(path.replace("/signed/metrics/", "").replace(/\.jsonl$/, ""));
        if (!job || !u.searchParams.get("sig")) {
          res.writeHead(404).end();
          return;
        }
        res.writeHead(200, { "content-type": "application/jsonl" }).end(metricsFor(job));
        return;
      }
      const isUpload = /:upload$/.test(path);
      const body = isUpload ? await readMultipart(req) : await readJson(req);
      requests.push({
        method,
        path,
        query: Object.fromEntries(u.searchParams),
        headers,
        body: isUpload ? "(multipart)" : body,
      });
      if (headers.authorization !== `Bearer ${apiKey}`) {
        if (path.startsWith("/inference/")) {
          send(res, 401, {
            error: { message: "The API key you provided is invalid.", code: "UNAUTHORIZED" },
          });
        } else grpcError(res, 401, "invalid API key");
        return;
      }
      const fault = faults.find((f) => f.times > 0 && f.method === method && f.path.test(path));
      if (fault) fault.times -= 1;
      if (fault?.when === "before") return grpcError(res, fault.status, "injected failure");
      if (fault) {
        // Do the work, then lose or spoil the answer.
        const sink = { writeHead: () => sink, end: () => sink } as unknown as ServerResponse;
        await handle(req, sink, u, body);
        if (fault.when === "drop") {
          req.socket.destroy();
          return;
        }
        return grpcError(res, fault.status, "injected failure after the work was done");
      }
      await handle(req, res, u, body);
    })().catch((err: unknown) => {
      if (!res.headersSent) grpcError(res, 500, String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  url = `http://127.0.0.1:${port}`;
  return {
    baseURL: `${url}/inference/v1`,
    url,
    account,
    apiKey,
    requests,
    datasets,
    jobs,
    deployments,
    metricsReads,
    signedUploads,
    chatModels,
    fail(match, status, times = 1, when = "before") {
      faults.push({ ...match, status, times, when });
    },
    hold(id, state) {
      const job = jobs.get(id);
      if (!job) throw new Error(`no job ${id}`);
      job.held = true;
      if (state) job.state = state;
    },
    release(id, next) {
      const job = jobs.get(id);
      if (!job) throw new Error(`no job ${id}`);
      job.held = false;
      if (next) job.script = [...next];
    },
    pendingFaults: () => faults.reduce((n, f) => n + f.times, 0),
    onJobState(state, fn) {
      stateHooks.push({ state, fn });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
