// The dispatcher over src/cli/<name>.ts: each command exports `run(args, io)`, loaded on demand.
import { ConfigError } from "../config.ts";
import { UserError } from "../domain/errors.ts";
import type { CliCommand, CliIo } from "./io.ts";

/** The commands, loaded on demand so `validate` does not pay for the Discord or provider code. */
const COMMANDS: Record<string, { summary: string; load: () => Promise<{ run: CliCommand }> }> = {
  validate: { summary: "check a fine-tuning dataset (JSONL)", load: () => import("./validate.ts") },
  providers: {
    summary: "the fine-tuning providers and their base models",
    load: () => import("./providers.ts"),
  },
  sample: { summary: "write a correct 23-example dataset", load: () => import("./sample.ts") },
  sandbox: { summary: "run the OpenAI-compatible sandbox server", load: () => import("./sandbox.ts") },
  usage: {
    summary: "/ask usage: questions, tokens, cost by model and day",
    load: () => import("./usage.ts"),
  },
  review: {
    summary: "/review in the terminal: recent Q&A, votes, corrections; --csv FILE",
    load: () => import("./review.ts"),
  },
  finetune: {
    summary: "validate, upload and fine-tune (--wait follows it)",
    load: () => import("./finetune.ts"),
  },
  export: {
    summary: "a guild's rated and corrected answers as a dataset (--format preference: DPO pairs)",
    load: () => import("./export.ts"),
  },
  jobs: { summary: "list fine-tuning jobs started here", load: () => import("./jobs.ts") },
  cancel: { summary: "cancel a fine-tuning job", load: () => import("./cancel.ts") },
  hosting: {
    summary: "hosting billed while it runs: what runs, its cost; --stop MODEL",
    load: () => import("./hosting.ts"),
  },
  ask: { summary: "ask a model as the educational assistant", load: () => import("./ask.ts") },
  migrate: {
    summary: "copy the SQLite database into PostgreSQL (--to postgres://…)",
    load: () => import("./migrate.ts"),
  },
};

export function printUsage(out: NodeJS.WritableStream): void {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  out.write(`usage: classtune <command> [options]\n\ncommands:\n${lines.join("\n")}\n`);
}

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    printUsage(name === undefined ? io.stderr : io.stdout);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.stderr.write(`classtune: unknown command "${name}" (try: ${Object.keys(COMMANDS).join(", ")})\n`);
    return 2;
  }
  try {
    const { run } = await command.load();
    return await run(args, io);
  } catch (err) {
    if (err instanceof UserError || err instanceof ConfigError) {
      io.stderr.write(`classtune ${name}: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}
