// The fine-tuning providers active at run time, one per configured entry (FINETUNE_PROVIDERS, the legacy
// OPENAI_* provider or the embedded sandbox): the one home of "which provider". A job names its provider when
// it starts (default FINETUNE_DEFAULT_PROVIDER), and is polled, cancelled and asked through the provider its
// row records. Every kind has a job adapter now; a kind without one would be listed, for validation,
// `classtune providers` and chat, but refuse to start jobs. Built by providers/factory.ts.
import { UserError } from "../domain/errors.ts";
import type { FineTuneProviderSpec, ProviderKind } from "../providerSpecs.ts";
import type { FineTuningProvider } from "./types.ts";

/** The endpoint recorded for the embedded sandbox, whose URL changes with its port. */
export const EMBEDDED_SANDBOX_ENDPOINT = "sandbox:embedded";

/**
 * Where a provider's jobs live, as job rows record it: its API root as scheme://host/path (no credentials,
 * no query, no trailing slash, the host lower-cased), or EMBEDDED_SANDBOX_ENDPOINT. Never a key.
 */
export function endpointOf(spec: Pick<FineTuneProviderSpec, "kind" | "baseURL">): string {
  if (spec.baseURL === undefined) return EMBEDDED_SANDBOX_ENDPOINT;
  const url = new URL(spec.baseURL);
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, "")}`;
}

export interface RegisteredProvider {
  name: string;
  kind: ProviderKind;
  /** See endpointOf: what a job records to be found again if this provider is renamed. */
  endpoint: string;
  /** FINETUNE_DEFAULT_PROVIDER (else the first configured). */
  isDefault: boolean;
  /** Simulated: no cost, no real training. */
  sandbox: boolean;
  /** The job adapter; undefined for a kind whose jobs are not yet supported. */
  jobs: FineTuningProvider | undefined;
}

/** What the chat registry needs to reach a fine-tuning provider's chat endpoint. */
export interface FineTuningChatEndpoint {
  name: string;
  /** The API root (the embedded sandbox's own URL once it listens). */
  baseURL: string;
  apiKey: string | undefined;
  /** Simulated or self-hosted: its answers cost $0. */
  free: boolean;
}

export interface RegistryEntry {
  spec: FineTuneProviderSpec;
  jobs: FineTuningProvider | undefined;
  /** The embedded sandbox's URL, known once it listens. */
  runtimeBaseURL?: string | undefined;
}

/** How a name recorded on rows resolves: configured, renamed (same endpoint), or matching nothing. */
export type Resolution =
  | { found: "configured"; provider: RegisteredProvider }
  | { found: "renamed"; provider: RegisteredProvider }
  | { found: "none"; reason: string };

/** The word for a refused kind, in the one sentence every refusal uses. */
export function notYetSupported(p: Pick<RegisteredProvider, "name" | "kind">, others: string[]): UserError {
  return new UserError(
    `Provider "${p.name}" is of kind ${p.kind}: jobs on ${p.kind} are not yet supported; validate works, pick another provider with /finetune start provider: (or --provider in the terminal)${others.length > 0 ? `. Providers that train: ${others.join(", ")}.` : "."}`,
    "not_yet_supported",
  );
}

export class ProviderRegistry {
  private readonly entries: RegisteredProvider[];
  private readonly chat: FineTuningChatEndpoint[];
  readonly default: RegisteredProvider;

  constructor(entries: RegistryEntry[], defaultName: string) {
    this.entries = entries.map(({ spec, jobs }) => ({
      name: spec.name,
      kind: spec.kind,
      endpoint: endpointOf(spec),
      isDefault: spec.name === defaultName,
      sandbox: spec.kind === "sandbox",
      jobs,
    }));
    this.chat = entries.map(({ spec, runtimeBaseURL }) => ({
      name: spec.name,
      baseURL: runtimeBaseURL ?? spec.baseURL ?? "",
      apiKey: spec.apiKey ?? (spec.kind === "sandbox" ? "sandbox" : undefined),
      free: spec.kind === "sandbox" || spec.kind === "localai",
    }));
    const found = this.entries.find((p) => p.isDefault);
    if (!found) throw new Error(`the default fine-tuning provider "${defaultName}" is not configured`);
    this.default = found;
  }

  /** Every configured provider, the configuration's order. */
  all(): RegisteredProvider[] {
    return [...this.entries];
  }

  names(): string[] {
    return this.entries.map((p) => p.name);
  }

  /** Names are unique whatever their case (providerSpecs.ts), so "School" finds "school". */
  get(name: string): RegisteredProvider | undefined {
    const wanted = name.trim().toLowerCase();
    return this.entries.find((p) => p.name.toLowerCase() === wanted);
  }

  /** The named provider, or a UserError naming every configured one. */
  require(name: string): RegisteredProvider {
    const p = this.get(name);
    if (!p) {
      throw new UserError(
        `There is no fine-tuning provider called "${name.slice(0, 64)}". Configured: ${this.describeNames()}.`,
        "unknown_provider",
      );
    }
    return p;
  }

  /** "a (default), b, c": for messages. */
  describeNames(): string {
    return this.entries.map((p) => (p.isDefault ? `${p.name} (default)` : p.name)).join(", ");
  }

  /**
   * The provider a new job goes to (default: FINETUNE_DEFAULT_PROVIDER) with its job adapter; a kind whose
   * jobs are not yet supported is refused with a UserError that says so.
   */
  forStart(name?: string | undefined): RegisteredProvider & { jobs: FineTuningProvider } {
    const p = name === undefined || name.trim() === "" ? this.default : this.require(name);
    if (!p.jobs) {
      throw notYetSupported(
        p,
        this.entries.filter((e) => e.jobs).map((e) => e.name),
      );
    }
    return p as RegisteredProvider & { jobs: FineTuningProvider };
  }

  /**
   * The provider a recorded name (with the endpoint the rows kept) belongs to now: the configured provider of
   * that name; else, for a renamed provider, the one configured provider with job support at the same endpoint.
   */
  resolve(name: string, endpoint: string | null): Resolution {
    const byName = this.entries.find((p) => p.name === name);
    if (byName) return { found: "configured", provider: byName };
    if (endpoint === null) {
      return {
        found: "none",
        reason:
          "no provider of that name is configured, and these rows predate the recorded endpoints (migration 006)",
      };
    }
    const same = this.entries.filter((p) => p.endpoint === endpoint && p.jobs);
    const [only] = same;
    if (only && same.length === 1) return { found: "renamed", provider: only };
    return {
      found: "none",
      reason:
        same.length === 0
          ? `no configured provider has its endpoint (${endpoint})`
          : `several configured providers share its endpoint (${endpoint}): ${same.map((p) => p.name).join(", ")}`,
    };
  }

  /** The job adapter for a job row: its own provider (rows of a renamed one are re-pointed by the poller). */
  forJob(job: { id: number; provider: string }): FineTuningProvider {
    const p = this.entries.find((e) => e.name === job.provider);
    if (!p) {
      throw new UserError(
        `Job #${job.id} was started on provider "${job.provider}", which is not configured on this bot (configured: ${this.describeNames()}).`,
        "provider_missing",
      );
    }
    if (!p.jobs) throw notYetSupported(p, []);
    return p.jobs;
  }

  /** Every provider's chat endpoint, for /ask: a model trained at X is asked at X. */
  chatEndpoints(): FineTuningChatEndpoint[] {
    return this.chat.map((c) => ({ ...c }));
  }
}
