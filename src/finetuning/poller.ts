// The scheduled poller: one node-cron task per process (POLL_SCHEDULE, seconds allowed). A tick visits every
// configured provider that has unfinished jobs or pending creates, all at once and each on its own: per
// provider it lists the jobs page by page until every tracked job was seen (API calls grow with
// ⌈tracked / 100⌉), retrieves the few it did not see, reads new events only for running jobs, and writes each
// status change together with its notice in one SQLite transaction. Outages and rate limits are logged and
// retried next tick; they never fail a job, and never delay another provider: a provider still busy from an
// earlier tick is skipped (never polled twice at once) while the others go on. After its jobs, a provider's
// part of the tick follows its models being deployed (finetuning/serving.ts): a job that succeeded on a provider
// with a deploy step has its deploy requested in the same tick, and its deployment checked on every tick after.

import { createTask, type ScheduledTask, validate as validCron } from "node-cron";
import { DatasetRepository } from "../db/datasets.ts";
import {
  JobMetricsRepository,
  type JobProgress,
  JobRepository,
  type JobRow,
  type JobUpdate,
  type MetricPoint,
} from "../db/jobs.ts";
import { ModelRepository } from "../db/models.ts";
import { OutboxRepository } from "../db/outbox.ts";
import type { Queryable, Store } from "../db/query/store.ts";
import { isTerminal } from "../domain/jobs.ts";
import type { JobFailedPayload, JobProgressPayload, JobSucceededPayload } from "../domain/notices.ts";
import { noticeKey } from "../domain/notices.ts";
import type { Logger } from "../logger.ts";
import { silentLogger } from "../logger.ts";
import type { Notifier } from "../notices/notifier.ts";
import { classifyProviderError, isRateLimited, logProviderError } from "../providers/errors.ts";
import type { ProviderRegistry } from "../providers/registry.ts";
import {
  type FineTuningProvider,
  isMalformedEvent,
  type MalformedEvent,
  type ProviderEvent,
  type ProviderJob,
} from "../providers/types.ts";
import { forEachLimit } from "./concurrency.ts";
import type { HostingSweepCounts } from "./hosting.ts";
import { noticeBase, recordEnding } from "./jobs.ts";
import { ProviderNames } from "./providerNames.ts";
import { askTestQuestions, ModelServing, type ServingCounts } from "./serving.ts";

/** The most a provider returns per list call. */
export const PAGE_SIZE = 100;

/** Malformed events remembered as already logged (per job and event), so a re-read does not log them again. */
const MAX_REPORTED_MALFORMED = 1000;

export interface PollerOptions {
  store: Store;
  /** Every configured fine-tuning provider: each job is polled at the provider its row names. */
  providers: ProviderRegistry;
  logger?: Logger;
  /**
   * Settles one provider's job creates whose outcome was never recorded (JobService.reconcilePendingCreates),
   * first in that provider's part of every tick.
   */
  reconcileCreates?: ((provider: string) => Promise<unknown>) | undefined;
  /** Drained at the end of every tick, when given. */
  notifier?: Notifier | undefined;
  /** Only this guild's jobs (the CLI's "cli"); default every guild's. */
  guildId?: string | undefined;
  /** Cron expression (seconds allowed); default every minute. */
  schedule?: string;
  now?: () => Date;
  /** A running job's events are read again once this much time passed since the last read (default: every tick). */
  eventsRefreshMs?: number;
  /** Event pages read per job per tick (new events beyond are picked up next tick). */
  maxEventPages?: number;
  /** A job's progress card is updated at most this often (status changes always update it). */
  progressNoticeIntervalMs?: number;
  /** Jobs handled at once per provider within a tick (events, test questions); each listing is sequential. */
  concurrency?: number;
  /** The serving step (deploys); default one of its own over the same database and providers. */
  serving?: ModelServing | undefined;
  /** Billed hosting's sweep (idle and budget stops, unconfirmed stops retried), run once every tick. */
  hosting?: { sweep(): Promise<HostingSweepCounts> } | undefined;
  /**
   * The daily privacy sweep (src/privacy/service.ts), offered every tick: it decides from SQLite whether a day has
   * passed, and never throws.
   */
  privacy?: { sweep(): Promise<unknown> } | undefined;
  /**
   * When several processes share the database, only the leader's ticks do anything (src/leadership/): a tick asks
   * once, as it starts, and a tick started as leader finishes even if the lease moves meanwhile (every step is
   * idempotent: a job's change is written only if its row has not already ended, notices are deduplicated by key,
   * deploys are looked up by their deterministic name first). Unset: every tick runs (the CLI's `--wait` poller).
   */
  leadership?: { isLeader(): boolean } | undefined;
}

/** One provider's part of a tick: its API calls and what changed. */
export interface PollCounts extends ServingCounts {
  tracked: number;
  listCalls: number;
  retrieveCalls: number;
  eventCalls: number;
  chatCalls: number;
  /** Jobs whose status changed this tick. */
  changed: number;
  /** Jobs that reached succeeded, failed or cancelled this tick. */
  ended: number;
  /** Provider errors logged (the tick carried on or stopped early; the next tick retries). */
  errors: number;
  durationMs: number;
}

export interface TickResult extends PollCounts {
  /** True when every provider with work was still busy from an earlier tick, or this process is a follower. */
  skipped: boolean;
  /** True when the tick did nothing at all because another process leads the scheduled work. */
  follower: boolean;
  /** Each visited provider's own counts (the totals above add them up); a busy one is absent. */
  byProvider: Record<string, PollCounts>;
  /** Providers with work that were still busy from an earlier tick, so not polled again now. */
  busy: string[];
  /** What billed hosting's sweep did this tick (when the poller has one). */
  hosting?: HostingSweepCounts | undefined;
}

const emptyCounts = (): PollCounts => ({
  tracked: 0,
  listCalls: 0,
  retrieveCalls: 0,
  eventCalls: 0,
  chatCalls: 0,
  changed: 0,
  ended: 0,
  errors: 0,
  deploying: 0,
  deployCalls: 0,
  durationMs: 0,
});

const COUNTED = [
  "tracked",
  "listCalls",
  "retrieveCalls",
  "eventCalls",
  "chatCalls",
  "changed",
  "ended",
  "errors",
  "deploying",
  "deployCalls",
] as const;

/** One provider's tick: its adapter, its counts, and whether a 429 stopped its remaining calls. */
interface ProviderRun {
  name: string;
  provider: FineTuningProvider;
  counts: PollCounts;
  rateLimited: boolean;
}

const STEP_MESSAGE = /Step\s+(\d+)\s*\/\s*(\d+)\s*:\s*training loss\s*=\s*([0-9.eE+-]+)/;

/**
 * A metrics point from one event (checked at the provider boundary): its data (OpenAI's metrics events) or
 * its "Step n/N: training loss=x" text.
 */
export function metricsOf(e: ProviderEvent): (MetricPoint & { totalSteps: number | null }) | undefined {
  const d = e.data ?? {};
  const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
  const createdAt = new Date(e.createdAt).toISOString();
  const step = num(d.step);
  if (step !== null) {
    return {
      step,
      totalSteps: num(d.total_steps),
      trainLoss: num(d.train_loss),
      validLoss: num(d.valid_loss) ?? num(d.full_valid_loss),
      trainAccuracy: num(d.train_mean_token_accuracy),
      createdAt,
    };
  }
  const m = STEP_MESSAGE.exec(e.message);
  if (!m) return undefined;
  const [textStep, textTotal, textLoss] = [Number(m[1]), Number(m[2]), Number(m[3])];
  // Text is not checked at the boundary: a step beyond its total (or too large) would freeze the progress.
  if (!Number.isSafeInteger(textStep) || !Number.isSafeInteger(textTotal) || textStep > textTotal)
    return undefined;
  return {
    step: textStep,
    totalSteps: textTotal,
    trainLoss: Number.isFinite(textLoss) ? textLoss : null,
    validLoss: null,
    trainAccuracy: null,
    createdAt,
  };
}

/** What the job object looked like: a change means something happened worth reading events for. */
const fingerprintOf = (r: ProviderJob): string =>
  JSON.stringify([
    r.rawStatus,
    r.trainedTokens,
    r.fineTunedModel,
    r.finishedAt,
    r.estimatedFinish,
    r.error?.code,
  ]);

/** What a job the provider no longer knows (404 after a listing that worked) is recorded as: failed, in words. */
export function goneJob(job: JobRow, now: Date): ProviderJob {
  return {
    id: job.remoteId,
    status: "failed",
    rawStatus: "not_found",
    model: job.baseModel,
    fineTunedModel: null,
    trainedTokens: job.trainedTokens,
    createdAt: Date.parse(job.createdAt),
    finishedAt: now.getTime(),
    estimatedFinish: null,
    error: {
      code: "job_not_found",
      message:
        "The provider no longer knows this job (404 Not Found): it was deleted there, or classtune now points at another account or host.",
      param: null,
    },
    metadata: { classtune_job_id: job.tag },
    nEpochs: null,
    trainingFile: job.trainingFileId,
  };
}

export class JobPoller {
  private readonly store: Store;
  private readonly providers: ProviderRegistry;
  private readonly names: ProviderNames;
  private readonly logger: Logger;
  private readonly notifier: Notifier | undefined;
  private readonly reconcileCreates: ((provider: string) => Promise<unknown>) | undefined;
  private readonly schedule: string;
  private readonly guildId: string | undefined;
  private readonly now: () => Date;
  private readonly eventsRefreshMs: number;
  private readonly maxEventPages: number;
  private readonly progressNoticeIntervalMs: number;
  private readonly concurrency: number;
  private readonly jobs: JobRepository;
  private readonly metrics: JobMetricsRepository;
  private readonly models: ModelRepository;
  private readonly outbox: OutboxRepository;
  private readonly datasets: DatasetRepository;
  private readonly serving: ModelServing;
  private readonly hosting: PollerOptions["hosting"];
  private readonly privacy: PollerOptions["privacy"];
  private readonly leadership: PollerOptions["leadership"];
  private task: ScheduledTask | undefined;
  /** Each provider's part of a tick while it runs: a provider is never polled twice at once. */
  private readonly inFlight = new Map<string, Promise<void>>();
  /** Ticks under way (stop() waits for them). */
  private readonly ticks = new Set<Promise<TickResult>>();
  private readonly reportedMalformed = new Set<string>();

  constructor(o: PollerOptions) {
    this.store = o.store;
    this.providers = o.providers;
    this.logger = o.logger ?? silentLogger;
    this.names = new ProviderNames({
      store: o.store,
      providers: o.providers,
      logger: this.logger,
      guildId: o.guildId,
    });
    this.notifier = o.notifier;
    this.reconcileCreates = o.reconcileCreates;
    this.schedule = o.schedule ?? "* * * * *";
    this.guildId = o.guildId;
    this.now = o.now ?? (() => new Date());
    this.eventsRefreshMs = o.eventsRefreshMs ?? 0;
    this.maxEventPages = o.maxEventPages ?? 5;
    this.progressNoticeIntervalMs = o.progressNoticeIntervalMs ?? 30_000;
    this.concurrency = Math.max(1, o.concurrency ?? 8);
    this.jobs = new JobRepository(o.store);
    this.metrics = new JobMetricsRepository(o.store);
    this.models = new ModelRepository(o.store);
    this.outbox = new OutboxRepository(o.store);
    this.datasets = new DatasetRepository(o.store);
    this.hosting = o.hosting;
    this.privacy = o.privacy;
    this.leadership = o.leadership;
    this.serving =
      o.serving ??
      new ModelServing({
        store: o.store,
        providers: o.providers,
        logger: this.logger,
        guildId: o.guildId,
        now: this.now,
        concurrency: this.concurrency,
      });
    if (!validCron(this.schedule)) {
      throw new Error(
        `POLL_SCHEDULE "${this.schedule}" is not a valid cron expression (e.g. "*/30 * * * * *")`,
      );
    }
  }

  /**
   * Starts the one cron task. Ticks may overlap: a provider still busy from the last one is skipped in the
   * next, so one slow provider never holds the others' polls back.
   */
  start(): void {
    if (this.task) return;
    const log = this.logger;
    this.task = createTask(this.schedule, () => this.tick(), {
      name: "classtune-poller",
      logger: {
        info: (m) => log.debug({ cron: m }, "poller schedule"),
        warn: (m) => log.warn({ cron: m }, "poller schedule"),
        error: (m, err) => log.error({ err: err ?? m }, "poller tick failed"),
        debug: (m) => log.debug({ cron: String(m) }, "poller schedule"),
      },
    });
    void this.task.start();
    this.logger.info({ schedule: this.schedule, providers: this.providers.names() }, "poller started");
  }

  /** Stops the schedule and waits for the ticks in progress. */
  async stop(): Promise<void> {
    const task = this.task;
    this.task = undefined;
    if (task) await task.destroy();
    await Promise.allSettled([...this.ticks]);
  }

  /**
   * One sweep over every provider with work; callable directly (tests, `finetune --wait`). Resolves when the
   * providers it started are done; providers still busy from an earlier tick are left to finish that one.
   */
  tick(): Promise<TickResult> {
    const tick = this.tickOnce().finally(() => {
      this.ticks.delete(tick);
    });
    this.ticks.add(tick);
    return tick;
  }

  private async tickOnce(): Promise<TickResult> {
    const started = performance.now();
    const result: TickResult = {
      ...emptyCounts(),
      skipped: false,
      follower: false,
      byProvider: {},
      busy: [],
    };
    if (this.leadership && !this.leadership.isLeader()) {
      result.skipped = true;
      result.follower = true;
      return result;
    }
    let due: string[] = [];
    try {
      due = await this.names.settle();
    } catch (err) {
      result.errors += 1;
      this.logger.error({ err }, "could not read which providers have jobs; next tick retries");
    }
    const runs: ProviderRun[] = [];
    for (const name of due) {
      const provider = this.providers.get(name)?.jobs;
      if (!provider) continue;
      if (this.inFlight.has(name)) result.busy.push(name);
      else runs.push({ name, provider, counts: emptyCounts(), rateLimited: false });
    }
    if (due.length > 0 && runs.length === 0) {
      result.skipped = true;
      if (this.hosting) result.hosting = await this.hosting.sweep();
      if (this.privacy) await this.privacy.sweep();
      if (this.notifier) await this.notifier.drain();
      return result;
    }
    // Several providers at once: each posts its own notices when done, not when the slowest is.
    const drainEach = runs.length > 1;
    await Promise.all(
      runs.map((run) => {
        const work = this.pollProvider(run, drainEach).finally(() => this.inFlight.delete(run.name));
        this.inFlight.set(run.name, work);
        return work;
      }),
    );
    for (const run of runs) {
      result.byProvider[run.name] = run.counts;
      for (const k of COUNTED) result[k] += run.counts[k];
    }
    if (this.hosting) result.hosting = await this.hosting.sweep();
    if (this.privacy) await this.privacy.sweep();
    if (this.notifier) await this.notifier.drain();
    result.durationMs = performance.now() - started;
    this.logger.debug({ ...result }, "poller tick");
    return result;
  }

  /** One provider's part of a tick; never throws (what fails is counted and logged, and retried next tick). */
  private async pollProvider(run: ProviderRun, drain: boolean): Promise<void> {
    const started = performance.now();
    const { counts } = run;
    const logger = this.logger.child({ provider: run.name });
    try {
      if (this.reconcileCreates) {
        try {
          await this.reconcileCreates(run.name);
        } catch (err) {
          counts.errors += 1;
          logger.warn({ err }, "could not settle pending job creates; next tick retries");
        }
      }
      const tracked =
        this.guildId === undefined
          ? await this.jobs.listActiveAcrossGuilds(run.name)
          : await this.jobs.listActive(this.guildId, run.name);
      counts.tracked = tracked.length;
      if (tracked.length > 0) await this.pollTracked(run, tracked, logger);
      // After the jobs: a job that succeeded just now has its deploy requested in this tick.
      if (!run.rateLimited) await this.serving.checkDeploying(run, logger);
      if (drain && this.notifier) {
        // Twice: the first may be a drain another provider started before this one's notices were written.
        await this.notifier.drain();
        await this.notifier.drain();
      }
    } catch (err) {
      counts.errors += 1;
      logger.error({ err }, "polling this provider failed; next tick retries");
    } finally {
      counts.durationMs = performance.now() - started;
    }
  }

  private async pollTracked(run: ProviderRun, tracked: JobRow[], logger: Logger): Promise<void> {
    const { counts, provider } = run;
    const seen = await this.listTracked(run, tracked, logger);
    if (!seen) return;
    // A rate limit stops this provider's remaining calls this tick: hammering on would only extend it.
    await forEachLimit(tracked, this.concurrency, async (job) => {
      if (run.rateLimited) return;
      let remote = seen.get(job.remoteId);
      if (!remote) {
        try {
          counts.retrieveCalls += 1;
          remote = await provider.retrieveJob(job.remoteId);
        } catch (err) {
          if (classifyProviderError(err)?.status === 404) {
            // The listing worked, yet the provider does not know the job: it is gone. End it once, with a
            // notice, instead of asking for it again every tick forever.
            logger.warn({ jobId: job.id, remoteId: job.remoteId }, "the provider no longer knows this job");
            remote = goneJob(job, this.now());
          } else {
            counts.errors += 1;
            if (isRateLimited(err)) run.rateLimited = true;
            logProviderError(logger, err, { jobId: job.id, remoteId: job.remoteId }, "job retrieve failed");
            return;
          }
        }
      }
      try {
        await this.apply(run, job, remote);
      } catch (err) {
        counts.errors += 1;
        if (isRateLimited(err)) run.rateLimited = true;
        logProviderError(logger, err, { jobId: job.id }, "job update failed; retrying next tick");
      }
    });
  }

  /** Pages through the provider's jobs (newest first) until every tracked one was seen; undefined on an outage. */
  private async listTracked(
    run: ProviderRun,
    tracked: JobRow[],
    logger: Logger,
  ): Promise<Map<string, ProviderJob> | undefined> {
    const wanted = new Set(tracked.map((j) => j.remoteId));
    const seen = new Map<string, ProviderJob>();
    // One spare page for jobs created by others in between; anything still unseen is retrieved on its own.
    const maxPages = Math.ceil(wanted.size / PAGE_SIZE) + 1;
    let after: string | undefined;
    for (let page = 0; page < maxPages; page++) {
      let listing: Awaited<ReturnType<FineTuningProvider["listJobs"]>>;
      try {
        run.counts.listCalls += 1;
        listing = await run.provider.listJobs({ after, limit: PAGE_SIZE });
      } catch (err) {
        run.counts.errors += 1;
        logProviderError(logger, err, { page }, "listing jobs failed; retrying next tick");
        return undefined;
      }
      for (const j of listing.data) if (wanted.has(j.id)) seen.set(j.id, j);
      const last = listing.data.at(-1);
      if (seen.size === wanted.size || !listing.hasMore || !last) break;
      after = last.id;
    }
    return seen;
  }

  private async apply(run: ProviderRun, job: JobRow, remote: ProviderJob): Promise<void> {
    const result = run.counts;
    const fingerprint = fingerprintOf(remote);
    const changed = fingerprint !== job.remoteFingerprint;
    const statusChanged = remote.status !== job.status;
    const nowMs = this.now().getTime();
    const eventsDue =
      job.lastEventsAt === null || nowMs - Date.parse(job.lastEventsAt) >= this.eventsRefreshMs || changed;
    const wantsEvents =
      isTerminal(remote.status) || (remote.status === "running" && (statusChanged || eventsDue));

    let events: ProviderEvent[] = [];
    let newestEventId: string | undefined;
    let eventsRead = false;
    if (wantsEvents) {
      try {
        ({ events, newestId: newestEventId } = await this.newEvents(run, job));
        eventsRead = true;
      } catch (err) {
        if (isRateLimited(err)) throw err;
        result.errors += 1;
        logProviderError(this.logger, err, { jobId: job.id }, "reading events failed; retrying next tick");
      }
    }
    const points = events.map(metricsOf).filter((p) => p !== undefined);
    const progress = progressFrom(job.progress, points);

    if (statusChanged) result.changed += 1;
    if (isTerminal(remote.status)) {
      await this.end(run, job, remote, { newestEventId, eventsRead, points, progress, fingerprint });
      result.ended += 1;
      return;
    }

    const now = this.now();
    const patch: JobUpdate = {
      status: remote.status,
      rawStatus: remote.rawStatus,
      trainedTokens: remote.trainedTokens,
      remoteFingerprint: fingerprint,
      progress,
    };
    if (eventsRead) {
      patch.lastEventsAt = now.toISOString();
      if (newestEventId !== undefined) patch.lastEventId = newestEventId;
    }
    if (remote.status === "running" && job.startedAt === null) patch.startedAt = now.toISOString();
    const progressChanged = JSON.stringify(progress) !== JSON.stringify(job.progress);

    await this.store.transaction(async (tx) => {
      const current = await this.jobs.in(tx).get(job.guildId, job.id);
      if (!current || isTerminal(current.status)) return; // ended meanwhile (a cancel)
      await this.jobs.in(tx).update(job.guildId, job.id, patch, now);
      await this.metrics.in(tx).add(job.id, points);
      if (statusChanged || (progressChanged && (await this.progressNoticeDue(tx, job, now)))) {
        const payload: JobProgressPayload = {
          ...noticeBase(job, await this.datasetName(job, tx)),
          status: remote.status,
          rawStatus: remote.rawStatus,
          progress,
        };
        await this.outbox.in(tx).upsert(
          {
            guildId: job.guildId,
            channelId: job.notifyChannelId,
            kind: "job_progress",
            payload,
            dedupeKey: noticeKey.jobProgress(job.id),
          },
          now,
        );
      }
    });
  }

  /** Inside the caller's transaction `tx`. */
  private async progressNoticeDue(tx: Queryable, job: JobRow, now: Date): Promise<boolean> {
    const card = await this.outbox.in(tx).getByKey(job.guildId, `job:${job.id}:progress`);
    return !card || now.getTime() - Date.parse(card.updatedAt) >= this.progressNoticeIntervalMs;
  }

  /**
   * Events newer than the stored cursor, newest first (the provider pages from newest to oldest), and the
   * newest item's id for the next cursor. A malformed item is skipped (logged once) but still moves the
   * cursor and the paging on when it has an id, so it is not read again.
   */
  private async newEvents(
    run: ProviderRun,
    job: JobRow,
  ): Promise<{ events: ProviderEvent[]; newestId: string | undefined }> {
    const events: ProviderEvent[] = [];
    let newestId: string | undefined;
    let after: string | undefined;
    for (let page = 0; page < this.maxEventPages; page++) {
      run.counts.eventCalls += 1;
      const listing = await run.provider.listEvents(job.remoteId, { after, limit: PAGE_SIZE });
      for (const item of listing.data) {
        if (item.id !== null && item.id === job.lastEventId) return { events, newestId };
        newestId ??= item.id ?? undefined;
        if (isMalformedEvent(item)) this.reportMalformed(job, item);
        else events.push(item);
      }
      const last = listing.data.findLast((item) => item.id !== null)?.id;
      if (!listing.hasMore || !last) break;
      after = last;
    }
    return { events, newestId };
  }

  /** Logs a malformed event once per job and event, however often it is read again. */
  private reportMalformed(job: JobRow, item: MalformedEvent): void {
    const key = `${job.id}\u0000${item.id ?? item.excerpt}`;
    if (this.reportedMalformed.has(key)) return;
    this.reportedMalformed.add(key);
    if (this.reportedMalformed.size > MAX_REPORTED_MALFORMED) {
      const oldest = this.reportedMalformed.values().next().value;
      if (oldest !== undefined) this.reportedMalformed.delete(oldest);
    }
    this.logger.warn(
      { jobId: job.id, remoteId: job.remoteId, eventId: item.id, problem: item.problem, event: item.excerpt },
      "skipped a provider event that cannot be read",
    );
  }

  private async end(
    run: ProviderRun,
    job: JobRow,
    remote: ProviderJob,
    seen: {
      newestEventId: string | undefined;
      eventsRead: boolean;
      points: MetricPoint[];
      progress: JobProgress | null;
      fingerprint: string;
    },
  ): Promise<void> {
    const now = this.now();
    const base = noticeBase(job, await this.datasetName(job));
    const bookkeeping = async (tx: Queryable) => {
      await this.metrics.in(tx).add(job.id, seen.points);
      const patch: JobUpdate = { progress: seen.progress, remoteFingerprint: seen.fingerprint };
      if (seen.eventsRead) {
        patch.lastEventsAt = now.toISOString();
        if (seen.newestEventId !== undefined) patch.lastEventId = seen.newestEventId;
      }
      await this.jobs.in(tx).update(job.guildId, job.id, patch, now);
    };

    if (remote.status === "succeeded") {
      const model = remote.fineTunedModel;
      if (!model) {
        this.logger.warn(
          { jobId: job.id },
          "job succeeded without a fine-tuned model name; retrying next tick",
        );
        return;
      }
      const plan = this.serving.planFor(run.provider, job, model);
      // A model still to be deployed cannot answer yet: its test questions are asked once it is ready.
      const testAnswers =
        plan.serving.status === "ready"
          ? await askTestQuestions(run.provider, model, job.testQuestions, run.counts, (err) =>
              logProviderError(this.logger, err, { jobId: job.id, model }, "test question failed"),
            )
          : [];
      let shutdownDate: string | null = null;
      try {
        shutdownDate = (await run.provider.retrieveModel(model)).shutdownDate;
      } catch (err) {
        logProviderError(this.logger, err, { model }, "model lookup failed (shutdown date unknown)");
      }
      const startedMs = job.startedAt ? Date.parse(job.startedAt) : remote.createdAt;
      const payload: JobSucceededPayload = {
        ...base,
        fineTunedModel: model,
        trainedTokens: remote.trainedTokens,
        durationMs: remote.finishedAt !== null ? Math.max(0, remote.finishedAt - startedMs) : null,
        testAnswers,
        serving: plan.note,
      };
      await recordEnding(this.store, job, remote, {
        kind: "job_succeeded",
        payload,
        now,
        alsoInTransaction: async (tx) => {
          await bookkeeping(tx);
          await this.models.in(tx).register({
            guildId: job.guildId,
            name: model,
            provider: job.provider,
            baseModel: job.baseModel,
            jobId: job.id,
            shutdownDate,
            createdAt: now.toISOString(),
            serving: plan.serving,
          });
        },
      });
      this.logger.info(
        { jobId: job.id, model, serving: plan.serving.status, deployment: plan.serving.deploymentName },
        "fine-tuning job succeeded; model registered",
      );
      return;
    }
    if (remote.status === "failed") {
      const payload: JobFailedPayload = {
        ...base,
        errorCode: remote.error?.code ?? null,
        errorMessage: remote.error?.message ?? "The provider reported the job as failed without a message.",
      };
      await recordEnding(this.store, job, remote, {
        kind: "job_failed",
        payload,
        now,
        alsoInTransaction: bookkeeping,
      });
      this.logger.info({ jobId: job.id, error: payload.errorMessage }, "fine-tuning job failed");
      return;
    }
    await recordEnding(this.store, job, remote, {
      kind: "job_cancelled",
      payload: base,
      now,
      alsoInTransaction: bookkeeping,
    });
    this.logger.info({ jobId: job.id }, "fine-tuning job cancelled");
  }

  /** The job's dataset's file name for a notice; `tx`: the caller's transaction, if it runs in one. */
  private async datasetName(job: JobRow, tx?: Queryable | undefined): Promise<string> {
    const datasets = tx ? this.datasets.in(tx) : this.datasets;
    return (await datasets.get(job.guildId, job.datasetId))?.fileName ?? `dataset #${job.datasetId}`;
  }
}

/** The latest step and loss, from new metrics points (newest first) over what was known. */
function progressFrom(
  known: JobProgress | null,
  points: Array<MetricPoint & { totalSteps: number | null }>,
): JobProgress | null {
  const latest = points.reduce<(MetricPoint & { totalSteps: number | null }) | undefined>(
    (best, p) => (best === undefined || p.step > best.step ? p : best),
    undefined,
  );
  if (!latest || (known && latest.step < known.step)) return known;
  return {
    step: latest.step,
    // A provider that never says its total (Together's metrics) must not leave a total behind the step.
    totalSteps: Math.max(latest.step, latest.totalSteps ?? known?.totalSteps ?? latest.step),
    loss: latest.trainLoss ?? known?.loss ?? null,
  };
}
