// The buttons under a moderation alert (teachers; the router checks the role, and each id is read within the
// clicker's guild): Reviewed and False alarm record the teacher's word on the verdict and mark the alert, keeping
// Show context, which opens /review filtered to that student in that channel (ephemeral, paged like /review).
import { ActionRowBuilder, ButtonBuilder, type ButtonInteraction, ButtonStyle } from "discord.js";
import { DEFAULT_REVIEW_DAYS } from "../classroom/review.ts";
import type { ReviewStatus } from "../classroom/safety.ts";
import type { ComponentHandler } from "../discord/command.ts";
import type { AppContext } from "../discord/context.ts";
import { SAFETY_ALERT_PREFIX } from "../discord/notices.ts";
import { reviewComponents, reviewEmbed } from "../discord/render/review.ts";
import { respond } from "../discord/respond.ts";
import { UserError } from "../domain/errors.ts";

const WORDS: Record<ReviewStatus, string> = {
  reviewed: "✅ Reviewed",
  false_alarm: "🟢 Marked a false alarm",
};

function verdictIdOf(raw: string | undefined): number {
  const id = Number(raw);
  if (!Number.isSafeInteger(id) || id < 1)
    throw new UserError("That alert was not found in this server.", "not_found");
  return id;
}

async function review(
  interaction: ButtonInteraction<"cached" | "raw">,
  ctx: AppContext,
  verdictId: number,
  status: ReviewStatus,
): Promise<void> {
  const guildId = interaction.guildId ?? "";
  const { verdict, changed } = await ctx.classroom.safety.reviewAlert(
    guildId,
    verdictId,
    status,
    interaction.user.id,
  );
  const word = verdict.reviewStatus ? WORDS[verdict.reviewStatus] : WORDS[status];
  const at = verdict.reviewedAt ? ` <t:${Math.floor(Date.parse(verdict.reviewedAt) / 1000)}:f>` : "";
  const line = `-# ${word} by <@${verdict.reviewedBy ?? interaction.user.id}>${at}${changed ? "" : " (already)"}`;
  const base = (interaction.message.content ?? "").split("\n-# ")[0] ?? "";
  // The alert keeps its text, embed and attachment; Reviewed / False alarm go, Show context stays.
  await interaction.update({
    content: `${base}\n${line}`,
    components: [
      new ActionRowBuilder<ButtonBuilder>().addComponents(
        new ButtonBuilder()
          .setCustomId(`${SAFETY_ALERT_PREFIX}:context:${verdict.id}`)
          .setLabel("Show context")
          .setStyle(ButtonStyle.Primary),
      ),
    ],
    allowedMentions: { parse: [] },
  });
}

/** The student's recent questions and answers in that channel: /review's page with that filter. */
async function context(
  interaction: ButtonInteraction<"cached" | "raw">,
  ctx: AppContext,
  verdictId: number,
): Promise<void> {
  const guildId = interaction.guildId ?? "";
  const verdict = await ctx.classroom.safety.alertVerdict(guildId, verdictId);
  const page = await ctx.classroom.review.page(guildId, {
    days: DEFAULT_REVIEW_DAYS,
    channelId: verdict.channelId,
    studentId: verdict.userId,
    flaggedOnly: false,
  });
  await respond(interaction, {
    embeds: [reviewEmbed(page)],
    components: reviewComponents(page),
    ephemeral: true,
  });
}

export const safetyAlertButtons = {
  prefix: SAFETY_ALERT_PREFIX,
  access: "teacher",
  async handle(interaction, ctx) {
    if (!interaction.isButton())
      throw new Error(`unexpected ${SAFETY_ALERT_PREFIX} interaction ${interaction.customId}`);
    const [, action, raw] = interaction.customId.split(":");
    const id = verdictIdOf(raw);
    switch (action) {
      case "reviewed":
        return review(interaction, ctx, id, "reviewed");
      case "false":
        return review(interaction, ctx, id, "false_alarm");
      case "context":
        return context(interaction, ctx, id);
      default:
        throw new Error(`unknown ${SAFETY_ALERT_PREFIX} button ${interaction.customId}`);
    }
  },
} satisfies ComponentHandler;
