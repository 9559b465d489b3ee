// /finetune: start a job from a stored dataset or a new file (after an estimate the requester confirms with
// Start) on a configured provider (`provider:`, default FINETUNE_DEFAULT_PROVIDER), and follow the guild's
// jobs: status, list, cancel, and deploy (again) a trained model whose deploy failed or whose deployment
// vanished. The "Fine-tune this" button of /dataset validate
// leads to the same confirmation. Every id received (options, autocomplete, custom ids) is re-checked
// against this guild's rows: another guild's dataset or job is "not found".
import {
  ActionRowBuilder,
  type ApplicationCommandOptionChoiceData,
  type AutocompleteInteraction,
  ButtonBuilder,
  type ButtonInteraction,
  ButtonStyle,
  type ChatInputCommandInteraction,
  type EmbedBuilder,
  InteractionContextType,
  PermissionFlagsBits,
  SlashCommandBuilder,
} from "discord.js";
import type { JobMethod } from "../datasets/estimate.ts";
import type { DatasetRow } from "../datasets/store.ts";
import type { Command, ComponentHandler } from "../discord/command.ts";
import type { AppContext } from "../discord/context.ts";
import { modelOption, providerCatalog, storeAttachment } from "../discord/datasetUpload.ts";
import { DiscordLimits } from "../discord/limits.ts";
import { baseModelChoices, providerChoices } from "../discord/modelChoices.ts";
import {
  renderConfirmation,
  renderJobList,
  renderJobStatus,
  renderRedeploy,
  STATUS_LABELS,
} from "../discord/render/jobs.ts";
import { renderReportEmbed } from "../discord/render/report.ts";
import { defer, type RepliableInteraction, respond } from "../discord/respond.ts";
import { interactionIsTeacher } from "../discord/router.ts";
import { UserError } from "../domain/errors.ts";
import { isTerminal } from "../domain/jobs.ts";
import { isTrainable } from "../domain/trainable.ts";
import type { PendingJob } from "../finetuning/confirmations.ts";
import type { JobRow } from "../finetuning/jobs.ts";
import {
  checkBeta,
  checkEpochs,
  checkSuffix,
  MAX_DPO_BETA,
  MAX_EPOCHS,
  MAX_SUFFIX_LENGTH,
} from "../finetuning/jobs.ts";
import { offerHosting } from "./model.ts";

const PREFIX = "finetune";
const startId = (key: string) => `${PREFIX}:start:${key}`;
const cancelId = (key: string) => `${PREFIX}:cancel:${key}`;

const data = new SlashCommandBuilder()
  .setName("finetune")
  .setDescription("Fine-tune a model on a dataset and follow its jobs (teachers)")
  .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild)
  .setContexts(InteractionContextType.Guild)
  .addSubcommand((s) =>
    s
      .setName("start")
      .setDescription("Estimate a fine-tuning job, then start it with one click")
      .addIntegerOption((o) =>
        o
          .setName("dataset")
          .setDescription("A dataset of this server (or attach a file instead)")
          .setMinValue(1)
          .setAutocomplete(true),
      )
      .addAttachmentOption((o) =>
        o.setName("file").setDescription("A new JSONL dataset (validated and stored first)"),
      )
      .addStringOption((o) =>
        o
          .setName("model")
          .setDescription("Base model (default: the one the dataset was validated for)")
          .setAutocomplete(true),
      )
      .addStringOption((o) =>
        o
          .setName("suffix")
          .setDescription("Added to the fine-tuned model's name (letters, digits, - and _)")
          .setMaxLength(MAX_SUFFIX_LENGTH),
      )
      .addIntegerOption((o) =>
        o
          .setName("epochs")
          .setDescription("Passes over the dataset (default: the provider decides)")
          .setMinValue(1)
          .setMaxValue(MAX_EPOCHS),
      )
      .addStringOption((o) =>
        o
          .setName("provider")
          .setDescription("Where to train (default: the bot's default fine-tuning provider)")
          .setAutocomplete(true),
      )
      .addStringOption((o) =>
        o
          .setName("method")
          .setDescription("supervised (chat examples, default) or dpo (preference examples)")
          .addChoices({ name: "supervised", value: "supervised" }, { name: "dpo", value: "dpo" }),
      )
      .addNumberOption((o) =>
        o
          .setName("beta")
          .setDescription(
            "DPO only: how far the model may move from where it starts (default: the provider's)",
          )
          .setMinValue(0.01)
          .setMaxValue(MAX_DPO_BETA),
      )
      .addIntegerOption((o) =>
        o
          .setName("from-job")
          .setDescription("Train further from a finished fine-tune of this server (its job)")
          .setMinValue(1)
          .setAutocomplete(true),
      ),
  )
  .addSubcommand((s) =>
    s
      .setName("status")
      .setDescription("One job's status, progress, loss and result")
      .addIntegerOption((o) =>
        o.setName("job").setDescription("A job of this server").setRequired(true).setAutocomplete(true),
      ),
  )
  .addSubcommand((s) => s.setName("list").setDescription("This server's fine-tuning jobs, newest first"))
  .addSubcommand((s) =>
    s
      .setName("cancel")
      .setDescription("Cancel a job that has not finished")
      .addIntegerOption((o) =>
        o
          .setName("job")
          .setDescription("A running job of this server")
          .setRequired(true)
          .setAutocomplete(true),
      ),
  )
  .addSubcommand((s) =>
    s
      .setName("deploy")
      .setDescription("Deploy a trained model again (its deploy failed, or its deployment was deleted)")
      .addIntegerOption((o) =>
        o
          .setName("job")
          .setDescription("A finished job of this server")
          .setRequired(true)
          .setAutocomplete(true),
      ),
  );

async function requireDataset(ctx: AppContext, guildId: string, id: number): Promise<DatasetRow> {
  const row = await ctx.datasets.get(guildId, id);
  if (!row)
    throw new UserError(`Dataset #${id} was not found in this server (see \`/dataset list\`).`, "not_found");
  return row;
}

interface JobRequest {
  dataset: DatasetRow;
  /** A configured provider's name; undefined: the default. */
  provider: string | undefined;
  model: string | undefined;
  suffix: string | undefined;
  epochs: number | undefined;
  method: JobMethod | undefined;
  beta: number | undefined;
  fromJobId: number | undefined;
}

/** Shows the estimate with Start and Cancel; the request waits in the confirmation store. */
async function askToConfirm(
  interaction: RepliableInteraction,
  ctx: AppContext,
  guildId: string,
  req: JobRequest,
  before: EmbedBuilder[] = [],
): Promise<void> {
  const { dataset } = req;
  const quote = await ctx.jobs.quote({
    guildId,
    datasetId: dataset.id,
    provider: req.provider,
    model: req.model,
    epochs: req.epochs,
    method: req.method,
    beta: req.beta,
    fromJobId: req.fromJobId,
  });
  const { model } = quote;
  const pending: PendingJob = {
    guildId,
    requesterId: interaction.user.id,
    datasetId: dataset.id,
    model,
    suffix: req.suffix,
    epochs: req.epochs,
    estimatedCostUsd: quote.estimatedCostUsd,
    quote,
  };
  const key = ctx.jobs.confirmations.add(pending);
  const embed = renderConfirmation({
    dataset,
    model,
    epochs: req.epochs,
    estimatedEpochs: quote.estimatedEpochs,
    suffix: req.suffix,
    estimatedCostUsd: quote.estimatedCostUsd,
    maxJobCostUsd: quote.maxJobCostUsd,
    provider: quote.provider,
    sandbox: ctx.providers.get(quote.provider)?.sandbox ?? false,
    hosting: ctx.hosting.termsFor(quote),
    hostingRules: { idleMinutes: ctx.hosting.idleMinutes, dailyBudgetUsd: ctx.hosting.dailyBudgetUsd },
    method: quote.method,
    beta: quote.beta,
    fromModel: quote.fromModel,
    preferenceBilling: quote.preferenceBilling,
  });
  await respond(interaction, {
    embeds: [...before, embed],
    components: [
      new ActionRowBuilder<ButtonBuilder>().addComponents(
        new ButtonBuilder().setCustomId(startId(key)).setLabel("Start").setStyle(ButtonStyle.Success),
        new ButtonBuilder().setCustomId(cancelId(key)).setLabel("Cancel").setStyle(ButtonStyle.Secondary),
      ),
    ],
  });
}

/** Posts the job's card now rather than on the next poll (a drain already running may predate the job). */
async function postNoticesNow(ctx: AppContext): Promise<void> {
  try {
    const first = await ctx.notifier.drain();
    if (first.posted + first.failed === 0) await ctx.notifier.drain();
  } catch (err) {
    ctx.logger.warn({ err }, "could not drain the notice outbox; the poller retries");
  }
}

async function noticeChannel(ctx: AppContext, interaction: ButtonInteraction): Promise<string | undefined> {
  const own = (await ctx.guildSettings.get(interaction.guildId ?? "")).notifyChannelId;
  if (own) return own;
  // NOTIFY_CHANNEL_ID serves only the guild it belongs to (as the notice sender checks).
  const fallback = ctx.config.discord.notifyChannelId;
  const channel = fallback ? interaction.client.channels.cache.get(fallback) : undefined;
  return channel && "guildId" in channel && channel.guildId === interaction.guildId ? fallback : undefined;
}

async function start(
  interaction: ChatInputCommandInteraction<"cached" | "raw">,
  ctx: AppContext,
): Promise<void> {
  await defer(interaction);
  const guildId = interaction.guildId;
  const datasetId = interaction.options.getInteger("dataset");
  const file = interaction.options.getAttachment("file");
  if ((datasetId === null) === (file === null)) {
    throw new UserError(
      "Give exactly one of `dataset` (a dataset of this server) or `file` (a new JSONL attachment).",
      "dataset_or_file",
    );
  }
  // Checked before a file is stored: an unknown provider, or one that takes no jobs yet, is refused first.
  const provider = ctx.providers.forStart(interaction.options.getString("provider") ?? undefined).name;
  const model = modelOption(interaction.options.getString("model"), providerCatalog(provider, ctx.catalogs));
  const suffixText = interaction.options.getString("suffix");
  const suffix = suffixText === null || suffixText.trim() === "" ? undefined : checkSuffix(suffixText);
  const epochsValue = interaction.options.getInteger("epochs");
  const epochs = epochsValue === null ? undefined : checkEpochs(epochsValue);
  const method = (interaction.options.getString("method") ?? undefined) as JobMethod | undefined;
  const betaValue = interaction.options.getNumber("beta");
  const beta = betaValue === null ? undefined : checkBeta(betaValue);
  const fromJobId = interaction.options.getInteger("from-job") ?? undefined;
  const options = { provider, model, suffix, epochs, method, beta, fromJobId };

  if (datasetId !== null) {
    await askToConfirm(interaction, ctx, guildId, {
      dataset: await requireDataset(ctx, guildId, datasetId),
      ...options,
    });
    return;
  }
  const attachment = file as NonNullable<typeof file>;
  const stored = await storeAttachment(ctx, {
    guildId,
    uploaderId: interaction.user.id,
    attachment,
    model,
    provider,
  });
  const { row, report } = stored;
  if (row === null) {
    await respond(interaction, {
      content: `This file cannot be fine-tuned and was not stored: ${stored.refused}.`,
      embeds: [renderReportEmbed(report, attachment.name)],
    });
    return;
  }
  const reportEmbed = renderReportEmbed(report, `Dataset #${row.id}: ${row.fileName}`);
  if (!isTrainable(row)) {
    await respond(interaction, {
      content: `This file cannot be fine-tuned as it is (stored as dataset #${row.id}). Run \`/dataset validate\` on it for the full report and the cleaned file.`,
      embeds: [reportEmbed],
    });
    return;
  }
  await askToConfirm(interaction, ctx, guildId, { dataset: row, ...options }, [reportEmbed]);
}

async function status(
  interaction: ChatInputCommandInteraction<"cached" | "raw">,
  ctx: AppContext,
): Promise<void> {
  const job = await ctx.jobs.require(interaction.guildId, interaction.options.getInteger("job", true));
  const datasetName = (await ctx.datasets.get(interaction.guildId, job.datasetId))?.fileName ?? "(deleted)";
  const model = await ctx.serving.forJob(interaction.guildId, job.id);
  await respond(interaction, { embeds: [renderJobStatus(job, datasetName, model)] });
}

async function deploy(
  interaction: ChatInputCommandInteraction<"cached" | "raw">,
  ctx: AppContext,
): Promise<void> {
  await defer(interaction);
  const jobId = interaction.options.getInteger("job", true);
  // Hosting billed while it runs starts only after its own confirmation, with its price and the day's budget.
  const model = await ctx.serving.forJob(interaction.guildId, jobId);
  if (model && ctx.hosting.termsFor(model) !== null) {
    await offerHosting(interaction, ctx, model.name);
    return;
  }
  const result = await ctx.serving.redeploy(interaction.guildId, jobId, interaction.user.id);
  await postNoticesNow(ctx);
  await respond(interaction, { content: renderRedeploy(jobId, result) });
}

async function list(
  interaction: ChatInputCommandInteraction<"cached" | "raw">,
  ctx: AppContext,
): Promise<void> {
  const jobs = await ctx.jobs.list(interaction.guildId, DiscordLimits.autocompleteChoices);
  if (jobs.length === 0) {
    await respond(interaction, { content: "No fine-tuning jobs yet: start one with `/finetune start`." });
    return;
  }
  await respond(interaction, { embeds: [renderJobList(jobs)] });
}

async function cancel(
  interaction: ChatInputCommandInteraction<"cached" | "raw">,
  ctx: AppContext,
): Promise<void> {
  await defer(interaction);
  const job = await ctx.jobs.cancel(interaction.guildId, interaction.options.getInteger("job", true));
  if (job.status === "cancelled") {
    await postNoticesNow(ctx);
    await respond(interaction, { content: `Job #${job.id} was cancelled.` });
    return;
  }
  await respond(interaction, {
    content: `Cancellation of job #${job.id} requested; the provider reports "${job.rawStatus}". The notice follows once it confirms.`,
  });
}

function datasetChoice(d: DatasetRow): ApplicationCommandOptionChoiceData {
  const verdict = d.fineTunable ? "✅" : isTrainable(d) ? "⚠️ cleaned" : "❌";
  return { name: `#${d.id} ${d.fileName} · ${d.valid} examples ${verdict}`, value: d.id };
}

function jobChoice(j: JobRow): ApplicationCommandOptionChoiceData {
  return {
    name: `#${j.id} ${STATUS_LABELS[j.status]} · ${j.fineTunedModel ?? j.baseModel} · ${j.createdAt.slice(0, 10)}`,
    value: j.id,
  };
}

async function autocomplete(
  interaction: AutocompleteInteraction<"cached" | "raw">,
  ctx: AppContext,
): Promise<ApplicationCommandOptionChoiceData[]> {
  const focused = interaction.options.getFocused(true);
  const typed = String(focused.value).trim().replace(/^#/, "");
  const guildId = interaction.guildId;
  const max = DiscordLimits.autocompleteChoices;
  switch (focused.name) {
    case "model":
      return baseModelChoices(
        typed,
        providerCatalog(interaction.options.getString("provider"), ctx.catalogs),
      );
    case "provider":
      return providerChoices(ctx, typed);
    case "dataset":
      return (await ctx.datasets.search(guildId, typed, max)).map(datasetChoice);
    case "from-job":
      return (await ctx.jobs.search(guildId, typed, 100))
        .filter((j) => j.status === "succeeded" && j.fineTunedModel !== null)
        .slice(0, max)
        .map(jobChoice);
    case "job": {
      const sub = interaction.options.getSubcommand();
      const jobs = await ctx.jobs.search(guildId, typed, sub === "status" ? max : 100);
      const wanted =
        sub === "cancel"
          ? jobs.filter((j) => !isTerminal(j.status))
          : sub === "deploy"
            ? jobs.filter((j) => j.status === "succeeded")
            : jobs;
      return wanted.slice(0, max).map(jobChoice);
    }
    default:
      return [];
  }
}

const subcommands: Record<
  string,
  (interaction: ChatInputCommandInteraction<"cached" | "raw">, ctx: AppContext) => Promise<void>
> = { start, status, list, cancel, deploy };

export default {
  data,
  access: "teacher",
  async execute(interaction, ctx) {
    const run = subcommands[interaction.options.getSubcommand()];
    if (!run) throw new Error(`no handler for /finetune ${interaction.options.getSubcommand()}`);
    await run(interaction, ctx);
  },
  autocomplete,
} satisfies Command;

/**
 * The pending request behind a Start/Cancel click, re-checked: same guild, same requester, still a teacher (`teacher`:
 * read by the caller before, so that nothing awaits between this check and the caller's take).
 */
function claim(
  interaction: ButtonInteraction<"cached" | "raw">,
  ctx: AppContext,
  key: string,
  teacher: boolean,
): PendingJob {
  const pending = ctx.jobs.confirmations.get(key);
  if (!pending || pending.guildId !== interaction.guildId) {
    throw new UserError(
      "This confirmation has expired or was already used: run `/finetune start` again.",
      "confirmation_gone",
    );
  }
  if (pending.requesterId !== interaction.user.id) {
    throw new UserError("Only the teacher who asked for this job can start or cancel it.", "not_requester");
  }
  if (!teacher) {
    throw new UserError("Only teachers can start fine-tuning jobs.", "not_teacher");
  }
  return pending;
}

async function clickStart(interaction: ButtonInteraction<"cached" | "raw">, ctx: AppContext, key: string) {
  const guildId = interaction.guildId;
  const pending = claim(interaction, ctx, key, await interactionIsTeacher(interaction, ctx));
  // Taken before any await: a double click finds nothing and cannot start a second (paid) job.
  ctx.jobs.confirmations.take(key);
  const dataset = await requireDataset(ctx, guildId, pending.datasetId);
  await interaction.update({
    content: `Starting the job on dataset #${dataset.id}: uploading the training file…`,
    components: [],
  });
  let job: JobRow;
  try {
    job = await ctx.jobs.start({
      guildId,
      datasetId: dataset.id,
      requesterId: pending.requesterId,
      provider: pending.quote?.provider,
      model: pending.model,
      suffix: pending.suffix,
      epochs: pending.epochs,
      quote: pending.quote,
    });
  } catch (err) {
    await interaction.editReply({ content: "The job was not started.", embeds: [] }).catch(() => undefined);
    throw err;
  }
  await postNoticesNow(ctx);
  const channel = await noticeChannel(ctx, interaction);
  const sandbox = ctx.providers.get(job.provider)?.sandbox
    ? ` on the sandbox${job.provider === "sandbox" ? "" : ` "${job.provider}"`} (simulated: no cost, no real training)`
    : ` on ${job.provider}`;
  await interaction.editReply({
    content: channel
      ? `Job #${job.id} started${sandbox}. Its card is in <#${channel}>, and the result will be posted there.`
      : `Job #${job.id} started${sandbox}. No notification channel is set: run \`/config notifications\` so its card and result can be posted (check on it meanwhile with \`/finetune status job:${job.id}\`).`,
    embeds: [renderJobStatus(job, dataset.fileName)],
    components: [],
    allowedMentions: { parse: [] },
  });
}

async function clickCancel(interaction: ButtonInteraction<"cached" | "raw">, ctx: AppContext, key: string) {
  claim(interaction, ctx, key, await interactionIsTeacher(interaction, ctx));
  ctx.jobs.confirmations.take(key);
  await interaction.update({ content: "Cancelled: no job was started.", embeds: [], components: [] });
}

async function clickFineTuneThis(
  interaction: ButtonInteraction<"cached" | "raw">,
  ctx: AppContext,
  rawId: string | undefined,
) {
  const id = Number(rawId);
  if (!Number.isSafeInteger(id) || id < 1) throw new UserError("That dataset was not found.", "not_found");
  await defer(interaction);
  await askToConfirm(interaction, ctx, interaction.guildId, {
    dataset: await requireDataset(ctx, interaction.guildId, id),
    provider: undefined,
    model: undefined,
    suffix: undefined,
    epochs: undefined,
    method: undefined,
    beta: undefined,
    fromJobId: undefined,
  });
}

/** Start / Cancel on a confirmation, and "Fine-tune this" on a validation report. */
export const finetuneButtons = {
  prefix: PREFIX,
  access: "teacher",
  async handle(interaction, ctx) {
    if (!interaction.isButton()) throw new Error(`unexpected ${PREFIX} interaction ${interaction.customId}`);
    const [, action, arg = ""] = interaction.customId.split(":");
    switch (action) {
      case "start":
        return clickStart(interaction, ctx, arg);
      case "cancel":
        return clickCancel(interaction, ctx, arg);
      case "from-dataset":
        return clickFineTuneThis(interaction, ctx, arg);
      default:
        throw new Error(`unknown ${PREFIX} button ${interaction.customId}`);
    }
  },
} satisfies ComponentHandler;
