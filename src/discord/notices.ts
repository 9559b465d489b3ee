// Posts the poller's outbox notices to Discord: the guild's notice channel (or the job's, or the bot's
// default), mentions only the requester, and edits a card in place when the notice was posted before.
// `nonce` + `enforce_nonce` make a repeated post (a crash right after sending) one message.
import { type Client, EmbedBuilder, type RESTPostAPIChannelMessageJSONBody, Routes } from "discord.js";
import type { GuildSettingsRepository } from "../db/guildSettings.ts";
import type { NoticeSender, OutboxNotice } from "../services/notifier.ts";
import { Colors } from "./render/report.ts";

export class NoChannelError extends Error {
  constructor(guildId: string) {
    super(`guild ${guildId} has no notice channel yet (/config notifications); the notice waits`);
  }
}

function jobTitle(p: { jobId: number; baseModel: string; suffix: string | null; provider: string }): string {
  const sandbox = p.provider === "sandbox" ? " (sandbox)" : "";
  return `Fine-tuning job #${p.jobId}${sandbox}`;
}

/** The message body for a notice: pure, so it is tested without Discord. */
export function renderNotice(notice: OutboxNotice): RESTPostAPIChannelMessageJSONBody {
  const embed = new EmbedBuilder();
  let content: string | undefined;
  let mention: string | undefined;
  switch (notice.kind) {
    case "job_created": {
      const p = notice.payload;
      mention = p.requesterId;
      content = `<@${p.requesterId}> your fine-tuning job has started.`;
      embed
        .setTitle(jobTitle(p))
        .setColor(Colors.info)
        .setDescription(`Training **${p.baseModel}** on dataset #${p.datasetId} (${p.datasetName}).`)
        .addFields(
          { name: "Examples", value: String(p.examples), inline: true },
          { name: "Epochs", value: String(p.nEpochs), inline: true },
          {
            name: "Estimated cost",
            value: p.estimatedCostUsd === null ? "unknown" : `$${p.estimatedCostUsd.toFixed(2)} (estimate)`,
            inline: true,
          },
          { name: "Provider job", value: p.remoteId, inline: false },
        );
      break;
    }
    case "job_progress": {
      const p = notice.payload;
      const pr = p.progress;
      embed.setTitle(jobTitle(p)).setColor(Colors.info);
      embed.setDescription(
        pr && pr.totalSteps > 0
          ? `${progressBar(pr.step / pr.totalSteps)} step ${pr.step}/${pr.totalSteps}${pr.loss === null ? "" : ` · loss ${pr.loss.toFixed(3)}`}`
          : `Status: ${p.rawStatus}`,
      );
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
          `\`${p.fineTunedModel}\`\nUse it in a class channel: \`/model use model:${p.fineTunedModel}\``,
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
        embed.addFields({
          name: `Q: ${t.question}`.slice(0, 256),
          value: (t.answer ?? `(no answer: ${t.error ?? "unknown error"})`).slice(0, 1024),
        });
      }
      break;
    }
    case "job_failed": {
      const p = notice.payload;
      mention = p.requesterId;
      content = `<@${p.requesterId}> your fine-tuning job failed.`;
      embed
        .setTitle(`${jobTitle(p)} failed`)
        .setColor(Colors.problem)
        .setDescription(`The provider said: ${p.errorMessage}`.slice(0, 4096));
      break;
    }
    case "job_cancelled": {
      const p = notice.payload;
      mention = p.requesterId;
      content = `<@${p.requesterId}> your fine-tuning job was cancelled.`;
      embed.setTitle(`${jobTitle(p)} cancelled`).setColor(Colors.warn);
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

export function progressBar(fraction: number, width = 20): string {
  const filled = Math.max(0, Math.min(width, Math.round(fraction * width)));
  return `\`${"█".repeat(filled)}${"░".repeat(width - filled)}\` ${Math.round(fraction * 100)}%`;
}

function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m ${s % 60}s` : `${Math.floor(m / 60)}h ${m % 60}m`;
}

export function createDiscordNoticeSender(deps: {
  client: Client;
  guildSettings: GuildSettingsRepository;
  defaultChannelId: string | undefined;
}): NoticeSender {
  return {
    async send(notice) {
      const channelId =
        notice.channelId ?? deps.guildSettings.get(notice.guildId).notifyChannelId ?? deps.defaultChannelId;
      if (!channelId) throw new NoChannelError(notice.guildId);
      const body = renderNotice(notice);
      if (notice.messageId) {
        await deps.client.rest.patch(Routes.channelMessage(channelId, notice.messageId), { body });
        return { messageId: notice.messageId };
      }
      const posted = (await deps.client.rest.post(Routes.channelMessages(channelId), {
        body: { ...body, nonce: notice.nonce, enforce_nonce: true },
      })) as { id: string };
      return { messageId: posted.id };
    },
  };
}
