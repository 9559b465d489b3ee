// The classtune command line: `npm run -s classtune -- <command> [options]` (also the `classtune` bin).
// Each command lives in src/cli/<name>.ts and exports `run(args, io)`, resolving to the exit status:
// 0 success, 1 the input has problems, 2 usage or I/O error (one clear line on stderr).
import type { CliIo } from "./cli/io.ts";
import { runCli } from "./cli/run.ts";

const io: CliIo = {
  stdout: process.stdout,
  stderr: process.stderr,
  isTTY: process.stdout.isTTY === true,
  env: process.env,
};

process.exitCode = await runCli(process.argv.slice(2), io).catch((err: unknown) => {
  io.stderr.write(`classtune: ${err instanceof Error ? err.message : String(err)}\n`);
  return 2;
});
