// `classtune sandbox [--port N]`: the OpenAI-compatible sandbox as a standalone server on 127.0.0.1,
// with its own database (DATA_DIR/sandbox.db), until SIGINT or SIGTERM.
import { join } from "node:path";
import { loadConfig } from "../config.ts";
import { sweepLeftoverTempFiles } from "../datasets/tempFiles.ts";
import { openDb } from "../db/open.ts";
import { createLogger, secretsOf } from "../logger.ts";
import { startSandbox } from "../sandbox/server.ts";
import { useCacheDir } from "../tokenizers/tableFile.ts";
import { type CliCommand, UsageError } from "./io.ts";

export const DEFAULT_STANDALONE_PORT = 8787;

const USAGE = "usage: classtune sandbox [--port N]";

function parsePort(args: string[]): number | undefined {
  let port: number | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? "";
    const value = arg.startsWith("--port=")
      ? arg.slice("--port=".length)
      : arg === "--port"
        ? args[++i]
        : undefined;
    if (value === undefined) throw new UsageError(`unknown argument "${arg}" (${USAGE})`);
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0 || n > 65535) {
      throw new UsageError(`--port must be a port number 0–65535 (0: any free port), got "${value}"`);
    }
    port = n;
  }
  return port;
}

export const run: CliCommand = async (args, io) => {
  if (args.includes("--help") || args.includes("-h")) {
    io.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const flagPort = parsePort(args);
  const config = loadConfig(io.env);
  useCacheDir(config.cacheDir);
  const logger = createLogger(config.logLevel, undefined, { secrets: secretsOf(config) });
  await sweepLeftoverTempFiles({ dataDir: config.dataDir, logger });
  const db = openDb(join(config.dataDir, "sandbox.db"));
  const port = flagPort ?? (config.sandbox.port || DEFAULT_STANDALONE_PORT);
  let sandbox: Awaited<ReturnType<typeof startSandbox>>;
  try {
    sandbox = await startSandbox({
      db,
      dataDir: config.dataDir,
      port,
      secondsPerStep: config.sandbox.secondsPerStep,
      streamTokensPerSecond: config.sandbox.streamTokensPerSecond,
      logger,
    });
  } catch (err) {
    db.close();
    if ((err as NodeJS.ErrnoException).code === "EADDRINUSE") {
      throw new UsageError(`port ${port} is already in use; pick another with --port N`);
    }
    throw err;
  }
  io.stdout.write(
    `classtune sandbox listening on ${sandbox.url}\n` +
      `Point any OpenAI client at it, e.g.:\n` +
      `  OPENAI_BASE_URL=${sandbox.url} OPENAI_API_KEY=sandbox npm run -s classtune -- finetune data.jsonl\n` +
      `It also imitates Nebius (open models, trained as LoRA and deployed before they answer):\n` +
      `  FINETUNE_PROVIDERS='[{"name":"nebius-lab","kind":"nebius","baseURL":"${sandbox.url}","apiKeyEnv":"NEBIUS_LAB_KEY"}]' NEBIUS_LAB_KEY=sandbox\n` +
      `and Together's dedicated endpoints (a fine-tune answers only while its endpoint runs; Together bills that, here it is free):\n` +
      `  FINETUNE_PROVIDERS='[{"name":"hosting-lab","kind":"sandbox","baseURL":"${sandbox.url}","hosting":"dedicated"}]'\n` +
      `Press Ctrl+C to stop.\n`,
  );
  // A second signal during shutdown (a shell and npm both forwarding Ctrl+C) must not kill us mid-close.
  let stop = (): void => {};
  const stopped = new Promise<void>((resolve) => {
    stop = resolve;
  });
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  await stopped;
  await sandbox.close();
  db.close();
  process.off("SIGINT", stop);
  process.off("SIGTERM", stop);
  io.stdout.write("classtune sandbox stopped\n");
  return 0;
};
