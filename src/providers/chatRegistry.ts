// The chat providers /ask can route to: one openai SDK client per provider (any OpenAI-compatible endpoint),
// each with its own maxRetries/timeout. The SDK does the retrying; there is no backoff loop of ours.
import OpenAI from "openai";
import type { ChatProviderSpec } from "../config.ts";
import { UserError } from "../domain/errors.ts";

export interface ChatProvider {
  name: string;
  baseURL: string;
  client: OpenAI;
  /** Sandbox or self-hosted: every answer costs $0. */
  free: boolean;
  /** /ask streams its answers (CHAT_PROVIDERS `"stream": false` for a server that cannot; ASK_STREAM=false for none). */
  stream: boolean;
}

/** What the composition root knows about a fine-tuning provider (the sandbox URL exists only at runtime). */
export interface FineTuningProviderInfo {
  name: string;
  baseURL: string | undefined;
  apiKey: string | undefined;
  maxRetries: number;
  timeoutMs: number;
  /** True for the sandbox. */
  free: boolean;
}

export interface ChatProviderRegistryOptions {
  /** Every fine-tuning provider: a model trained at one is asked at that one. */
  fineTuning: FineTuningProviderInfo[];
  /** Where base models go (the default fine-tuning provider); default the first of `fineTuning`. */
  defaultFineTuning?: string | undefined;
  extra?: ChatProviderSpec[];
  /** Passed to every SDK client (tests, proxies). */
  fetch?: typeof fetch;
  /** ASK_STREAM: false streams from none of them. Default true. */
  stream?: boolean;
}

// Self-hosted servers (Ollama, vLLM) often take no key, but the SDK insists on one.
const NO_KEY = "no-key";

export class ChatProviderRegistry {
  private readonly providers = new Map<string, ChatProvider>();
  /** The default fine-tuning provider: where base models are asked. */
  readonly fineTuningName: string;

  constructor({
    fineTuning,
    defaultFineTuning,
    extra = [],
    fetch: doFetch,
    stream = true,
  }: ChatProviderRegistryOptions) {
    const fallback = defaultFineTuning ?? fineTuning[0]?.name;
    if (fallback === undefined || !fineTuning.some((f) => f.name === fallback)) {
      throw new Error(
        `the default fine-tuning provider "${fallback}" is not among the fine-tuning providers`,
      );
    }
    this.fineTuningName = fallback;
    const make = (name: string, s: Omit<ChatProviderSpec, "name" | "apiKeyEnv">) => {
      const client = new OpenAI({
        apiKey: s.apiKey ?? NO_KEY,
        baseURL: s.baseURL,
        maxRetries: s.maxRetries,
        timeout: s.timeoutMs,
        ...(s.defaultHeaders ? { defaultHeaders: s.defaultHeaders } : {}),
        ...(doFetch ? { fetch: doFetch } : {}),
      });
      this.providers.set(name, {
        name,
        baseURL: s.baseURL,
        client,
        free: s.free,
        stream: stream && s.stream,
      });
    };
    for (const f of fineTuning) {
      if (this.providers.has(f.name)) throw new Error(`chat provider "${f.name}" is registered twice`);
      make(f.name, {
        baseURL: f.baseURL || "https://api.openai.com/v1",
        apiKey: f.apiKey,
        defaultHeaders: undefined,
        maxRetries: f.maxRetries,
        timeoutMs: f.timeoutMs,
        free: f.free,
        stream: true,
      });
    }
    for (const s of extra) {
      if (this.providers.has(s.name)) throw new Error(`chat provider "${s.name}" is registered twice`);
      make(s.name, s);
    }
  }

  get(name: string): ChatProvider | undefined {
    return this.providers.get(name);
  }

  has(name: string): boolean {
    return this.providers.has(name);
  }

  names(): string[] {
    return [...this.providers.keys()];
  }

  /** For `/model add`: a UserError naming the configured providers when `name` is not one. */
  assertKnown(name: string): ChatProvider {
    const p = this.providers.get(name);
    if (!p) {
      throw new UserError(
        `There is no chat provider called "${name}". Configured providers: ${this.names().join(", ")}.`,
        "unknown_provider",
      );
    }
    return p;
  }
}
