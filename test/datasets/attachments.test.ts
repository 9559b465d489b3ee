import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { checkAttachmentUrl, downloadAttachment } from "../../src/datasets/attachments.ts";

const dir = mkdtempSync(join(tmpdir(), "classtune-attach-"));
let server: Server;
let host = "";
const seen: string[] = [];

before(async () => {
  server = createServer((req: IncomingMessage, res) => {
    seen.push(req.url ?? "");
    if (req.url === "/ok.jsonl") res.end('{"a":1}\n');
    else if (req.url === "/big-declared") {
      res.writeHead(200, { "content-length": String(5000) });
      res.end("x".repeat(5000));
    } else if (req.url === "/big-chunked") {
      res.writeHead(200, { "transfer-encoding": "chunked" });
      for (let i = 0; i < 10; i++) res.write("y".repeat(1000));
      res.end();
    } else if (req.url === "/redirect-out") {
      res.writeHead(302, { location: "https://evil.test/x" });
      res.end();
    } else if (req.url === "/redirect-in") {
      res.writeHead(302, { location: "/ok.jsonl" });
      res.end();
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

const policy = () => ({ allowedHosts: [host], maxBytes: 2000 });

describe("attachment downloads", () => {
  it("accept only https or loopback http, from allowed hosts and ports", () => {
    const p = { allowedHosts: ["cdn.discordapp.com"], maxBytes: 10 };
    assert.equal(
      checkAttachmentUrl("https://cdn.discordapp.com/a/b.jsonl", p).hostname,
      "cdn.discordapp.com",
    );
    assert.throws(() => checkAttachmentUrl("http://cdn.discordapp.com/a", p), /https/);
    assert.throws(() => checkAttachmentUrl("https://cdn.discordapp.com:8443/a", p), /not one of them/);
    assert.throws(() => checkAttachmentUrl("https://evil.example/a", p), /evil\.example is not one of them/);
    assert.throws(
      () => checkAttachmentUrl("https://cdn.discordapp.com.evil.example/a", p),
      /not one of them/,
    );
    assert.throws(() => checkAttachmentUrl("not a url", p), /not a valid URL/);
  });

  it("downloads an allowed file", async () => {
    const dest = join(dir, "ok.jsonl");
    const n = await downloadAttachment(
      { url: `http://${host}/ok.jsonl`, name: "ok.jsonl", size: 8 },
      policy(),
      dest,
    );
    assert.equal(n, 8);
    assert.equal(readFileSync(dest, "utf8"), '{"a":1}\n');
  });

  it("refuses a host outside the allow-list without making a request", async () => {
    const before = seen.length;
    await assert.rejects(
      downloadAttachment(
        { url: `http://${host}/ok.jsonl`, name: "x" },
        { allowedHosts: ["cdn.discordapp.com"], maxBytes: 10 },
        join(dir, "no"),
      ),
      /not one of them/,
    );
    assert.equal(seen.length, before);
  });

  it("refuses a declared size over the cap before downloading", async () => {
    const before = seen.length;
    await assert.rejects(
      downloadAttachment(
        { url: `http://${host}/ok.jsonl`, name: "x", size: 5000 },
        policy(),
        join(dir, "no"),
      ),
      /4\.9 KiB; the limit is 2\.0 KiB/,
    );
    assert.equal(seen.length, before);
  });

  it("stops a body that outgrows the cap, by header or by bytes, and leaves no file", async () => {
    for (const path of ["/big-declared", "/big-chunked"]) {
      const dest = join(dir, `partial${path.replace("/", "-")}`);
      await assert.rejects(
        downloadAttachment({ url: `http://${host}${path}`, name: "x" }, policy(), dest),
        /limit is/,
      );
      assert.equal(existsSync(dest), false);
    }
  });

  it("refuses a download whose size differs from the size Discord declared", async () => {
    const dest = join(dir, "short.jsonl");
    await assert.rejects(
      downloadAttachment({ url: `http://${host}/ok.jsonl`, name: "ok.jsonl", size: 20 }, policy(), dest),
      /incomplete \(8 B of 20 B\)/,
    );
    assert.equal(existsSync(dest), false);
  });

  it("follows a redirect only to an allowed host", async () => {
    await assert.rejects(
      downloadAttachment({ url: `http://${host}/redirect-out`, name: "x" }, policy(), join(dir, "r1")),
      /evil\.test is not one of them/,
    );
    const n = await downloadAttachment(
      { url: `http://${host}/redirect-in`, name: "x" },
      policy(),
      join(dir, "r2"),
    );
    assert.equal(n, 8);
  });
});
