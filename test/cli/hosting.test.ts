// `classtune hosting` from the terminal, on a Together-kind provider (the loopback fake, autoDeploy): after
// `finetune --wait` the endpoint runs and is listed with its price and cost so far; `--stop MODEL` deletes it (the
// billing stops) and nothing is listed any more; an unknown model is a clear error, and --stop needs a name.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { FinetuneResult } from "../../src/cli/finetune.ts";
import type { HostingResult } from "../../src/cli/hosting.ts";
import { type FakeTogether, startFakeTogether } from "../fakes/together/index.ts";
import { chatLines } from "../finetuning/jobs.fixture.ts";
import { type CliRun, runCliCaptured } from "../helpers/cli.ts";

const KEY = ["tg", "cli", "hosting"].join("-");
let dir: string;
let dataset: string;
let fake: FakeTogether;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "classtune-cli-hosting-"));
  dataset = join(dir, "lessons.jsonl");
  await writeFile(dataset, chatLines(12));
  fake = await startFakeTogether({ apiKey: KEY, autoAdvance: true });
});
after(async () => {
  await fake.close();
  await rm(dir, { recursive: true, force: true });
});

const cli = (...argv: string[]): Promise<CliRun> =>
  runCliCaptured(argv, {
    DATA_DIR: join(dir, "data"),
    LOG_LEVEL: "silent",
    FINETUNE_PROVIDERS: JSON.stringify([
      { name: "together", kind: "together", baseURL: fake.url, apiKeyEnv: "TG_KEY", autoDeploy: true },
    ]),
    TG_KEY: KEY,
  });

const running = () => [...fake.endpoints.values()].filter((e) => e.state !== "STOPPED");

test("lists the running endpoint with its price; --stop deletes it and the billing stops", async () => {
  const ft = await cli("finetune", dataset, "--provider", "together", "--wait", "--json");
  assert.equal(ft.code, 0, ft.err);
  const model = (JSON.parse(ft.out) as FinetuneResult).fineTunedModel ?? "";
  assert.equal(running().length, 1);

  const listed = await cli("hosting", "--json");
  assert.equal(listed.code, 0, listed.err);
  const before = JSON.parse(listed.out) as HostingResult;
  assert.equal(before.running.length, 1);
  assert.equal(before.running[0]?.model, model);
  assert.equal(before.running[0]?.usdPerHour, 3.36);
  assert.equal(before.running[0]?.hardware, "1x_nvidia_h100_80gb_sxm");
  assert.ok((before.running[0]?.minutes ?? 0) >= 1);
  assert.match(before.running[0]?.idleStopAt ?? "", /^\d{4}-\d\d-\d\dT/);

  const human = await cli("hosting");
  assert.match(human.out, /\$3\.36\/h, idle stop at \d\d:\d\d UTC/);

  const stop = await cli("hosting", "--stop", model, "--json");
  assert.equal(stop.code, 0, stop.err);
  const after = JSON.parse(stop.out) as HostingResult;
  assert.equal(after.stopped?.confirmed, true);
  assert.deepEqual(after.running, []);
  assert.equal(running().length, 0, "the endpoint is deleted");
});

test("an unknown model is a clear error; --stop needs a name", async () => {
  const unknown = await cli("hosting", "--stop", "ft:nothing-here");
  assert.equal(unknown.code, 2, "a user error, as every CLI command reports one");
  assert.match(unknown.err, /no model called "ft:nothing-here"/);
  const empty = await cli("hosting", "--stop", " ");
  assert.equal(empty.code, 2);
  assert.match(empty.err, /--stop needs a model's name/);
});
