// Builds the configured Moderator (MODERATION_PROVIDER): openai with the OpenAI key's provider, sandbox as the
// same SDK client at the sandbox's /v1, guard on a chat provider of the registry, or off. Each moderation call
// has its own retries and timeout (MODERATION_MAX_RETRIES, MODERATION_TIMEOUT_MS): the SDK does the retrying.
import OpenAI from "openai";
import type { FineTuneProviderSpec, ModerationConfig } from "../config.ts";
import type { Logger } from "../logger.ts";
import type { ChatProviderRegistry } from "./chatRegistry.ts";
import { type Moderator, OffModerator } from "./moderation.ts";
import { DEFAULT_GUARD_MODEL, GuardModerator } from "./moderationGuard.ts";
import { DEFAULT_MODERATION_MODEL, OpenAIModerator } from "./moderationOpenAI.ts";

export interface ModeratorDeps {
  config: ModerationConfig;
  finetuneProviders: FineTuneProviderSpec[];
  /** The sandbox's API root (…/v1) when MODERATION_PROVIDER is sandbox (providers/factory.ts starts one). */
  sandboxURL: string | undefined;
  /** The chat providers: the guard model is asked through one of them. */
  chat: ChatProviderRegistry;
  fetch?: typeof fetch | undefined;
  logger: Logger;
}

export function createModerator(deps: ModeratorDeps): Moderator {
  const { config, logger } = deps;
  const sdk = (apiKey: string, baseURL: string) =>
    new OpenAI({
      apiKey,
      baseURL,
      maxRetries: config.maxRetries,
      timeout: config.timeoutMs,
      ...(deps.fetch ? { fetch: deps.fetch } : {}),
    });
  switch (config.provider) {
    case "off":
      return new OffModerator();
    case "sandbox": {
      if (!deps.sandboxURL) throw new Error("MODERATION_PROVIDER=sandbox, but no sandbox was started");
      // The default without an OpenAI key: fine for rehearsals, but a school training on a real provider must
      // hear, once at start-up, that students' questions are checked by a word list only.
      if (deps.finetuneProviders.some((p) => p.kind !== "sandbox")) {
        logger.warn(
          { moderation: "sandbox" },
          "MODERATION_PROVIDER=sandbox: students' questions and answers are checked only by the sandbox's word list, which is for rehearsal, not real safety. Set MODERATION_PROVIDER=openai (free with an OpenAI key) or guard (a guard model on a chat provider).",
        );
      }
      return new OpenAIModerator({
        client: sdk("sandbox", deps.sandboxURL),
        kind: "sandbox",
        model: config.model ?? DEFAULT_MODERATION_MODEL,
        logger,
      });
    }
    case "openai": {
      const spec = deps.finetuneProviders.find((p) => p.name === config.openaiProvider);
      if (!spec?.apiKey || !spec.baseURL) {
        throw new Error(`MODERATION_PROVIDER=openai, but provider "${config.openaiProvider}" has no key`);
      }
      return new OpenAIModerator({
        client: sdk(spec.apiKey, spec.baseURL),
        kind: "openai",
        model: config.model ?? DEFAULT_MODERATION_MODEL,
        logger,
      });
    }
    case "guard": {
      const name = config.guardProvider ?? "";
      const provider = deps.chat.assertKnown(name);
      const client = provider.client.withOptions({
        maxRetries: config.maxRetries,
        timeout: config.timeoutMs,
      });
      return new GuardModerator({
        providerName: provider.name,
        model: config.model ?? DEFAULT_GUARD_MODEL,
        logger,
        chat: async (input) => {
          const c = await client.chat.completions.create({
            model: input.model,
            messages: input.messages,
            ...(input.temperature !== undefined ? { temperature: input.temperature } : {}),
            ...(input.maxTokens !== undefined ? { max_tokens: input.maxTokens } : {}),
          });
          const usage = c.usage;
          return {
            text: c.choices[0]?.message?.content ?? "",
            model: c.model,
            usage: {
              promptTokens: usage?.prompt_tokens ?? 0,
              completionTokens: usage?.completion_tokens ?? 0,
              totalTokens: usage?.total_tokens ?? 0,
            },
          };
        },
      });
    }
  }
}
