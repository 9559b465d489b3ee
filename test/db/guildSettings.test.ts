import assert from "node:assert/strict";
import { it } from "node:test";
import { GuildSettingsRepository } from "../../src/db/guildSettings.ts";
import { forEachEngine } from "../helpers/engines.ts";

forEachEngine("GuildSettingsRepository", (open) => {
  it("returns empty settings for a new guild and merges partial updates", async (t) => {
    const repo = new GuildSettingsRepository(await open(t));
    assert.deepEqual(await repo.get("g1"), {
      guildId: "g1",
      notifyChannelId: null,
      teacherRoleId: null,
      defaultModel: null,
      safetyCategories: [],
      safetyThreshold: null,
      safetyChannelId: null,
      safetyRoleId: null,
      updatedAt: null,
    });
    await repo.update("g1", { teacherRoleId: "111111111111111111" });
    await repo.update("g1", { notifyChannelId: "222222222222222222" });
    const s = await repo.get("g1");
    assert.equal(s.teacherRoleId, "111111111111111111");
    assert.equal(s.notifyChannelId, "222222222222222222");
    assert.equal((await repo.get("g2")).teacherRoleId, null, "another guild sees nothing of g1");
    await repo.update("g1", { teacherRoleId: null });
    assert.equal((await repo.get("g1")).teacherRoleId, null);
    assert.equal((await repo.get("g1")).notifyChannelId, "222222222222222222");
  });

  it("keeps every field, the safety categories as a list, and returns what it stored", async (t) => {
    const repo = new GuildSettingsRepository(await open(t));
    const now = new Date("2026-03-01T09:00:00.000Z");
    const written = await repo.update(
      "g1",
      {
        notifyChannelId: "1",
        teacherRoleId: "2",
        defaultModel: "gpt-4o-mini",
        safetyCategories: ["harassment", "self-harm"],
        safetyThreshold: 0.25,
        safetyChannelId: "3",
        safetyRoleId: "4",
      },
      now,
    );
    const expected = {
      guildId: "g1",
      notifyChannelId: "1",
      teacherRoleId: "2",
      defaultModel: "gpt-4o-mini",
      safetyCategories: ["harassment", "self-harm"],
      safetyThreshold: 0.25,
      safetyChannelId: "3",
      safetyRoleId: "4",
      updatedAt: now.toISOString(),
    };
    assert.deepEqual(written, expected);
    assert.deepEqual(await repo.get("g1"), expected);
    const later = new Date("2026-03-02T09:00:00.000Z");
    await repo.update("g1", { safetyCategories: [], safetyThreshold: null }, later);
    assert.deepEqual(await repo.get("g1"), {
      ...expected,
      safetyCategories: [],
      safetyThreshold: null,
      updatedAt: later.toISOString(),
    });
  });
});
