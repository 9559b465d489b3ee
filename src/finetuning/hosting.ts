// Hosting billed for as long as it runs (a dedicated endpoint on Together, a deployment on Fireworks, the sandbox's
// imitation of them) as a costed lifecycle. The ledger (HostingLedger) records every deployment classtune asks such
// a provider for, at the price per hour the catalog gives for its hardware (PRICES_FILE may set a school's own),
// from the moment it is requested until the provider confirms it gone. HostingService is what teachers drive
// (`/model deploy`, `/model undeploy`, `/model list`, `/usage`) and what the poller's tick runs (sweep): it stops a
// deployment nobody asked for HOSTING_IDLE_MINUTES, and every deployment of a guild once the guild's hosting today
// (UTC) reaches HOSTING_DAILY_BUDGET_USD; it retries stops the provider did not confirm. Everything it decides
// from is in SQLite (hosting_sessions, models), so a restart carries on where the last process stopped.

import {
  billedMinutes,
  type HostingRepository,
  type HostingSessionRow,
  hostingCost,
  type StopReason,
} from "../db/hosting.ts";
import { JobRepository } from "../db/jobs.ts";
import { ModelRepository, type ModelRow } from "../db/models.ts";
import { OutboxRepository } from "../db/outbox.ts";
import type { Queryable, Store } from "../db/query/store.ts";
import { UserError } from "../domain/errors.ts";
import { type HostingStoppedPayload, noticeKey } from "../domain/notices.ts";
import type { Logger } from "../logger.ts";
import { silentLogger } from "../logger.ts";
import { describeProviderError } from "../providers/errors.ts";
import type { ProviderRegistry } from "../providers/registry.ts";
import type { HostingLedger, HostingTerms } from "./hostingLedger.ts";
import type { ModelServing, RedeployResult } from "./serving.ts";

export type { HostingTerms };

/** Stop attempts after which the teachers are told to check the provider's dashboard. */
export const STOP_ATTEMPTS_BEFORE_ALERT = 3;

/** What the confirmation of `/model deploy` shows, checked again when the teacher presses Start. */
export interface HostingOffer {
  model: ModelRow;
  jobId: number;
  terms: HostingTerms;
  idleMinutes: number;
  dailyBudgetUsd: number;
  spentTodayUsd: number;
  /** How long it can run today before the budget stops it, in minutes. */
  minutesLeftToday: number;
}

/** A model's hosting as `/model list` shows it: running (or starting) since, minutes and cost so far. */
export interface HostingState {
  session: HostingSessionRow;
  minutes: number;
  costUsd: number;
  /** When the idle stop comes if nobody asks it anything; null while it is still starting. */
  idleStopAt: Date | null;
  stopping: boolean;
}

/** What `/model undeploy` did. */
export interface StopOutcome {
  model: ModelRow;
  session: HostingSessionRow;
  minutes: number;
  costUsd: number;
  /** The provider confirmed the deployment gone (billing stopped); false: retried every tick until it does. */
  confirmed: boolean;
  error: string | null;
}

export interface HostingSweepCounts {
  open: number;
  /** Deployments found serving without a session (made before the ledger): recorded from now on. */
  adopted: number;
  idleStopped: number;
  budgetStopped: number;
  stopsRetried: number;
  errors: number;
}

export interface HostingServiceOptions {
  store: Store;
  providers: ProviderRegistry;
  serving: ModelServing;
  ledger: HostingLedger;
  /** HOSTING_IDLE_MINUTES: a ready deployment nobody asked for this long is stopped. */
  idleMinutes: number;
  /** HOSTING_DAILY_BUDGET_USD: a guild's hosting per UTC day; reaching it stops every deployment of the guild. */
  dailyBudgetUsd: number;
  logger?: Logger | undefined;
  now?: (() => Date) | undefined;
  /** Only this guild's sessions (the CLI's); default every guild's. */
  guildId?: string | undefined;
}

export class HostingService {
  private readonly o: HostingServiceOptions;
  private readonly logger: Logger;
  private readonly models: ModelRepository;
  private readonly jobs: JobRepository;
  private readonly outbox: OutboxRepository;
  private readonly repo: HostingRepository;
  /** Stops under way in this process, by session id: a sweep never stops one twice at once. */
  private readonly stopping = new Map<number, Promise<void>>();

  constructor(o: HostingServiceOptions) {
    this.o = o;
    this.logger = o.logger ?? silentLogger;
    this.models = new ModelRepository(o.store);
    this.jobs = new JobRepository(o.store);
    this.outbox = new OutboxRepository(o.store);
    this.repo = o.ledger.repo;
  }

  get idleMinutes(): number {
    return this.o.idleMinutes;
  }

  get dailyBudgetUsd(): number {
    return this.o.dailyBudgetUsd;
  }

  private now(): Date {
    return this.o.now?.() ?? new Date();
  }

  /** The model's hosting terms; null where its provider does not bill while running. */
  termsFor(model: Pick<ModelRow, "provider">): HostingTerms | null {
    return this.o.ledger.terms(model.provider);
  }

  /** What the guild's hosting cost today (UTC), running deployments counted up to now. */
  spentToday(guildId: string, tx?: Queryable | undefined): Promise<number> {
    return this.o.ledger.spentToday(guildId, this.now(), tx);
  }

  /**
   * What waking (or starting) a model's hosting would cost, for the confirmation: refused here when the model is
   * not this guild's, not trained, not at a provider that bills hosting, already running, or today's budget is spent.
   */
  async offer(guildId: string, modelName: string): Promise<HostingOffer> {
    const model = await this.requireModel(guildId, modelName);
    const terms = this.termsFor(model);
    if (!terms || model.jobId === null) {
      throw new UserError(
        `\`${model.name}\` (${model.provider}) is not hosted on a deployment billed while it runs: there is nothing to start.${model.jobId !== null ? ` If its deploy failed, \`/finetune deploy job:${model.jobId}\` retries it.` : ""}`,
        "not_billed",
      );
    }
    const running = await this.repo.current(guildId, model.name);
    if (running && running.stopRequestedAt === null) {
      throw new UserError(
        `\`${model.name}\` is already ${model.servingStatus === "ready" ? "running" : "starting"} (since ${hhmm(running.startedAt)} UTC, $${terms.price.usdPerHour.toFixed(2)}/h). \`/model undeploy model:${model.name}\` stops it.`,
        "already_hosted",
      );
    }
    const spentTodayUsd = await this.spentToday(guildId);
    const left = this.o.dailyBudgetUsd - spentTodayUsd;
    if (left <= 0) {
      throw new UserError(
        `Today's hosting budget of $${this.o.dailyBudgetUsd.toFixed(2)} for this server is spent ($${spentTodayUsd.toFixed(2)} so far, UTC day). Hosting can start again after 00:00 UTC, or the bot's admin raises HOSTING_DAILY_BUDGET_USD.`,
        "hosting_budget_spent",
      );
    }
    const minutesLeftToday =
      terms.price.usdPerHour > 0
        ? Math.floor((left / terms.price.usdPerHour) * 60)
        : Number.POSITIVE_INFINITY;
    return {
      model,
      jobId: model.jobId,
      terms,
      idleMinutes: this.o.idleMinutes,
      dailyBudgetUsd: this.o.dailyBudgetUsd,
      spentTodayUsd,
      minutesLeftToday,
    };
  }

  /** Starts (or wakes) the model's billed hosting after the teacher confirmed: checks the offer again first. */
  async start(guildId: string, modelName: string, userId: string): Promise<RedeployResult> {
    const offer = await this.offer(guildId, modelName);
    this.logger.info(
      { guildId, model: offer.model.name, by: userId, usdPerHour: offer.terms.price.usdPerHour },
      "hosting start requested",
    );
    return this.o.serving.redeploy(guildId, offer.jobId, userId);
  }

  /**
   * Stops the model's billed hosting: the model is asleep at once (no /ask reaches it), then the provider is asked to
   * delete the deployment. An unconfirmed stop is retried by every sweep; billing is counted until it is confirmed.
   */
  async stop(guildId: string, modelName: string, userId: string): Promise<StopOutcome> {
    const model = await this.requireModel(guildId, modelName);
    const session = await this.repo.current(guildId, model.name);
    if (!session) {
      throw new UserError(
        model.servingStatus === "asleep"
          ? `\`${model.name}\` is already asleep: nothing is billed for it.`
          : `\`${model.name}\` has no hosting running that classtune started: nothing to stop.`,
        "not_hosted",
      );
    }
    await this.requestStop(session, model, "teacher", userId);
    await this.undeploy(session);
    return await this.outcome(guildId, model.name, session.id);
  }

  /** Every hosting of the guild still billed (running, starting or stopping), oldest first. */
  async running(guildId: string): Promise<HostingState[]> {
    return (await this.repo.listOpen(guildId)).map((s) => this.stateOf(s));
  }

  /** The model's running (or stopping) hosting, with its minutes and cost so far; undefined when none. */
  async state(guildId: string, modelName: string): Promise<HostingState | undefined> {
    const session = await this.repo.current(guildId, modelName);
    return session ? this.stateOf(session) : undefined;
  }

  private stateOf(session: HostingSessionRow): HostingState {
    const now = this.now();
    const minutes = billedMinutes(session, now);
    const since = idleSince(session);
    return {
      session,
      minutes,
      costUsd: hostingCost(minutes, session.usdPerHour),
      idleStopAt: since === null ? null : new Date(since + this.o.idleMinutes * 60_000),
      stopping: session.stopRequestedAt !== null,
    };
  }

  /** /ask answered with the model: its idle clock starts again. */
  touch(guildId: string, modelName: string): Promise<void> {
    return this.repo.touch(guildId, modelName, this.now());
  }

  /**
   * The poller's hosting step, every tick: stops retried, idle deployments stopped, guilds over today's budget
   * stopped. Never throws; what fails is counted and logged, and tried again next tick.
   */
  async sweep(): Promise<HostingSweepCounts> {
    const counts: HostingSweepCounts = {
      open: 0,
      adopted: 0,
      idleStopped: 0,
      budgetStopped: 0,
      stopsRetried: 0,
      errors: 0,
    };
    let open: HostingSessionRow[];
    try {
      counts.adopted = await this.adoptUntracked();
      open = await this.repo.listOpen(this.o.guildId);
    } catch (err) {
      counts.errors += 1;
      this.logger.error({ err }, "could not read the hosting sessions; next tick retries");
      return counts;
    }
    counts.open = open.length;
    const now = this.now();
    const overBudget = new Set<string>();
    for (const guildId of new Set(open.map((s) => s.guildId))) {
      if ((await this.spentToday(guildId)) >= this.o.dailyBudgetUsd) overBudget.add(guildId);
    }
    const work: Promise<void>[] = [];
    for (const s of open) {
      if (this.stopping.has(s.id)) continue;
      try {
        if (s.stopRequestedAt !== null) {
          counts.stopsRetried += 1;
          work.push(this.undeploy(s));
          continue;
        }
        const model = await this.models.get(s.guildId, s.modelName);
        let reason: StopReason | null = null;
        if (overBudget.has(s.guildId)) reason = "budget";
        else {
          const since = idleSince(s);
          if (since !== null && now.getTime() - since >= this.o.idleMinutes * 60_000) reason = "idle";
        }
        if (reason === null) continue;
        if (reason === "budget") counts.budgetStopped += 1;
        else counts.idleStopped += 1;
        await this.requestStop(s, model, reason, "classtune");
        work.push(this.undeploy(s));
      } catch (err) {
        counts.errors += 1;
        this.logger.error({ err, session: s.id }, "hosting sweep failed for a session; next tick retries");
      }
    }
    await Promise.all(work);
    if (counts.adopted + counts.idleStopped + counts.budgetStopped + counts.stopsRetried > 0) {
      this.logger.info({ ...counts }, "hosting sweep");
    }
    return counts;
  }

  /**
   * A billed deployment serving without a session (made before this release, or a session never written) is
   * recorded from now, so the idle and budget stops cover it too. Returns how many were adopted.
   */
  private async adoptUntracked(): Promise<number> {
    let adopted = 0;
    for (const entry of this.o.providers.all()) {
      const provider = entry.jobs;
      if (!provider?.billedWhileRunning) continue;
      for (const m of await this.models.listServedUntracked(provider.name, this.o.guildId)) {
        if (!m.deploymentName) continue;
        const s = await this.o.ledger.open(provider, m, m.deploymentName, "adopted");
        if (s && m.servingStatus === "ready") await this.repo.markReady(s.id, this.now());
        adopted += 1;
        this.logger.warn(
          { guildId: m.guildId, model: m.name, deployment: m.deploymentName },
          "a billed deployment had no hosting record: counted from now, and stopped when idle",
        );
      }
    }
    return adopted;
  }

  private async requireModel(guildId: string, modelName: string): Promise<ModelRow> {
    const model = await this.models.get(guildId, modelName.trim());
    if (!model) {
      throw new UserError(
        `There is no model called "${modelName.trim()}" in this server. /model list shows them.`,
        "not_found",
      );
    }
    return model;
  }

  /**
   * Records the stop (once) and puts the model to sleep, in one transaction with the teachers' notice when classtune
   * stopped it on its own (idle, budget): a teacher's own stop is answered in their reply.
   */
  private async requestStop(
    session: HostingSessionRow,
    model: ModelRow | undefined,
    reason: StopReason,
    by: string,
  ): Promise<void> {
    const now = this.now();
    await this.o.store.transaction(async (tx) => {
      if (!(await this.repo.in(tx).requestStop(session.id, reason, by, now))) return;
      if (model && model.deploymentName === session.deploymentName) {
        await this.models
          .in(tx)
          .updateServing(
            model.guildId,
            model.name,
            { from: ["ready", "deploying"], attempt: model.deployAttempt },
            { status: "asleep", servedAs: null, error: null },
            now,
          );
      }
      if (reason !== "teacher") await this.enqueueStopped(session, model, reason, now, undefined, tx);
    });
    this.logger.info(
      { guildId: session.guildId, model: session.modelName, deployment: session.deploymentName, reason, by },
      "hosting stop requested",
    );
  }

  /** Asks the provider to delete the deployment; records the outcome. One call per session at a time. */
  private undeploy(session: HostingSessionRow): Promise<void> {
    const running = this.stopping.get(session.id);
    if (running) return running;
    const work = this.undeployOnce(session).finally(() => this.stopping.delete(session.id));
    this.stopping.set(session.id, work);
    return work;
  }

  private async undeployOnce(session: HostingSessionRow): Promise<void> {
    const provider = this.o.providers.get(session.provider)?.jobs;
    if (!provider?.undeploy) {
      await this.repo.stopFailed(
        session.id,
        `provider ${session.provider} is ${provider ? "unable to stop deployments" : "no longer configured"}: stop ${session.deploymentName} in its dashboard`,
      );
      return;
    }
    try {
      await provider.undeploy(session.deploymentName);
      await this.repo.markStopped(session.id, this.now());
      this.logger.info(
        { guildId: session.guildId, model: session.modelName, deployment: session.deploymentName },
        "hosting stopped: billing ends",
      );
    } catch (err) {
      const message = describeProviderError(err);
      await this.repo.stopFailed(session.id, message);
      this.logger.warn(
        { err, deployment: session.deploymentName, attempts: session.stopAttempts + 1 },
        "hosting stop not confirmed; next tick retries",
      );
      if (session.stopAttempts + 1 === STOP_ATTEMPTS_BEFORE_ALERT)
        await this.alertStopFailing(session, message);
    }
  }

  /** After a few unconfirmed stops the teachers hear it: the deployment may still bill. */
  private async alertStopFailing(session: HostingSessionRow, message: string): Promise<void> {
    const model = await this.models.get(session.guildId, session.modelName);
    await this.enqueueStopped(session, model, session.stopReason ?? "teacher", this.now(), message);
  }

  /**
   * The teachers' hosting_stopped notice (to the channel of the job that trained the model): classtune stopped it on
   * its own, or (`stopError`) cannot get the stop confirmed. One per session and kind, by its dedupe key. `tx`: the
   * caller's transaction, if it runs in one.
   */
  private async enqueueStopped(
    session: HostingSessionRow,
    model: ModelRow | undefined,
    reason: StopReason,
    now: Date,
    stopError?: string,
    tx?: Queryable | undefined,
  ): Promise<void> {
    const jobs = tx ? this.jobs.in(tx) : this.jobs;
    const outbox = tx ? this.outbox.in(tx) : this.outbox;
    const job = model?.jobId == null ? undefined : await jobs.get(model.guildId, model.jobId);
    const minutes = billedMinutes(session, now);
    const payload: HostingStoppedPayload = {
      model: session.modelName,
      label: model?.label ?? null,
      provider: session.provider,
      sandbox: this.o.providers.get(session.provider)?.sandbox ?? false,
      deploymentName: session.deploymentName,
      reason,
      minutes,
      costUsd: hostingCost(minutes, session.usdPerHour),
      usdPerHour: session.usdPerHour,
      idleMinutes: this.o.idleMinutes,
      dailyBudgetUsd: this.o.dailyBudgetUsd,
      spentTodayUsd: await this.spentToday(session.guildId, tx),
      ...(stopError ? { stopError } : {}),
    };
    await outbox.enqueue(
      {
        guildId: session.guildId,
        channelId: job?.notifyChannelId ?? null,
        kind: "hosting_stopped",
        payload,
        dedupeKey: stopError
          ? noticeKey.hostingStopFailing(session.id)
          : noticeKey.hostingStopped(session.id),
      },
      now,
    );
  }

  private async outcome(guildId: string, modelName: string, sessionId: number): Promise<StopOutcome> {
    const session = await this.repo.get(guildId, sessionId);
    const model = await this.models.get(guildId, modelName);
    if (!session || !model) throw new Error("hosting session vanished while stopping");
    const minutes = billedMinutes(session, this.now());
    return {
      model,
      session,
      minutes,
      costUsd: hostingCost(minutes, session.usdPerHour),
      confirmed: session.stoppedAt !== null,
      error: session.stopError,
    };
  }
}

/** Where a session's idle clock starts: its last question, else when it became ready; null while starting. */
function idleSince(s: HostingSessionRow): number | null {
  if (s.readyAt === null) return null;
  return Math.max(Date.parse(s.readyAt), s.lastAskedAt === null ? 0 : Date.parse(s.lastAskedAt));
}

const hhmm = (iso: string) => iso.slice(11, 16);
