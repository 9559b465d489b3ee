import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfirmationStore, type PendingJob } from "../../src/finetuning/confirmations.ts";

const pending = (datasetId: number): PendingJob => ({
  guildId: "100000000000000001",
  requesterId: "200000000000000002",
  datasetId,
  model: "gpt-4o-mini-2024-07-18",
  suffix: undefined,
  epochs: undefined,
  estimatedCostUsd: 0.02,
});

describe("ConfirmationStore", () => {
  it("returns what was stored under a key short enough for a custom id", () => {
    const store = new ConfirmationStore();
    const key = store.add(pending(1));
    assert.match(key, /^[\w-]{12}$/);
    assert.equal(store.get(key)?.datasetId, 1);
  });

  it("hands a request out once: a second take finds nothing", () => {
    const store = new ConfirmationStore();
    const key = store.add(pending(1));
    assert.equal(store.take(key)?.datasetId, 1);
    assert.equal(store.take(key), undefined);
    assert.equal(store.get(key), undefined);
  });

  it("forgets a request once it expires", () => {
    let now = 0;
    const store = new ConfirmationStore({ ttlMs: 1000, now: () => now });
    const key = store.add(pending(1));
    now = 999;
    assert.ok(store.get(key));
    now = 1000;
    assert.equal(store.get(key), undefined);
  });

  it("keeps at most `max` requests, dropping the oldest", () => {
    const store = new ConfirmationStore({ max: 3 });
    const keys = [1, 2, 3, 4].map((id) => store.add(pending(id)));
    assert.equal(store.size, 3);
    assert.equal(store.get(keys[0] as string), undefined);
    assert.equal(store.get(keys[3] as string)?.datasetId, 4);
  });
});
