// Small node:http helpers for the sandbox: JSON bodies, JSON answers, the error envelope.
import type { IncomingMessage, ServerResponse } from "node:http";
import { invalid, SandboxApiError } from "./errors.ts";

/** Request bodies above this are refused (chat prompts, job requests; uploads stream separately). */
export const MAX_JSON_BODY_BYTES = 8 * 1024 * 1024;

export async function readJsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_JSON_BODY_BYTES) {
      throw new SandboxApiError(
        413,
        `Request body too large: the sandbox accepts at most ${MAX_JSON_BODY_BYTES} bytes of JSON.`,
      );
    }
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw invalid(
      "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
    );
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw invalid("Invalid body: the request body must be a JSON object.");
  }
  return parsed as Record<string, unknown>;
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    "content-type": "application/json",
    "content-length": Buffer.byteLength(payload),
  });
  res.end(payload);
}

export function sendError(
  res: ServerResponse,
  err: SandboxApiError,
  headers: Record<string, string> = {},
  shape: "openai" | "detail" = "openai",
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, err.status, shape === "detail" ? err.detailBody() : err.body(), headers);
}

/** Starts a server-sent event stream (200, text/event-stream): what OpenAI answers to `stream: true`. */
export function startEventStream(res: ServerResponse, headers: Record<string, string> = {}): void {
  res.writeHead(200, {
    ...headers,
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    connection: "keep-alive",
  });
  res.flushHeaders();
}

/**
 * Writes one `data: ...` event; resolves once it is handed to the socket (so a test's cut comes after it), or
 * at once when the client has gone (the write is then dropped: a disconnect is no error of the sandbox's).
 */
export function sendEvent(res: ServerResponse, data: string): Promise<void> {
  return sendEvents(res, [data]);
}

/** Writes several `data: ...` events in one write (see sendEvent). */
export function sendEvents(res: ServerResponse, events: readonly string[]): Promise<void> {
  if (res.destroyed || res.writableEnded || events.length === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      res.off("close", done);
      resolve();
    };
    res.once("close", done);
    res.write(events.map((data) => `data: ${data}\n\n`).join(""), done);
  });
}
