// /review [channel] [student] [flagged-only] [days]: the class's recent questions and answers, for teachers, in
// an ephemeral paged view. The page buttons re-read everything within the clicker's guild (the router checks
// the teacher again); each answer's "Correct" button opens /ask's correction modal. Mentions never ping.
import {
  type ButtonInteraction,
  ChannelType,
  InteractionContextType,
  PermissionFlagsBits,
  SlashCommandBuilder,
} from "discord.js";
import { DEFAULT_REVIEW_DAYS, MAX_REVIEW_DAYS, type ReviewFilter } from "../classroom/review.ts";
import type { Command, ComponentHandler } from "../discord/command.ts";
import type { AppContext } from "../discord/context.ts";
import {
  parseReviewPageId,
  REVIEW_PREFIX,
  type ReviewPageRef,
  reviewComponents,
  reviewEmbed,
} from "../discord/render/review.ts";
import { respond } from "../discord/respond.ts";

const data = new SlashCommandBuilder()
  .setName("review")
  .setDescription("The class's recent questions and answers: votes, corrections, flags (teachers)")
  .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild)
  .setContexts(InteractionContextType.Guild)
  .addChannelOption((o) =>
    o
      .setName("channel")
      .setDescription("Only questions asked in this channel")
      .addChannelTypes(ChannelType.GuildText),
  )
  .addUserOption((o) => o.setName("student").setDescription("Only this student's questions"))
  .addBooleanOption((o) => o.setName("flagged-only").setDescription("Only answers flagged by moderation"))
  .addIntegerOption((o) =>
    o
      .setName("days")
      .setDescription(`How many days back, today included (default ${DEFAULT_REVIEW_DAYS})`)
      .setMinValue(1)
      .setMaxValue(MAX_REVIEW_DAYS),
  );

async function render(ctx: AppContext, guildId: string, filter: ReviewFilter, cursor?: ReviewPageRef) {
  const page = await ctx.classroom.review.page(guildId, filter, cursor);
  return { embeds: [reviewEmbed(page)], components: reviewComponents(page) };
}

export default {
  data,
  access: "teacher",
  async execute(interaction, ctx) {
    const filter: ReviewFilter = {
      days: interaction.options.getInteger("days") ?? DEFAULT_REVIEW_DAYS,
      channelId: interaction.options.getChannel("channel")?.id,
      studentId: interaction.options.getUser("student")?.id,
      flaggedOnly: interaction.options.getBoolean("flagged-only") ?? false,
    };
    // respond() keeps allowedMentions empty: the askers' and teachers' mentions render but never ping.
    await respond(interaction, { ...(await render(ctx, interaction.guildId, filter)), ephemeral: true });
  },
} satisfies Command;

/** ◀ / ▶: the page the id names, within the clicker's guild (another server's ids find nothing there). */
export const reviewButtons = {
  prefix: REVIEW_PREFIX,
  access: "teacher",
  async handle(interaction, ctx) {
    const { filter, cursor } = parseReviewPageId(interaction.customId);
    const view = await render(ctx, interaction.guildId, filter, cursor);
    if (!interaction.isButton()) throw new Error(`unexpected ${REVIEW_PREFIX} interaction`);
    await (interaction as ButtonInteraction).update({ ...view, allowedMentions: { parse: [], users: [] } });
  },
} satisfies ComponentHandler;
