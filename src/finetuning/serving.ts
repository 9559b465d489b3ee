// The serving step: a succeeded job's model becomes callable. Where the provider serves at once (OpenAI, the
// sandbox as OpenAI) it is ready with the job; where it needs a deploy (Nebius, Azure) it is recorded as
// deploying, the deploy is requested under a deterministic name (providers/deployments.ts), and every poller tick
// asks the provider how each deployment stands until it is ready (servedAs: the provider's callable name) or
// failed (the provider's words). Deploys are idempotent: the deployment is looked up by its name before one is
// requested, so a lost answer, a retried tick or a retry racing the poller never makes a second one. Azure without
// Resource Manager credentials waits for a person ("manual"): the notice names the command, and `/model add` of
// the deployment makes the model ready. Each change of state is written with its notice in one transaction.

import { DatasetRepository } from "../db/datasets.ts";
import { JobRepository, type JobRow, type TestQuestion } from "../db/jobs.ts";
import { ModelRepository, type ModelRow, type NewServing, type ServingStatus } from "../db/models.ts";
import { OutboxRepository } from "../db/outbox.ts";
import type { Store } from "../db/query/store.ts";
import { DEFAULT_MAX_TOKENS, DEFAULT_SYSTEM_PROMPT, DEFAULT_TEMPERATURE } from "../domain/assistant.ts";
import { UserError } from "../domain/errors.ts";
import {
  type HostingNote,
  type ModelDeployFailedPayload,
  type ModelReadyPayload,
  type ModelServingPayload,
  noticeKey,
  type ServingNote,
  type TestAnswer,
} from "../domain/notices.ts";
import type { Logger } from "../logger.ts";
import { silentLogger } from "../logger.ts";
import { deploymentNameFor } from "../providers/deployments.ts";
import {
  classifyProviderError,
  describeProviderError,
  isRateLimited,
  logProviderError,
} from "../providers/errors.ts";
import type { ProviderRegistry } from "../providers/registry.ts";
import type { ChatResult, DeployInput, Deployment, FineTuningProvider } from "../providers/types.ts";
import { forEachLimit } from "./concurrency.ts";
import type { HostingLedger, HostingTerms } from "./hostingLedger.ts";
import { noticeBase } from "./jobs.ts";

/** Asks `model` one question as the seed tutorial's EducationalAssistant (its prompt, temperature and length). */
export function askAssistant(
  provider: FineTuningProvider,
  model: string,
  question: string,
): Promise<ChatResult> {
  return provider.chat({
    model,
    messages: [
      { role: "system", content: DEFAULT_SYSTEM_PROMPT },
      { role: "user", content: question },
    ],
    temperature: DEFAULT_TEMPERATURE,
    maxTokens: DEFAULT_MAX_TOKENS,
  });
}

/** A succeeded Nebius job may list its checkpoint a little later: a deploy without one is retried this long. */
export const NO_CHECKPOINT_GRACE_MS = 15 * 60_000;

/** What one provider's part of a tick counts for the serving step (the poller's PollCounts has these). */
export interface ServingCounts {
  /** Models being deployed at this provider at the start of the step. */
  deploying: number;
  /** deploy() and getDeployment() calls. */
  deployCalls: number;
  chatCalls: number;
  errors: number;
}

/** One provider's serving step within a tick: its adapter, its counts, and whether a 429 stopped its calls. */
export interface ServingRun {
  name: string;
  provider: FineTuningProvider;
  counts: ServingCounts;
  rateLimited: boolean;
}

/** How a job that just succeeded registers its model, and what its success notice says about serving. */
export interface ServingPlan {
  serving: NewServing;
  note: ServingNote;
}

/** What `/finetune deploy` did. */
export type RedeployResult =
  /** The provider serves at once: there is nothing to deploy. */
  | { kind: "immediate"; model: ModelRow }
  /** The deployment is there and ready. */
  | { kind: "ready"; model: ModelRow }
  /** A deploy is under way; the notice follows. */
  | { kind: "deploying"; model: ModelRow }
  /** Azure without credentials: the step to run (again). */
  | { kind: "manual"; model: ModelRow; instructions: string }
  /** The deploy attempt just requested failed at once (the provider's words). */
  | { kind: "failed"; model: ModelRow; message: string }
  /** Its billed hosting was stopped meanwhile (another stop won the race). */
  | { kind: "asleep"; model: ModelRow };

export interface ModelServingOptions {
  store: Store;
  providers: ProviderRegistry;
  logger?: Logger | undefined;
  /** Only this guild's models (the CLI's "cli"); default every guild's. */
  guildId?: string | undefined;
  now?: (() => Date) | undefined;
  /** Deployments checked at once per provider. */
  concurrency?: number | undefined;
  /**
   * The ledger of hosting billed while it runs (Together, Fireworks): a session per deployment requested there,
   * and the rules its notices state. Unset: such hosting is not recorded (tests of other providers).
   */
  hosting?: { ledger: HostingLedger; idleMinutes: number; dailyBudgetUsd: number } | undefined;
}

/**
 * A deployment billed for as long as it runs (a dedicated endpoint) is started only when a teacher asks for it,
 * unless the provider's entry allows it after every job (`"autoDeploy": true`): what the teacher is told instead.
 */
function hostingConsent(
  provider: FineTuningProvider,
  fineTunedModel: string,
  price: HostingTerms | null,
): string | null {
  const billed = provider.billedWhileRunning;
  if (billed === null || billed.autoDeploy) return null;
  const cost = price ? ` (${price.price.hardware} at $${price.price.usdPerHour.toFixed(2)}/h)` : "";
  return `${provider.name} serves a fine-tune only on a deployment billed for as long as it runs, even when nobody asks it anything${cost}. classtune starts one only when a teacher asks: run \`/model deploy model:${fineTunedModel}\` when the class needs the model; classtune stops it when nobody asks it anything for a while, or with \`/model undeploy\`. The admin can allow a deployment after every job with "autoDeploy": true on the provider's entry.`;
}

export class ModelServing {
  private readonly store: Store;
  private readonly providers: ProviderRegistry;
  private readonly logger: Logger;
  private readonly guildId: string | undefined;
  private readonly now: () => Date;
  private readonly concurrency: number;
  private readonly jobs: JobRepository;
  private readonly models: ModelRepository;
  private readonly outbox: OutboxRepository;
  private readonly datasets: DatasetRepository;
  private readonly hosting: ModelServingOptions["hosting"];
  /** The redeploy running for each guild's job (see redeploy). */
  private readonly redeploying = new Map<string, Promise<RedeployResult>>();

  constructor(o: ModelServingOptions) {
    this.hosting = o.hosting;
    this.store = o.store;
    this.providers = o.providers;
    this.logger = o.logger ?? silentLogger;
    this.guildId = o.guildId;
    this.now = o.now ?? (() => new Date());
    this.concurrency = Math.max(1, o.concurrency ?? 8);
    this.jobs = new JobRepository(o.store);
    this.models = new ModelRepository(o.store);
    this.outbox = new OutboxRepository(o.store);
    this.datasets = new DatasetRepository(o.store);
  }

  /**
   * The serving state a just-succeeded job's model starts in: ready (served as itself) where the provider serves
   * at once; else deploying under the first attempt's name, or manual when the provider cannot deploy by itself.
   */
  planFor(provider: FineTuningProvider, job: JobRow, fineTunedModel: string): ServingPlan {
    const caveat = provider.servingCaveat;
    if (provider.serving === "immediate") {
      return {
        serving: { status: "ready", servedAs: fineTunedModel, deploymentName: null, attempt: 0 },
        note: { status: "ready", servedAs: fineTunedModel, deploymentName: null, instructions: null, caveat },
      };
    }
    const deploymentName = deploymentNameFor(job.remoteId, 1);
    const manual =
      provider.manualDeployStep(deployInput(job, fineTunedModel, deploymentName)) ??
      hostingConsent(provider, fineTunedModel, this.hosting?.ledger.termsOf(provider) ?? null);
    const status = manual === null ? "deploying" : "manual";
    return {
      serving: { status, servedAs: null, deploymentName, attempt: 1, error: manual },
      note: { status, servedAs: null, deploymentName, instructions: manual, caveat },
    };
  }

  /**
   * One provider's serving step in a tick: every model being deployed there is checked (its deploy requested
   * first when the provider has none of that name), a few at a time. Never throws: what fails is counted and
   * logged, and retried next tick.
   */
  async checkDeploying(run: ServingRun, logger: Logger = this.logger): Promise<void> {
    let deploying: ModelRow[];
    try {
      deploying = await this.models.listDeploying(run.name, this.guildId);
    } catch (err) {
      run.counts.errors += 1;
      logger.error({ err }, "could not read the models being deployed; next tick retries");
      return;
    }
    run.counts.deploying = deploying.length;
    await forEachLimit(deploying, this.concurrency, async (model) => {
      if (run.rateLimited) return;
      try {
        await this.checkOne(run, model, logger);
      } catch (err) {
        run.counts.errors += 1;
        logger.error({ err, model: model.name }, "checking a deployment failed; next tick retries");
      }
    });
  }

  /**
   * `/finetune deploy job:` (and nothing else): deploys the job's model again when its deployment failed,
   * vanished or waits for a person who has since configured credentials; a deploy in progress, a ready
   * deployment and a provider that serves at once are left alone. The new attempt gets its own name and is
   * requested at once; its outcome is announced like the first's.
   */
  async redeploy(guildId: string, jobId: number, requestedBy = "auto"): Promise<RedeployResult> {
    // One at a time per job in this process: its reads and the attempt's start are no longer one synchronous step,
    // and a manual step keeps its attempt number, so two at once (two Start clicks) would both start it.
    const key = `${guildId}\u0000${jobId}`;
    const previous = this.redeploying.get(key) ?? Promise.resolve();
    const run = previous.then(
      () => this.redeployNow(guildId, jobId, requestedBy),
      () => this.redeployNow(guildId, jobId, requestedBy),
    );
    this.redeploying.set(key, run);
    try {
      return await run;
    } finally {
      if (this.redeploying.get(key) === run) this.redeploying.delete(key);
    }
  }

  private async redeployNow(guildId: string, jobId: number, requestedBy: string): Promise<RedeployResult> {
    const job = await this.jobs.get(guildId, jobId);
    if (!job) throw new UserError(`Job #${jobId} was not found.`, "not_found");
    if (job.status !== "succeeded" || !job.fineTunedModel) {
      throw new UserError(
        `Job #${job.id} has not finished training (${job.status}): there is no model to deploy yet.`,
        "not_trained",
      );
    }
    const model = await this.models.getByJob(guildId, job.id);
    if (!model) {
      throw new UserError(
        `Job #${job.id}'s model is not registered in this server (it was removed).`,
        "not_found",
      );
    }
    const provider = this.providers.forJob(job);
    if (provider.serving === "immediate") return { kind: "immediate", model };
    if (model.servingStatus === "deploying") return { kind: "deploying", model };

    const current = model.deploymentName ?? deploymentNameFor(job.remoteId, Math.max(1, model.deployAttempt));
    const stillManual = provider.manualDeployStep(deployInput(job, job.fineTunedModel, current));
    if (model.servingStatus === "ready") {
      // Ready by a person's /model add (no credentials to look): nothing classtune can check or remake.
      if (stillManual !== null) return { kind: "ready", model };
      const found = await provider.getDeployment(model.deploymentName ?? current);
      if (found && found.status !== "failed") return { kind: "ready", model };
    }
    // A manual step not yet taken keeps its name: the deployment a person made under it is found by it.
    const attempt =
      model.servingStatus === "manual" ? Math.max(1, model.deployAttempt) : model.deployAttempt + 1;
    const deploymentName = deploymentNameFor(job.remoteId, attempt);
    const manual = provider.manualDeployStep(deployInput(job, job.fineTunedModel, deploymentName));
    const started = await this.models.startDeployAttempt(
      guildId,
      model.name,
      model.deployAttempt,
      { attempt, deploymentName, status: manual === null ? "deploying" : "manual", error: manual },
      this.now(),
    );
    const fresh = (await this.models.get(guildId, model.name)) ?? model;
    // Another retry (or the poller) moved it first: report where it stands.
    if (!started) return standing(fresh);
    this.logger.info(
      { jobId: job.id, model: model.name, deployment: deploymentName, attempt },
      manual === null ? "deploying a model again" : "a model waits for a manual deploy",
    );
    if (manual !== null) return { kind: "manual", model: fresh, instructions: manual };
    // Billed while it runs: the session (and its price) is recorded before the provider is asked.
    await this.hosting?.ledger.open(provider, fresh, deploymentName, requestedBy);
    // Requested now rather than on the next tick; the poller carries on from here if this call fails.
    const run: ServingRun = {
      name: job.provider,
      provider,
      counts: { deploying: 1, deployCalls: 0, chatCalls: 0, errors: 0 },
      rateLimited: false,
    };
    await this.checkOne(run, fresh, this.logger).catch((err: unknown) => {
      this.logger.error({ err, model: model.name }, "deploy request failed; the poller retries");
    });
    return standing((await this.models.get(guildId, model.name)) ?? fresh);
  }

  /**
   * `/model add model:<deployment> provider:<name>` of the deployment a teacher made by hand (Azure without
   * credentials): the job's model it belongs to becomes ready, served as that deployment, with its notice.
   * Undefined when no model of this guild waits for a deployment of that name at that provider.
   */
  async acceptManualDeployment(
    guildId: string,
    deploymentName: string,
    provider: string,
  ): Promise<ModelRow | undefined> {
    const name = deploymentName.trim();
    const model = await this.models.awaitingDeployment(guildId, provider, name);
    if (!model || model.jobId === null) return undefined;
    const job = await this.jobs.get(guildId, model.jobId);
    if (!job) return undefined;
    const caveat = this.providers.get(provider)?.jobs?.servingCaveat ?? null;
    const changed = await this.finish(
      model,
      job,
      { status: "ready", servedAs: name, testAnswers: [], caveat },
      ["manual", "failed", "deploying"],
    );
    if (!changed) return undefined;
    this.logger.info({ jobId: job.id, model: model.name, deployment: name }, "manual deployment registered");
    return this.models.get(guildId, model.name);
  }

  /** The model a guild's job trained, with its serving state. */
  async forJob(guildId: string, jobId: number): Promise<ModelRow | undefined> {
    return this.models.getByJob(guildId, jobId);
  }

  /** One deploying model: look its deployment up (requesting it when there is none), and record where it got to. */
  private async checkOne(run: ServingRun, model: ModelRow, logger: Logger): Promise<void> {
    const job = model.jobId === null ? undefined : await this.jobs.get(model.guildId, model.jobId);
    if (!job?.fineTunedModel || !model.deploymentName) {
      logger.warn({ model: model.name }, "a model being deployed has no job or deployment name; skipped");
      return;
    }
    const input = deployInput(job, job.fineTunedModel, model.deploymentName);
    let deployment: Deployment | null;
    try {
      run.counts.deployCalls += 1;
      deployment = await run.provider.getDeployment(input.name);
      if (deployment === null) {
        // Stopped or moved on while this check ran (a stop, a retry): request nothing.
        const now = await this.models.get(model.guildId, model.name);
        if (now?.servingStatus !== "deploying" || now.deployAttempt !== model.deployAttempt) return;
        // Billed hosting never starts on its own once the server's hosting budget for today is spent.
        const spent = await this.overHostingBudget(run.provider, model.guildId);
        if (spent !== null) {
          await this.finish(model, job, {
            status: "failed",
            message: spent,
            caveat: run.provider.servingCaveat,
          });
          return;
        }
        await this.hosting?.ledger.open(run.provider, model, input.name, "auto");
        run.counts.deployCalls += 1;
        deployment = await run.provider.deploy(input);
      }
    } catch (err) {
      await this.onDeployError(run, model, job, err, logger);
      return;
    }
    const caveat = run.provider.servingCaveat;
    if (deployment.status === "deploying") return;
    if (deployment.status === "failed") {
      const message =
        deployment.message ?? "The provider reports the deployment as failed, without a reason.";
      await this.finish(model, job, { status: "failed", message, caveat });
      logger.info({ jobId: job.id, deployment: input.name, message }, "deploy failed");
      return;
    }
    const servedAs = deployment.servedAs ?? input.name;
    const testAnswers = await this.askTestQuestions(run, job, servedAs, logger);
    if (await this.finish(model, job, { status: "ready", servedAs, testAnswers, caveat })) {
      logger.info({ jobId: job.id, deployment: input.name, servedAs }, "model deployed: ready");
    }
  }

  /**
   * Outages and rate limits are retried next tick. The provider's refusal (a 4xx answer), or a deploy
   * classtune cannot make (no fine-tuned model; no checkpoint long after training), fails the attempt.
   */
  private async onDeployError(
    run: ServingRun,
    model: ModelRow,
    job: JobRow,
    err: unknown,
    logger: Logger,
  ): Promise<void> {
    const caveat = run.provider.servingCaveat;
    if (err instanceof UserError) {
      const since = Date.parse(model.servingUpdatedAt ?? job.finishedAt ?? job.updatedAt);
      if (err.code === "no_checkpoint" && this.now().getTime() - since < NO_CHECKPOINT_GRACE_MS) {
        logger.info({ jobId: job.id }, "no checkpoint to deploy yet; next tick retries");
        return;
      }
      await this.finish(model, job, { status: "failed", message: err.message, caveat });
      return;
    }
    const e = classifyProviderError(err);
    if (e && !e.transient) {
      logProviderError(logger, err, { jobId: job.id, deployment: model.deploymentName }, "deploy refused");
      await this.finish(model, job, { status: "failed", message: describeProviderError(err), caveat });
      return;
    }
    run.counts.errors += 1;
    if (isRateLimited(err)) run.rateLimited = true;
    if (e) {
      logProviderError(
        logger,
        err,
        { jobId: job.id, deployment: model.deploymentName },
        "deploy check failed",
      );
    } else {
      logger.error({ err, jobId: job.id }, "deploy check failed; next tick retries");
    }
  }

  /**
   * Records the end of the model's current deploy attempt with its notice, in one transaction; nothing when the
   * attempt moved on meanwhile (a retry, another process). Returns whether this call recorded it.
   */
  private async finish(
    model: ModelRow,
    job: JobRow,
    outcome:
      | { status: "ready"; servedAs: string; testAnswers: TestAnswer[]; caveat: string | null }
      | { status: "failed"; message: string; caveat: string | null },
    from: readonly ServingStatus[] = ["deploying"],
  ): Promise<boolean> {
    const now = this.now();
    const datasetName =
      (await this.datasets.get(job.guildId, job.datasetId))?.fileName ?? `dataset #${job.datasetId}`;
    const base: ModelServingPayload = {
      ...noticeBase(job, datasetName),
      fineTunedModel: model.name,
      deploymentName: model.deploymentName,
      attempt: model.deployAttempt,
      caveat: outcome.caveat,
    };
    const expected = { from, attempt: model.deployAttempt };
    return this.store.transaction(async (tx) => {
      if (outcome.status === "ready") {
        const changed = await this.models
          .in(tx)
          .updateServing(
            model.guildId,
            model.name,
            expected,
            { status: "ready", servedAs: outcome.servedAs, error: null },
            now,
          );
        if (!changed) return false;
        const hosting = this.hostingNote(job.provider);
        if (hosting && model.deploymentName) {
          await this.hosting?.ledger.ready(job.provider, model.deploymentName, tx);
        }
        const payload: ModelReadyPayload = {
          ...base,
          servedAs: outcome.servedAs,
          testAnswers: outcome.testAnswers,
          ...(hosting ? { hosting } : {}),
        };
        await this.outbox.in(tx).enqueue(
          {
            guildId: job.guildId,
            channelId: job.notifyChannelId,
            kind: "model_ready",
            payload,
            dedupeKey: noticeKey.modelServing(job.id, model.deployAttempt, "ready"),
          },
          now,
        );
        return true;
      }
      const changed = await this.models
        .in(tx)
        .updateServing(
          model.guildId,
          model.name,
          expected,
          { status: "failed", servedAs: null, error: outcome.message },
          now,
        );
      if (!changed) return false;
      if (model.deploymentName) await this.hosting?.ledger.failed(job.provider, model.deploymentName, tx);
      const payload: ModelDeployFailedPayload = { ...base, errorMessage: outcome.message };
      await this.outbox.in(tx).enqueue(
        {
          guildId: job.guildId,
          channelId: job.notifyChannelId,
          kind: "model_deploy_failed",
          payload,
          dedupeKey: noticeKey.modelServing(job.id, model.deployAttempt, "failed"),
        },
        now,
      );
      return true;
    });
  }

  /** Why a deploy billed while it runs must not start now (today's hosting budget is spent); null when it may. */
  private async overHostingBudget(provider: FineTuningProvider, guildId: string): Promise<string | null> {
    const h = this.hosting;
    if (!h || h.ledger.termsOf(provider) === null) return null;
    const spent = await h.ledger.spentToday(guildId, this.now());
    if (spent < h.dailyBudgetUsd) return null;
    return `Not deployed: this server's hosting today ($${spent.toFixed(2)}) has reached its daily budget of $${h.dailyBudgetUsd.toFixed(2)} (HOSTING_DAILY_BUDGET_USD). A teacher can deploy it after 00:00 UTC with /model deploy.`;
  }

  /** What a ready notice says about the price of hosting billed while it runs; undefined elsewhere. */
  private hostingNote(providerName: string): HostingNote | undefined {
    const h = this.hosting;
    const terms = h?.ledger.terms(providerName);
    if (!h || !terms) return undefined;
    return {
      usdPerHour: terms.price.usdPerHour,
      hardware: terms.price.hardware,
      idleMinutes: h.idleMinutes,
      dailyBudgetUsd: h.dailyBudgetUsd,
    };
  }

  /** Asks the deployed model the job's test questions; a failed question keeps its error in words. */
  private async askTestQuestions(
    run: ServingRun,
    job: JobRow,
    servedAs: string,
    logger: Logger,
  ): Promise<TestAnswer[]> {
    return askTestQuestions(run.provider, servedAs, job.testQuestions, run.counts, (err) =>
      logProviderError(logger, err, { jobId: job.id, model: servedAs }, "test question failed"),
    );
  }
}

/** Asks `model` each question in turn; a failed question keeps its error in words, never blocks. */
export async function askTestQuestions(
  provider: FineTuningProvider,
  model: string,
  questions: readonly TestQuestion[],
  counts: { chatCalls: number },
  onError: (err: unknown) => void = () => undefined,
): Promise<TestAnswer[]> {
  const answers: TestAnswer[] = [];
  for (const q of questions) {
    try {
      counts.chatCalls += 1;
      const reply = await askAssistant(provider, model, q.question);
      answers.push({ ...q, answer: reply.text, error: null });
    } catch (err) {
      onError(err);
      answers.push({ ...q, answer: null, error: describeProviderError(err) });
    }
  }
  return answers;
}

/** A model's serving state as /finetune deploy reports it. */
function standing(model: ModelRow): RedeployResult {
  switch (model.servingStatus) {
    case "ready":
      return { kind: "ready", model };
    case "failed":
      return { kind: "failed", model, message: model.servingError ?? "the deploy failed" };
    case "manual":
      return { kind: "manual", model, instructions: model.servingError ?? "" };
    case "deploying":
      return { kind: "deploying", model };
    case "asleep":
      return { kind: "asleep", model };
  }
}

function deployInput(job: JobRow, fineTunedModel: string, name: string): DeployInput {
  return { jobId: job.remoteId, fineTunedModel, baseModel: job.baseModel, name };
}
