// The sandbox's state lives in its sandbox_* tables: a restart on the same database keeps files,
// jobs and events, and training carries on from the clock.
import assert from "node:assert/strict";
import { createReadStream, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { manualClock } from "../../src/sandbox/clock.ts";
import { QUESTIONS, startRig, writeTrainingFile } from "./helpers.ts";

test("a restart on the same database keeps the jobs, and their progress continues from the clock", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sandbox-restart-"));
  const dbPath = join(dir, "sandbox.db");
  const clock = manualClock();
  try {
    const first = await startRig({ dir, dbPath, clock });
    const file = await first.client.files.create({
      file: createReadStream(writeTrainingFile(dir, 12)),
      purpose: "fine-tune",
    });
    const job = await first.client.fineTuning.jobs.create({
      model: "gpt-4o-mini",
      training_file: file.id,
      metadata: { classtune_job: "7" },
    });
    clock.advance(50_000); // running, step 10
    const before = await first.client.fineTuning.jobs.retrieve(job.id);
    assert.equal(before.status, "running");
    const eventsBefore = await first.client.fineTuning.jobs.listEvents(job.id, { limit: 100 });
    await first.close();

    clock.advance(5_000);
    const second = await startRig({ dir, dbPath, clock });
    try {
      const listed = await second.client.fineTuning.jobs.list({ metadata: { classtune_job: "7" } });
      assert.deepEqual(
        listed.data.map((j) => j.id),
        [job.id],
      );
      assert.equal(listed.data[0]?.status, "running");
      const eventsAfter = await second.client.fineTuning.jobs.listEvents(job.id, { limit: 100 });
      // The old events are the same objects, and five more steps (and a checkpoint) have been reported since.
      assert.deepEqual(eventsAfter.data.slice(-eventsBefore.data.length), eventsBefore.data);
      assert.equal(eventsAfter.data.length, eventsBefore.data.length + 6);
      assert.match(eventsAfter.data[0]?.message ?? "", /^Step 15\//);
      assert.equal((await second.client.files.retrieve(file.id)).bytes, file.bytes);

      clock.advance(10_000_000);
      const done = await second.client.fineTuning.jobs.retrieve(job.id);
      assert.equal(done.status, "succeeded");
      const [q, a] = QUESTIONS[3] ?? ["", ""];
      const reply = await second.client.chat.completions.create({
        model: done.fine_tuned_model ?? "",
        messages: [{ role: "user", content: q }],
      });
      assert.equal(reply.choices[0]?.message.content, a);
    } finally {
      await second.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
