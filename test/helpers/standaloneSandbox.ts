// A second sandbox beside the bot's embedded one: its own database and folder, on its own manual clock, as a
// provider at its URL (a standalone `classtune sandbox`, or a Nebius/Azure-shaped host). close() removes it all.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDb } from "../../src/db/open.ts";
import { type ManualClock, manualClock } from "../../src/sandbox/clock.ts";
import { type SandboxHandle, startSandbox } from "../../src/sandbox/server.ts";

export interface StandaloneSandbox {
  sandbox: SandboxHandle;
  clock: ManualClock;
  close(): Promise<void>;
}

export async function startStandaloneSandbox(name: string, secondsPerStep = 1): Promise<StandaloneSandbox> {
  const dir = mkdtempSync(join(tmpdir(), `classtune-${name}-`));
  const db = openDb(join(dir, `${name}.db`));
  const clock = manualClock();
  const sandbox = await startSandbox({ db, dataDir: dir, clock, secondsPerStep });
  return {
    sandbox,
    clock,
    async close() {
      await sandbox.close();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
