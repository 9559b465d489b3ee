// The fake attachment CDN: a loopback HTTP server that serves files registered by a test (the attachments a
// user "uploads" to a slash command) and files the bot uploads, and records every request it receives, so a
// test can assert that an attachment was, or was NOT, fetched. It can also misbehave on purpose: claim a
// smaller Content-Length than the body it sends, or send no Content-Length at all, to exercise size caps.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { APIAttachment } from "discord.js";
import { randomToken, snowflake } from "./ids.ts";

/** How a registered file is served. Every field is optional; the defaults behave like Discord's CDN. */
export interface CdnFileOptions {
  /** MIME type sent as Content-Type and reported in the attachment object. Default from the extension. */
  contentType?: string | undefined;
  /** The size Discord reports in the attachment object (`attachment.size`). Default: the real byte length. */
  reportedSize?: number | undefined;
  /**
   * The Content-Length header to send. Default: the real byte length. A number smaller than the body makes
   * the server write the whole body anyway (a lying server); "none" streams the body chunked, with no length.
   */
  contentLength?: number | "none" | undefined;
  /** Answer 302 with this Location instead of the file (e.g. to a host outside an allow-list). */
  redirectTo?: string | undefined;
  /** HTTP status to answer with (e.g. 404 or 500 to test download failures). Default 200. */
  status?: number | undefined;
  /** Channel id used in the URL path, as Discord does. Default: a fresh snowflake. */
  channelId?: string | undefined;
}

/** A file the CDN serves. `attachment` is the Discord attachment object to put in an interaction. */
export interface CdnFile {
  id: string;
  filename: string;
  url: string;
  /** The size reported to the bot (may differ from `bytes.length` when `reportedSize` was given). */
  size: number;
  contentType: string;
  bytes: Buffer;
  options: CdnFileOptions;
  /** The attachment object as Discord sends it in `data.resolved.attachments`. */
  attachment: APIAttachment;
}

/** One HTTP request the CDN received, whether or not it matched a file. */
export interface CdnRequest {
  method: string;
  path: string;
  /** The id of the file it matched, if any. */
  fileId: string | undefined;
  status: number;
  headers: IncomingMessage["headers"];
  at: number;
}

const CONTENT_TYPES: Record<string, string> = {
  jsonl: "application/jsonl",
  json: "application/json",
  txt: "text/plain; charset=utf-8",
  csv: "text/csv",
  md: "text/markdown",
  png: "image/png",
  jpg: "image/jpeg",
  svg: "image/svg+xml",
};

function contentTypeFor(filename: string): string {
  const ext = filename.split(".").pop()?.toLowerCase() ?? "";
  return CONTENT_TYPES[ext] ?? "application/octet-stream";
}

export class FakeCdn {
  /** Every request received, in order. */
  readonly requests: CdnRequest[] = [];
  private readonly files = new Map<string, CdnFile>();

  private constructor(
    private readonly server: Server,
    /** Base URL, e.g. http://127.0.0.1:41234 */
    readonly baseUrl: string,
  ) {}

  static async start(): Promise<FakeCdn> {
    let cdn: FakeCdn | undefined;
    const server = createServer((req, res) => cdn?.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    cdn = new FakeCdn(server, `http://127.0.0.1:${port}`);
    return cdn;
  }

  /** `host:port` of the CDN, as an allow-list entry would name it. */
  get host(): string {
    return new URL(this.baseUrl).host;
  }

  /** Registers a file and returns it; `file.attachment` is ready to use as a slash-command option value. */
  add(filename: string, content: Buffer | Uint8Array | string, options: CdnFileOptions = {}): CdnFile {
    const bytes = typeof content === "string" ? Buffer.from(content, "utf8") : Buffer.from(content);
    const id = snowflake();
    const channelId = options.channelId ?? snowflake();
    const contentType = options.contentType ?? contentTypeFor(filename);
    const expires = Math.floor(Date.now() / 1000) + 86_400;
    const query = `ex=${expires.toString(16)}&is=${Math.floor(Date.now() / 1000).toString(16)}&hm=${randomToken(16)}&`;
    const url = `${this.baseUrl}/attachments/${channelId}/${id}/${encodeURIComponent(filename)}?${query}`;
    const size = options.reportedSize ?? bytes.length;
    const file: CdnFile = {
      id,
      filename,
      url,
      size,
      contentType,
      bytes,
      options,
      attachment: { id, filename, size, url, proxy_url: url, content_type: contentType },
    };
    this.files.set(id, file);
    return file;
  }

  /** Alias of `add`, reads well at the call site: `options: { file: discord.cdn.attachment("a.jsonl", text) }`. */
  attachment(filename: string, content: Buffer | Uint8Array | string, options: CdnFileOptions = {}): CdnFile {
    return this.add(filename, content, options);
  }

  /** The file with this id, if registered. */
  file(id: string): CdnFile | undefined {
    return this.files.get(id);
  }

  /** The requests that asked for this file (by id, whatever the query string). */
  requestsFor(file: CdnFile | string): CdnRequest[] {
    const id = typeof file === "string" ? file : file.id;
    return this.requests.filter((r) => r.fileId === id);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = new URL(req.url ?? "/", this.baseUrl).pathname;
    const match = /^\/attachments\/\d+\/(\d+)\/[^/]+$/.exec(path);
    const file = match?.[1] ? this.files.get(match[1]) : undefined;
    const redirect = file?.options.redirectTo;
    const status = file ? (redirect ? 302 : (file.options.status ?? 200)) : 404;
    this.requests.push({
      method: req.method ?? "GET",
      path,
      fileId: file?.id,
      status,
      headers: req.headers,
      at: Date.now(),
    });
    if (redirect) {
      res.writeHead(302, { location: redirect }).end();
      return;
    }
    if (!file || status !== 200) {
      res.writeHead(status, { "content-type": "text/plain" }).end(file ? "error" : "Not Found");
      return;
    }
    const body = req.method === "HEAD" ? Buffer.alloc(0) : file.bytes;
    const { contentLength } = file.options;
    if (contentLength === "none") {
      res.writeHead(200, { "content-type": file.contentType });
      // Several chunks, so a reader that caps bytes must count them as they stream.
      for (let offset = 0; offset < body.length; offset += 16_384)
        res.write(body.subarray(offset, offset + 16_384));
      res.end();
      return;
    }
    if (typeof contentLength === "number" && contentLength !== file.bytes.length) {
      // Node refuses to send a body that disagrees with Content-Length, so write the response by hand.
      const socket = res.socket;
      res.detachSocket(socket as NonNullable<typeof socket>);
      socket?.end(
        Buffer.concat([
          Buffer.from(
            `HTTP/1.1 200 OK\r\ncontent-type: ${file.contentType}\r\ncontent-length: ${contentLength}\r\nconnection: close\r\n\r\n`,
          ),
          body,
        ]),
      );
      return;
    }
    res
      .writeHead(200, { "content-type": file.contentType, "content-length": String(file.bytes.length) })
      .end(body);
  }
}
