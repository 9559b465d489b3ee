// Runs the real CLI dispatcher (runCli) in this process with captured output: what a terminal would show.
import { PassThrough } from "node:stream";
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
