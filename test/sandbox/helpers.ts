// Shared set-up for the sandbox tests: a sandbox on a frozen clock and a real openai SDK client over loopback.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { type Db, openDb } from "../../src/db/open.ts";
import { type ManualClock, manualClock } from "../../src/sandbox/clock.ts";
import { type SandboxHandle, type SandboxOptions, startSandbox } from "../../src/sandbox/server.ts";

export interface Rig {
  sandbox: SandboxHandle;
  client: OpenAI;
  clock: ManualClock;
  db: Db;
  dir: string;
  close(): Promise<void>;
}

export async function startRig(
  options: Partial<SandboxOptions> & { dbPath?: string; dir?: string } = {},
): Promise<Rig> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "sandbox-test-"));
  const db = openDb(options.dbPath ?? ":memory:");
  const clock = (options.clock as ManualClock | undefined) ?? manualClock();
  const sandbox = await startSandbox({ db, dataDir: dir, clock, secondsPerStep: 1, ...options });
  const client = new OpenAI({ apiKey: "sandbox", baseURL: sandbox.url, maxRetries: 0 });
  return {
    sandbox,
    client,
    clock,
    db,
    dir,
    async close() {
      await sandbox.close();
      db.close();
      if (!options.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const QUESTIONS: Array<[string, string]> = [
  [
    "What is photosynthesis?",
    "Photosynthesis is how plants turn light, water and CO2 into sugar and oxygen.",
  ],
  ["Who wrote Romeo and Juliet?", "William Shakespeare wrote Romeo and Juliet."],
  ["What is the capital of France?", "Paris is the capital of France."],
  ["How many legs does a spider have?", "A spider has eight legs."],
  ["What is the boiling point of water at sea level?", "Water boils at 100 °C at sea level."],
  ["What is the largest planet in our solar system?", "Jupiter is the largest planet in our solar system."],
  ["Who painted the Mona Lisa?", "Leonardo da Vinci painted the Mona Lisa."],
  ["What gas do humans breathe out?", "Humans breathe out carbon dioxide."],
  ["What is the square root of 81?", "The square root of 81 is 9."],
  ["Which ocean is the largest?", "The Pacific Ocean is the largest ocean."],
  ["What is the chemical symbol for gold?", "The chemical symbol for gold is Au."],
  ["How many continents are there?", "There are seven continents."],
];

/** A chat-format training file with the first `n` Q&A pairs (cycling with a counter past the list). */
export function writeTrainingFile(dir: string, n: number, name = `train-${n}.jsonl`): string {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const [q, a] = QUESTIONS[i % QUESTIONS.length] ?? ["?", "?"];
    const suffix = i >= QUESTIONS.length ? ` (variant ${i})` : "";
    lines.push(
      JSON.stringify({
        messages: [
          { role: "system", content: "You are a helpful classroom assistant." },
          { role: "user", content: q + suffix },
          { role: "assistant", content: a },
        ],
      }),
    );
  }
  const path = join(dir, name);
  writeFileSync(path, `${lines.join("\n")}\n`);
  return path;
}
