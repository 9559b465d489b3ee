// `classtune finetune FILE [--provider NAME] [--model M] [--suffix S] [--epochs N] [--seed N] [--method supervised|dpo]
// [--beta B] [--from-job N] [--wait] [--json] [--out RESULT.json]`: the seed's whole flow from the terminal. --method
// dpo trains on a preference file (the default for one); --from-job trains further from a job started here. Validates and stores the dataset, uploads it to
// the provider (default FINETUNE_DEFAULT_PROVIDER), creates the job;
// with --wait follows it on one updating progress line to the end of training and, where the provider deploys
// before a model answers (Nebius, Azure), to the end of the deploy; asks the new model the test questions and
// writes the results as JSON (stdout with --json, else RESULT.json). The JSON's `status` is the job's status
// until it succeeds, then the serving step's: "ready", "deploying", "deploy_failed" or "deploy_manually" (Azure
// without Resource Manager credentials: `error` holds the step to run); `servedAs` is the id to call for chat
// once ready. Exit 0 ready, started, or waiting for a manual deploy; 1 the dataset, the job or the deploy failed;
// 2 usage or I/O error (an unknown --provider, or one that takes no jobs yet).
import { writeFile } from "node:fs/promises";
import { basename, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { resolveModel } from "../datasets/catalog.ts";
import type { JobMethod } from "../datasets/estimate.ts";
import { JobMetricsRepository, type JobRow } from "../db/jobs.ts";
import { ModelRepository, type ModelRow } from "../db/models.ts";
import { OutboxRepository } from "../db/outbox.ts";
import { UserError } from "../domain/errors.ts";
import { isTerminal } from "../domain/jobs.ts";
import { noticeKey, SANDBOX_ANSWERS_BY_RETRIEVAL, type TestAnswer } from "../domain/notices.ts";
import { CLI_SERVING_STATUS } from "../domain/serving.ts";
import { EMBEDDED_SANDBOX_ENDPOINT, type RegisteredProvider } from "../providers/registry.ts";
import { type CliCommand, type CliIo, UsageError } from "./io.ts";
import { CLI_GUILD, CLI_USER, type CliJobContext, openJobContext } from "./jobs.ts";

const USAGE =
  "usage: classtune finetune FILE [--provider NAME] [--model MODEL] [--suffix S] [--epochs N] [--seed N] [--method supervised|dpo] [--beta B] [--from-job N] [--wait] [--json] [--out RESULT.json]";
/** How often --wait polls: the embedded sandbox trains in seconds, a real provider in minutes. */
const SANDBOX_POLL_MS = 250;
/** A provider on this machine (`classtune sandbox`, a LocalAI) answers at no cost: asked every second. */
const LOOPBACK_POLL_MS = 1_000;
const PROVIDER_POLL_MS = 15_000;

const isLoopback = (endpoint: string): boolean => {
  try {
    return /^(127\.\d+\.\d+\.\d+|\[::1\]|localhost)$/i.test(new URL(endpoint).hostname);
  } catch {
    return false;
  }
};

function pollInterval(provider: RegisteredProvider): number {
  if (provider.sandbox) return SANDBOX_POLL_MS;
  return isLoopback(provider.endpoint) ? LOOPBACK_POLL_MS : PROVIDER_POLL_MS;
}

interface Options {
  file: string;
  provider: string | undefined;
  model: string | undefined;
  suffix: string | undefined;
  epochs: number | undefined;
  seed: number | undefined;
  method: JobMethod | undefined;
  beta: number | undefined;
  fromJob: number | undefined;
  wait: boolean;
  json: boolean;
  out: string | undefined;
}

const wholeNumber = (name: string, raw: string | undefined): number | undefined => {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a whole number, got "${raw}"`);
  return n;
};

function methodOf(raw: string | undefined): JobMethod | undefined {
  if (raw === undefined) return undefined;
  if (raw !== "supervised" && raw !== "dpo") {
    throw new UsageError(`--method must be supervised or dpo, got "${raw}"`);
  }
  return raw;
}

function betaOf(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(n)) throw new UsageError(`--beta must be a number, got "${raw}"`);
  return n;
}

function parse(args: string[]): Options | "help" {
  try {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        provider: { type: "string" },
        model: { type: "string" },
        suffix: { type: "string" },
        epochs: { type: "string" },
        seed: { type: "string" },
        method: { type: "string" },
        beta: { type: "string" },
        "from-job": { type: "string" },
        wait: { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        out: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
    if (values.help) return "help";
    if (positionals.length !== 1) {
      throw new UsageError(
        positionals.length === 0 ? `no FILE given. ${USAGE}` : `one FILE at a time. ${USAGE}`,
      );
    }
    return {
      file: positionals[0] as string,
      provider: values.provider,
      model: values.model,
      suffix: values.suffix,
      epochs: wholeNumber("epochs", values.epochs),
      seed: wholeNumber("seed", values.seed),
      method: methodOf(values.method),
      beta: betaOf(values.beta),
      fromJob: wholeNumber("from-job", values["from-job"]),
      wait: values.wait,
      json: values.json,
      out: values.out,
    };
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`${(err as Error).message}. ${USAGE}`);
  }
}

export interface FinetuneResult {
  job: JobRow;
  /** The configured provider the job ran on. */
  provider: string;
  fineTunedModel: string | null;
  /** The id chat completions take (the deployed name where the provider deploys); null until ready. */
  servedAs: string | null;
  /**
   * Where it got to when the command ended: the job's status (failed, cancelled; or where it got to without
   * --wait) and, once it succeeded, its model's serving step: ready, deploying, deploy_failed, deploy_manually.
   */
  status: string;
  testAnswers: TestAnswer[];
  /** The provider's words when the job or its deploy failed; the step to run when it waits for a manual deploy. */
  error: string | null;
  /** Loss per step, for a chart. */
  metrics: Array<{ step: number; trainLoss: number | null }>;
}

export const run: CliCommand = async (args, io) => {
  const opts = parse(args);
  if (opts === "help") {
    io.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const say = (line: string) => {
    if (!opts.json) io.stderr.write(`${line}\n`);
  };
  const ctx = await openJobContext(io);
  try {
    // Before anything is stored: an unknown provider, or one that takes no jobs yet, is a usage error.
    const provider = ctx.providers.forStart(opts.provider);
    const catalog = ctx.catalogs.catalogFor(provider.name);
    const stored = await ctx.storeDataset({
      guildId: CLI_GUILD,
      uploaderId: CLI_USER,
      fileName: basename(opts.file),
      sourcePath: resolve(opts.file),
      model: opts.model === undefined ? catalog.defaultModel : resolveModel(opts.model, catalog).id,
      provider: provider.name,
    });
    const { row: dataset, report } = stored;
    if (dataset === null) {
      io.stderr.write(`classtune finetune: ${opts.file} is not a dataset (not stored): ${stored.refused}\n`);
      return 1;
    }
    say(
      `${opts.file}: ${report.valid} valid example(s), ${report.invalid} invalid; estimated cost $${report.estimatedCostUsd.toFixed(2)} for ${report.model} (${report.epochs} epochs, an estimate).`,
    );
    let job: JobRow;
    try {
      job = await ctx.jobs.start({
        guildId: CLI_GUILD,
        datasetId: dataset.id,
        requesterId: CLI_USER,
        provider: provider.name,
        model: opts.model,
        suffix: opts.suffix,
        epochs: opts.epochs,
        seed: opts.seed,
        method: opts.method,
        beta: opts.beta,
        fromJobId: opts.fromJob,
      });
    } catch (err) {
      // The file's problem (too few examples, or the other format than the method trains on): exit 1.
      const fileProblem = ["not_fine_tunable", "method_format_mismatch"];
      if (!(err instanceof UserError && fileProblem.includes(err.code ?? ""))) throw err;
      io.stderr.write(`classtune finetune: ${err.message} Details: classtune validate ${opts.file}\n`);
      return 1;
    }
    const by = job.hyperparameters.method === "dpo" ? " by DPO" : "";
    say(`Started job #${job.id} (${job.remoteId}) on ${job.provider}: ${job.baseModel}${by}.`);

    if (!opts.wait) {
      if (opts.json) {
        const started = {
          job,
          provider: job.provider,
          fineTunedModel: job.fineTunedModel,
          servedAs: null,
          status: job.status,
        };
        io.stdout.write(`${JSON.stringify(started, null, 2)}\n`);
      }
      say(
        provider.endpoint === EMBEDDED_SANDBOX_ENDPOINT
          ? "The embedded sandbox runs only while a classtune command runs (its training follows the clock, so `classtune jobs` later shows where the job got to).\n" +
              "Follow it to the end with --wait, or keep a sandbox running with `classtune sandbox` and OPENAI_BASE_URL pointed at it."
          : "Follow it with `classtune jobs`, or run again with --wait.",
      );
      return 0;
    }

    const final = await follow(ctx, job, io, opts.json, pollInterval(provider));
    const result = await resultOf(ctx, final);
    if (final.status === "succeeded") {
      say(`\nFine-tuned model: ${final.fineTunedModel} (${final.provider})`);
      if (result.servedAs !== null && result.servedAs !== final.fineTunedModel) {
        say(`Deployed: ask it as ${result.servedAs} (classtune ask --model ${final.fineTunedModel} does).`);
      }
      if (result.status === "deploy_failed") say(`The deploy failed: ${result.error}`);
      if (result.status === "deploy_manually") say(`\n${result.error}`);
      for (const a of result.testAnswers) {
        say(`\nQ: ${a.question}\nA: ${a.answer ?? `(no answer: ${a.error})`}`);
        if (a.expected !== null) say(`   (the dataset's answer: ${a.expected})`);
      }
      if (provider.sandbox && result.testAnswers.length > 0) say(`\n${SANDBOX_ANSWERS_BY_RETRIEVAL}`);
    } else {
      say(`\nJob #${final.id} ${final.status}${result.error ? `: ${result.error}` : "."}`);
    }
    const text = `${JSON.stringify(result, null, 2)}\n`;
    if (opts.json) io.stdout.write(text);
    else {
      const out = resolve(opts.out ?? `classtune-job-${final.id}.json`);
      await writeFile(out, text);
      say(`\nResults written to ${out}`);
    }
    return final.status === "succeeded" && result.status !== "deploy_failed" ? 0 : 1;
  } finally {
    await ctx.close();
  }
};

/** Ticks the poller until the job ends (and its model's deploy, if it has one), keeping one progress line up to date. */
async function follow(
  ctx: CliJobContext,
  job: JobRow,
  io: CliIo,
  quiet: boolean,
  interval: number,
): Promise<JobRow> {
  const models = new ModelRepository(ctx.store);
  let last = "";
  let current = job;
  for (;;) {
    await ctx.poller.tick();
    current = await ctx.jobs.require(CLI_GUILD, job.id);
    const model = current.status === "succeeded" ? await models.getByJob(CLI_GUILD, job.id) : undefined;
    const line = progressLine(current, model);
    if (!quiet && line !== last) {
      io.stderr.write(io.isTTY ? `\r\x1b[2K${line}` : `${line}\n`);
      last = line;
    }
    if (isTerminal(current.status) && model?.servingStatus !== "deploying") break;
    await sleep(interval);
  }
  if (!quiet && io.isTTY) io.stderr.write("\n");
  return current;
}

export function progressLine(j: JobRow, model?: ModelRow | undefined): string {
  if (model?.servingStatus === "deploying") {
    return `Job #${j.id} succeeded; deploying ${model.deploymentName ?? model.name} at ${j.provider}`;
  }
  const p = j.progress;
  if (j.status === "running" && p && p.totalSteps > 0) {
    const width = 24;
    const filled = Math.round((p.step / p.totalSteps) * width);
    const bar = `${"#".repeat(filled)}${"-".repeat(width - filled)}`;
    return `Job #${j.id} running [${bar}] step ${p.step}/${p.totalSteps}${p.loss !== null ? `, loss ${p.loss.toFixed(3)}` : ""}`;
  }
  return `Job #${j.id} ${j.status === "running" && j.rawStatus !== "running" ? `running (${j.rawStatus})` : j.status}`;
}

async function resultOf(ctx: CliJobContext, job: JobRow): Promise<FinetuneResult> {
  const outbox = new OutboxRepository(ctx.store);
  const succeeded = await outbox.payloadOf(
    CLI_GUILD,
    noticeKey.jobEnded(job.id, "succeeded"),
    "job_succeeded",
  );
  const failed = await outbox.payloadOf(CLI_GUILD, noticeKey.jobEnded(job.id, "failed"), "job_failed");
  const model =
    job.status === "succeeded" ? await new ModelRepository(ctx.store).getByJob(CLI_GUILD, job.id) : undefined;
  // A deployed model's test questions are asked once its deployment is ready: they are in that notice.
  const deployed =
    model && model.deployAttempt > 0
      ? await outbox.payloadOf(
          CLI_GUILD,
          noticeKey.modelServing(job.id, model.deployAttempt, "ready"),
          "model_ready",
        )
      : undefined;
  const ready = model?.servingStatus === "ready";
  return {
    job,
    provider: job.provider,
    fineTunedModel: job.fineTunedModel,
    servedAs: ready ? (model.servedAs ?? model.name) : null,
    status: model ? CLI_SERVING_STATUS[model.servingStatus] : job.status,
    testAnswers: deployed?.testAnswers ?? succeeded?.testAnswers ?? [],
    error:
      failed?.errorMessage ??
      job.errorMessage ??
      (model && (model.servingStatus === "failed" || model.servingStatus === "manual")
        ? model.servingError
        : null),
    metrics: (await new JobMetricsRepository(ctx.store).list(CLI_GUILD, job.id)).map((m) => ({
      step: m.step,
      trainLoss: m.trainLoss,
    })),
  };
}
