// `classtune finetune FILE [--provider NAME] [--model M] [--suffix S] [--epochs N] [--seed N] [--wait] [--json]
// [--out RESULT.json]`: the seed's whole flow from the terminal. Validates and stores the dataset, uploads it to
// the provider (default FINETUNE_DEFAULT_PROVIDER), creates the job;
// with --wait follows it on one updating progress line to the end, asks the new model the test questions
// and writes the results as JSON (stdout with --json, else RESULT.json). Exit 0 succeeded (or started),
// 1 the dataset or the job failed, 2 usage or I/O error (an unknown --provider, or one that takes no jobs yet).
import { writeFile } from "node:fs/promises";
import { basename, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { resolveModel } from "../datasets/catalog.ts";
import { JobMetricsRepository, type JobRow } from "../db/jobs.ts";
import { OutboxRepository } from "../db/outbox.ts";
import { UserError } from "../domain/errors.ts";
import { isTerminal } from "../domain/jobs.ts";
import { noticeKey, type TestAnswer } from "../domain/notices.ts";
import { EMBEDDED_SANDBOX_ENDPOINT } from "../providers/registry.ts";
import { type CliCommand, type CliIo, UsageError } from "./io.ts";
import { CLI_GUILD, CLI_USER, type CliJobContext, openJobContext } from "./jobs.ts";

const USAGE =
  "usage: classtune finetune FILE [--provider NAME] [--model MODEL] [--suffix S] [--epochs N] [--seed N] [--wait] [--json] [--out RESULT.json]";
/** How often --wait polls: the embedded sandbox trains in seconds, a real provider in minutes. */
const SANDBOX_POLL_MS = 250;
const PROVIDER_POLL_MS = 15_000;

interface Options {
  file: string;
  provider: string | undefined;
  model: string | undefined;
  suffix: string | undefined;
  epochs: number | undefined;
  seed: number | undefined;
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
  /** The job's status when the command ended (succeeded, failed, cancelled; or where it got to without --wait). */
  status: JobRow["status"];
  testAnswers: TestAnswer[];
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
      });
    } catch (err) {
      if (!(err instanceof UserError && err.code === "not_fine_tunable")) throw err;
      io.stderr.write(`classtune finetune: ${err.message} Details: classtune validate ${opts.file}\n`);
      return 1;
    }
    say(`Started job #${job.id} (${job.remoteId}) on ${job.provider}: ${job.baseModel}.`);

    if (!opts.wait) {
      if (opts.json) {
        const started = {
          job,
          provider: job.provider,
          fineTunedModel: job.fineTunedModel,
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

    const final = await follow(
      ctx,
      job,
      io,
      opts.json,
      provider.sandbox ? SANDBOX_POLL_MS : PROVIDER_POLL_MS,
    );
    const result = resultOf(ctx, final);
    if (final.status === "succeeded") {
      say(`\nFine-tuned model: ${final.fineTunedModel} (${final.provider})`);
      for (const a of result.testAnswers) {
        say(`\nQ: ${a.question}\nA: ${a.answer ?? `(no answer: ${a.error})`}`);
        if (a.expected !== null) say(`   (the dataset's answer: ${a.expected})`);
      }
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
    return final.status === "succeeded" ? 0 : 1;
  } finally {
    await ctx.close();
  }
};

/** Ticks the poller until the job ends, keeping one progress line up to date. */
async function follow(
  ctx: CliJobContext,
  job: JobRow,
  io: CliIo,
  quiet: boolean,
  interval: number,
): Promise<JobRow> {
  let last = "";
  let current = job;
  for (;;) {
    await ctx.poller.tick();
    current = ctx.jobs.require(CLI_GUILD, job.id);
    const line = progressLine(current);
    if (!quiet && line !== last) {
      io.stderr.write(io.isTTY ? `\r\x1b[2K${line}` : `${line}\n`);
      last = line;
    }
    if (isTerminal(current.status)) break;
    await sleep(interval);
  }
  if (!quiet && io.isTTY) io.stderr.write("\n");
  return current;
}

export function progressLine(j: JobRow): string {
  const p = j.progress;
  if (j.status === "running" && p && p.totalSteps > 0) {
    const width = 24;
    const filled = Math.round((p.step / p.totalSteps) * width);
    const bar = `${"#".repeat(filled)}${"-".repeat(width - filled)}`;
    return `Job #${j.id} running [${bar}] step ${p.step}/${p.totalSteps}${p.loss !== null ? `, loss ${p.loss.toFixed(3)}` : ""}`;
  }
  return `Job #${j.id} ${j.status === "running" && j.rawStatus !== "running" ? `running (${j.rawStatus})` : j.status}`;
}

function resultOf(ctx: CliJobContext, job: JobRow): FinetuneResult {
  const outbox = new OutboxRepository(ctx.db);
  const succeeded = outbox.payloadOf(CLI_GUILD, noticeKey.jobEnded(job.id, "succeeded"), "job_succeeded");
  const failed = outbox.payloadOf(CLI_GUILD, noticeKey.jobEnded(job.id, "failed"), "job_failed");
  return {
    job,
    provider: job.provider,
    fineTunedModel: job.fineTunedModel,
    status: job.status,
    testAnswers: succeeded?.testAnswers ?? [],
    error: failed?.errorMessage ?? job.errorMessage,
    metrics: new JobMetricsRepository(ctx.db)
      .list(CLI_GUILD, job.id)
      .map((m) => ({ step: m.step, trainLoss: m.trainLoss })),
  };
}
