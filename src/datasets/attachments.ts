// Downloads a user's attachment safely: only from allowed hosts (checked before any request is made),
// https except for loopback, redirects re-checked, and a size cap enforced on the declared size, on
// Content-Length, and on the bytes actually received. A partial file is removed on any failure.
import { createWriteStream } from "node:fs";
import { rm } from "node:fs/promises";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { UserError } from "../domain/errors.ts";

export interface AttachmentPolicy {
  /** `host` (default port only) or `host:port`, lower-case. */
  allowedHosts: readonly string[];
  maxBytes: number;
}

export interface AttachmentSource {
  url: string;
  /** The size Discord declares for the attachment, checked before downloading. */
  size?: number | undefined;
  name: string;
}

const MAX_REDIRECTS = 3;
const DOWNLOAD_TIMEOUT_MS = 120_000;

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || /^127\.\d+\.\d+\.\d+$/.test(hostname) || hostname === "[::1]";
}

/** Throws a UserError unless `raw` is an allowed attachment URL. Makes no request. */
export function checkAttachmentUrl(raw: string, policy: AttachmentPolicy): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UserError("That attachment link is not a valid URL.", "attachment_url");
  }
  const hostname = url.hostname.toLowerCase();
  if (url.protocol !== "https:" && !(url.protocol === "http:" && isLoopback(hostname))) {
    throw new UserError(
      `Attachments are only downloaded over https (got ${url.protocol}).`,
      "attachment_url",
    );
  }
  const defaultPort = url.protocol === "https:" ? "443" : "80";
  const port = url.port || defaultPort;
  const allowed = policy.allowedHosts.some((entry) => {
    const m = /^(.*?)(?::(\d+))?$/.exec(entry);
    const host = m?.[1] ?? entry;
    const entryPort = m?.[2] ?? defaultPort;
    return host === hostname && entryPort === port;
  });
  if (!allowed) {
    throw new UserError(
      `Attachments are only accepted from ${policy.allowedHosts.join(", ")}; ${url.host} is not one of them.`,
      "attachment_host",
    );
  }
  return url;
}

function tooBig(bytes: number, policy: AttachmentPolicy): UserError {
  return new UserError(
    `That file is ${formatBytes(bytes)}; the limit is ${formatBytes(policy.maxBytes)}. Split the dataset or remove examples.`,
    "attachment_too_large",
  );
}

/**
 * Streams the attachment to `destPath`, returning the number of bytes written.
 * Every refusal is a UserError with a specific message; nothing is left on disk after one.
 */
export async function downloadAttachment(
  source: AttachmentSource,
  policy: AttachmentPolicy,
  destPath: string,
  io: { fetch?: typeof fetch; signal?: AbortSignal } = {},
): Promise<number> {
  let url = checkAttachmentUrl(source.url, policy);
  if (source.size !== undefined && source.size > policy.maxBytes) throw tooBig(source.size, policy);
  const doFetch = io.fetch ?? fetch;
  const signal = io.signal
    ? AbortSignal.any([io.signal, AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS)])
    : AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS);

  let response: Response | undefined;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    try {
      response = await doFetch(url, { redirect: "manual", signal });
    } catch (err) {
      throw new UserError(
        `Could not download ${source.name}: ${err instanceof Error ? err.message : String(err)}.`,
        "attachment_fetch",
      );
    }
    const location = response.headers.get("location");
    if (response.status >= 300 && response.status < 400 && location) {
      await response.body?.cancel();
      url = checkAttachmentUrl(new URL(location, url).toString(), policy);
      continue;
    }
    break;
  }
  if (!response || (response.status >= 300 && response.status < 400)) {
    throw new UserError(`Could not download ${source.name}: too many redirects.`, "attachment_fetch");
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw new UserError(
      `Could not download ${source.name}: the server answered ${response.status}.`,
      "attachment_fetch",
    );
  }
  const declared = Number(response.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > policy.maxBytes) {
    await response.body.cancel();
    throw tooBig(declared, policy);
  }

  let received = 0;
  const cap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      received += chunk.length;
      if (received > policy.maxBytes) done(tooBig(received, policy));
      else done(null, chunk);
    },
  });
  try {
    await pipeline(
      Readable.fromWeb(response.body as unknown as WebReadableStream<Uint8Array>),
      cap,
      createWriteStream(destPath),
    );
  } catch (err) {
    await rm(destPath, { force: true });
    if (err instanceof UserError) throw err;
    throw new UserError(
      `Could not download ${source.name}: ${err instanceof Error ? err.message : String(err)}.`,
      "attachment_fetch",
    );
  }
  // A body cut short (by the server's framing or the network) must not be stored as if it were the dataset.
  if (source.size !== undefined && received !== source.size) {
    await rm(destPath, { force: true });
    throw new UserError(
      `The download of ${source.name} was incomplete (${formatBytes(received)} of ${formatBytes(source.size)}). Please try again.`,
      "attachment_incomplete",
    );
  }
  return received;
}
