// Repository for channel_settings: a channel's /ask model, and class channels (public answers, own prompt).
import { compiled, type Param } from "./query/compiled.ts";
import type { Queryable } from "./query/store.ts";

export interface ChannelSettings {
  guildId: string;
  channelId: string;
  model: string;
  systemPrompt: string;
  fallbackModel: string | null;
  temperature: number;
  maxTokens: number;
  /** A class channel: answers are public. */
  isClass: boolean;
  updatedBy: string | null;
  updatedAt: string;
}

const COLUMNS = [
  "guild_id as guildId",
  "channel_id as channelId",
  "model",
  "system_prompt as systemPrompt",
  "fallback_model as fallbackModel",
  "temperature",
  "max_tokens as maxTokens",
  "is_class as isClass",
  "updated_by as updatedBy",
  "updated_at as updatedAt",
] as const;

type RawRow = Omit<ChannelSettings, "isClass"> & { isClass: number };
const fromRaw = (r: RawRow): ChannelSettings => ({ ...r, isClass: r.isClass === 1 });

const byChannel = compiled((db, p: Param<{ guildId: string; channelId: string }>) =>
  db
    .selectFrom("channel_settings")
    .select(COLUMNS)
    .where("guild_id", "=", p("guildId"))
    .where("channel_id", "=", p("channelId")),
);

type UpsertValues = Omit<ChannelSettings, "isClass"> & { isClass: number };

const upsertRow = compiled((db, p: Param<UpsertValues>) =>
  db
    .insertInto("channel_settings")
    .values({
      guild_id: p("guildId"),
      channel_id: p("channelId"),
      model: p("model"),
      system_prompt: p("systemPrompt"),
      fallback_model: p("fallbackModel"),
      temperature: p("temperature"),
      max_tokens: p("maxTokens"),
      is_class: p("isClass"),
      updated_by: p("updatedBy"),
      updated_at: p("updatedAt"),
    })
    .onConflict((oc) =>
      oc.columns(["guild_id", "channel_id"]).doUpdateSet((eb) => ({
        model: eb.ref("excluded.model"),
        system_prompt: eb.ref("excluded.system_prompt"),
        fallback_model: eb.ref("excluded.fallback_model"),
        temperature: eb.ref("excluded.temperature"),
        max_tokens: eb.ref("excluded.max_tokens"),
        is_class: eb.ref("excluded.is_class"),
        updated_by: eb.ref("excluded.updated_by"),
        updated_at: eb.ref("excluded.updated_at"),
      })),
    ),
);

const ofGuild = compiled((db, p: Param<{ guildId: string; limit: number }>) =>
  db
    .selectFrom("channel_settings")
    .select(COLUMNS)
    .where("guild_id", "=", p("guildId"))
    .orderBy("is_class", "desc")
    .orderBy("channel_id")
    .limit(p("limit")),
);

const deleteRow = compiled((db, p: Param<{ guildId: string; channelId: string }>) =>
  db
    .deleteFrom("channel_settings")
    .where("guild_id", "=", p("guildId"))
    .where("channel_id", "=", p("channelId")),
);

export class ChannelSettingsRepository {
  constructor(private readonly on: Queryable) {}

  /** The same repository over a transaction of its store (store.transaction's `tx`). */
  in(tx: Queryable): ChannelSettingsRepository {
    return new ChannelSettingsRepository(tx);
  }

  async get(guildId: string, channelId: string): Promise<ChannelSettings | undefined> {
    const r = await byChannel.executeTakeFirst(this.on, { guildId, channelId });
    return r && fromRaw(r);
  }

  /** Creates or replaces the whole row. */
  async upsert(row: ChannelSettings): Promise<ChannelSettings> {
    await upsertRow.execute(this.on, {
      guildId: row.guildId,
      channelId: row.channelId,
      model: row.model,
      systemPrompt: row.systemPrompt,
      fallbackModel: row.fallbackModel,
      temperature: row.temperature,
      maxTokens: row.maxTokens,
      isClass: row.isClass ? 1 : 0,
      updatedBy: row.updatedBy,
      updatedAt: row.updatedAt,
    });
    return row;
  }

  /** Class channels first, then plain channel defaults; capped for Discord embeds. */
  async list(guildId: string, limit = 100): Promise<ChannelSettings[]> {
    return (await ofGuild.execute(this.on, { guildId, limit })).map(fromRaw);
  }

  /** True when a row was deleted. */
  async delete(guildId: string, channelId: string): Promise<boolean> {
    return (await deleteRow.executeChanges(this.on, { guildId, channelId })) > 0;
  }
}
