// The classroom's settings, all guild-scoped: class channels (/classroom setup|list|remove), the channel and
// server default models (/model use) and the models other providers serve (/model add).
import type { ChannelSettings, ChannelSettingsRepository } from "../db/channels.ts";
import type { GuildSettings, GuildSettingsRepository } from "../db/guildSettings.ts";
import type { ModelRepository, ModelRow } from "../db/models.ts";
import { DEFAULT_MAX_TOKENS, DEFAULT_SYSTEM_PROMPT, DEFAULT_TEMPERATURE } from "../domain/assistant.ts";
import { UserError } from "../domain/errors.ts";
import type { ChatProviderRegistry } from "../providers/chatRegistry.ts";
import { type ModelRouter, notReadyReason } from "./routing.ts";

export const MAX_SYSTEM_PROMPT_CHARS = 4000;

export interface ClassroomSetup {
  guildId: string;
  channelId: string;
  model: string;
  systemPrompt?: string | undefined;
  fallbackModel?: string | undefined;
  temperature?: number | undefined;
  maxTokens?: number | undefined;
  teacherId: string;
}

/** The settings one /ask question is answered under: read once, by whoever starts the question. */
export interface QuestionSettings {
  guild: GuildSettings;
  /** undefined: the channel has no settings of its own (not a class channel, no /model use). */
  channel: ChannelSettings | undefined;
}

export class ClassroomSettings {
  constructor(
    private readonly deps: {
      channels: ChannelSettingsRepository;
      guildSettings: GuildSettingsRepository;
      router: ModelRouter;
      models: ModelRepository;
      providers: ChatProviderRegistry;
      now?: () => number;
    },
  ) {}

  private now(): string {
    return new Date((this.deps.now ?? Date.now)()).toISOString();
  }

  /** A UserError when the model is neither registered in this guild nor a known base model, or not ready yet. */
  async assertModel(guildId: string, model: string): Promise<void> {
    const r = await this.deps.router.resolve(guildId, model);
    if (r.ok) return;
    if (r.reason === "not_ready") {
      throw new UserError(
        `The model "${model}" cannot be used yet: ${notReadyReason(r.status, r.jobId)}.`,
        "model_not_ready",
      );
    }
    if (r.reason === "provider_missing") {
      throw new UserError(
        `The model "${model}" is registered with provider "${r.provider}", which is not configured on this bot.`,
        "provider_missing",
      );
    }
    throw new UserError(
      `There is no model called "${model}" in this server. /model list shows the ones you can use.`,
      "model_not_found",
    );
  }

  /** A channel's /ask settings (its model, and whether it is a class channel); undefined when it has none. */
  channel(guildId: string, channelId: string): Promise<ChannelSettings | undefined> {
    return this.deps.channels.get(guildId, channelId);
  }

  /** The guild's and the channel's settings for one question (AskRequest.settings): two reads, once. */
  async question(guildId: string, channelId: string): Promise<QuestionSettings> {
    return {
      channel: await this.deps.channels.get(guildId, channelId),
      guild: await this.deps.guildSettings.get(guildId),
    };
  }

  /** Makes (or re-makes) a class channel: public answers, its own model, prompt and fallback. */
  async setup(s: ClassroomSetup): Promise<ChannelSettings> {
    const model = s.model.trim();
    await this.assertModel(s.guildId, model);
    const fallback = s.fallbackModel?.trim() || null;
    if (fallback !== null) {
      if (fallback === model)
        throw new UserError("The fallback model must be a different model.", "bad_fallback");
      await this.assertModel(s.guildId, fallback);
    }
    const systemPrompt = s.systemPrompt?.trim() || DEFAULT_SYSTEM_PROMPT;
    if (systemPrompt.length > MAX_SYSTEM_PROMPT_CHARS) {
      throw new UserError(`The system prompt is too long (at most ${MAX_SYSTEM_PROMPT_CHARS} characters).`);
    }
    const temperature = s.temperature ?? DEFAULT_TEMPERATURE;
    if (!(temperature >= 0 && temperature <= 2)) throw new UserError("Temperature must be between 0 and 2.");
    const maxTokens = s.maxTokens ?? DEFAULT_MAX_TOKENS;
    if (!Number.isInteger(maxTokens) || maxTokens < 1 || maxTokens > 16_384) {
      throw new UserError("Max tokens must be a whole number between 1 and 16384.");
    }
    return this.deps.channels.upsert({
      guildId: s.guildId,
      channelId: s.channelId,
      model,
      systemPrompt,
      fallbackModel: fallback,
      temperature,
      maxTokens,
      isClass: true,
      updatedBy: s.teacherId,
      updatedAt: this.now(),
    });
  }

  list(guildId: string): Promise<ChannelSettings[]> {
    return this.deps.channels.list(guildId);
  }

  /** Removes a class channel (its model default goes with it). */
  async remove(guildId: string, channelId: string): Promise<ChannelSettings> {
    const row = await this.deps.channels.get(guildId, channelId);
    if (!row?.isClass) throw new UserError("That channel is not a class channel.", "not_found");
    await this.deps.channels.delete(guildId, channelId);
    return row;
  }

  /** `/model use model channel`: a class channel keeps its other settings; another channel gets a plain default. */
  async setChannelModel(
    guildId: string,
    channelId: string,
    model: string,
    teacherId: string,
  ): Promise<ChannelSettings> {
    const name = model.trim();
    await this.assertModel(guildId, name);
    const existing = await this.deps.channels.get(guildId, channelId);
    return this.deps.channels.upsert({
      guildId,
      channelId,
      model: name,
      systemPrompt: existing?.systemPrompt ?? DEFAULT_SYSTEM_PROMPT,
      fallbackModel: existing?.fallbackModel === name ? null : (existing?.fallbackModel ?? null),
      temperature: existing?.temperature ?? DEFAULT_TEMPERATURE,
      maxTokens: existing?.maxTokens ?? DEFAULT_MAX_TOKENS,
      isClass: existing?.isClass ?? false,
      updatedBy: teacherId,
      updatedAt: this.now(),
    });
  }

  /** `/model add model provider [label]`: registers a model another provider serves, for this guild. */
  async addModel(
    guildId: string,
    model: string,
    provider: string,
    label?: string | undefined,
  ): Promise<ModelRow> {
    const name = model.trim();
    if (name === "" || name.length > 256)
      throw new UserError("Give the model's id as its provider names it.");
    this.deps.providers.assertKnown(provider);
    const existing = await this.deps.models.get(guildId, name);
    if (existing?.jobId == null && (await this.deps.models.trainedByAnotherGuild(guildId, name))) {
      // Another guild's fine-tuned model, its checkpoints or any name of its job are "not found" here,
      // whoever knows them (also when registered here before this check covered them).
      throw new UserError(
        `There is no model called "${name}" that this server may use. /model list shows the ones you can use.`,
        "model_not_found",
      );
    }
    if (existing && existing.provider !== provider) {
      throw new UserError(
        `"${name}" is already registered here with provider "${existing.provider}". A model is always used with its own provider.`,
        "model_exists",
      );
    }
    const row = await this.deps.models.register({ guildId, name, provider, baseModel: name, jobId: null });
    const wanted = label?.trim() || null;
    if (wanted !== null && wanted !== row.label) {
      await this.deps.models.setLabel(guildId, name, wanted.slice(0, 100));
      return (await this.deps.models.get(guildId, name)) ?? row;
    }
    return row;
  }

  /** `/model use model` without a channel: the guild's default. */
  async setGuildModel(guildId: string, model: string): Promise<void> {
    const name = model.trim();
    await this.assertModel(guildId, name);
    await this.deps.guildSettings.update(
      guildId,
      { defaultModel: name },
      new Date((this.deps.now ?? Date.now)()),
    );
  }
}
