// Wires the classroom Q&A services from the configuration, for the composition root, the CLI and the bench.
import type { Config } from "../config.ts";
import { type Catalog, takesMessageWeight } from "../datasets/catalog.ts";
import type { StoreDataset } from "../datasets/store.ts";
import { AnswerRepository } from "../db/answers.ts";
import { ChannelSettingsRepository } from "../db/channels.ts";
import { DatasetExportRepository } from "../db/datasetExports.ts";
import { GuildSettingsRepository } from "../db/guildSettings.ts";
import { HostingRepository } from "../db/hosting.ts";
import { ModelRepository } from "../db/models.ts";
import { ModerationRepository } from "../db/moderation.ts";
import { OutboxRepository } from "../db/outbox.ts";
import type { Store } from "../db/query/store.ts";
import { ReviewRepository } from "../db/review.ts";
import { UsageRepository } from "../db/usage.ts";
import type { Logger } from "../logger.ts";
import { ChatProviderRegistry, type FineTuningProviderInfo } from "../providers/chatRegistry.ts";
import type { Moderator } from "../providers/moderation.ts";
import { createModerator } from "../providers/moderators.ts";
import { type AskRefusal, type AskRequest, type AskResult, AskService, type AskServiceDeps } from "./ask.ts";
import { FeedbackService } from "./feedback.ts";
import { ModerationGate } from "./moderation.ts";
import { ChatPriceTable } from "./prices.ts";
import { ReviewService } from "./review.ts";
import { ModelRouter } from "./routing.ts";
import { SafetySettings } from "./safety.ts";
import { ClassroomSettings } from "./settings.ts";
import type { TextSink } from "./streaming.ts";
import { UsageService } from "./usage.ts";

export interface ClassroomServices {
  /** /ask: routes the question within the guild's limits, answers it (cache, fallback) and records it. */
  ask(req: AskRequest, sink?: TextSink): Promise<AskResult>;
  /** Why this student cannot follow up this answer in this channel (the refusal), or undefined when they can. */
  followUpRefusal(
    guildId: string,
    channelId: string,
    userId: string,
    answerId: number,
  ): Promise<AskRefusal | undefined>;
  /** One answer of this guild, for the teacher's correction modal. */
  answer(guildId: string, answerId: number): ReturnType<AnswerRepository["get"]>;
  /** Class channels, the channel and server default models, and the models other providers serve. */
  settings: ClassroomSettings;
  providers: ChatProviderRegistry;
  prices: ChatPriceTable;
  router: ModelRouter;
  usage: UsageService;
  feedback: FeedbackService;
  /** Forgets the server's cached /ask answers to these questions (all of the server's when none are given). */
  forgetCachedAnswers(guildId: string, questions?: string[]): number;
  /** The moderator questions and answers go through (MODERATION_PROVIDER). */
  moderator: Moderator;
  /** `/config safety`: the moderation in force and a guild's tightening of it. */
  safety: SafetySettings;
  /** /review: the class's recent Q&A for its teachers, paged. */
  review: ReviewService;
}

export interface ClassroomServicesDeps {
  config: Config;
  store: Store;
  logger: Logger;
  /**
   * Every fine-tuning provider's chat endpoint, the default first (ProviderRegistry.chatEndpoints: the embedded
   * sandbox's url is known only once it started), so a model trained at a provider is asked there.
   */
  fineTuningProviders: Omit<FineTuningProviderInfo, "maxRetries" | "timeoutMs">[];
  /** Where base models go: the default fine-tuning provider's name. */
  defaultFineTuningProvider: string;
  /** The fine-tunable models: exports are validated for its default base model (never the /ask chat default). */
  catalog: Catalog;
  /** storeDataset with the database, DATA_DIR and the catalog bound (MODELS_FILE and PRICES_FILE apply to exports too). */
  storeDataset: StoreDataset;
  /** Enqueue a notice for the guild's teachers (called once per guild, model and UTC day). */
  onModelUnavailable?: AskServiceDeps["onModelUnavailable"];
  onModelUsed?: AskServiceDeps["onModelUsed"];
  /** MODERATION_PROVIDER=sandbox: the sandbox's API root (providers/factory.ts). */
  moderationSandboxURL?: string | undefined;
  fetch?: typeof fetch;
  now?: () => number;
}

export function createClassroomServices(deps: ClassroomServicesDeps): ClassroomServices {
  const { config, store } = deps;
  const providers = new ChatProviderRegistry({
    fineTuning: deps.fineTuningProviders.map((p) => ({
      ...p,
      maxRetries: config.ask.chatMaxRetries,
      timeoutMs: config.ask.chatTimeoutMs,
    })),
    defaultFineTuning: deps.defaultFineTuningProvider,
    extra: config.chatProviders,
    stream: config.ask.stream,
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
  });
  const prices = config.ask.chatPricesFile
    ? ChatPriceTable.load(config.ask.chatPricesFile)
    : ChatPriceTable.load();
  const channels = new ChannelSettingsRepository(store);
  const guildSettings = new GuildSettingsRepository(store);
  const models = new ModelRepository(store);
  const usageRepo = new UsageRepository(store);
  const answers = new AnswerRepository(store);
  const now = deps.now ?? Date.now;
  const router = new ModelRouter({
    models,
    providers,
    prices,
    channels,
    guildSettings,
    defaultModel: config.ask.defaultModel,
  });
  const logger = deps.logger.child({ service: "moderation" });
  const verdicts = new ModerationRepository(store);
  const moderator = createModerator({
    config: config.moderation,
    finetuneProviders: config.finetuneProviders,
    sandboxURL: deps.moderationSandboxURL,
    chat: providers,
    fetch: deps.fetch,
    logger,
  });
  logger.info({ moderator: moderator.describe, fail: config.moderation.fail }, "moderation");
  const safety = new SafetySettings({ guildSettings, moderator, fail: config.moderation.fail, verdicts });
  const moderation = new ModerationGate({
    moderator,
    fail: config.moderation.fail,
    messages: config.moderation.messages,
    store,
    verdicts,
    outbox: new OutboxRepository(store),
    logger,
    now,
    policyFor: (guildId, settings) => safety.policyFor(guildId, settings),
    routeFor: (guildId) => safety.routeFor(guildId),
  });
  const asker = new AskService({
    router,
    prices,
    channels,
    usage: usageRepo,
    answers,
    limits: config.ask,
    logger: deps.logger.child({ service: "ask" }),
    now,
    moderation,
    // A follow-up is trimmed to the context the catalog gives the model's base (its longest training example).
    contextTokens: (base) =>
      deps.catalog.models.find((m) => m.id === base || m.aliases.includes(base))?.maxTokensPerExample,
    ...(deps.onModelUnavailable ? { onModelUnavailable: deps.onModelUnavailable } : {}),
    ...(deps.onModelUsed ? { onModelUsed: deps.onModelUsed } : {}),
  });
  return {
    ask: (req, sink) => asker.ask(req, sink),
    followUpRefusal: (guildId, channelId, userId, answerId) =>
      asker.followUpRefusal(guildId, channelId, userId, answerId),
    answer: (guildId, answerId) => answers.get(guildId, answerId),
    forgetCachedAnswers: (guildId, questions) => asker.cache.forget(guildId, questions),
    settings: new ClassroomSettings({ channels, guildSettings, router, models, providers, now }),
    providers,
    prices,
    router,
    usage: new UsageService({
      usage: usageRepo,
      hosting: new HostingRepository(deps.store),
      verdicts,
      now,
    }),
    feedback: new FeedbackService({
      answers,
      storeDataset: deps.storeDataset,
      exports: new DatasetExportRepository(store),
      defaultModel: deps.catalog.defaultModel,
      acceptsWeight: (model) => takesMessageWeight(model, deps.catalog),
      now,
      screenCorrection: (guildId, text) => moderation.screenCorrection(guildId, text),
    }),
    moderator,
    safety,
    review: new ReviewService({ review: new ReviewRepository(store), now }),
  };
}
