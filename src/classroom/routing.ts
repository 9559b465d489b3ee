// Which model answers, and through which provider: explicit > channel > guild default > configured base model.
// A model is always used with its own provider: the guild's registered models carry theirs; known base models
// go to the fine-tuning provider. Anything else is "not found" — also another guild's model, its checkpoints and
// any other name derived from another guild's job, even when registered here with /model add. Students may name
// only the models chosen for the channel and the server's registered models (mayAsk); teachers any.
import type { ChannelSettings, ChannelSettingsRepository } from "../db/channels.ts";
import type { GuildSettingsRepository } from "../db/guildSettings.ts";
import type { ChatProvider, ChatProviderRegistry } from "../providers/chatRegistry.ts";
import type { ChatPriceTable } from "./prices.ts";

/** One row of the guild's models table, as routing needs it (src/db/models.ts provides it). */
export interface GuildModel {
  name: string;
  provider: string;
  baseModel: string | null;
  label: string | null;
  /** ISO date or datetime after which the provider no longer serves the model. */
  shutdownDate: string | null;
  /** The guild's own job that trained it; null for a model registered with /model add. */
  jobId: number | null;
}

/** Guild-scoped lookup over the models table: another guild's model is undefined. */
export interface GuildModelLookup {
  get(guildId: string, name: string): GuildModel | undefined;
  /** Whether the name is or derives from a name of another guild's job (ModelRepository has the rule). */
  trainedByAnotherGuild(guildId: string, name: string): boolean;
  /** The guild's registered models, newest first. */
  list(guildId: string, limit?: number): GuildModel[];
}

export type ModelSource = "explicit" | "channel" | "guild" | "default";

export type ResolvedModel =
  | { ok: true; model: string; provider: ChatProvider; shutdownDate: string | null; registered: boolean }
  | { ok: false; reason: "not_found"; model: string }
  | { ok: false; reason: "provider_missing"; model: string; provider: string };

export interface ModelRouterDeps {
  models: GuildModelLookup;
  providers: ChatProviderRegistry;
  prices: ChatPriceTable;
  channels: ChannelSettingsRepository;
  guildSettings: GuildSettingsRepository;
  defaultModel: string;
}

export class ModelRouter {
  constructor(private readonly deps: ModelRouterDeps) {}

  /** The model name that should answer, and where the choice came from. */
  choose(
    guildId: string,
    channel: ChannelSettings | undefined,
    explicit: string | undefined,
  ): { model: string; source: ModelSource } {
    const wanted = explicit?.trim();
    if (wanted) return { model: wanted, source: "explicit" };
    if (channel) return { model: channel.model, source: "channel" };
    const guildDefault = this.deps.guildSettings.get(guildId).defaultModel;
    if (guildDefault) return { model: guildDefault, source: "guild" };
    return { model: this.deps.defaultModel, source: "default" };
  }

  /**
   * The models chosen for this channel, which a student may always ask: the one that answers when nobody
   * names a model (the channel's, else the server's, else the configured base model) and the channel's
   * fallback.
   */
  chosenModels(guildId: string, channel: ChannelSettings | undefined): string[] {
    const chosen = this.choose(guildId, channel, undefined).model;
    const fallback = channel?.fallbackModel;
    return fallback && fallback !== chosen ? [chosen, fallback] : [chosen];
  }

  /**
   * Whether this user may name `model` with `/ask model:`. Teachers may name any model. A student may name the
   * models chosen for the channel (chosenModels) and the models the server registered (its fine-tunes and
   * `/model add`), in a class channel and elsewhere alike: any other priced base model would let one student
   * spend the server's budget at many times the price the teachers chose.
   */
  mayAsk(guildId: string, channel: ChannelSettings | undefined, model: string, isTeacher: boolean): boolean {
    if (isTeacher) return true;
    return (
      this.chosenModels(guildId, channel).includes(model) ||
      this.deps.models.get(guildId, model) !== undefined
    );
  }

  /** What a student may name here (chosen models first, then the newest registered ones), at most `limit`. */
  studentModels(guildId: string, channel: ChannelSettings | undefined, limit: number): string[] {
    const names = new Set(this.chosenModels(guildId, channel));
    for (const m of this.deps.models.list(guildId, limit)) names.add(m.name);
    return [...names].slice(0, limit);
  }

  isBaseModel(model: string): boolean {
    return model === this.deps.defaultModel || this.deps.prices.isBaseModel(model);
  }

  /** Finds the model's provider for this guild. */
  resolve(guildId: string, model: string): ResolvedModel {
    const row = this.deps.models.get(guildId, model);
    // The guild's own fine-tunes are its own; the configured base model is the operator's choice for every guild.
    const ownTraining = row !== undefined && row.jobId !== null;
    if (
      !ownTraining &&
      model !== this.deps.defaultModel &&
      this.deps.models.trainedByAnotherGuild(guildId, model)
    ) {
      return { ok: false, reason: "not_found", model };
    }
    if (row) {
      const provider = this.deps.providers.get(row.provider);
      if (!provider) return { ok: false, reason: "provider_missing", model, provider: row.provider };
      return { ok: true, model, provider, shutdownDate: row.shutdownDate, registered: true };
    }
    if (this.isBaseModel(model)) {
      const provider = this.deps.providers.get(this.deps.providers.fineTuningName);
      if (provider) return { ok: true, model, provider, shutdownDate: null, registered: false };
    }
    return { ok: false, reason: "not_found", model };
  }
}

/** True from the shutdown date on (a bare date counts from 00:00 UTC that day). */
export function isPastShutdown(shutdownDate: string | null, now: number): boolean {
  if (!shutdownDate) return false;
  const t = Date.parse(shutdownDate);
  return Number.isFinite(t) && now >= t;
}
