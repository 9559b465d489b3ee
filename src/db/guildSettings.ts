// Repository for guild_settings: one row per guild, created on first write.
import type { Db } from "./open.ts";
import { prepared } from "./statements.ts";

export interface GuildSettings {
  guildId: string;
  notifyChannelId: string | null;
  teacherRoleId: string | null;
  defaultModel: string | null;
  /** `/config safety`: categories tightened (empty: all) from safetyThreshold; null threshold: none. */
  safetyCategories: string[];
  safetyThreshold: number | null;
  /** Where severe alerts go as well as the teachers' channel (`/config safety-channel`); null: only there. */
  safetyChannelId: string | null;
  /** The one role classtune may ping, on severe alerts only (`/config safety-role`); null: no role is pinged. */
  safetyRoleId: string | null;
  updatedAt: string | null;
}

export type GuildSettingsPatch = Partial<
  Pick<
    GuildSettings,
    | "notifyChannelId"
    | "teacherRoleId"
    | "defaultModel"
    | "safetyCategories"
    | "safetyThreshold"
    | "safetyChannelId"
    | "safetyRoleId"
  >
>;

const COLUMNS = `guild_id AS guildId, notify_channel_id AS notifyChannelId, teacher_role_id AS teacherRoleId,
  default_model AS defaultModel, safety_categories AS safetyCategories, safety_threshold AS safetyThreshold,
  safety_channel_id AS safetyChannelId, safety_role_id AS safetyRoleId, updated_at AS updatedAt`;

type RawRow = Omit<GuildSettings, "safetyCategories"> & { safetyCategories: string | null };
const fromRaw = (r: RawRow): GuildSettings => ({
  ...r,
  safetyCategories: r.safetyCategories === null ? [] : (JSON.parse(r.safetyCategories) as string[]),
});

export class GuildSettingsRepository {
  constructor(private readonly db: Db) {}

  /** The guild's settings; a guild that never configured anything gets all-null settings. */
  get(guildId: string): GuildSettings {
    const row = prepared(this.db, `SELECT ${COLUMNS} FROM guild_settings WHERE guild_id = ?`).get(guildId) as
      | RawRow
      | undefined;
    return row
      ? fromRaw(row)
      : {
          guildId,
          notifyChannelId: null,
          teacherRoleId: null,
          defaultModel: null,
          safetyCategories: [],
          safetyThreshold: null,
          safetyChannelId: null,
          safetyRoleId: null,
          updatedAt: null,
        };
  }

  /** Sets the given fields (null clears one), leaving the others as they were. */
  update(guildId: string, patch: GuildSettingsPatch, now = new Date()): GuildSettings {
    const merged = { ...this.get(guildId), ...patch, updatedAt: now.toISOString() };
    prepared(
      this.db,
      `INSERT INTO guild_settings (guild_id, notify_channel_id, teacher_role_id, default_model,
           safety_categories, safety_threshold, safety_channel_id, safety_role_id, updated_at)
         VALUES (@guildId, @notifyChannelId, @teacherRoleId, @defaultModel, @safetyCategories, @safetyThreshold,
           @safetyChannelId, @safetyRoleId, @updatedAt)
         ON CONFLICT (guild_id) DO UPDATE SET notify_channel_id = excluded.notify_channel_id,
           teacher_role_id = excluded.teacher_role_id, default_model = excluded.default_model,
           safety_categories = excluded.safety_categories, safety_threshold = excluded.safety_threshold,
           safety_channel_id = excluded.safety_channel_id, safety_role_id = excluded.safety_role_id,
           updated_at = excluded.updated_at`,
    ).run({
      ...merged,
      safetyCategories: merged.safetyCategories.length === 0 ? null : JSON.stringify(merged.safetyCategories),
    });
    return merged;
  }
}
