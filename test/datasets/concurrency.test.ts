// Many uploads at once queue for the validator instead of each starting its own worker threads.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  MAX_CONCURRENT_VALIDATIONS,
  runningValidations,
  validateFile,
} from "../../src/datasets/validator.ts";

const dir = mkdtempSync(join(tmpdir(), "classtune-concurrency-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const line = (i: number) =>
  JSON.stringify({
    messages: [
      { role: "user", content: `Question ${i}: ${"why is the sky blue? ".repeat(20)}` },
      { role: "assistant", content: `Answer ${i}: ${"Rayleigh scattering of sunlight. ".repeat(30)}` },
    ],
  });

describe("concurrent validations", () => {
  it(`run at most ${MAX_CONCURRENT_VALIDATIONS} at a time, and every one still completes correctly`, async () => {
    const files = Array.from({ length: 5 }, (_, f) => {
      const path = join(dir, `upload-${f}.jsonl`);
      writeFileSync(path, `${Array.from({ length: 300 + f }, (_, i) => line(i)).join("\n")}\n`);
      return path;
    });
    let peak = 0;
    const sampler = setInterval(() => {
      peak = Math.max(peak, runningValidations());
    }, 1);
    try {
      const reports = await Promise.all(files.map((f) => validateFile(f)));
      assert.deepEqual(
        reports.map((r) => r.valid),
        [300, 301, 302, 303, 304],
      );
    } finally {
      clearInterval(sampler);
    }
    assert.equal(peak, MAX_CONCURRENT_VALIDATIONS, "the queue fills both slots and never more");
    assert.equal(runningValidations(), 0, "every slot is given back");
  });

  it("gives the slot back when a validation fails", async () => {
    await assert.rejects(validateFile(join(dir, "missing.jsonl")));
    assert.equal(runningValidations(), 0);
  });
});
