// Listing jobs the way the poller does: newest first, pages of up to 100 with `after`/`has_more`,
// and the `metadata[k]=v` filter classtune uses to find its own jobs.
import assert from "node:assert/strict";
import { createReadStream } from "node:fs";
import { after, before, describe, test } from "node:test";
import type OpenAI from "openai";
import { type Rig, startRig, writeTrainingFile } from "./helpers.ts";

describe("sandbox job listing", () => {
  let rig: Rig;
  const ids: string[] = [];
  before(async () => {
    rig = await startRig();
    const file = await rig.client.files.create({
      file: createReadStream(writeTrainingFile(rig.dir, 10)),
      purpose: "fine-tune",
    });
    for (let i = 0; i < 130; i++) {
      const job = await rig.client.fineTuning.jobs.create({
        model: "gpt-4o-mini",
        training_file: file.id,
        metadata: { classtune_job: String(i), guild: i % 2 === 0 ? "even" : "odd" },
      });
      ids.push(job.id);
      rig.clock.advance(1000);
    }
  });
  after(() => rig.close());

  test("the default page is the 20 newest jobs, newest first", async () => {
    const page = await rig.client.fineTuning.jobs.list();
    assert.equal(page.data.length, 20);
    assert.equal(page.has_more, true);
    assert.deepEqual(
      page.data.map((j) => j.id),
      ids.slice(-20).reverse(),
    );
  });

  test("limit is capped at 100 and `after` walks every job exactly once", async () => {
    const first = await rig.client.fineTuning.jobs.list({ limit: 1000 });
    assert.equal(first.data.length, 100);
    assert.equal(first.has_more, true);
    const second = await rig.client.fineTuning.jobs.list({ limit: 100, after: first.data.at(-1)?.id ?? "" });
    assert.equal(second.data.length, 30);
    assert.equal(second.has_more, false);
    assert.deepEqual(
      [...first.data, ...second.data].map((j) => j.id),
      [...ids].reverse(),
    );

    const seen: string[] = [];
    for await (const job of rig.client.fineTuning.jobs.list({ limit: 50 })) seen.push(job.id);
    assert.deepEqual(seen, [...ids].reverse());
  });

  test("the metadata filter finds one job by its tag, and pages within a filter", async () => {
    const one = await rig.client.fineTuning.jobs.list({ metadata: { classtune_job: "77" } });
    assert.deepEqual(
      one.data.map((j) => j.id),
      [ids[77]],
    );
    assert.equal(one.has_more, false);

    const evens: OpenAI.FineTuning.FineTuningJob[] = [];
    for await (const job of rig.client.fineTuning.jobs.list({ metadata: { guild: "even" }, limit: 40 }))
      evens.push(job);
    assert.equal(evens.length, 65);
    assert.ok(evens.every((j) => j.metadata?.guild === "even"));

    const none = await rig.client.fineTuning.jobs.list({ metadata: { guild: "even", classtune_job: "77" } });
    assert.equal(none.data.length, 0);
  });

  test("listed jobs show their progress by the clock", async () => {
    rig.clock.advance(10_000_000);
    const page = await rig.client.fineTuning.jobs.list({ limit: 100 });
    assert.ok(page.data.every((j) => j.status === "succeeded" && j.fine_tuned_model !== null));
  });
});
