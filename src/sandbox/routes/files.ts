// The Files API: multipart upload streamed to disk (busboy), retrieve, list, delete, content.
import { createReadStream, createWriteStream, existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import busboy from "busboy";
import { ANSWERED, type Handler, parseLimit, type Route, type SandboxState } from "../context.ts";
import { invalid, missingParam, notFound, type SandboxApiError } from "../errors.ts";
import { randomId } from "../trainer.ts";
import { fileView } from "../views.ts";

export const MAX_UPLOAD_BYTES = 512 * 1024 * 1024;
const PURPOSES = new Set(["assistants", "batch", "fine-tune", "vision", "user_data", "evals"]);

export function fileRoutes(s: SandboxState): Route[] {
  const { store, filesDir, logger } = s;

  const uploadFile: Handler = ({ req, now }) =>
    new Promise((resolve, reject) => {
      let bb: busboy.Busboy;
      try {
        bb = busboy({ headers: req.headers, limits: { files: 1, fileSize: MAX_UPLOAD_BYTES } });
      } catch {
        reject(invalid("Invalid content type: uploads must be multipart/form-data.", "file"));
        return;
      }
      const id = randomId("file-", 22);
      const path = join(filesDir, id);
      let purpose: string | undefined;
      let filename: string | undefined;
      let bytes = 0;
      let truncated = false;
      let written: Promise<void> | undefined;
      bb.on("field", (name, value) => {
        if (name === "purpose") purpose = value;
      });
      bb.on("file", (name, stream, info) => {
        if (name !== "file" || written) {
          stream.resume();
          return;
        }
        filename = info.filename || "upload.jsonl";
        stream.on("data", (chunk: Buffer) => {
          bytes += chunk.length;
        });
        stream.on("limit", () => {
          truncated = true;
        });
        written = pipeline(stream, createWriteStream(path));
        // Awaited on "close"; this keeps an aborted upload from becoming an unhandled rejection.
        written.catch(() => {});
      });
      const fail = (err: SandboxApiError): void => {
        rmSync(path, { force: true });
        reject(err);
      };
      bb.on("error", () => fail(invalid("The multipart body could not be parsed.", "file")));
      req.on("error", () => fail(invalid("The upload was interrupted.", "file")));
      bb.on("close", () => {
        void (async () => {
          try {
            if (!written || filename === undefined) throw missingParam("file");
            await written;
            if (truncated)
              throw invalid(`File too large: the sandbox accepts at most ${MAX_UPLOAD_BYTES} bytes.`, "file");
            if (purpose === undefined) throw missingParam("purpose");
            if (!PURPOSES.has(purpose)) {
              throw invalid(
                `Invalid value for 'purpose': expected one of ${[...PURPOSES].map((p) => `'${p}'`).join(", ")}, got '${purpose}'.`,
                "purpose",
                "invalid_value",
              );
            }
            if (purpose === "fine-tune" && !filename.toLowerCase().endsWith(".jsonl")) {
              throw invalid("Invalid file format for Fine-Tuning API. Must be .jsonl", "file");
            }
            const row = { id, filename, purpose, bytes, path, createdAt: Math.floor(now / 1000) };
            store.insertFile(row);
            logger.debug({ file: id, bytes, purpose }, "sandbox: file uploaded");
            resolve(fileView(row));
          } catch (err) {
            rmSync(path, { force: true });
            reject(err);
          }
        })();
      });
      req.pipe(bb);
    });

  const fileOr404 = (id: string) => {
    const file = store.getFile(id);
    if (!file) throw notFound(`No such File object: ${id}`, "id");
    return file;
  };

  return [
    { method: "POST", pattern: /^\/files$/, name: "POST /files", handler: uploadFile },
    {
      method: "GET",
      pattern: /^\/files$/,
      name: "GET /files",
      handler: ({ url }) => {
        const order = url.searchParams.get("order") === "asc" ? "asc" : "desc";
        const limit = parseLimit(url, 10000, 10000);
        const rows = store.listFiles({
          purpose: url.searchParams.get("purpose") ?? undefined,
          after: url.searchParams.get("after") ?? undefined,
          limit: limit + 1,
          order,
        });
        const data = rows.slice(0, limit).map(fileView);
        return {
          object: "list",
          data,
          first_id: (data[0]?.id as string | undefined) ?? null,
          last_id: (data[data.length - 1]?.id as string | undefined) ?? null,
          has_more: rows.length > limit,
        };
      },
    },
    {
      method: "GET",
      pattern: /^\/files\/([^/]+)$/,
      name: "GET /files/:id",
      handler: ({ params }) => fileView(fileOr404(params[0] ?? "")),
    },
    {
      method: "DELETE",
      pattern: /^\/files\/([^/]+)$/,
      name: "DELETE /files/:id",
      handler: ({ params }) => {
        const file = fileOr404(params[0] ?? "");
        store.deleteFile(file.id);
        rmSync(file.path, { force: true });
        return { id: file.id, object: "file", deleted: true };
      },
    },
    {
      method: "GET",
      pattern: /^\/files\/([^/]+)\/content$/,
      name: "GET /files/:id/content",
      handler: async ({ params, res }) => {
        const file = fileOr404(params[0] ?? "");
        if (!existsSync(file.path)) throw notFound(`The content of ${file.id} is no longer available.`, "id");
        res.writeHead(200, { "content-type": "application/octet-stream", "content-length": file.bytes });
        await pipeline(createReadStream(file.path), res);
        return ANSWERED;
      },
    },
  ];
}
