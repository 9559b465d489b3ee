// `npm run start:sharded` as an operator runs it (node scripts/run.js src/sharded.ts), against the fake Discord
// recommending 2 shards: SHARD_COUNT=auto asks the fake (DISCORD_API_URL), the ShardingManager starts one bot
// process per shard, both identify as their shard and reach READY, and SIGTERM stops them all, cleanly.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { type FakeDiscord, startFakeDiscord } from "../fakes/discord/index.ts";
import { addSchool } from "../helpers/school.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
let discord: FakeDiscord | undefined;
const dataDir = mkdtempSync(join(tmpdir(), "classtune-start-sharded-"));
after(async () => {
  await discord?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

test("start:sharded runs one READY bot process per recommended shard and stops them on SIGTERM", async () => {
  discord = await startFakeDiscord({ recommendedShards: 2 });
  const fake = discord;
  addSchool(fake);
  const child = spawn(process.execPath, ["scripts/run.js", "src/sharded.ts"], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      PATH: process.env.PATH ?? "",
      DISCORD_TOKEN: fake.token,
      DISCORD_CLIENT_ID: fake.applicationId,
      DISCORD_API_URL: fake.apiUrl,
      DATA_DIR: dataDir,
      SHARD_COUNT: "auto",
      POLL_SCHEDULE: "0 0 1 1 *",
      LOG_LEVEL: "info",
    },
  });
  let output = "";
  child.stdout.on("data", (c: Buffer) => {
    output += c.toString();
  });
  child.stderr.on("data", (c: Buffer) => {
    output += c.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  try {
    // discord.js spaces the spawns 5.5 s apart (one identify per 5 s), so the second shard comes after that.
    await fake.waitForReady({ count: 2, timeoutMs: 45_000 });
    assert.deepEqual(fake.identifies.map((i) => i.shard).sort(), [
      [0, 2],
      [1, 2],
    ]);
    const online = () => output.split("\n").filter((l) => l.includes("classtune is online")).length;
    for (const end = Date.now() + 20_000; online() < 2; await new Promise((r) => setTimeout(r, 100))) {
      if (Date.now() > end) assert.fail(`both shard processes did not come online:\n${output}`);
    }
  } finally {
    child.kill("SIGTERM");
  }
  assert.equal(await exited, 0, output);
  assert.match(output, /stopping the shard processes/);
});
