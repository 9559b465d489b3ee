// Keeps the provider names on job rows pointing at configured providers. A row records its provider's name and
// endpoint (migration 006). When the name is no longer configured (PROVIDER_NAME changed from "school-openai"
// to "openai" over the same OPENAI_BASE_URL), the configured provider with the same endpoint takes the rows
// over: its jobs, pending creates and trained models are re-pointed to the new name, logged once. Rows that
// match nothing are left untouched (never failed) and logged once per process. Run at the start of each tick.

import { JobIntentRepository } from "../db/jobIntents.ts";
import { JobRepository, type ProviderRef } from "../db/jobs.ts";
import { ModelRepository } from "../db/models.ts";
import type { Store } from "../db/query/store.ts";
import type { Logger } from "../logger.ts";
import type { ProviderRegistry } from "../providers/registry.ts";

/** Names logged as unmatched, remembered so each is logged once per process (capped like every cache). */
const MAX_REPORTED = 200;

export interface ProviderNamesOptions {
  store: Store;
  providers: ProviderRegistry;
  logger: Logger;
  /** Only this guild's rows (the CLI works on its own); default every guild's. */
  guildId?: string | undefined;
}

export class ProviderNames {
  private readonly store: Store;
  private readonly providers: ProviderRegistry;
  private readonly logger: Logger;
  private readonly guildId: string | undefined;
  private readonly jobs: JobRepository;
  private readonly intents: JobIntentRepository<unknown>;
  private readonly models: ModelRepository;
  private readonly reported = new Set<string>();
  private endpointsFilled = false;

  constructor(o: ProviderNamesOptions) {
    this.store = o.store;
    this.providers = o.providers;
    this.logger = o.logger;
    this.guildId = o.guildId;
    this.jobs = new JobRepository(o.store);
    this.intents = new JobIntentRepository(o.store);
    this.models = new ModelRepository(o.store);
  }

  /**
   * Re-points the rows of renamed providers and returns the configured providers that have work (unfinished
   * jobs, pending creates or models being deployed), by name. Rows of names that match nothing, or of a kind that takes no jobs yet,
   * are left as they are and logged once.
   */
  async settle(): Promise<string[]> {
    await this.fillEndpointsOnce();
    const due = new Set<string>();
    for (const ref of await this.refs()) {
      const r = this.providers.resolve(ref.provider, ref.endpoint);
      if (r.found === "none") {
        this.reportOnce(`none\u0000${ref.provider}\u0000${ref.endpoint}`, () =>
          this.logger.warn(
            { provider: ref.provider, endpoint: ref.endpoint, reason: r.reason },
            "jobs recorded under a fine-tuning provider that matches none configured are not polled (left as they are); configure a provider of that name, or one at that endpoint",
          ),
        );
        continue;
      }
      if (r.found === "renamed" && ref.endpoint !== null) {
        await this.repoint(ref.provider, r.provider.name, r.provider.kind, ref.endpoint);
      }
      if (!r.provider.jobs) {
        this.reportOnce(`unsupported\u0000${r.provider.name}`, () =>
          this.logger.warn(
            { provider: r.provider.name, kind: r.provider.kind },
            "jobs recorded under a provider whose kind takes no jobs yet are not polled",
          ),
        );
        continue;
      }
      due.add(r.provider.name);
    }
    return [...due];
  }

  /** Rows written before migration 006 get the endpoint of the provider configured under their name (once). */
  private async fillEndpointsOnce(): Promise<void> {
    if (this.endpointsFilled) return;
    this.endpointsFilled = true;
    await this.store.transaction(async (tx) => {
      for (const p of this.providers.all()) {
        await this.jobs.in(tx).fillEndpoint(p.name, p.kind, p.endpoint, this.guildId);
        await this.intents.in(tx).fillEndpoint(p.name, p.kind, p.endpoint, this.guildId);
      }
    });
  }

  private async refs(): Promise<ProviderRef[]> {
    const seen = new Map<string, ProviderRef>();
    for (const ref of [
      ...(await this.jobs.activeProviders(this.guildId)),
      ...(await this.intents.providers(this.guildId)),
      ...(await this.models.deployingProviders(this.guildId)),
    ]) {
      seen.set(`${ref.provider}\u0000${ref.endpoint}`, ref);
    }
    return [...seen.values()];
  }

  private async repoint(from: string, to: string, kind: string, endpoint: string): Promise<void> {
    const change = { from, to, kind, endpoint, guildId: this.guildId };
    const moved = await this.store.transaction(async (tx) => ({
      jobs: await this.jobs.in(tx).repointProvider(change),
      intents: await this.intents.in(tx).repointProvider(change),
      models: await this.models.in(tx).repointTrained(change),
    }));
    // Logged when rows moved: once per rename, as no row carries the old name afterwards (but one whose remote
    // id the new name already holds: the same job recorded twice, left as it is).
    if (moved.jobs + moved.intents + moved.models === 0) return;
    this.logger.info(
      { from, to, endpoint, ...moved },
      "fine-tuning provider renamed: its jobs are polled under the new name",
    );
  }

  private reportOnce(key: string, log: () => void): void {
    if (this.reported.has(key)) return;
    if (this.reported.size >= MAX_REPORTED) {
      const oldest = this.reported.values().next().value;
      if (oldest !== undefined) this.reported.delete(oldest);
    }
    this.reported.add(key);
    log();
  }
}
