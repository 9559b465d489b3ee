// Which model answers, and through which provider: explicit > channel > guild default > configured base model.
// A model is always used with its own provider: the guild's registered models carry theirs; known base models
// go to the fine-tuning provider. Anything else is "not found" — also another guild's model, its checkpoints and
// any other name derived from another guild's job, even when registered here with /model add. Students may name
// only the models chosen for the channel and the server's registered models (mayAsk); teachers any. A registered
// model answers only once it is ready (deployed, where its provider deploys), and is asked by the id its provider
// serves it as (`servedAs`: a Nebius deployment's full name, an Azure deployment's name).
import type { ChannelSettings, ChannelSettingsRepository } from "../db/channels.ts";
import type { GuildSettings, GuildSettingsRepository } from "../db/guildSettings.ts";
import { isReady, type ServingStatus } from "../domain/serving.ts";
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
  /** Whether it can be asked yet. */
  servingStatus: ServingStatus;
  /** The id chat completions take once ready. */
  servedAs: string | null;
}

/** Guild-scoped lookup over the models table: another guild's model is undefined. */
export interface GuildModelLookup {
  get(guildId: string, name: string): Promise<GuildModel | undefined>;
  /** Whether the name is or derives from a name of another guild's job (ModelRepository has the rule). */
  trainedByAnotherGuild(guildId: string, name: string): Promise<boolean>;
  /** The guild's registered models, newest first (`ready`: only those that can be asked now). */
  list(guildId: string, limit?: number, opts?: { ready?: boolean }): Promise<GuildModel[]>;
}

export type ModelSource = "explicit" | "channel" | "guild" | "default";

export type ResolvedModel =
  | {
      ok: true;
      model: string;
      /** The id to send to the provider's chat endpoint (a deployed model's served name; else `model`). */
      servedAs: string;
      provider: ChatProvider;
      shutdownDate: string | null;
      registered: boolean;
      /** What the catalog knows it by: the registered row's base model, else the name itself. */
      baseModel: string;
    }
  | { ok: false; reason: "not_found"; model: string }
  | { ok: false; reason: "provider_missing"; model: string; provider: string; baseModel: string }
  /** Registered, but not deployed yet (or its deploy failed): it cannot answer. */
  | {
      ok: false;
      reason: "not_ready";
      model: string;
      provider: string;
      status: ServingStatus;
      jobId: number | null;
      baseModel: string;
    };

export interface ModelRouterDeps {
  models: GuildModelLookup;
  providers: ChatProviderRegistry;
  prices: ChatPriceTable;
  channels: ChannelSettingsRepository;
  guildSettings: GuildSettingsRepository;
  defaultModel: string;
}

/** The guild's settings a route needs, when the caller already read them for this question (else read when needed). */
export type RouteSettings = Pick<GuildSettings, "defaultModel">;

export class ModelRouter {
  constructor(private readonly deps: ModelRouterDeps) {}

  /** The model name that should answer, and where the choice came from. */
  async choose(
    guildId: string,
    channel: ChannelSettings | undefined,
    explicit: string | undefined,
    guild?: RouteSettings,
  ): Promise<{ model: string; source: ModelSource }> {
    const wanted = explicit?.trim();
    if (wanted) return { model: wanted, source: "explicit" };
    if (channel) return { model: channel.model, source: "channel" };
    const guildDefault = (guild ?? (await this.deps.guildSettings.get(guildId))).defaultModel;
    if (guildDefault) return { model: guildDefault, source: "guild" };
    return { model: this.deps.defaultModel, source: "default" };
  }

  /**
   * The models chosen for this channel, which a student may always ask: the one that answers when nobody
   * names a model (the channel's, else the server's, else the configured base model) and the channel's
   * fallback.
   */
  async chosenModels(
    guildId: string,
    channel: ChannelSettings | undefined,
    guild?: RouteSettings,
  ): Promise<string[]> {
    const chosen = (await this.choose(guildId, channel, undefined, guild)).model;
    const fallback = channel?.fallbackModel;
    return fallback && fallback !== chosen ? [chosen, fallback] : [chosen];
  }

  /**
   * Whether this user may name `model` with `/ask model:`. Teachers may name any model. A student may name the
   * models chosen for the channel (chosenModels) and the models the server registered (its fine-tunes and
   * `/model add`), in a class channel and elsewhere alike: any other priced base model would let one student
   * spend the server's budget at many times the price the teachers chose.
   */
  async mayAsk(
    guildId: string,
    channel: ChannelSettings | undefined,
    model: string,
    isTeacher: boolean,
    guild?: RouteSettings,
  ): Promise<boolean> {
    if (isTeacher) return true;
    return (
      (await this.chosenModels(guildId, channel, guild)).includes(model) ||
      (await this.deps.models.get(guildId, model)) !== undefined
    );
  }

  /** What a student may name here (chosen models first, then the newest ready ones), at most `limit`. */
  async studentModels(
    guildId: string,
    channel: ChannelSettings | undefined,
    limit: number,
    guild?: RouteSettings,
  ): Promise<string[]> {
    const names = new Set(await this.chosenModels(guildId, channel, guild));
    for (const m of await this.deps.models.list(guildId, limit, { ready: true })) names.add(m.name);
    return [...names].slice(0, limit);
  }

  isBaseModel(model: string): boolean {
    return model === this.deps.defaultModel || this.deps.prices.isBaseModel(model);
  }

  /** Finds the model's provider for this guild. */
  async resolve(guildId: string, model: string): Promise<ResolvedModel> {
    const row = await this.deps.models.get(guildId, model);
    // The guild's own fine-tunes are its own; the configured base model is the operator's choice for every guild.
    const ownTraining = row !== undefined && row.jobId !== null;
    if (
      !ownTraining &&
      model !== this.deps.defaultModel &&
      (await this.deps.models.trainedByAnotherGuild(guildId, model))
    ) {
      return { ok: false, reason: "not_found", model };
    }
    if (row) {
      const baseModel = row.baseModel ?? model;
      const provider = this.deps.providers.get(row.provider);
      if (!provider)
        return { ok: false, reason: "provider_missing", model, provider: row.provider, baseModel };
      if (!isReady(row.servingStatus)) {
        return {
          ok: false,
          reason: "not_ready",
          model,
          provider: row.provider,
          status: row.servingStatus,
          jobId: row.jobId,
          baseModel,
        };
      }
      return {
        ok: true,
        model,
        servedAs: row.servedAs ?? model,
        provider,
        shutdownDate: row.shutdownDate,
        registered: true,
        baseModel,
      };
    }
    if (this.isBaseModel(model)) {
      const provider = this.deps.providers.get(this.deps.providers.fineTuningName);
      if (provider) {
        return {
          ok: true,
          model,
          servedAs: model,
          provider,
          shutdownDate: null,
          registered: false,
          baseModel: model,
        };
      }
    }
    return { ok: false, reason: "not_found", model };
  }
}

/** Why a registered model cannot answer yet, as a clause ("it is still being deployed"). */
export function notReadyReason(status: ServingStatus, jobId: number | null): string {
  const retry = jobId === null ? "" : ` (a teacher can retry with /finetune deploy job:${jobId})`;
  switch (status) {
    case "deploying":
      return "it is still being deployed; try again in a few minutes";
    case "failed":
      return `its deployment failed${retry}`;
    case "manual":
      return "it has not been deployed yet (a teacher must deploy it and register the deployment with /model add)";
    case "ready":
      return "it is ready";
    case "asleep":
      return "it is asleep: its hosting was stopped to save money, and a teacher can wake it with /model deploy";
  }
}

/** True from the shutdown date on (a bare date counts from 00:00 UTC that day). */
export function isPastShutdown(shutdownDate: string | null, now: number): boolean {
  if (!shutdownDate) return false;
  const t = Date.parse(shutdownDate);
  return Number.isFinite(t) && now >= t;
}
