// /usage [days]: what /ask cost this server and who used it, with a PNG chart of questions and cost per day.
// Teachers only. Askers are shown as mentions that never ping.
import {
  AttachmentBuilder,
  EmbedBuilder,
  InteractionContextType,
  PermissionFlagsBits,
  SlashCommandBuilder,
} from "discord.js";
import { renderUsageChart } from "../charts/charts.ts";
import {
  anonymousNote,
  cutWords,
  MAX_USAGE_DAYS,
  moderationLine,
  type UsageSummary,
} from "../classroom/usage.ts";
import type { Command } from "../discord/command.ts";
import { DiscordLimits } from "../discord/limits.ts";
import { defer, respond } from "../discord/respond.ts";

const CHART_FILE = "usage.png";

const data = new SlashCommandBuilder()
  .setName("usage")
  .setDescription("Questions, tokens and cost of /ask in this server (teachers)")
  .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild)
  .setContexts(InteractionContextType.Guild)
  .addIntegerOption((o) =>
    o
      .setName("days")
      .setDescription("How many days back, today included (default 7)")
      .setMinValue(1)
      .setMaxValue(MAX_USAGE_DAYS),
  );

export const usd = (n: number) => (n === 0 ? "$0" : n < 0.01 ? `$${n.toFixed(4)}` : `$${n.toFixed(2)}`);
const pct = (n: number) => `${(n * 100).toFixed(1)}%`;
const clip = (text: string) =>
  text.length <= DiscordLimits.embedFieldValue
    ? text
    : `${text.slice(0, DiscordLimits.embedFieldValue - 1)}…`;

export function usageEmbed(s: UsageSummary): EmbedBuilder {
  const embed = new EmbedBuilder()
    .setTitle(`/ask usage, last ${s.days} day${s.days === 1 ? "" : "s"}`)
    .setDescription(
      [
        `**${s.questions}** questions · ${s.answered} answered · ${s.errors} errors (error rate ${pct(s.errorRate)})`,
        `**${s.totalTokens}** tokens (prompt ${s.promptTokens}, completion ${s.completionTokens}) · estimated cost **${usd(s.costUsd)}**`,
        `Cache hits ${s.cacheHits} (${pct(s.cacheHitRate)}) · median model latency ${s.p50LatencyMs} ms`,
      ].join("\n"),
    )
    .setImage(`attachment://${CHART_FILE}`)
    .setFooter({ text: `${s.since} to ${s.until.slice(0, 10)} (UTC) · costs are estimates` });
  if (s.byModel.length > 0) {
    embed.addFields({
      name: "By model",
      value: clip(
        s.byModel
          .map(
            (m) =>
              `\`${m.model}\` (${m.provider}): ${m.questions} questions, ${m.tokens} tokens, ${usd(m.costUsd)}${cutWords(m)}`,
          )
          .join("\n"),
      ),
    });
  }
  const active = s.byDay.filter((d) => d.questions > 0);
  embed.addFields({
    name: "By day",
    value: clip(
      active.length === 0
        ? "no questions"
        : active
            .map(
              (d) =>
                `${d.day}: ${d.questions} questions, ${d.tokens} tokens, ${usd(d.costUsd)}${d.errors ? `, ${d.errors} errors` : ""}`,
            )
            .join("\n"),
    ),
  });
  if (s.anonymousQuestions > 0)
    embed.addFields({ name: "Past the retention window", value: anonymousNote(s) });
  if (s.topAskers.length > 0) {
    embed.addFields({
      name: "Most active askers",
      value: clip(s.topAskers.map((a) => `<@${a.userId}>: ${a.questions}`).join("\n")),
    });
  }
  if (s.hosting.minutes > 0) {
    embed.addFields({
      name: `Hosting: ${s.hosting.minutes} min, estimated ${usd(s.hosting.costUsd)}`,
      value: clip(
        s.hosting.byModel
          .map((m) => `\`${m.model}\` (${m.provider}): ${m.minutes} min, ${usd(m.costUsd)}`)
          .join("\n"),
      ),
    });
  }
  if (s.errorsByCode.length > 0) {
    embed.addFields({
      name: "Errors",
      value: clip(s.errorsByCode.map((e) => `${e.code} ×${e.count}`).join(", ")),
    });
  }
  const moderated = moderationLine(s.moderation);
  if (moderated) embed.addFields({ name: "Moderation", value: moderated });
  return embed;
}

export default {
  data,
  access: "teacher",
  async execute(interaction, ctx) {
    const days = interaction.options.getInteger("days") ?? 7;
    await defer(interaction);
    const summary = await ctx.classroom.usage.summary(interaction.guildId, days);
    const png = await renderUsageChart(summary);
    // respond() sends allowedMentions { parse: [], users: [] }: the askers' mentions render but never ping.
    await respond(interaction, {
      embeds: [usageEmbed(summary)],
      files: [new AttachmentBuilder(png, { name: CHART_FILE })],
    });
  },
} satisfies Command;
