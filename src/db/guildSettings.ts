// Repository for guild_settings: one row per guild, created on first write.
import { compiled, type Param } from "./query/compiled.ts";
import type { Queryable } from "./query/store.ts";

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

const COLUMNS = [
  "guild_id as guildId",
  "notify_channel_id as notifyChannelId",
  "teacher_role_id as teacherRoleId",
  "default_model as defaultModel",
  "safety_categories as safetyCategories",
  "safety_threshold as safetyThreshold",
  "safety_channel_id as safetyChannelId",
  "safety_role_id as safetyRoleId",
  "updated_at as updatedAt",
] as const;

type RawRow = Omit<GuildSettings, "safetyCategories" | "updatedAt"> & {
  safetyCategories: string | null;
  updatedAt: string;
};
const fromRaw = (r: RawRow): GuildSettings => ({
  ...r,
  safetyCategories: r.safetyCategories === null ? [] : (JSON.parse(r.safetyCategories) as string[]),
});

const settingsOf = compiled((db, p: Param<{ guildId: string }>) =>
  db.selectFrom("guild_settings").select(COLUMNS).where("guild_id", "=", p("guildId")),
);

const upsert = compiled(
  (
    db,
    p: Param<{
      guildId: string;
      notifyChannelId: string | null;
      teacherRoleId: string | null;
      defaultModel: string | null;
      safetyCategories: string | null;
      safetyThreshold: number | null;
      safetyChannelId: string | null;
      safetyRoleId: string | null;
      updatedAt: string;
    }>,
  ) =>
    db
      .insertInto("guild_settings")
      .values({
        guild_id: p("guildId"),
        notify_channel_id: p("notifyChannelId"),
        teacher_role_id: p("teacherRoleId"),
        default_model: p("defaultModel"),
        safety_categories: p("safetyCategories"),
        safety_threshold: p("safetyThreshold"),
        safety_channel_id: p("safetyChannelId"),
        safety_role_id: p("safetyRoleId"),
        updated_at: p("updatedAt"),
      })
      .onConflict((oc) =>
        oc.column("guild_id").doUpdateSet((eb) => ({
          notify_channel_id: eb.ref("excluded.notify_channel_id"),
          teacher_role_id: eb.ref("excluded.teacher_role_id"),
          default_model: eb.ref("excluded.default_model"),
          safety_categories: eb.ref("excluded.safety_categories"),
          safety_threshold: eb.ref("excluded.safety_threshold"),
          safety_channel_id: eb.ref("excluded.safety_channel_id"),
          safety_role_id: eb.ref("excluded.safety_role_id"),
          updated_at: eb.ref("excluded.updated_at"),
        })),
      ),
);

export class GuildSettingsRepository {
  constructor(private readonly on: Queryable) {}

  /** The same repository over a transaction of its store (store.transaction's `tx`). */
  in(tx: Queryable): GuildSettingsRepository {
    return new GuildSettingsRepository(tx);
  }

  /** The guild's settings; a guild that never configured anything gets all-null settings. */
  async get(guildId: string): Promise<GuildSettings> {
    const row = await settingsOf.executeTakeFirst(this.on, { guildId });
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
  async update(guildId: string, patch: GuildSettingsPatch, now = new Date()): Promise<GuildSettings> {
    const merged = { ...(await this.get(guildId)), ...patch, updatedAt: now.toISOString() };
    await upsert.execute(this.on, {
      ...merged,
      safetyCategories: merged.safetyCategories.length === 0 ? null : JSON.stringify(merged.safetyCategories),
    });
    return merged;
  }
}
