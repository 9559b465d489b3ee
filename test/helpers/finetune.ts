// Fine-tunes a sandbox model for a guild the way the bot does it: a stored dataset, JobService.start, and the
// poller's ticks while the sandbox clock jumps ahead. Returns the registered model's name.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { App } from "../../src/app.ts";

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
      const now = ctx.jobs.get(guildId, job.id);
      if (now?.status === "succeeded" && now.fineTunedModel) return now.fineTunedModel;
      if (now && ["failed", "cancelled"].includes(now.status)) assert.fail(`the job ended ${now.status}`);
    }
    return assert.fail("the sandbox job did not succeed");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
