// Posts the poller's outbox notices to Discord: the guild's notice channel (or the job's, or the bot's
// default), mentions only the requester, and keeps one card per job: the job_created card is edited in place
// with progress (a text progress bar and the latest loss; the poller throttles the edits) and with the job's
// final state. Endings are their own message: success with the model's name, tokens, duration, the test
// answers, how to use it and a PNG of the loss curve; failure with the provider's words; cancelled.
// `nonce` + `enforce_nonce` make a repeated post (a crash right after sending) one message.
import {
  type Client,
  DiscordAPIError,
  EmbedBuilder,
  RESTJSONErrorCodes,
  type RESTPostAPIChannelMessageJSONBody,
  Routes,
} from "discord.js";
import { renderLossChart } from "../charts/charts.ts";
import type { GuildSettingsRepository } from "../db/guildSettings.ts";
import type { JobMetricsRepository, JobProgress, MetricPoint } from "../db/jobs.ts";
import type { OutboxRepository } from "../db/outbox.ts";
import type { JobStatus } from "../domain/jobs.ts";
import type {
  JobCreatedPayload,
  JobNoticeBase,
  JobProgressPayload,
  OutboxNotice,
} from "../domain/notices.ts";
import { noticeKey } from "../domain/notices.ts";
import type { Logger } from "../logger.ts";
import { silentLogger } from "../logger.ts";
import type { NoticeSender } from "../notices/notifier.ts";
import { DiscordLimits } from "./limits.ts";
import { Colors } from "./render/report.ts";

export class NoChannelError extends Error {
  constructor(guildId: string) {
    super(`guild ${guildId} has no notice channel yet (/config notifications); the notice waits`);
  }
}

export const LOSS_CHART_NAME = "loss.png";
const SANDBOX_FOOTER = "Sandbox: simulated fine-tuning (no cost, no real training).";
const TEST_ANSWER_CHARS = 700;
const EXPECTED_CHARS = 250;

const STATUS_TEXT: Record<JobStatus, string> = {
  validating_files: "🔎 The provider is checking the training file.",
  queued: "⏳ Queued at the provider.",
  running: "🏃 Training.",
  paused: "⏸️ Paused at the provider.",
  succeeded: "✅ Finished: the model is ready (see the notice below).",
  failed: "❌ Failed (see the notice below).",
  cancelled: "🚫 Cancelled.",
};

function jobTitle(p: Pick<JobNoticeBase, "jobId" | "provider">): string {
  const sandbox = p.provider === "sandbox" ? " (sandbox)" : "";
  return `Fine-tuning job #${p.jobId}${sandbox}`;
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function withSandboxFooter(embed: EmbedBuilder, provider: string): EmbedBuilder {
  return provider === "sandbox" ? embed.setFooter({ text: SANDBOX_FOOTER }) : embed;
}

export function progressBar(fraction: number, width = 20): string {
  const f = Number.isFinite(fraction) ? Math.max(0, Math.min(1, fraction)) : 0;
  const filled = Math.round(f * width);
  return `\`${"█".repeat(filled)}${"░".repeat(width - filled)}\` ${Math.round(f * 100)}%`;
}

/** "`█████░░░` 40% step 8/20 · loss 0.912", or undefined before the first step. */
export function progressLine(progress: JobProgress | null, status?: JobStatus): string | undefined {
  if (!progress || progress.totalSteps <= 0) return undefined;
  // A finished job may have reported its last step before the final poll: it is complete all the same.
  const step = status === "succeeded" ? progress.totalSteps : progress.step;
  const loss = progress.loss === null ? "" : ` · loss ${progress.loss.toFixed(3)}`;
  return `${progressBar(step / progress.totalSteps)} step ${step}/${progress.totalSteps}${loss}`;
}

/** The job's one card: what was started (created payload) and where it stands now. */
export function renderJobCard(
  created: JobCreatedPayload | undefined,
  state: { base: JobNoticeBase; status: JobStatus; progress: JobProgress | null },
): EmbedBuilder {
  const p = state.base;
  const lines = [
    `Training **${p.baseModel}** on dataset #${p.datasetId} (${p.datasetName}) for <@${p.requesterId}>.`,
    STATUS_TEXT[state.status],
    progressLine(state.progress, state.status),
  ].filter((l): l is string => l !== undefined);
  const embed = new EmbedBuilder()
    .setTitle(jobTitle(p))
    .setColor(
      state.status === "succeeded"
        ? Colors.ok
        : state.status === "failed"
          ? Colors.problem
          : state.status === "cancelled"
            ? Colors.warn
            : Colors.info,
    )
    .setDescription(clip(lines.join("\n"), DiscordLimits.embedDescription));
  if (created) {
    embed.addFields(
      { name: "Examples", value: String(created.examples), inline: true },
      { name: "Epochs", value: String(created.nEpochs), inline: true },
      {
        name: "Estimated cost",
        value:
          created.estimatedCostUsd === null
            ? "unknown"
            : `$${created.estimatedCostUsd.toFixed(2)} (estimate)`,
        inline: true,
      },
    );
  }
  embed.addFields({ name: "Provider job", value: `${p.remoteId} (${p.provider})`, inline: false });
  return withSandboxFooter(embed, p.provider);
}

/**
 * The message body for a notice: pure, so it is tested without Discord. A progress notice renders the whole
 * card when the created payload is given (it edits that card).
 */
export function renderNotice(
  notice: OutboxNotice,
  options: { created?: JobCreatedPayload | undefined; lossChart?: boolean } = {},
): RESTPostAPIChannelMessageJSONBody {
  let embed = new EmbedBuilder();
  let content: string | undefined;
  let mention: string | undefined;
  switch (notice.kind) {
    case "job_created": {
      const p = notice.payload;
      mention = p.requesterId;
      content = `<@${p.requesterId}> your fine-tuning job has started.`;
      embed = renderJobCard(p, { base: p, status: "queued", progress: null });
      break;
    }
    case "job_progress": {
      const p: JobProgressPayload = notice.payload;
      embed = renderJobCard(options.created, { base: p, status: p.status, progress: p.progress });
      break;
    }
    case "job_succeeded": {
      const p = notice.payload;
      mention = p.requesterId;
      content = `<@${p.requesterId}> your model is ready.`;
      embed
        .setTitle(`${jobTitle(p)} succeeded`)
        .setColor(Colors.ok)
        .setDescription(
          `Fine-tuned model: \`${p.fineTunedModel}\` (from ${p.baseModel}, dataset #${p.datasetId} ${p.datasetName}).`,
        )
        .addFields(
          {
            name: "Trained tokens",
            value: p.trainedTokens === null ? "unknown" : p.trainedTokens.toLocaleString("en-US"),
            inline: true,
          },
          {
            name: "Duration",
            value: p.durationMs === null ? "unknown" : formatDuration(p.durationMs),
            inline: true,
          },
        );
      for (const t of p.testAnswers.slice(0, 3)) {
        const answer = t.answer ?? `(no answer: ${t.error ?? "unknown error"})`;
        const expected = t.expected ? `\n*Dataset's answer:* ${clip(t.expected, EXPECTED_CHARS)}` : "";
        embed.addFields({
          name: clip(`Q: ${t.question}`, DiscordLimits.embedTitle),
          value: clip(`${clip(answer, TEST_ANSWER_CHARS)}${expected}`, DiscordLimits.embedFieldValue),
        });
      }
      embed.addFields({
        name: "Use it",
        value: clip(
          `\`/model use model:${p.fineTunedModel}\` makes it the default in a channel (or the whole server); students then ask with \`/ask\`.`,
          DiscordLimits.embedFieldValue,
        ),
      });
      if (options.lossChart) embed.setImage(`attachment://${LOSS_CHART_NAME}`);
      withSandboxFooter(embed, p.provider);
      break;
    }
    case "job_failed": {
      const p = notice.payload;
      mention = p.requesterId;
      content = `<@${p.requesterId}> your fine-tuning job failed.`;
      embed
        .setTitle(`${jobTitle(p)} failed`)
        .setColor(Colors.problem)
        .setDescription(
          clip(
            `The provider said: ${p.errorMessage}${p.errorCode ? ` (${p.errorCode})` : ""}\nFix the dataset (\`/dataset validate\`) and start again with \`/finetune start\`.`,
            DiscordLimits.embedDescription,
          ),
        );
      withSandboxFooter(embed, p.provider);
      break;
    }
    case "job_cancelled": {
      const p = notice.payload;
      mention = p.requesterId;
      content = `<@${p.requesterId}> your fine-tuning job was cancelled.`;
      embed
        .setTitle(`${jobTitle(p)} cancelled`)
        .setColor(Colors.warn)
        .setDescription(
          `Training **${p.baseModel}** on dataset #${p.datasetId} (${p.datasetName}) was stopped.`,
        );
      withSandboxFooter(embed, p.provider);
      break;
    }
    case "model_unavailable": {
      const p = notice.payload;
      embed
        .setTitle("A model students use is unavailable")
        .setColor(Colors.warn)
        .setDescription(
          `\`${p.model}\` (${p.provider}) ${p.reason}${p.shutdownDate ? ` Shutdown date: ${p.shutdownDate}.` : ""}\nSet a fallback with \`/classroom setup\` or choose another model with \`/model use\`.`,
        );
      break;
    }
  }
  return {
    ...(content ? { content } : {}),
    embeds: [embed.toJSON()],
    allowed_mentions: { parse: [], users: mention ? [mention] : [] },
  };
}

function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m ${s % 60}s` : `${Math.floor(m / 60)}h ${m % 60}m`;
}

/** The card's last word on progress: the throttled progress notice, brought up to the last stored step. */
function latestProgress(known: JobProgress | null, points: MetricPoint[]): JobProgress | null {
  const last = points.at(-1);
  if (!last || (known && last.step < known.step)) return known;
  return {
    step: last.step,
    totalSteps: Math.max(known?.totalSteps ?? 0, last.step),
    loss: last.trainLoss ?? known?.loss ?? null,
  };
}

export interface NoticeSenderDeps {
  client: Client;
  guildSettings: GuildSettingsRepository;
  defaultChannelId: string | undefined;
  /** Finds a job's created card (its message id) so progress and the ending edit it. */
  outbox?: OutboxRepository | undefined;
  /** The job's loss points, for the success notice's chart. */
  metrics?: JobMetricsRepository | undefined;
  logger?: Logger | undefined;
}

const isGone = (err: unknown) =>
  err instanceof DiscordAPIError &&
  (err.code === RESTJSONErrorCodes.UnknownMessage || err.code === RESTJSONErrorCodes.UnknownChannel);

export function createDiscordNoticeSender(deps: NoticeSenderDeps): NoticeSender {
  const logger = deps.logger ?? silentLogger;

  const createdCard = (guildId: string, jobId: number) => {
    const row = deps.outbox?.getByKey(guildId, noticeKey.jobCreated(jobId));
    return row && { payload: row.payload as JobCreatedPayload, messageId: row.messageId };
  };

  const post = async (
    channelId: string,
    notice: OutboxNotice,
    body: RESTPostAPIChannelMessageJSONBody,
    files?: { name: string; data: Buffer; contentType: string }[],
  ) => {
    const full = {
      ...body,
      nonce: notice.nonce,
      enforce_nonce: true,
      ...(files ? { attachments: files.map((f, id) => ({ id, filename: f.name })) } : {}),
    };
    const posted = (await deps.client.rest.post(Routes.channelMessages(channelId), {
      body: full,
      ...(files ? { files } : {}),
    })) as { id: string };
    return posted.id;
  };

  /** Edits a message; false when it is gone (deleted, or the guild moved its notice channel). */
  const edit = async (channelId: string, messageId: string, body: RESTPostAPIChannelMessageJSONBody) => {
    try {
      await deps.client.rest.patch(Routes.channelMessage(channelId, messageId), { body });
      return true;
    } catch (err) {
      if (isGone(err)) return false;
      throw err;
    }
  };

  const lossChart = async (guildId: string, jobId: number): Promise<Buffer | undefined> => {
    const points = deps.metrics?.list(guildId, jobId) ?? [];
    if (!points.some((p) => p.trainLoss !== null)) return undefined;
    try {
      return await renderLossChart(
        points.map((p) => ({ step: p.step, loss: p.trainLoss, validLoss: p.validLoss })),
        `Training loss, job #${jobId}`,
      );
    } catch (err) {
      logger.warn({ err, jobId }, "loss chart not rendered; the notice goes without it");
      return undefined;
    }
  };

  /** NOTIFY_CHANNEL_ID, only for the guild that channel belongs to: never another guild's notices there. */
  const defaultChannelFor = async (guildId: string): Promise<string | undefined> => {
    const id = deps.defaultChannelId;
    if (!id) return undefined;
    try {
      const channel = deps.client.channels.cache.get(id) ?? (await deps.client.channels.fetch(id));
      return channel && "guildId" in channel && channel.guildId === guildId ? id : undefined;
    } catch (err) {
      if (err instanceof DiscordAPIError) return undefined; // unknown channel or no access
      throw err;
    }
  };

  return {
    async send(notice) {
      const channelId =
        notice.channelId ??
        deps.guildSettings.get(notice.guildId).notifyChannelId ??
        (await defaultChannelFor(notice.guildId));
      if (!channelId) throw new NoChannelError(notice.guildId);

      if (notice.kind === "job_progress") {
        const card = createdCard(notice.guildId, notice.payload.jobId);
        const body = renderNotice(notice, { created: card?.payload });
        const target = notice.messageId ?? card?.messageId;
        if (target && (await edit(channelId, target, body))) return { messageId: target };
        return { messageId: await post(channelId, notice, body) };
      }
      if (notice.messageId) {
        const body = renderNotice(notice);
        const { content: _content, ...quiet } = body;
        if (await edit(channelId, notice.messageId, quiet)) return { messageId: notice.messageId };
        return { messageId: await post(channelId, notice, body) };
      }

      let messageId: string;
      if (notice.kind === "job_succeeded") {
        const png = await lossChart(notice.guildId, notice.payload.jobId);
        const body = renderNotice(notice, { lossChart: png !== undefined });
        messageId = await post(
          channelId,
          notice,
          body,
          png ? [{ name: LOSS_CHART_NAME, data: png, contentType: "image/png" }] : undefined,
        );
      } else {
        messageId = await post(channelId, notice, renderNotice(notice));
      }

      if (
        notice.kind === "job_succeeded" ||
        notice.kind === "job_failed" ||
        notice.kind === "job_cancelled"
      ) {
        // The card shows the final state too; best effort (the ending notice above is what counts).
        const p = notice.payload;
        const card = createdCard(notice.guildId, p.jobId);
        if (card?.messageId) {
          const known = deps.outbox?.payloadOf(
            notice.guildId,
            noticeKey.jobProgress(p.jobId),
            "job_progress",
          );
          const status: JobStatus =
            notice.kind === "job_succeeded"
              ? "succeeded"
              : notice.kind === "job_failed"
                ? "failed"
                : "cancelled";
          const embed = renderJobCard(card.payload, {
            base: p,
            status,
            progress: latestProgress(
              known?.progress ?? null,
              deps.metrics?.list(notice.guildId, p.jobId) ?? [],
            ),
          });
          await edit(channelId, card.messageId, {
            embeds: [embed.toJSON()],
            allowed_mentions: { parse: [], users: [] },
          }).catch((err: unknown) => logger.warn({ err, jobId: p.jobId }, "job card not updated"));
        }
      }
      return { messageId };
    },
  };
}
