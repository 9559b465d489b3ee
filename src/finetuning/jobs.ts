// Starting, cancelling and listing fine-tuning jobs for a guild ("cli" for the terminal). A job starts
// from a stored, fine-tunable dataset, is refused before any upload when its estimated cost is above the
// cap, and is written together with its job_created notice in one transaction. The create itself is written
// down first (job_intents), so a crash or a lost answer never leaves a paid job unwatched.

import { randomUUID } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { finished } from "node:stream/promises";
import type { Catalog, CatalogSet } from "../datasets/catalog.ts";
import { type JobMethod, trainingCostUsd } from "../datasets/estimate.ts";
import type { ValidationReport } from "../datasets/types.ts";
import { validateFile } from "../datasets/validator.ts";
import { DatasetRepository, type DatasetRow } from "../db/datasets.ts";
import { JobIntentRepository } from "../db/jobIntents.ts";
import { JobRepository, type JobRow, type TestQuestion } from "../db/jobs.ts";
import { OutboxRepository } from "../db/outbox.ts";
import type { Queryable, Store } from "../db/query/store.ts";
import { UserError } from "../domain/errors.ts";
import { isSandboxJob, isTerminal } from "../domain/jobs.ts";
import {
  type JobCancelledPayload,
  type JobCreatedPayload,
  type JobNoticeBase,
  type NewNotice,
  type NoticePayloads,
  noticeKey,
} from "../domain/notices.ts";
import { isTrainable, notTrainableError } from "../domain/trainable.ts";
import type { Logger } from "../logger.ts";
import { silentLogger } from "../logger.ts";
import {
  AmbiguousCreateError,
  classifyProviderError,
  isTrainingClosed,
  logProviderError,
  providerUserError,
} from "../providers/errors.ts";
import type { ProviderRegistry, RegisteredProvider } from "../providers/registry.ts";
import type { FineTuningProvider, ProviderJob } from "../providers/types.ts";
import { ConfirmationStore } from "./confirmations.ts";
import { chooseHeldOut, MAX_HELD_OUT_SCAN } from "./heldOut.ts";
import type { Quote, QuoteRequest } from "./quote.ts";

export type { JobRow, Quote, QuoteRequest };

/** OpenAI's limit on a fine-tuned model's suffix, and the characters it keeps. */
export const MAX_SUFFIX_LENGTH = 64;
const SUFFIX_PATTERN = /^[a-zA-Z0-9_-]+$/;
export const MAX_EPOCHS = 50;
/** Held-out test questions need this many examples, so 10 remain to train on (OpenAI's minimum). */
export const MIN_EXAMPLES_FOR_HELD_OUT = 13;
export const HELD_OUT_QUESTIONS = 3;
/** The seed tutorial's test questions, asked when the dataset is too small to hold any out. */
export const DEFAULT_TEST_QUESTIONS: readonly string[] = [
  "What is the capital of France?",
  "Can you explain photosynthesis?",
  "What is the Pythagorean theorem?",
];

export interface StartJobInput {
  guildId: string;
  datasetId: number;
  requesterId: string;
  /** Default: the model the dataset was validated for. */
  model?: string | undefined;
  /** A configured provider's name; default FINETUNE_DEFAULT_PROVIDER. Ignored when `quote` is given (it names one). */
  provider?: string | undefined;
  suffix?: string | undefined;
  /** Default: the provider's "auto". */
  epochs?: number | undefined;
  /** Default "supervised"; see QuoteRequest. Ignored when `quote` is given. */
  method?: JobMethod | undefined;
  beta?: number | undefined;
  fromJobId?: number | undefined;
  seed?: number | undefined;
  notifyChannelId?: string | undefined;
  /** The estimate the requester confirmed (JobService.quote): used as it is, never validated again. */
  quote?: Quote | undefined;
}

export interface JobServiceOptions {
  store: Store;
  /** Every configured fine-tuning provider; a job goes to the one it names (default: the registry's default). */
  providers: ProviderRegistry;
  logger?: Logger;
  /** Per-job cap on the estimated cost (config.maxJobCostUsd). */
  maxJobCostUsd: number;
  /** Scratch space for training files with held-out examples removed. */
  dataDir: string;
  /**
   * Every provider's catalog (MODELS_FILE, PRICES_FILE applied): a job is quoted by its provider's models, rules
   * and prices. Default: the built-in OpenAI catalog for every provider (tests).
   */
  catalogs?: CatalogSet | undefined;
  /** The longest provider request timeout: a pending create is not given up before twice this. */
  requestTimeoutMs?: number | undefined;
  now?: () => Date;
}

/** Checks a suffix the way OpenAI does; returns it trimmed, or throws a UserError naming the rule. */
export function checkSuffix(suffix: string): string {
  const s = suffix.trim();
  if (s.length === 0 || s.length > MAX_SUFFIX_LENGTH || !SUFFIX_PATTERN.test(s)) {
    throw new UserError(
      `The suffix must be 1–${MAX_SUFFIX_LENGTH} characters of letters, digits, "-" and "_" (got "${s.slice(0, 80)}", ${s.length} characters).`,
      "bad_suffix",
    );
  }
  return s;
}

export function checkEpochs(epochs: number): number {
  if (!Number.isInteger(epochs) || epochs < 1 || epochs > MAX_EPOCHS) {
    throw new UserError(
      `Epochs must be a whole number from 1 to ${MAX_EPOCHS} (got ${epochs}).`,
      "bad_epochs",
    );
  }
  return epochs;
}

/** DPO's beta as OpenAI takes it: more than 0, at most 2. */
export const MAX_DPO_BETA = 2;

export function checkBeta(beta: number): number {
  if (!Number.isFinite(beta) || beta <= 0 || beta > MAX_DPO_BETA) {
    throw new UserError(
      `Beta must be a number above 0 and at most ${MAX_DPO_BETA} (got ${beta}).`,
      "bad_beta",
    );
  }
  return beta;
}

/** The dataset format a method trains on, and the refusal when a dataset holds the other one. */
export function checkMethodFitsFormat(
  method: JobMethod,
  format: string,
  dataset: { id: number; fileName: string },
): void {
  if (method === "dpo" && format !== "preference") {
    throw new UserError(
      `Dataset #${dataset.id} (${dataset.fileName}) holds chat examples, but a DPO job trains on preference examples ({"input": {"messages": [...]}, "preferred_output": [...], "non_preferred_output": [...]}). Export one with \`/dataset export format:preference\`, or start it as a supervised job.`,
      "method_format_mismatch",
    );
  }
  if (method === "supervised" && format === "preference") {
    throw new UserError(
      `Dataset #${dataset.id} (${dataset.fileName}) holds preference examples: train it with method:dpo (supervised training needs chat examples).`,
      "method_format_mismatch",
    );
  }
}

/** The estimated cost for `epochs` (default: the report's own), from a report for the same model. */
export function estimateFromReport(report: ValidationReport, epochs?: number): number {
  if (epochs === undefined || epochs === report.epochs) return report.estimatedCostUsd;
  const perEpoch = report.billingTokens / Math.max(1, report.epochs);
  return trainingCostUsd(perEpoch * epochs, report.pricePerMillionTrainingTokensUsd);
}

export function noticeBase(job: JobRow, datasetName: string): JobNoticeBase {
  return {
    jobId: job.id,
    remoteId: job.remoteId,
    provider: job.provider,
    sandbox: isSandboxJob(job),
    baseModel: job.baseModel,
    suffix: job.suffix,
    datasetId: job.datasetId,
    datasetName,
    requesterId: job.requesterId,
  };
}

/** What a pending create needs to become a jobs row and its notice (stored as JSON in job_intents). */
interface CreateIntent {
  guildId: string;
  datasetId: number;
  datasetName: string;
  examples: number;
  requesterId: string;
  model: string;
  suffix: string | null;
  epochs: number | null;
  seed: number | null;
  trainingFileId: string;
  estimatedCostUsd: number;
  notifyChannelId: string | null;
  testQuestions: TestQuestion[];
  /** Absent: supervised (and intents written before DPO). */
  method?: "dpo" | undefined;
  beta?: number | undefined;
  fromModel?: string | undefined;
}

/** The cause of an unconfirmed create, in a few words (never "try again": the job may exist). */
function unconfirmedCause(err: unknown): string {
  const e = classifyProviderError(err);
  if (e?.code === "timeout") return "it did not answer in time";
  if (e?.code === "connection_error") return "the connection was lost";
  if (e?.status != null) return `it answered ${e.status}`;
  return "its answer was lost";
}

/** A create not found at the provider this long after it was sent never happened. */
export const INTENT_GIVE_UP_MS = 15 * 60 * 1000;

/** A provider as a job row records it. */
type ProviderStamp = Pick<RegisteredProvider, "name" | "kind" | "endpoint">;

export class JobService {
  readonly providers: ProviderRegistry;
  /** Estimates shown with Start / Cancel, waiting for the requester's click. */
  readonly confirmations = new ConfirmationStore();
  private readonly store: Store;
  private readonly jobs: JobRepository;
  private readonly datasets: DatasetRepository;
  private readonly outbox: OutboxRepository;
  private readonly intents: JobIntentRepository<CreateIntent>;
  private readonly logger: Logger;
  private readonly maxJobCostUsd: number;
  private readonly dataDir: string;
  private readonly now: () => Date;
  private readonly catalogs: CatalogSet | undefined;
  private readonly giveUpMs: number;

  constructor({
    store,
    providers,
    logger = silentLogger,
    maxJobCostUsd,
    dataDir,
    catalogs,
    requestTimeoutMs = 0,
    now,
  }: JobServiceOptions) {
    this.catalogs = catalogs;
    this.giveUpMs = Math.max(INTENT_GIVE_UP_MS, 2 * requestTimeoutMs);
    this.store = store;
    this.providers = providers;
    this.jobs = new JobRepository(store);
    this.datasets = new DatasetRepository(store);
    this.outbox = new OutboxRepository(store);
    this.intents = new JobIntentRepository(store);
    this.logger = logger;
    this.maxJobCostUsd = maxJobCostUsd;
    this.dataDir = dataDir;
    this.now = now ?? (() => new Date());
  }

  /**
   * The estimate for a job on a stored dataset, or the one refusal: not trainable, or over MAX_JOB_COST_USD.
   * Validates again only when the model differs from the dataset's (another model tokenises and prices differently).
   */
  async quote(req: QuoteRequest): Promise<Quote> {
    const dataset = await this.datasets.get(req.guildId, req.datasetId);
    if (!dataset) throw new UserError(`Dataset #${req.datasetId} was not found.`, "not_found");
    let report = JSON.parse(dataset.reportJson) as ValidationReport;
    // The provider named, else the one the dataset was checked for (while configured), else the default. One
    // that cannot take the job is refused before any estimate is shown.
    // Unset: the dataset's own (a preference file trains by DPO, a chat file supervised).
    const method: JobMethod = req.method ?? (dataset.format === "preference" ? "dpo" : "supervised");
    const beta = req.beta === undefined ? undefined : checkBeta(req.beta);
    if (beta !== undefined && method !== "dpo") {
      throw new UserError("Beta is a DPO setting: give it with method:dpo.", "beta_without_dpo");
    }
    // Training further from a fine-tune of this guild: its provider, and its base model's rules and prices.
    const from =
      req.fromJobId === undefined ? undefined : await this.fineTuneToTrainFrom(req.guildId, req.fromJobId);
    if (
      from &&
      req.provider !== undefined &&
      req.provider.trim() !== "" &&
      req.provider.trim() !== from.provider
    ) {
      throw new UserError(
        `Job #${from.id}'s model lives on ${from.provider}: a job that starts from it runs there too (leave out provider, or name ${from.provider}).`,
        "from_other_provider",
      );
    }
    // The provider named, else the one the dataset was checked for (while configured), else the default. One
    // that cannot take the job is refused before any estimate is shown.
    const provider = this.providers.forStart(
      from?.provider ?? req.provider ?? this.providers.get(report.provider ?? "")?.name,
    );
    if (!isTrainable(dataset)) throw notTrainableError(dataset);
    checkMethodFitsFormat(method, dataset.format, dataset);
    const epochs = req.epochs === undefined ? undefined : checkEpochs(req.epochs);
    const catalog = this.catalogs?.find(provider.name);
    // The dataset's own model when this provider trains it, else the provider's default.
    const model =
      from?.baseModel ??
      (req.model?.trim() ||
        (catalog === undefined || catalog.models.some((m) => m.id === dataset.baseModel)
          ? dataset.baseModel
          : catalog.defaultModel));
    if (from && provider.jobs.kind !== "openai-compatible" && provider.jobs.kind !== "azure") {
      throw new UserError(
        `${provider.name} does not train a fine-tuned model further by its name (OpenAI-compatible providers do): start from a base model instead.`,
        "from_not_supported",
      );
    }
    if (method === "dpo") this.checkTrainsPreference(provider, catalog, model);
    // Another model or another provider tokenises, limits and prices differently: validate again, by its rules.
    if (report.model !== model || (catalog !== undefined && report.provider !== catalog.provider)) {
      report = await validateFile(dataset.cleanedPath ?? dataset.storedPath, {
        model,
        ...(catalog ? { catalog } : {}),
      });
      if (!report.fineTunable) {
        const first = report.errors[0];
        throw new UserError(
          `Dataset #${dataset.id} (${dataset.fileName}) does not meet ${report.provider}'s rules for ${model}: ${report.invalid} invalid line(s), ${report.valid} valid example(s) (at least ${report.minExamples} needed)${first ? `; first: line ${first.line}, ${first.message}` : ""}. Check it with /dataset validate provider:${report.provider} model:${model}.`,
          "not_fine_tunable_here",
        );
      }
    }
    const estimatedCostUsd = estimateFromReport(report, epochs);
    if (estimatedCostUsd > this.maxJobCostUsd) {
      throw new UserError(
        `The estimated cost of this job is $${estimatedCostUsd.toFixed(2)}, above the limit of $${this.maxJobCostUsd.toFixed(2)} per job (MAX_JOB_COST_USD). Use a smaller dataset or fewer epochs.`,
        "over_cost_cap",
      );
    }
    return {
      guildId: req.guildId,
      datasetId: dataset.id,
      provider: provider.name,
      model,
      epochs,
      estimatedEpochs: epochs ?? report.epochs,
      estimatedCostUsd,
      maxJobCostUsd: this.maxJobCostUsd,
      method,
      ...(beta !== undefined ? { beta } : {}),
      ...(from ? { fromModel: from.fineTunedModel, fromJobId: from.id } : {}),
      ...(report.preferenceBilling ? { preferenceBilling: report.preferenceBilling } : {}),
    };
  }

  /** A succeeded job of this guild with a fine-tuned model (another guild's is "not found"). */
  private async fineTuneToTrainFrom(
    guildId: string,
    jobId: number,
  ): Promise<JobRow & { fineTunedModel: string }> {
    const job = await this.jobs.get(guildId, jobId);
    if (!job) throw new UserError(`Job #${jobId} was not found in this server.`, "not_found");
    if (job.status !== "succeeded" || job.fineTunedModel === null) {
      throw new UserError(
        `Job #${jobId} has no fine-tuned model to start from (it is ${job.status}).`,
        "from_not_succeeded",
      );
    }
    return job as JobRow & { fineTunedModel: string };
  }

  /**
   * DPO needs both the provider's API (its adapter sends `method`) and the model (its catalog lists
   * `preference`): refused here, before any estimate is shown and so before anything is uploaded.
   */
  private checkTrainsPreference(
    provider: RegisteredProvider & { jobs: FineTuningProvider },
    catalog: Catalog | undefined,
    model: string,
  ): void {
    if (provider.jobs.trainsPreference !== true) {
      const others = this.providers
        .all()
        .filter((p) => p.jobs?.trainsPreference === true)
        .map((p) => p.name);
      throw new UserError(
        `${provider.name} cannot run DPO (preference) jobs here${others.length > 0 ? `; these providers can: ${others.join(", ")}` : ""}. Nothing was uploaded.`,
        "dpo_not_supported",
      );
    }
    const info = catalog?.models.find((m) => m.id === model || m.aliases.includes(model));
    if (info && !info.methods.includes("preference")) {
      const able = (catalog?.models ?? []).filter((m) => m.methods.includes("preference")).map((m) => m.id);
      throw new UserError(
        `${model} on ${provider.name} trains only ${info.methods.join(", ")}: no DPO${able.length > 0 ? `. Models there with DPO: ${able.join(", ")}` : ""}. Nothing was uploaded.`,
        "dpo_not_supported",
      );
    }
  }

  async start(input: StartJobInput): Promise<JobRow> {
    const suffix =
      input.suffix === undefined || input.suffix.trim() === "" ? undefined : checkSuffix(input.suffix);
    const quote =
      input.quote ??
      (await this.quote({
        guildId: input.guildId,
        datasetId: input.datasetId,
        model: input.model,
        provider: input.provider,
        epochs: input.epochs,
        method: input.method,
        beta: input.beta,
        fromJobId: input.fromJobId,
      }));
    if (quote.guildId !== input.guildId || quote.datasetId !== input.datasetId) {
      throw new Error("a quote was used for another guild or dataset");
    }
    const dataset = await this.datasets.get(input.guildId, input.datasetId);
    if (!dataset) throw new UserError(`Dataset #${input.datasetId} was not found.`, "not_found");
    const { model, epochs } = quote;
    const registered = this.providers.forStart(quote.provider);
    const provider = registered.jobs;
    const stamp: ProviderStamp = registered;
    const estimate = quote.estimatedCostUsd;
    const path = dataset.cleanedPath ?? dataset.storedPath;

    const tag = `ct-${randomUUID()}`;
    const { trainingPath, testQuestions, cleanup } = await this.prepareTrainingFile(
      dataset,
      path,
      tag,
      registered.sandbox,
    );
    let remote: ProviderJob;
    let intent: CreateIntent;
    try {
      let trainingFileId: string;
      try {
        trainingFileId = (await provider.uploadTrainingFile(trainingPath)).id;
      } catch (err) {
        logProviderError(
          this.logger,
          err,
          { datasetId: dataset.id, provider: stamp.name },
          "training file upload failed",
        );
        throw providerUserError("upload the training file", err);
      }
      intent = {
        guildId: input.guildId,
        datasetId: dataset.id,
        datasetName: dataset.fileName,
        examples: dataset.valid,
        requesterId: input.requesterId,
        model,
        suffix: suffix ?? null,
        epochs: epochs ?? null,
        seed: input.seed ?? null,
        trainingFileId,
        estimatedCostUsd: estimate,
        notifyChannelId: input.notifyChannelId ?? null,
        testQuestions,
        ...(quote.method === "dpo" ? { method: "dpo" as const, beta: quote.beta } : {}),
        ...(quote.fromModel !== undefined ? { fromModel: quote.fromModel } : {}),
      };
      // Written before the paid, non-idempotent request: whatever happens next, the job can be found again.
      await this.intents.insert({
        tag,
        guildId: input.guildId,
        provider: stamp.name,
        providerKind: stamp.kind,
        providerEndpoint: stamp.endpoint,
        input: intent,
        createdAt: this.now().toISOString(),
      });
      try {
        remote = await provider.createJob({
          model: quote.fromModel ?? model,
          trainingFileId,
          ...(quote.method === "dpo" ? { method: { type: "dpo", beta: quote.beta } } : {}),
          suffix,
          seed: input.seed,
          epochs,
          metadata: { classtune_job_id: tag },
        });
      } catch (err) {
        logProviderError(
          this.logger,
          err,
          { datasetId: dataset.id, tag, provider: stamp.name },
          "job create failed",
        );
        if (err instanceof AmbiguousCreateError) {
          // The provider may have started it: the poller looks it up by tag and posts its card if so.
          throw new UserError(
            `The provider did not confirm the job (${unconfirmedCause(err.createError)}), and it may have started anyway. classtune keeps checking: if it did start, it appears in the job list and its card is posted. If nothing appears within ${Math.round(this.giveUpMs / 60_000)} minutes, it did not start and you can try again (ref ${tag}).`,
            "create_unconfirmed",
          );
        }
        await this.intents.delete(tag);
        // A closed provider accepted the upload but will never train on it: take the file back.
        if (isTrainingClosed(err)) await this.deleteUploadedFile(provider, trainingFileId, tag);
        throw providerUserError("start the fine-tuning job", err);
      }
    } finally {
      await cleanup();
    }

    const job = await this.recordCreated(tag, intent, remote, stamp);
    this.logger.info(
      { jobId: job.id, remoteId: job.remoteId, guildId: job.guildId, model, provider: job.provider },
      "fine-tuning job started",
    );
    return job;
  }

  /** Best effort: a file left behind costs storage, not correctness, so a failure here is only logged. */
  private async deleteUploadedFile(provider: FineTuningProvider, fileId: string, tag: string): Promise<void> {
    try {
      await provider.deleteFile(fileId);
    } catch (err) {
      logProviderError(this.logger, err, { fileId, tag }, "could not delete the unused training file");
    }
  }

  /**
   * Writes the job row and its job_created notice, and clears the intent, in one transaction. Idempotent by tag:
   * when the poller's reconciliation and the create's own answer both arrive, the second finds the row.
   */
  private async recordCreated(
    tag: string,
    intent: CreateIntent,
    remote: ProviderJob,
    provider: ProviderStamp,
  ): Promise<JobRow> {
    // One IMMEDIATE transaction (the store's): the bot and the CLI may record the same job at once (a reconcile and
    // a late answer).
    const record = () =>
      this.store.transaction(async (tx) => {
        const existing = await this.jobs.in(tx).getByTag(intent.guildId, tag);
        if (existing) return existing;
        const now = this.now().toISOString();
        const row = await this.jobs.in(tx).insert({
          tag,
          guildId: intent.guildId,
          provider: provider.name,
          providerKind: provider.kind,
          providerEndpoint: provider.endpoint,
          remoteId: remote.id,
          datasetId: intent.datasetId,
          requesterId: intent.requesterId,
          baseModel: intent.model,
          suffix: intent.suffix,
          hyperparameters: {
            nEpochs: intent.epochs ?? "auto",
            seed: intent.seed,
            ...(intent.method === "dpo" ? { method: "dpo" as const } : {}),
            ...(intent.beta !== undefined ? { beta: intent.beta } : {}),
            ...(intent.fromModel !== undefined ? { fromModel: intent.fromModel } : {}),
          },
          trainingFileId: intent.trainingFileId,
          status: remote.status,
          rawStatus: remote.rawStatus,
          estimatedCostUsd: intent.estimatedCostUsd,
          notifyChannelId: intent.notifyChannelId,
          testQuestions: intent.testQuestions,
          createdAt: now,
        });
        const payload: JobCreatedPayload = {
          ...noticeBase(row, intent.datasetName),
          estimatedCostUsd: intent.estimatedCostUsd,
          nEpochs: intent.epochs ?? "auto",
          examples: intent.examples,
          ...(intent.method === "dpo" ? { method: "dpo" as const } : {}),
        };
        await this.outbox.in(tx).enqueue(
          {
            guildId: row.guildId,
            channelId: row.notifyChannelId,
            kind: "job_created",
            payload,
            dedupeKey: noticeKey.jobCreated(row.id),
          },
          new Date(now),
        );
        await this.intents.in(tx).delete(tag);
        return row;
      });
    try {
      return await record();
    } catch (err) {
      const winner = await this.jobs.getByTag(intent.guildId, tag);
      if (winner) return winner; // the other process recorded it first
      throw err;
    }
  }

  /**
   * Settles creates whose outcome was never recorded (a crash, or an answer lost on the way): a job found by its
   * tag is recorded with its notice; one still missing after giveUpMs (INTENT_GIVE_UP_MS, or twice the request
   * timeout when that is longer, so a create still in flight is never forgotten) is dropped. Called every tick,
   * per provider (the poller's); without a name, for every provider that takes jobs, one after another.
   */
  async reconcilePendingCreates(providerName?: string): Promise<{ recorded: number; forgotten: number }> {
    const result = { recorded: 0, forgotten: 0 };
    for (const p of this.providers.all()) {
      if (!p.jobs || (providerName !== undefined && p.name !== providerName)) continue;
      const r = await this.reconcileAt(p, p.jobs);
      result.recorded += r.recorded;
      result.forgotten += r.forgotten;
    }
    return result;
  }

  private async reconcileAt(
    registered: RegisteredProvider,
    provider: FineTuningProvider,
  ): Promise<{ recorded: number; forgotten: number }> {
    const result = { recorded: 0, forgotten: 0 };
    for (const pending of await this.intents.listForProvider(registered.name)) {
      let remote: ProviderJob | undefined;
      try {
        remote = await provider.findJobByMetadata("classtune_job_id", pending.tag, {
          trainingFileId: pending.input.trainingFileId,
          createdAfter: Date.parse(pending.createdAt),
        });
      } catch (err) {
        logProviderError(
          this.logger,
          err,
          { tag: pending.tag, provider: registered.name },
          "pending job create: lookup failed",
        );
        return result;
      }
      if (remote) {
        const job = await this.recordCreated(pending.tag, pending.input, remote, registered);
        this.logger.warn(
          { jobId: job.id, remoteId: remote.id, tag: pending.tag },
          "a job whose create was not confirmed was found at the provider and recorded",
        );
        result.recorded += 1;
      } else if (this.now().getTime() - Date.parse(pending.createdAt) > this.giveUpMs) {
        await this.intents.delete(pending.tag);
        this.logger.warn({ tag: pending.tag }, "a job create was never confirmed and is not at the provider");
        result.forgotten += 1;
      }
    }
    return result;
  }

  /** Asks the provider to cancel; records "cancelled" (and its notice) once the provider confirms it. */
  async cancel(guildId: string, jobId: number): Promise<JobRow> {
    const job = await this.require(guildId, jobId);
    if (isTerminal(job.status)) {
      throw new UserError(`Job #${job.id} has already ended (${job.status}).`, "already_ended");
    }
    const provider = this.providers.forJob(job);
    let remote: ProviderJob;
    try {
      remote = await provider.cancelJob(job.remoteId);
    } catch (err) {
      logProviderError(this.logger, err, { jobId, remoteId: job.remoteId }, "cancel failed");
      throw providerUserError(`cancel job #${job.id}`, err);
    }
    if (remote.status === "cancelled") {
      const datasetName =
        (await this.datasets.get(guildId, job.datasetId))?.fileName ?? `dataset #${job.datasetId}`;
      await recordEnding(this.store, job, remote, {
        kind: "job_cancelled",
        payload: noticeBase(job, datasetName) satisfies JobCancelledPayload,
        now: this.now(),
      });
    }
    return this.require(guildId, jobId);
  }

  async get(guildId: string, jobId: number): Promise<JobRow | undefined> {
    return this.jobs.get(guildId, jobId);
  }

  /** The job, or a UserError saying it was not found (another guild's job is "not found" too). */
  async require(guildId: string, jobId: number): Promise<JobRow> {
    const job = await this.jobs.get(guildId, jobId);
    if (!job) throw new UserError(`Job #${jobId} was not found.`, "not_found");
    return job;
  }

  async list(guildId: string, limit = 25): Promise<JobRow[]> {
    return this.jobs.list(guildId, limit);
  }

  async search(guildId: string, text: string, limit = 25): Promise<JobRow[]> {
    return this.jobs.search(guildId, text, limit);
  }

  /**
   * With enough examples, up to three are held out of training and asked of the finished model, chosen to show
   * generalisation honestly (heldOut.ts: paraphrases of what it trains on first); when none can be, or the
   * file is small, the whole file trains and the seed's three questions are asked.
   */
  private async prepareTrainingFile(
    dataset: DatasetRow,
    path: string,
    tag: string,
    answersByRetrieval: boolean,
  ): Promise<{ trainingPath: string; testQuestions: TestQuestion[]; cleanup: () => Promise<void> }> {
    const defaults = {
      trainingPath: path,
      testQuestions: DEFAULT_TEST_QUESTIONS.map((question) => ({ question, expected: null })),
      cleanup: async () => {},
    };
    if (
      (dataset.format !== "chat" && dataset.format !== "preference") ||
      dataset.valid < MIN_EXAMPLES_FOR_HELD_OUT
    ) {
      return defaults;
    }

    // Pass 1: the pairs the choice compares (heldOut.ts); pass 2 writes the training file without the chosen.
    const pairs: (TestQuestion | undefined)[] = [];
    const reading = createInterface({ input: createReadStream(path), crlfDelay: Number.POSITIVE_INFINITY });
    for await (const line of reading) {
      if (line.trim() === "") continue;
      if (pairs.length >= MAX_HELD_OUT_SCAN) break;
      pairs.push(questionOf(line));
    }
    reading.close();
    const picks = new Set(
      chooseHeldOut(
        pairs.map((p) => (p?.expected == null ? undefined : { question: p.question, answer: p.expected })),
        HELD_OUT_QUESTIONS,
        { answersByRetrieval },
      ),
    );
    if (picks.size === 0) return defaults;
    const dir = join(this.dataDir, "jobs");
    await mkdir(dir, { recursive: true });
    const trainingPath = join(dir, `${tag}.jsonl`);
    const out = createWriteStream(trainingPath);
    const held: TestQuestion[] = [];
    let index = 0;
    const lines = createInterface({ input: createReadStream(path), crlfDelay: Number.POSITIVE_INFINITY });
    for await (const line of lines) {
      if (line.trim() === "") continue;
      const pair = picks.has(index) ? questionOf(line) : undefined;
      index += 1;
      if (pair) held.push(pair);
      else if (!out.write(`${line}\n`)) await new Promise<void>((r) => out.once("drain", () => r()));
    }
    out.end();
    await finished(out);
    const cleanup = () => rm(trainingPath, { force: true });
    if (held.length === 0) {
      await cleanup();
      return defaults;
    }
    return { trainingPath, testQuestions: held, cleanup };
  }
}

type LooseMessage = { role?: unknown; content?: unknown };

/**
 * The last user question and the assistant answer after it, from one chat-format line; from a preference line,
 * the last user question of its input messages and its preferred output (what the model should now say).
 */
function questionOf(line: string): TestQuestion | undefined {
  try {
    const parsed = JSON.parse(line) as {
      messages?: LooseMessage[];
      input?: { messages?: LooseMessage[] };
      preferred_output?: LooseMessage[];
    };
    const messages = Array.isArray(parsed.messages)
      ? parsed.messages
      : Array.isArray(parsed.input?.messages) && Array.isArray(parsed.preferred_output)
        ? [...parsed.input.messages, ...parsed.preferred_output]
        : undefined;
    if (!Array.isArray(messages)) return undefined;
    let question: string | undefined;
    let expected: string | null = null;
    for (const m of messages) {
      if (m.role === "user" && typeof m.content === "string") {
        question = m.content;
        expected = null;
      } else if (m.role === "assistant" && typeof m.content === "string" && question !== undefined) {
        expected = m.content;
      }
    }
    return question === undefined ? undefined : { question, expected };
  } catch {
    return undefined;
  }
}

type EndingKind = "job_succeeded" | "job_failed" | "job_cancelled";

export type EndingNotice = {
  [K in EndingKind]: {
    kind: K;
    payload: NoticePayloads[K];
    now: Date;
    /** Also registers the fine-tuned model (success), inside the same transaction (its statements on `tx`). */
    alsoInTransaction?: (tx: Queryable) => void | Promise<void>;
  };
}[EndingKind];

/**
 * Writes a job's final state and its notice in one SQLite transaction. The dedupe key
 * (job:<id>:<status>) makes a second attempt (cancel racing the poller, a retried tick) a no-op.
 */
export async function recordEnding(
  store: Store,
  job: JobRow,
  remote: ProviderJob,
  notice: EndingNotice,
): Promise<void> {
  const jobs = new JobRepository(store);
  const outbox = new OutboxRepository(store);
  await store.transaction(async (tx) => {
    const current = await jobs.in(tx).get(job.guildId, job.id);
    if (!current || isTerminal(current.status)) return;
    await jobs.in(tx).update(
      job.guildId,
      job.id,
      {
        status: remote.status,
        rawStatus: remote.rawStatus,
        fineTunedModel: remote.fineTunedModel,
        trainedTokens: remote.trainedTokens,
        errorCode: remote.error?.code ?? null,
        errorMessage: remote.error?.message ?? null,
        finishedAt: new Date(remote.finishedAt ?? notice.now.getTime()).toISOString(),
      },
      notice.now,
    );
    await notice.alsoInTransaction?.(tx);
    // The kind and payload are correlated by EndingNotice's type; TypeScript cannot follow that through a spread.
    const ending = {
      guildId: job.guildId,
      channelId: job.notifyChannelId,
      kind: notice.kind,
      payload: notice.payload,
      dedupeKey: noticeKey.jobEnded(job.id, remote.status),
    } as NewNotice;
    await outbox.in(tx).enqueue(ending, notice.now);
  });
}
