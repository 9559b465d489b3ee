// Repository for guild_settings: one row per guild, created on first write.
import type { Db } from "./open.ts";

export interface GuildSettings {
  guildId: string;
  notifyChannelId: string | null;
  teacherRoleId: string | null;
  defaultModel: string | null;
  updatedAt: string | null;
}

export type GuildSettingsPatch = Partial<
  Pick<GuildSettings, "notifyChannelId" | "teacherRoleId" | "defaultModel">
>;

const COLUMNS = `guild_id AS guildId, notify_channel_id AS notifyChannelId, teacher_role_id AS teacherRoleId,
  default_model AS defaultModel, updated_at AS updatedAt`;

export class GuildSettingsRepository {
  constructor(private readonly db: Db) {}

  /** The guild's settings; a guild that never configured anything gets all-null settings. */
  get(guildId: string): GuildSettings {
    const row = this.db.prepare(`SELECT ${COLUMNS} FROM guild_settings WHERE guild_id = ?`).get(guildId) as
      | GuildSettings
      | undefined;
    return (
      row ?? { guildId, notifyChannelId: null, teacherRoleId: null, defaultModel: null, updatedAt: null }
    );
  }

  /** Sets the given fields (null clears one), leaving the others as they were. */
  update(guildId: string, patch: GuildSettingsPatch, now = new Date()): GuildSettings {
    const merged = { ...this.get(guildId), ...patch, updatedAt: now.toISOString() };
    this.db
      .prepare(
        `INSERT INTO guild_settings (guild_id, notify_channel_id, teacher_role_id, default_model, updated_at)
         VALUES (@guildId, @notifyChannelId, @teacherRoleId, @defaultModel, @updatedAt)
         ON CONFLICT (guild_id) DO UPDATE SET notify_channel_id = excluded.notify_channel_id,
           teacher_role_id = excluded.teacher_role_id, default_model = excluded.default_model,
           updated_at = excluded.updated_at`,
      )
      .run(merged);
    return merged;
  }
}
