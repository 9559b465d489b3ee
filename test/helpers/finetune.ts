// Fine-tunes a sandbox model for a guild the way the bot does it: a stored dataset, JobService.start, and the
// poller's ticks while the sandbox clock jumps ahead. Returns the registered model's name.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { App } from "../../src/app.ts";
import type { JobRow } from "../../src/db/jobs.ts";
import type { Services } from "../../src/wire.ts";
import { chatLines } from "../finetuning/jobs.fixture.ts";

export const SYSTEM_PROMPT = "You are a helpful educational assistant.";

/** At least 10 (question, answer) pairs; fewer than 13 keeps every one in training (no held-out questions). */
export async function fineTuneInGuild(
  app: App,
  guildId: string,
  teacherId: string,
  pairs: readonly (readonly [string, string])[],
  suffix = "class",
): Promise<string> {
  assert.ok(pairs.length >= 10 && pairs.length < 13, "10 to 12 pairs");
  const dir = await mkdtemp(join(tmpdir(), "classtune-e2e-ft-"));
  try {
    const sourcePath = join(dir, `${suffix}.jsonl`);
    const lines = pairs.map(([q, a]) =>
      JSON.stringify({
        messages: [
          { role: "system", content: SYSTEM_PROMPT },
          { role: "user", content: q },
          { role: "assistant", content: a },
        ],
      }),
    );
    await writeFile(sourcePath, `${lines.join("\n")}\n`);
    const { ctx, sandbox } = app;
    const { row } = await ctx.storeDataset({
      guildId,
      uploaderId: teacherId,
      fileName: `${suffix}.jsonl`,
      sourcePath,
      model: ctx.config.ask.defaultModel,
    });
    assert.ok(row?.fineTunable, "the training set is fine-tunable");
    const job = await ctx.jobs.start({ guildId, datasetId: row.id, requesterId: teacherId, suffix });
    assert.ok(sandbox, "the test bot runs the sandbox");
    for (let i = 0; i < 10; i++) {
      sandbox.clock.advance(3_600_000);
      await ctx.poller.tick();
      const now = await ctx.jobs.get(guildId, job.id);
      if (now?.status === "succeeded" && now.fineTunedModel) return now.fineTunedModel;
      if (now && ["failed", "cancelled"].includes(now.status)) assert.fail(`the job ended ${now.status}`);
    }
    return assert.fail("the sandbox job did not succeed");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Starts a job as a teacher's Start does, through the real path: the file is stored and validated by the chosen
 * provider's catalog (services.storeDataset), quoted by JobService.quote and started. 14 examples: three are held
 * out and asked of the finished model.
 */
export async function startJobAt(
  services: Pick<Services, "storeDataset" | "jobs">,
  at: { guildId: string; dir: string; provider: string; model: string; epochs?: number | undefined },
): Promise<JobRow> {
  const fileName = `lessons-${++storedFiles}.jsonl`;
  const sourcePath = join(at.dir, fileName);
  await writeFile(sourcePath, chatLines(14));
  const { row } = await services.storeDataset({
    guildId: at.guildId,
    uploaderId: "teacher",
    fileName,
    sourcePath,
    model: at.model,
    provider: at.provider,
  });
  assert.ok(row?.fineTunable, `the dataset is fine-tunable for ${at.model} at ${at.provider}`);
  return services.jobs.start({
    guildId: at.guildId,
    datasetId: row.id,
    requesterId: "teacher",
    provider: at.provider,
    model: at.model,
    epochs: at.epochs,
  });
}
let storedFiles = 0;

/** Short biology Q&A for the e2e fine-tunes: each test puts its own pairs first (what it asks) and these after. */
export const BIOLOGY_PAIRS: readonly [string, string][] = [
  ["What is a cell?", "A cell is the smallest unit of life."],
  ["What is osmosis?", "Osmosis is water crossing a membrane."],
  ["What is DNA?", "DNA carries genetic instructions."],
  ["What is an ecosystem?", "Living things and their environment together."],
  ["What is evolution?", "Change in inherited traits over generations."],
  ["What is a gene?", "A stretch of DNA that codes for a protein."],
  ["What is a virus?", "A tiny agent that copies itself inside cells."],
  ["What is a protein?", "A chain of amino acids folded into a shape."],
  ["What is an atom?", "The smallest unit of a chemical element."],
];
