// GET /healthz and GET /readyz for a supervisor or load balancer (HEALTH_PORT; off by default). Liveness: the
// process and its event loop answer at all. Readiness: the Discord gateway is READY and the database answers a
// trivial query. Both answer the same small JSON: states and counts only, never a secret, an id or a guild's data.
// What it reads comes in through HealthSources, so this file knows neither discord.js nor better-sqlite3.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Engine } from "../db/query/store.ts";
import type { Role } from "../leadership/leadership.ts";
import { type Logger, silentLogger } from "../logger.ts";

/** The gateway as the Discord glue sees it (src/discord/gateway.ts). */
export interface GatewayHealth {
  /** True while the session is READY (false while connecting, resuming, reconnecting, or once destroyed). */
  ready: boolean;
  /** In words: "ready", "connecting", "reconnecting", "disconnected", … */
  status: string;
  /** The last heartbeat's round trip in ms, once one was measured. */
  ping?: number | undefined;
  /** Each shard this process runs. */
  shards?: Array<{ id: number; status: string; ping?: number | undefined }> | undefined;
}

export interface HealthSources {
  gateway(): GatewayHealth;
  /** Runs a trivial query: true when the database answered (a query on either engine: asynchronous). */
  databaseOk(): boolean | Promise<boolean>;
  /** Which engine the database is (default sqlite). */
  engine?: Engine | undefined;
  /** Whether this process runs the scheduled work (src/leadership/). */
  role(): Role;
  version: string;
  /** Default: process.uptime(). */
  uptimeSeconds?: (() => number) | undefined;
}

export interface HealthReport {
  status: "ok" | "ready" | "not_ready";
  /** Why it is not ready (absent when it is). */
  reasons?: string[];
  gateway: GatewayHealth;
  database: { ok: boolean; engine: Engine };
  role: Role;
  uptimeSeconds: number;
  version: string;
}

export interface HealthServer {
  /** http://host:port, the port as bound (HEALTH_PORT=0 picks a free one). */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export interface HealthServerOptions {
  sources: HealthSources;
  port: number;
  host: string;
  logger?: Logger;
}

/** A probe that takes longer than this is cut off (probes are tiny; a slow client must not hold a socket). */
const REQUEST_TIMEOUT_MS = 5_000;
const ALLOWED_METHODS = "GET, HEAD";

/** The report; `ready` decides /readyz's status (and /healthz answers "ok" whatever it says). */
export async function healthReport(sources: HealthSources, probe: "live" | "ready"): Promise<HealthReport> {
  let gateway: GatewayHealth;
  try {
    gateway = sources.gateway();
  } catch {
    gateway = { ready: false, status: "unknown" };
  }
  let dbOk: boolean;
  try {
    dbOk = await sources.databaseOk();
  } catch {
    dbOk = false;
  }
  const reasons: string[] = [];
  if (!gateway.ready) reasons.push(`the Discord gateway is not ready (${gateway.status})`);
  if (!dbOk) reasons.push("the database did not answer");
  const uptime = sources.uptimeSeconds?.() ?? process.uptime();
  const status = probe === "live" ? "ok" : reasons.length === 0 ? "ready" : "not_ready";
  return {
    status,
    ...(status === "not_ready" ? { reasons } : {}),
    gateway,
    database: { ok: dbOk, engine: sources.engine ?? "sqlite" },
    role: sources.role(),
    uptimeSeconds: Math.floor(uptime),
    version: sources.version,
  };
}

function send(res: ServerResponse, method: string | undefined, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
    ...(code === 405 ? { allow: ALLOWED_METHODS } : {}),
  });
  res.end(method === "HEAD" ? undefined : text);
}

export function startHealthServer({
  sources,
  port,
  host,
  logger = silentLogger,
}: HealthServerOptions): Promise<HealthServer> {
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? "/", "http://health").pathname;
    const probe = path === "/healthz" ? "live" : path === "/readyz" ? "ready" : undefined;
    if (probe === undefined) return send(res, req.method, 404, { status: "not_found" });
    if (req.method !== "GET" && req.method !== "HEAD")
      return send(res, req.method, 405, { status: "method_not_allowed", allow: ALLOWED_METHODS });
    const report = await healthReport(sources, probe);
    send(res, req.method, report.status === "not_ready" ? 503 : 200, report);
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      logger.error({ err }, "health probe failed");
      if (!res.headersSent) send(res, req.method, 500, { status: "error" });
      else res.destroy();
    });
  });
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.headersTimeout = REQUEST_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      server.on("error", (err) => logger.error({ err }, "health server error"));
      const bound = (server.address() as AddressInfo).port;
      const shownHost = host.includes(":") ? `[${host}]` : host;
      logger.info({ host, port: bound }, "health endpoints listening (/healthz, /readyz)");
      resolve({
        url: `http://${shownHost}:${bound}`,
        port: bound,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
