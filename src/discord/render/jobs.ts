// Renders fine-tuning jobs for /finetune: the Start/Cancel confirmation, one job's status, the guild's list.
import { EmbedBuilder, escapeMarkdown } from "discord.js";
import type { DatasetRow } from "../../db/datasets.ts";
import type { JobRow } from "../../db/jobs.ts";
import type { ModelRow } from "../../db/models.ts";
import { isSandboxJob, type JobStatus } from "../../domain/jobs.ts";
import { SERVING_WORDS } from "../../domain/serving.ts";
import type { HostingTerms } from "../../finetuning/hostingLedger.ts";
import type { RedeployResult } from "../../finetuning/serving.ts";
import { EMBEDDED_SANDBOX_ENDPOINT, type RegisteredProvider } from "../../providers/registry.ts";
import { DiscordLimits } from "../limits.ts";
import { progressBar } from "../notices.ts";
import { hostingRules } from "./hosting.ts";
import { Colors, usd } from "./report.ts";

export const STATUS_LABELS: Record<JobStatus, string> = {
  validating_files: "🔎 validating files",
  queued: "⏳ queued",
  running: "🏃 running",
  paused: "⏸️ paused",
  succeeded: "✅ succeeded",
  failed: "❌ failed",
  cancelled: "🚫 cancelled",
};

/** "sandbox (simulated: no cost, no real training)", "lab (sandbox: simulated, …)" or the provider's name. */
export function providerLabel(provider: string, sandbox: boolean): string {
  if (!sandbox) return provider;
  return provider === "sandbox"
    ? "sandbox (simulated: no cost, no real training)"
    : `${provider} (a sandbox: simulated, no cost, no real training)`;
}

/**
 * One configured provider on a line: name, kind, host, default, and what it cannot do yet ("jobs not yet
 * supported" for the kinds whose adapter comes in the next issue). For /config and `provider:` autocomplete.
 */
export function describeProvider(p: RegisteredProvider): string {
  const host = p.endpoint === EMBEDDED_SANDBOX_ENDPOINT ? "embedded" : new URL(p.endpoint).host;
  const notes = [
    p.isDefault ? "default" : undefined,
    p.sandbox ? "simulated: no cost, no real training" : undefined,
    p.jobs ? undefined : "jobs not yet supported",
  ].filter((n) => n !== undefined);
  return `${p.name} · ${p.kind} at ${host}${notes.length > 0 ? ` (${notes.join("; ")})` : ""}`;
}

export interface ConfirmationView {
  dataset: DatasetRow;
  model: string;
  epochs: number | undefined;
  /** The epochs the estimate assumed when none were chosen (the provider decides: "auto"). */
  estimatedEpochs: number;
  suffix: string | undefined;
  estimatedCostUsd: number;
  maxJobCostUsd: number;
  provider: string;
  /** The provider is a sandbox (simulated): the title and the provider line say so. */
  sandbox: boolean;
  /** Set where the provider serves a fine-tune only on hosting billed while it runs: its price. */
  hosting?: HostingTerms | null | undefined;
  hostingRules?: { idleMinutes: number; dailyBudgetUsd: number } | undefined;
  /** Absent or "supervised": today's card. "dpo": a Method field (beta, the DPO billing rule). */
  method?: "supervised" | "dpo" | undefined;
  beta?: number | undefined;
  /** The fine-tuned model the job trains further. */
  fromModel?: string | undefined;
  preferenceBilling?: { factor: number; source: string } | undefined;
}

/** The confirmation's Method line: DPO with its beta, and how its estimate was priced. */
function methodLine(v: ConfirmationView): string {
  const beta = v.beta === undefined ? "beta: the provider's default" : `beta ${v.beta}`;
  const rule = v.preferenceBilling
    ? ` Estimated on prompt + both answers' tokens × epochs at ${v.preferenceBilling.factor}× the supervised price (${v.preferenceBilling.source}).`
    : "";
  return `DPO (preference: the preferred answer over the other), ${beta}.${rule}`.slice(
    0,
    DiscordLimits.embedFieldValue,
  );
}

export function renderConfirmation(v: ConfirmationView): EmbedBuilder {
  const sandbox = v.sandbox ? " (sandbox)" : "";
  const examples = v.dataset.fineTunable
    ? `${v.dataset.valid}`
    : `${v.dataset.valid} (the cleaned file: ${v.dataset.invalid} invalid line(s) left out)`;
  return new EmbedBuilder()
    .setTitle(`Start a fine-tuning job${sandbox}?`)
    .setColor(Colors.info)
    .setDescription(
      `Dataset #${v.dataset.id}: ${escapeMarkdown(v.dataset.fileName)}\nPress **Start** to upload it and create the job, or **Cancel**.`,
    )
    .addFields(
      { name: "Base model", value: v.model, inline: true },
      { name: "Examples", value: examples, inline: true },
      {
        name: "Epochs",
        value: v.epochs === undefined ? `auto (≈${v.estimatedEpochs})` : String(v.epochs),
        inline: true,
      },
      { name: "Suffix", value: v.suffix ?? "none", inline: true },
      {
        name: "Estimated cost",
        value: `${usd(v.estimatedCostUsd)} (an estimate: the provider's bill is what counts)`,
        inline: true,
      },
      { name: "Cost cap per job", value: usd(v.maxJobCostUsd), inline: true },
      { name: "Provider", value: providerLabel(v.provider, v.sandbox), inline: false },
    )
    .addFields(v.method === "dpo" ? [{ name: "Method", value: methodLine(v) }] : [])
    .addFields(v.fromModel ? [{ name: "Starts from", value: v.fromModel }] : [])
    .addFields(
      v.hosting
        ? [{ name: "Then, to use it: hosting", value: hostingTermsLine(v.hosting, v.hostingRules) }]
        : [],
    );
}

/** The confirmation's hosting line: the price per hour of the deployment the model needs, and how it is controlled. */
function hostingTermsLine(
  h: HostingTerms,
  rules: { idleMinutes: number; dailyBudgetUsd: number } | undefined,
): string {
  const p = h.price;
  const start = h.autoDeploy
    ? "It starts by itself when training ends (the provider's entry says autoDeploy)."
    : "It starts only when a teacher runs `/model deploy`.";
  return `${usd(p.usdPerHour)}/h on ${p.hardware}, billed while the deployment runs, asked or not (prices of ${p.asOf}; not part of the estimate above). ${start}${rules ? ` ${hostingRules(rules)}` : ""}`.slice(
    0,
    DiscordLimits.embedFieldValue,
  );
}

function formatLoss(job: JobRow): string {
  return job.progress?.loss == null ? "not reported yet" : job.progress.loss.toFixed(3);
}

/**
 * Where a trained model's serving step stands, in a line or two: ready (and the id it answers as), deploying,
 * failed (the provider's words, and the retry), or the manual step still to take.
 */
export function servingLines(model: ModelRow, jobId: number | null): string {
  const deployment = model.deploymentName ? ` as \`${model.deploymentName}\`` : "";
  switch (model.servingStatus) {
    case "ready":
      return model.servedAs && model.servedAs !== model.name
        ? `✅ ready: answers as \`${model.servedAs}\``
        : "✅ ready";
    case "deploying":
      return `🚀 deploying${deployment}: it can be asked once the deployment is ready`;
    case "failed":
      return `❌ ${SERVING_WORDS.failed}${deployment}: ${model.servingError ?? "no reason given"}${jobId !== null ? `\nRetry with \`/finetune deploy job:${jobId}\`.` : ""}`;
    case "manual":
      return `⏳ ${SERVING_WORDS.manual}${deployment}. ${model.servingError ?? ""}`.trim();
    case "asleep":
      return `💤 ${SERVING_WORDS.asleep}: a teacher wakes it with \`/model deploy model:${model.name}\``;
  }
}

/** The reply to `/finetune deploy job:`. */
export function renderRedeploy(jobId: number, r: RedeployResult): string {
  const m = r.model;
  switch (r.kind) {
    case "immediate":
      return `Job #${jobId}'s model \`${m.name}\` needs no deploy: provider ${m.provider} serves it as soon as training ends. It is ready.`;
    case "ready":
      return `Job #${jobId}'s model \`${m.name}\` is deployed and ready${m.servedAs && m.servedAs !== m.name ? ` (it answers as \`${m.servedAs}\`)` : ""}: nothing to do.`;
    case "deploying":
      return `Deploying job #${jobId}'s model \`${m.name}\`${m.deploymentName ? ` as \`${m.deploymentName}\`` : ""} at ${m.provider}. A notice follows when it is ready (or if it fails).`;
    case "manual":
      return `Job #${jobId}'s model must be deployed by hand.\n${r.instructions}`.slice(
        0,
        DiscordLimits.messageContent,
      );
    case "failed":
      return `Deploying job #${jobId}'s model failed again. The provider said: ${r.message}`.slice(
        0,
        DiscordLimits.messageContent,
      );
    case "asleep":
      return `Job #${jobId}'s model \`${m.name}\` was stopped meanwhile and is asleep: \`/model deploy model:${m.name}\` wakes it.`;
  }
}

export function renderJobStatus(
  job: JobRow,
  datasetName: string,
  model?: ModelRow | undefined,
): EmbedBuilder {
  const sandbox = isSandboxJob(job) ? " (sandbox)" : "";
  const p = job.progress;
  const color =
    job.status === "succeeded"
      ? Colors.ok
      : job.status === "failed"
        ? Colors.problem
        : job.status === "cancelled"
          ? Colors.warn
          : Colors.info;
  const embed = new EmbedBuilder()
    .setTitle(`Fine-tuning job #${job.id}${sandbox}`)
    .setColor(color)
    .setDescription(
      [
        STATUS_LABELS[job.status],
        p && p.totalSteps > 0
          ? `${progressBar(job.status === "succeeded" ? 1 : p.step / p.totalSteps)} step ${p.step}/${p.totalSteps}`
          : undefined,
      ]
        .filter((l) => l !== undefined)
        .join("\n"),
    )
    .addFields(
      { name: "Base model", value: job.baseModel, inline: true },
      { name: "Latest loss", value: formatLoss(job), inline: true },
      {
        name: "Dataset",
        value: `#${job.datasetId} ${escapeMarkdown(datasetName)}`.slice(0, DiscordLimits.embedFieldValue),
        inline: true,
      },
      { name: "Requested by", value: `<@${job.requesterId}>`, inline: true },
      {
        name: "Estimated cost",
        value: job.estimatedCostUsd === null ? "unknown" : usd(job.estimatedCostUsd),
        inline: true,
      },
      {
        name: "Provider job",
        value: `${job.remoteId} · ${providerLabel(job.provider, isSandboxJob(job))}`,
        inline: false,
      },
    );
  const hp = job.hyperparameters;
  if (hp.method === "dpo") {
    const beta = hp.beta === undefined ? "beta: the provider's default" : `beta ${hp.beta}`;
    const from = hp.fromModel ? `, from \`${hp.fromModel}\`` : "";
    embed.addFields({
      name: "Method",
      value: `DPO (preference), ${beta}${from}`.slice(0, DiscordLimits.embedFieldValue),
    });
  }
  if (job.fineTunedModel) {
    const ready = model === undefined || model.servingStatus === "ready";
    embed.addFields({
      name: "Fine-tuned model",
      value: (ready
        ? `\`${job.fineTunedModel}\`\nUse it: \`/model use model:${job.fineTunedModel}\``
        : `\`${job.fineTunedModel}\``
      ).slice(0, DiscordLimits.embedFieldValue),
    });
  }
  if (model && job.status === "succeeded") {
    embed.addFields({
      name: "Serving",
      value: servingLines(model, job.id).slice(0, DiscordLimits.embedFieldValue),
    });
  }
  if (job.status === "failed") {
    embed.addFields({
      name: "Error",
      value:
        `The provider said: ${job.errorMessage ?? "no message"}${job.errorCode ? ` (${job.errorCode})` : ""}`.slice(
          0,
          DiscordLimits.embedFieldValue,
        ),
    });
  }
  embed.setFooter({
    text: `Created ${job.createdAt.slice(0, 16).replace("T", " ")} UTC${job.finishedAt ? ` · ended ${job.finishedAt.slice(0, 16).replace("T", " ")} UTC` : ""}`,
  });
  return embed;
}

export function jobLine(job: JobRow): string {
  const p = job.progress;
  const progress =
    !["succeeded", "failed", "cancelled"].includes(job.status) && p && p.totalSteps > 0
      ? ` · ${Math.round((p.step / p.totalSteps) * 100)}%`
      : "";
  const model = job.fineTunedModel ? `\`${job.fineTunedModel}\`` : job.baseModel;
  return `**#${job.id}** ${STATUS_LABELS[job.status]}${progress} · ${model} · dataset #${job.datasetId} · ${job.createdAt.slice(0, 10)}`;
}

export function renderJobList(jobs: JobRow[]): EmbedBuilder {
  let description = "";
  for (const line of jobs.map(jobLine)) {
    if (description.length + line.length + 1 > DiscordLimits.embedDescription) break;
    description += `${line}\n`;
  }
  return new EmbedBuilder()
    .setTitle(`Fine-tuning jobs${jobs.length > 0 && jobs.every(isSandboxJob) ? " (sandbox)" : ""}`)
    .setColor(Colors.info)
    .setDescription(description.trimEnd())
    .setFooter({ text: "Details: /finetune status job:<id>" });
}
