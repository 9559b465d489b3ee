// /ask from a provider whose stream stalls: the SDK's timeout covers the request until its headers only, so a
// stream that goes quiet must be ended by classtune, or the question (its reply, its spend reservation) waits
// forever. A loopback server speaks OpenAI's SSE and then stops writing without closing.
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import type { AskResult } from "../../src/classroom/ask.ts";
import { addModel, buildHarness } from "./helpers.ts";

const G = "100000000000000001";
const HALL = "200000000000000002";
const STUDENT = "300000000000000001";
const MODEL = "stall-model";
const TIMEOUT_MS = 300;

const chunk = (delta: Record<string, unknown>) =>
  `data: ${JSON.stringify({
    id: "chatcmpl-1",
    object: "chat.completion.chunk",
    created: 0,
    model: MODEL,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: null }],
  })}\n\n`;

/** Fails the test instead of hanging it when `p` does not settle in time. */
async function within<T>(ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still waiting after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe("/ask from a stream that stalls", () => {
  let url: string;
  let close: () => Promise<void>;
  /** What the next stream writes before it goes quiet. */
  let written: string[] = [];
  let drip = false;
  const open: ServerResponse[] = [];

  before(async () => {
    const server = createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        res.writeHead(200, { "content-type": "text/event-stream" });
        for (const w of written) res.write(w);
        // A drip: a chunk well inside the timeout, forever.
        if (drip) {
          const timer = setInterval(() => res.write(chunk({ content: " more" })), 20);
          res.on("close", () => clearInterval(timer));
        }
        open.push(res); // never ended
      });
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
    close = () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
  });
  after(() => close());

  const ask = async (deltas: string[], streamDeadlineMs?: number): Promise<AskResult> => {
    const h = buildHarness({
      fineTuning: { name: "stally", url },
      timeoutMs: TIMEOUT_MS,
      ...(streamDeadlineMs === undefined ? {} : { streamDeadlineMs }),
    });
    await addModel(h, G, { name: MODEL, provider: "stally" });
    const r = await within(
      TIMEOUT_MS * 10,
      h.ask.ask(
        { guildId: G, channelId: HALL, userId: STUDENT, isTeacher: false, question: "Why?", model: MODEL },
        (d) => deltas.push(d),
      ),
    );
    const rows = h.db.prepare("SELECT error FROM ask_usage").all() as { error: string | null }[];
    return Object.assign(r, { usageErrors: rows.map((row) => row.error) });
  };

  it("a stream quiet after some text ends as an interrupted answer with what arrived", async () => {
    written = [chunk({ role: "assistant", content: "" }), chunk({ content: "Because light" })];
    const deltas: string[] = [];
    const r = (await ask(deltas)) as AskResult & { usageErrors: (string | null)[] };
    if (!r.ok) assert.fail(`expected an answer, got ${r.reason}`);
    assert.equal(r.interrupted, true);
    assert.ok(r.answer.startsWith("Because light"), r.answer);
    assert.deepEqual(deltas, ["Because light"]);
    assert.deepEqual(r.usageErrors, ["stream_timeout"]);
  });

  it("a stream quiet before any text is a timeout, not a question that never ends", async () => {
    written = [chunk({ role: "assistant", content: "" })];
    const r = (await ask([])) as AskResult & { usageErrors: (string | null)[] };
    if (r.ok) assert.fail("expected a refusal");
    assert.equal(r.reason, "provider_error");
    assert.equal(r.code, "timeout");
  });

  it("a stream that drips on past the deadline ends as an interrupted answer too", async () => {
    written = [chunk({ role: "assistant", content: "" }), chunk({ content: "Because" })];
    drip = true;
    try {
      const deltas: string[] = [];
      const r = (await ask(deltas, 200)) as AskResult & { usageErrors: (string | null)[] };
      if (!r.ok) assert.fail(`expected an answer, got ${r.reason}`);
      assert.equal(r.interrupted, true);
      assert.ok(deltas.length > 1, "the drip was read until the deadline");
      assert.deepEqual(r.usageErrors, ["stream_timeout"]);
    } finally {
      drip = false;
    }
  });
});
