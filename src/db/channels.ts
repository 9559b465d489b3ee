// Repository for channel_settings: a channel's /ask model, and class channels (public answers, own prompt).
import type { Db } from "./open.ts";
import { prepared } from "./statements.ts";

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

const COLUMNS = `guild_id AS guildId, channel_id AS channelId, model, system_prompt AS systemPrompt,
  fallback_model AS fallbackModel, temperature, max_tokens AS maxTokens, is_class AS isClass,
  updated_by AS updatedBy, updated_at AS updatedAt`;

type RawRow = Omit<ChannelSettings, "isClass"> & { isClass: number };
const fromRaw = (r: RawRow): ChannelSettings => ({ ...r, isClass: r.isClass === 1 });

export class ChannelSettingsRepository {
  constructor(private readonly db: Db) {}

  get(guildId: string, channelId: string): ChannelSettings | undefined {
    const r = prepared(
      this.db,
      `SELECT ${COLUMNS} FROM channel_settings WHERE guild_id = ? AND channel_id = ?`,
    ).get(guildId, channelId) as RawRow | undefined;
    return r && fromRaw(r);
  }

  /** Creates or replaces the whole row. */
  upsert(row: ChannelSettings): ChannelSettings {
    prepared(
      this.db,
      `INSERT INTO channel_settings (guild_id, channel_id, model, system_prompt, fallback_model, temperature,
           max_tokens, is_class, updated_by, updated_at)
         VALUES (@guildId, @channelId, @model, @systemPrompt, @fallbackModel, @temperature, @maxTokens, @isClass,
           @updatedBy, @updatedAt)
         ON CONFLICT (guild_id, channel_id) DO UPDATE SET model = excluded.model,
           system_prompt = excluded.system_prompt, fallback_model = excluded.fallback_model,
           temperature = excluded.temperature, max_tokens = excluded.max_tokens, is_class = excluded.is_class,
           updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
    ).run({ ...row, isClass: row.isClass ? 1 : 0 });
    return row;
  }

  /** Class channels first, then plain channel defaults; capped for Discord embeds. */
  list(guildId: string, limit = 100): ChannelSettings[] {
    return (
      prepared(
        this.db,
        `SELECT ${COLUMNS} FROM channel_settings WHERE guild_id = ? ORDER BY is_class DESC, channel_id LIMIT ?`,
      ).all(guildId, limit) as RawRow[]
    ).map(fromRaw);
  }

  /** True when a row was deleted. */
  delete(guildId: string, channelId: string): boolean {
    return (
      prepared(this.db, `DELETE FROM channel_settings WHERE guild_id = ? AND channel_id = ?`).run(
        guildId,
        channelId,
      ).changes > 0
    );
  }
}
