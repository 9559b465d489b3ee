// The ledger of hosting billed while it runs: what the serving step (serving.ts) writes when it requests, readies
// or fails such a deployment, and what HostingService (hosting.ts) reads and stops. The one home of "what does
// hosting cost here": the provider's hardware, priced by its catalog's hosting table (or PRICES_FILE's).

import type { CatalogSet, HostingPrice } from "../datasets/catalog.ts";
import { hostingPriceFor } from "../datasets/catalog.ts";
import {
  type HostingRepository,
  type HostingSessionRow,
  HostingRepository as Repo,
  totalsOf,
} from "../db/hosting.ts";
import type { ModelRow } from "../db/models.ts";
import type { Queryable, Store } from "../db/query/store.ts";
import { UserError } from "../domain/errors.ts";
import type { ProviderRegistry } from "../providers/registry.ts";
import type { FineTuningProvider } from "../providers/types.ts";

/** What hosting at one provider costs: its hardware and that hardware's price per hour. */
export interface HostingTerms {
  provider: string;
  price: HostingPrice;
  autoDeploy: boolean;
}

/**
 * The record of billed hosting, used by the serving step: opens a session when a deploy is requested at a provider
 * that bills while running, marks it ready, and closes it when the deploy failed. Knows the price of each provider's
 * hosting; `checkPrices` refuses at start-up a billing provider whose hardware has no price (no cost unshown).
 */
const DAY_MS = 24 * 60 * 60_000;

/** 00:00 UTC of the day `now` falls in: the hosting budget is per UTC day. */
export const utcDayStart = (now: Date): Date => new Date(Math.floor(now.getTime() / DAY_MS) * DAY_MS);

export class HostingLedger {
  readonly repo: HostingRepository;

  constructor(
    private readonly o: {
      store: Store;
      providers: ProviderRegistry;
      catalogs: CatalogSet | undefined;
      now?: (() => Date) | undefined;
    },
  ) {
    this.repo = new Repo(o.store);
  }

  private now(): Date {
    return this.o.now?.() ?? new Date();
  }

  /** The provider's hosting terms; null where hosting is not billed while it runs (or the provider is unknown). */
  terms(providerName: string): HostingTerms | null {
    const provider = this.o.providers.get(providerName)?.jobs;
    return provider ? this.termsOf(provider) : null;
  }

  termsOf(provider: FineTuningProvider): HostingTerms | null {
    const billed = provider.billedWhileRunning;
    if (!billed) return null;
    const price = hostingPriceFor(this.o.catalogs?.find(provider.name), billed.hardware);
    if (!price) {
      throw new UserError(
        `No hosting price is known for ${provider.name}'s hardware "${billed.hardware}": add it to PRICES_FILE under providers.${provider.name}.hostingPerHourUsd, or choose hardware the catalog prices.`,
        "no_hosting_price",
      );
    }
    return { provider: provider.name, price, autoDeploy: billed.autoDeploy };
  }

  /** Start-up check: every configured provider that bills hosting has a price for its hardware. */
  checkPrices(): void {
    for (const p of this.o.providers.all()) if (p.jobs) this.termsOf(p.jobs);
  }

  /**
   * Opens the session of a deployment about to be requested (idempotent per deployment); null where the provider
   * does not bill hosting. `startedBy`: the teacher's user id, or "auto".
   */
  async open(
    provider: FineTuningProvider,
    model: Pick<ModelRow, "guildId" | "name">,
    deploymentName: string,
    startedBy: string,
  ): Promise<HostingSessionRow | null> {
    const terms = this.termsOf(provider);
    if (!terms) return null;
    return this.repo.open(
      {
        guildId: model.guildId,
        modelName: model.name,
        provider: provider.name,
        deploymentName,
        hardware: terms.price.hardware,
        usdPerHour: terms.price.usdPerHour,
        priceSource: `${terms.price.source} (as of ${terms.price.asOf})`,
        startedBy,
      },
      this.now(),
    );
  }

  /**
   * What the guild's billed hosting cost on the UTC day of `now`, running deployments counted up to `now`. `tx`: the
   * caller's transaction, if it runs in one.
   */
  async spentToday(guildId: string, now: Date = this.now(), tx?: Queryable | undefined): Promise<number> {
    const from = utcDayStart(now);
    const repo = tx ? this.repo.in(tx) : this.repo;
    return totalsOf(await repo.listBetween(guildId, from, now), now, from).costUsd;
  }

  /** The deployment answered ready: the idle clock starts. `tx`: the caller's transaction, if it runs in one. */
  async ready(provider: string, deploymentName: string, tx?: Queryable | undefined): Promise<void> {
    const repo = tx ? this.repo.in(tx) : this.repo;
    const s = await repo.byDeployment(provider, deploymentName);
    if (s) await repo.markReady(s.id, this.now());
  }

  /** The deploy failed: the provider runs nothing, so billing ends. `tx`: the caller's transaction, if any. */
  async failed(provider: string, deploymentName: string, tx?: Queryable | undefined): Promise<void> {
    const repo = tx ? this.repo.in(tx) : this.repo;
    const s = await repo.byDeployment(provider, deploymentName);
    if (s) await repo.markStopped(s.id, this.now(), "failed");
  }
}
