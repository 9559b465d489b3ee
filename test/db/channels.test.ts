// channel_settings on both engines: a channel's /ask model and class flag, written whole, listed class channels
// first, and always within one guild.
import assert from "node:assert/strict";
import { it } from "node:test";
import { type ChannelSettings, ChannelSettingsRepository } from "../../src/db/channels.ts";
import { forEachEngine } from "../helpers/engines.ts";

const row = (over: Partial<ChannelSettings> = {}): ChannelSettings => ({
  guildId: "A",
  channelId: "100",
  model: "m",
  systemPrompt: "You are a tutor.",
  fallbackModel: null,
  temperature: 0.2,
  maxTokens: 400,
  isClass: false,
  updatedBy: "teacher",
  updatedAt: "2026-12-01T10:00:00.000Z",
  ...over,
});

forEachEngine("ChannelSettingsRepository", (open) => {
  it("reads back what it wrote, replaces the whole row, and lists class channels first", async (t) => {
    const channels = new ChannelSettingsRepository(await open(t));
    assert.equal(await channels.get("A", "100"), undefined);
    await channels.upsert(row());
    assert.deepEqual(await channels.get("A", "100"), row());
    const replaced = row({
      model: "m2",
      fallbackModel: "m",
      temperature: 0.7,
      isClass: true,
      updatedBy: null,
    });
    await channels.upsert(replaced);
    assert.deepEqual(await channels.get("A", "100"), replaced, "every column replaced, the flag a boolean");
    await channels.upsert(row({ channelId: "050" }));
    await channels.upsert(row({ channelId: "300", isClass: true }));
    await channels.upsert(row({ guildId: "B", channelId: "999", isClass: true }));
    assert.deepEqual(
      (await channels.list("A")).map((c) => [c.channelId, c.isClass]),
      [
        ["100", true],
        ["300", true],
        ["050", false],
      ],
    );
    assert.deepEqual(
      (await channels.list("A", 2)).map((c) => c.channelId),
      ["100", "300"],
    );
    assert.equal(await channels.get("B", "100"), undefined, "another guild's channel is not this one's");
  });

  it("deletes within the guild only, and says whether it did", async (t) => {
    const channels = new ChannelSettingsRepository(await open(t));
    await channels.upsert(row());
    assert.equal(await channels.delete("B", "100"), false);
    assert.ok(await channels.get("A", "100"));
    assert.equal(await channels.delete("A", "100"), true);
    assert.equal(await channels.delete("A", "100"), false);
    assert.equal(await channels.get("A", "100"), undefined);
  });

  it("runs on a transaction of its store", async (t) => {
    const store = await open(t);
    const channels = new ChannelSettingsRepository(store);
    await assert.rejects(
      store.transaction(async (tx) => {
        await channels.in(tx).upsert(row());
        assert.ok(await channels.in(tx).get("A", "100"));
        throw new Error("roll back");
      }),
      /roll back/,
    );
    assert.equal(await channels.get("A", "100"), undefined);
  });
});
