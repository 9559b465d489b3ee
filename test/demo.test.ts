// `npm run demo` is a new user's first look: it must keep working end to end.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";

describe("npm run demo", () => {
  it("plays the classroom script to two answered questions and exits 0", () => {
    const result = spawnSync(process.execPath, ["scripts/run.js", "demo/classroom.ts"], {
      encoding: "utf8",
      timeout: 120_000,
    });
    assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
    const t = result.stdout;
    assert.match(t, /Ready to fine-tune: 20 valid examples/);
    assert.match(t, /succeeded/);
    assert.equal(t.match(/answered by `ft:gpt-4o-mini-2024-07-18:classtune-sandbox:/g)?.length, 2);
    assert.doesNotMatch(t, /demo failed/);
  });
});
