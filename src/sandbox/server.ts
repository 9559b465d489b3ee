// The embedded OpenAI-compatible sandbox: node:http on 127.0.0.1 serving the files, fine-tuning,
// models, chat and moderation endpoints classtune uses, shaped per OpenAI's spec, with simulated training on an
// injectable clock, state in the sandbox_* tables, and fault injection for tests. Beside OpenAI's /v1 it
// serves an open-model host's deploy step under /v0 (Nebius's custom-model API), told apart by path, and
// Together's dedicated endpoints under /v1/endpoints (paths OpenAI does not use).
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { builtInCatalog } from "../datasets/catalog.ts";
import type { ValidationReport } from "../datasets/types.ts";
import { validateFile } from "../datasets/validator.ts";
import type { Db } from "../db/open.ts";
import { type Logger, silentLogger } from "../logger.ts";
import { IndexCache } from "./chat.ts";
import { realClock, type SandboxClock } from "./clock.ts";
import { ANSWERED, createState, NO_CONTENT, type Route } from "./context.ts";
import { SandboxApiError } from "./errors.ts";
import { FaultInjector } from "./faults.ts";
import { sendError, sendJson } from "./http.ts";
import { chatRoutes } from "./routes/chat.ts";
import { deploymentRoutes } from "./routes/deployments.ts";
import { endpointRoutes } from "./routes/endpoints.ts";
import { fileRoutes } from "./routes/files.ts";
import { jobRoutes } from "./routes/jobs.ts";
import { modelRoutes } from "./routes/models.ts";
import { moderationRoutes } from "./routes/moderations.ts";
import { SandboxStore } from "./store.ts";

export { MAX_UPLOAD_BYTES } from "./routes/files.ts";

export interface SandboxOptions {
  /** better-sqlite3, from openDb(); the sandbox applies its own migrations (sandbox_* tables). */
  db: Db;
  /** Uploaded files go to <dataDir>/sandbox-files. */
  dataDir: string;
  /** A loopback address (127.x.x.x, ::1 or localhost); default 127.0.0.1. Any other is refused. */
  host?: string | undefined;
  /** 0 (default) picks a free port. */
  port?: number | undefined;
  /** Simulated training speed; default 0.05 s a step (a 20-example job finishes in about 7 s). */
  secondsPerStep?: number | undefined;
  /**
   * Tokens a second a streamed chat completion sends (one token a chunk), paced on `clock`: with manualClock()
   * the chunks come as the test advances it. Default 0: as fast as the socket takes them (the bot's configured
   * sandbox passes SANDBOX_STREAM_TOKENS_PER_SECOND instead).
   */
  streamTokensPerSecond?: number | undefined;
  /** Default: real time. Tests pass manualClock() and call advance(ms). */
  clock?: SandboxClock | undefined;
  logger?: Logger | undefined;
  faults?: FaultInjector | undefined;
  /** The validation engine; injectable for tests of the sandbox itself. */
  validate?: ((path: string, options: { model: string }) => Promise<ValidationReport>) | undefined;
}

export interface SandboxStats {
  total: number;
  /** Requests per route, e.g. "GET /fine_tuning/jobs": 3. */
  byRoute: Record<string, number>;
}

export interface SandboxHandle {
  /** e.g. http://127.0.0.1:PORT/v1: pass as baseURL to new OpenAI({ apiKey: "sandbox", baseURL }). */
  url: string;
  /** e.g. http://127.0.0.1:PORT/v0: the Nebius-style deploy API (POST /models, GET /models/{name}). */
  deployURL: string;
  faults: FaultInjector;
  clock: SandboxClock;
  stats: SandboxStats;
  close(): Promise<void>;
}

export const DEFAULT_SECONDS_PER_STEP = 0.05;

function streamRate(rate: number | undefined): number {
  if (rate === undefined) return 0;
  if (!Number.isFinite(rate) || rate < 0) {
    throw new Error(`streamTokensPerSecond must be a number ≥ 0 (0: no pacing), not ${rate}`);
  }
  return rate;
}

/** The sandbox accepts any Bearer key and holds uploaded training files: only this machine may reach it. */
const isLoopback = (host: string) => /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost)$/i.test(host);

export async function startSandbox(options: SandboxOptions): Promise<SandboxHandle> {
  const host = options.host ?? "127.0.0.1";
  if (!isLoopback(host)) {
    throw new Error(
      `the sandbox listens on loopback only (it accepts any key and holds uploaded files), not on ${host}`,
    );
  }
  const filesDir = join(options.dataDir, "sandbox-files");
  mkdirSync(filesDir, { recursive: true });
  const clock = options.clock ?? realClock();
  const faults = options.faults ?? new FaultInjector();
  const logger = options.logger ?? silentLogger;
  const state = createState({
    store: new SandboxStore(options.db),
    clock,
    faults,
    logger,
    filesDir,
    stepMs: Math.max(1, Math.round((options.secondsPerStep ?? DEFAULT_SECONDS_PER_STEP) * 1000)),
    streamTokensPerSecond: streamRate(options.streamTokensPerSecond),
    indexes: new IndexCache(),
    // The sandbox checks files by its own catalog's rules: each model's as the provider it imitates.
    validate:
      options.validate ?? ((path, o) => validateFile(path, { ...o, catalog: builtInCatalog("sandbox") })),
  });
  const stats: SandboxStats = { total: 0, byRoute: {} };
  const routes: Route[] = [
    ...fileRoutes(state),
    ...jobRoutes(state),
    ...modelRoutes(state),
    ...chatRoutes(state),
    ...moderationRoutes(state),
    ...deploymentRoutes(state),
    ...endpointRoutes(state),
  ];

  /** "/v1/files" -> v1 and "/files"; "/v0/models" -> v0 and "/models"; anything else: no API. */
  const splitPath = (pathname: string): { api: "v1" | "v0"; path: string } | undefined => {
    const m = /^\/(v1|v0)(\/.*)$/.exec(pathname);
    return m?.[1] && m[2] ? { api: m[1] as "v1" | "v0", path: m[2] } : undefined;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = Date.now();
    const headers: Record<string, string> = {
      "x-request-id": `req_${randomBytes(16).toString("hex")}`,
      "openai-organization": "org-classtune-sandbox",
      "openai-version": "2020-10-01",
    };
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    const method = (req.method ?? "GET").toUpperCase();
    res.on("finish", () => {
      logger.debug(
        { method, url: req.url, status: res.statusCode, ms: Date.now() - started },
        "sandbox: request",
      );
    });
    let shape: "openai" | "detail" = "openai";
    try {
      const url = new URL(req.url ?? "/", "http://sandbox.invalid");
      const split = splitPath(url.pathname);
      if (split?.api === "v0") shape = "detail";
      // /v1 rules match the path after /v1 (as they always have); deploy-API rules match "/v0/...".
      const fault = split ? faults.match(method, split.api === "v1" ? split.path : url.pathname) : undefined;
      if (fault && fault.latencyMs > 0) await new Promise((r) => setTimeout(r, fault.latencyMs));
      if (fault && !fault.afterHandling && (fault.error || fault.reset)) {
        req.resume();
        logger.debug(
          { method, path: url.pathname, status: fault.status, reset: fault.reset },
          "sandbox: injected fault",
        );
        if (fault.reset) req.socket.destroy();
        else if (fault.error) sendError(res, fault.error, fault.headers, shape);
        return;
      }
      const auth = req.headers.authorization;
      if (!auth || !/^Bearer\s+\S+/i.test(auth)) {
        req.resume();
        throw new SandboxApiError(
          401,
          "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY). The sandbox accepts any key.",
        );
      }
      let matched: { route: Route; params: string[] } | undefined;
      let pathMatched = false;
      if (split) {
        for (const route of routes) {
          if ((route.api ?? "v1") !== split.api) continue;
          const m = route.pattern.exec(split.path);
          if (!m) continue;
          pathMatched = true;
          if (route.method === method) {
            matched = { route, params: m.slice(1) };
            break;
          }
        }
      }
      if (!matched) {
        req.resume();
        throw new SandboxApiError(pathMatched ? 405 : 404, `Invalid URL (${method} ${url.pathname})`);
      }
      stats.total += 1;
      stats.byRoute[matched.route.name] = (stats.byRoute[matched.route.name] ?? 0) + 1;
      const result = await matched.route.handler({ req, res, url, params: matched.params, now: clock.now() });
      if (fault?.afterHandling && (fault.error || fault.reset) && result !== ANSWERED) {
        logger.debug(
          { method, path: url.pathname, status: fault.status, reset: fault.reset },
          "sandbox: injected fault after handling",
        );
        if (fault.reset) req.socket.destroy();
        else if (fault.error) sendError(res, fault.error, fault.headers, shape);
        return;
      }
      if (result === NO_CONTENT) {
        res.writeHead(204);
        res.end();
      } else if (result !== ANSWERED) {
        res.setHeader("openai-processing-ms", String(Date.now() - started));
        sendJson(res, 200, result);
      }
    } catch (err) {
      if (err instanceof SandboxApiError) {
        sendError(res, err, {}, shape);
        return;
      }
      logger.error({ err, method, url: req.url }, "sandbox: request failed");
      sendError(
        res,
        new SandboxApiError(500, "The sandbox had an error while processing your request.", {
          type: "server_error",
        }),
        {},
        shape,
      );
    }
  };

  const server: Server = createServer((req, res) => {
    void handle(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}/v1`;
  logger.info({ url }, "sandbox: listening");
  return {
    url,
    deployURL: url.replace(/\/v1$/, "/v0"),
    faults,
    clock,
    stats,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
