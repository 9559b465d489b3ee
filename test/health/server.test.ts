// The health endpoints over loopback, with the sources a test sets: ready and not ready, the JSON's shape,
// 404 for other paths and 405 for other methods, and nothing in the answer but states and counts.
import assert from "node:assert/strict";
import { request } from "node:http";
import { after, before, beforeEach, describe, test } from "node:test";
import { type GatewayHealth, type HealthServer, startHealthServer } from "../../src/health/server.ts";
import type { Role } from "../../src/leadership/leadership.ts";

const state: { gateway: GatewayHealth; db: boolean | "throws"; role: Role } = {
  gateway: { ready: true, status: "ready" },
  db: true,
  role: "leader",
};
let server: HealthServer;

before(async () => {
  server = await startHealthServer({
    host: "127.0.0.1",
    port: 0,
    sources: {
      gateway: () => state.gateway,
      databaseOk: () => {
        if (state.db === "throws") throw new Error("SQLITE_BUSY");
        return state.db;
      },
      role: () => state.role,
      version: "9.8.7",
      uptimeSeconds: () => 42.9,
    },
  });
});
after(() => server.close());
beforeEach(() => {
  state.gateway = { ready: true, status: "ready", ping: 41, shards: [{ id: 0, status: "ready", ping: 41 }] };
  state.db = true;
  state.role = "leader";
});

async function probe(
  path: string,
  method = "GET",
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> | undefined; text: string }> {
  const res = await fetch(`${server.url}${path}`, { method });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    body: text === "" ? undefined : (JSON.parse(text) as Record<string, unknown>),
    text,
  };
}

describe("GET /readyz", () => {
  test("answers 200 with the whole report when the gateway is READY and the database answers", async () => {
    const r = await probe("/readyz");
    assert.equal(r.status, 200);
    assert.match(r.headers.get("content-type") ?? "", /^application\/json/);
    assert.equal(r.headers.get("cache-control"), "no-store");
    assert.deepEqual(r.body, {
      status: "ready",
      gateway: { ready: true, status: "ready", ping: 41, shards: [{ id: 0, status: "ready", ping: 41 }] },
      database: { ok: true, engine: "sqlite" },
      role: "leader",
      uptimeSeconds: 42,
      version: "9.8.7",
    });
  });

  test("answers 503 with the reason while the gateway is not READY", async () => {
    state.gateway = { ready: false, status: "reconnecting", shards: [{ id: 0, status: "reconnecting" }] };
    const r = await probe("/readyz");
    assert.equal(r.status, 503);
    assert.equal(r.body?.status, "not_ready");
    assert.deepEqual(r.body?.reasons, ["the Discord gateway is not ready (reconnecting)"]);
  });

  test("answers 503 when the database does not answer, or its check throws", async () => {
    state.db = false;
    const r = await probe("/readyz");
    assert.equal(r.status, 503);
    assert.deepEqual(r.body?.reasons, ["the database did not answer"]);
    assert.deepEqual(r.body?.database, { ok: false, engine: "sqlite" });
    state.db = "throws";
    state.gateway = { ready: false, status: "connecting" };
    const both = await probe("/readyz");
    assert.equal(both.status, 503);
    assert.deepEqual(both.body?.reasons, [
      "the Discord gateway is not ready (connecting)",
      "the database did not answer",
    ]);
    assert.doesNotMatch(both.text, /SQLITE_BUSY/, "no error text leaks");
  });

  test("a follower is ready too: it serves interactions; only the scheduled work is the leader's", async () => {
    state.role = "follower";
    const r = await probe("/readyz");
    assert.equal(r.status, 200);
    assert.equal(r.body?.role, "follower");
  });
});

describe("GET /healthz", () => {
  test("answers 200 while the process runs, even when it is not ready, with the same report", async () => {
    state.gateway = { ready: false, status: "disconnected" };
    state.db = false;
    const r = await probe("/healthz");
    assert.equal(r.status, 200);
    assert.equal(r.body?.status, "ok");
    assert.equal(r.body?.reasons, undefined);
    assert.deepEqual(Object.keys(r.body ?? {}).sort(), [
      "database",
      "gateway",
      "role",
      "status",
      "uptimeSeconds",
      "version",
    ]);
  });

  test("ignores a query string, and HEAD answers the status without a body", async () => {
    assert.equal((await probe("/healthz?verbose=1")).status, 200);
    state.db = false;
    const head = await probe("/readyz", "HEAD");
    assert.equal(head.status, 503);
    assert.equal(head.text, "");
  });
});

describe("anything else", () => {
  test("other paths answer 404", async () => {
    for (const path of ["/", "/health", "/readyz/extra", "/metrics"]) {
      const r = await probe(path);
      assert.equal(r.status, 404, path);
      assert.deepEqual(r.body, { status: "not_found" });
    }
  });

  test("other methods on the probes answer 405 with Allow", async () => {
    for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
      const r = await probe("/readyz", method);
      assert.equal(r.status, 405, method);
      assert.equal(r.headers.get("allow"), "GET, HEAD");
    }
  });

  test("a raw request with an odd target is answered, not crashed on", async () => {
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const req = request(`${server.url}//healthz`, { method: "GET" }, (res) => {
        res.resume();
        resolve(res.statusCode);
      });
      req.on("error", reject);
      req.end();
    });
    assert.equal(status, 404);
    assert.equal((await probe("/healthz")).status, 200, "still serving");
  });
});
