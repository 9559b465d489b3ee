// Which model answers, and through which provider: explicit > channel > guild default > configured base model.
// A model is always used with its own provider: the guild's registered models carry theirs; known base models
// go to the fine-tuning provider. Anything else is "not found" — also another guild's model, its checkpoints and
// any other name derived from another guild's job, even when registered here with /model add.
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
