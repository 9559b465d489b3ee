// `classtune sandbox` as a user runs it: a real process that prints its URL, serves the SDK, and
// stops cleanly on SIGTERM; bad arguments are one clear line and exit 2.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import OpenAI from "openai";

const run = (args: string[], env: NodeJS.ProcessEnv) =>
  spawn(process.execPath, ["scripts/run.js", "src/cli.ts", "sandbox", ...args], {
    env: { ...process.env, ...env, LOG_LEVEL: "silent", OPENAI_API_KEY: "" },
    stdio: ["ignore", "pipe", "pipe"],
  });

test("the standalone sandbox prints its URL, answers the SDK, and stops on SIGTERM", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sandbox-cli-"));
  try {
    const child = run(["--port", "0"], { DATA_DIR: dir });
    let out = "";
    child.stdout.setEncoding("utf8");
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on("data", (chunk: string) => {
        out += chunk;
        const m = /listening on (http:\/\/127\.0\.0\.1:\d+\/v1)/.exec(out);
        if (m?.[1]) resolve(m[1]);
      });
      child.on("exit", (code) => reject(new Error(`exited ${code} before listening: ${out}`)));
    });
    assert.match(out, new RegExp(`OPENAI_BASE_URL=${url.replace(/[.]/g, "\\.")} OPENAI_API_KEY=sandbox`));
    const client = new OpenAI({ apiKey: "sandbox", baseURL: url, maxRetries: 0 });
    assert.ok((await client.models.list()).data.some((m) => m.id === "gpt-4o-mini-2024-07-18"));
    assert.ok(existsSync(join(dir, "sandbox.db")));

    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    child.kill("SIGTERM");
    assert.equal(await exited, 0);
    assert.match(out, /classtune sandbox stopped/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a bad --port is one clear line and exit status 2", async () => {
  const child = run(["--port", "http"], {});
  let err = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (c: string) => {
    err += c;
  });
  const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
  assert.equal(code, 2);
  assert.match(err, /--port must be a port number/);
});
