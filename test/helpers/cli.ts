// Runs the real CLI dispatcher (runCli) in this process with captured output: what a terminal would show; or the
// real `classtune` command in a process of its own (spawnCli), for what only a process shows (exit codes, crashes).
import { spawn } from "node:child_process";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { fileURLToPath } from "node:url";
import type { CliIo } from "../../src/cli/io.ts";
import { runCli } from "../../src/cli/run.ts";

export interface CliRun {
  code: number;
  out: string;
  err: string;
}

export async function runCliCaptured(
  argv: string[],
  env: NodeJS.ProcessEnv,
  { stderrIsTTY = false }: { stderrIsTTY?: boolean } = {},
): Promise<CliRun> {
  const stdout = new PassThrough();
  const stderr = Object.assign(new PassThrough(), { isTTY: stderrIsTTY });
  let out = "";
  let err = "";
  stdout.on("data", (c: Buffer) => {
    out += c.toString();
  });
  stderr.on("data", (c: Buffer) => {
    err += c.toString();
  });
  const io: CliIo = { stdout, stderr, isTTY: false, env };
  const code = await runCli(argv, io);
  return { code, out, err };
}

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/**
 * The real `classtune` command (scripts/run.js src/cli.ts) in a process of its own, run in `cwd` (a temp folder: no
 * stray .env is loaded) with only PATH, LOG_LEVEL=silent and `env`: its exit status and output, whatever happens
 * inside it.
 */
export function spawnCli(
  args: string[],
  { cwd, env = {} }: { cwd: string; env?: NodeJS.ProcessEnv },
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, "scripts", "run.js"), "src/cli.ts", ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? "", LOG_LEVEL: "silent", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (b: Buffer) => {
      out += b.toString();
    });
    child.stderr.on("data", (b: Buffer) => {
      err += b.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, out, err }));
  });
}
