import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GuildSettingsRepository } from "../../src/db/guildSettings.ts";
import { openDb } from "../../src/db/open.ts";

describe("GuildSettingsRepository", () => {
  it("returns empty settings for a new guild and merges partial updates", () => {
    const repo = new GuildSettingsRepository(openDb(":memory:"));
    assert.equal(repo.get("g1").teacherRoleId, null);
    repo.update("g1", { teacherRoleId: "111111111111111111" });
    repo.update("g1", { notifyChannelId: "222222222222222222" });
    const s = repo.get("g1");
    assert.equal(s.teacherRoleId, "111111111111111111");
    assert.equal(s.notifyChannelId, "222222222222222222");
    assert.equal(repo.get("g2").teacherRoleId, null, "another guild sees nothing of g1");
    repo.update("g1", { teacherRoleId: null });
    assert.equal(repo.get("g1").teacherRoleId, null);
  });
});
