// /ask: a student's question to the channel's model. Public in class channels (with 👍/👎 and a teacher's
// "Correct this answer"), ephemeral elsewhere; refusals are short ephemeral messages. Mentions never ping.
import {
  ActionRowBuilder,
  AttachmentBuilder,
  ButtonBuilder,
  type ButtonInteraction,
  ButtonStyle,
  InteractionContextType,
  LabelBuilder,
  MessageFlags,
  ModalBuilder,
  type ModalSubmitInteraction,
  SlashCommandBuilder,
  TextInputBuilder,
  TextInputStyle,
} from "discord.js";
import type { AskAnswer } from "../classroom/ask.ts";
import { MAX_CORRECTION_CHARS } from "../classroom/feedback.ts";
import type { Command, ComponentHandler } from "../discord/command.ts";
import type { AppContext } from "../discord/context.ts";
import { CORRECTION_PREFIX, correctionId } from "../discord/feedbackIds.ts";
import { DiscordLimits } from "../discord/limits.ts";
import { neutraliseMarkdown } from "../discord/markdown.ts";
import { guildModelChoices } from "../discord/modelChoices.ts";
import { defer, respond } from "../discord/respond.ts";
import { interactionIsTeacher } from "../discord/router.ts";
import { splitMessage } from "../discord/split.ts";
import { UserError } from "../domain/errors.ts";
import { wakeButtonRow } from "./model.ts";

const data = new SlashCommandBuilder()
  .setName("ask")
  .setDescription("Ask the class's model a question")
  .setContexts(InteractionContextType.Guild)
  .addStringOption((o) =>
    o.setName("question").setDescription("Your question").setRequired(true).setMaxLength(4000),
  )
  .addStringOption((o) =>
    o.setName("model").setDescription("Ask a specific model of this server").setAutocomplete(true),
  );

/** The line under an answer: which model answered, and how. */
export function answerFooter(a: AskAnswer, ctx: AppContext, isTeacher: boolean): string {
  const sandbox = ctx.providers.get(a.provider)?.sandbox ? " (sandbox)" : "";
  const parts = [
    a.usedFallback && a.unavailableModel
      ? `answered by fallback \`${a.model}\`${sandbox} because \`${a.unavailableModel}\` is no longer available`
      : `answered by \`${a.model}\`${sandbox}`,
  ];
  if (isTeacher && a.cached) parts.push("cached");
  return `-# ${parts.join(" · ")}`;
}

const QUESTION_QUOTE_CHARS = 300;

const clip = (text: string, max: number) => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);

/**
 * The question as one quoted line, clipped, with the markdown that could mislead the class neutralised
 * (links, headings, mentions, spoilers, code fences). Allowed mentions are off as well: nothing pings.
 */
export function quoteQuestion(question: string): string {
  const line = question.replace(/\s+/g, " ").trim();
  // Clipped before neutralising, so the cut cannot leave half a "<link>" behind; never inside a surrogate pair.
  let cut = QUESTION_QUOTE_CHARS - 1;
  if (/[\uD800-\uDBFF]/.test(line[cut - 1] ?? "")) cut--;
  const clipped = line.length > QUESTION_QUOTE_CHARS ? `${line.slice(0, cut)}…` : line;
  return `> **Q:** ${neutraliseMarkdown(clipped)}`;
}

function feedbackRow(answerId: number): ActionRowBuilder<ButtonBuilder> {
  return new ActionRowBuilder<ButtonBuilder>().addComponents(
    new ButtonBuilder().setCustomId(`vote:up:${answerId}`).setEmoji("👍").setStyle(ButtonStyle.Secondary),
    new ButtonBuilder().setCustomId(`vote:down:${answerId}`).setEmoji("👎").setStyle(ButtonStyle.Secondary),
    new ButtonBuilder()
      .setCustomId(correctionId(answerId))
      .setLabel("Correct this answer")
      .setStyle(ButtonStyle.Secondary),
  );
}

export default {
  data,
  access: "everyone",
  async autocomplete(interaction, ctx) {
    const typed = interaction.options.getFocused();
    if (interactionIsTeacher(interaction, ctx)) return guildModelChoices(ctx, interaction.guildId, typed);
    // A student is offered only what they may ask (ModelRouter.mayAsk): the registered models and this
    // channel's chosen ones.
    const channel = ctx.classroom.settings.channel(interaction.guildId, interaction.channelId);
    const chosen = ctx.classroom.router.chosenModels(interaction.guildId, channel);
    return guildModelChoices(ctx, interaction.guildId, typed, chosen);
  },
  async execute(interaction, ctx) {
    const guildId = interaction.guildId;
    const isPublic = ctx.classroom.settings.channel(guildId, interaction.channelId)?.isClass ?? false;
    await defer(interaction, { ephemeral: !isPublic });
    const isTeacher = interactionIsTeacher(interaction, ctx);
    const result = await ctx.classroom.ask({
      guildId,
      channelId: interaction.channelId,
      userId: interaction.user.id,
      isTeacher,
      question: interaction.options.getString("question", true),
      model: interaction.options.getString("model") ?? undefined,
    });

    // Moderation alerted the teachers: post it now rather than at the next poller tick.
    const alerted = result.ok ? result.withheld : result.reason === "moderation_flagged";
    if (alerted || (!result.ok && result.reason === "moderation_unavailable")) {
      void ctx.notifier.drainFresh().catch(() => undefined);
    }

    if (!result.ok) {
      // A refusal may quote what the student typed (a model name): keep it within one message.
      const message = clip(result.message, DiscordLimits.messageContent);
      // A model asleep: a teacher gets the Wake button (the button checks again that they are one).
      const asleep = result.wakeModel ? ctx.models.get(guildId, result.wakeModel) : undefined;
      const components = asleep && isTeacher ? [wakeButtonRow(asleep.id)] : [];
      if (isPublic) {
        // The deferral was public; a refusal concerns one student: drop the "thinking…" and tell them alone.
        await interaction.deleteReply().catch(() => undefined);
        await interaction.followUp({
          content: message,
          components,
          flags: MessageFlags.Ephemeral,
          allowedMentions: { parse: [] },
        });
      } else {
        await respond(interaction, { content: message, components });
      }
      return;
    }

    const footer = answerFooter(result, ctx, isTeacher);
    // In a class channel the class reads the question too (Discord shows only the command's name).
    const header = isPublic ? `${quoteQuestion(interaction.options.getString("question", true))}\n\n` : "";
    const split = splitMessage(`${header}${result.answer}\n\n${footer}`);
    // A withheld answer is a neutral message: nothing to vote on or correct from the channel.
    const components = isPublic && !result.withheld ? [feedbackRow(result.answerId)] : [];
    if (split.attachment) {
      await respond(interaction, {
        content: `The answer is long, so it is attached as a file.\n${footer}`,
        files: [
          new AttachmentBuilder(Buffer.from(split.attachment.content, "utf8"), {
            name: split.attachment.name,
          }),
        ],
        components,
      });
      return;
    }
    const last = split.parts.length - 1;
    for (const [i, part] of split.parts.entries()) {
      await respond(interaction, {
        content: part,
        components: i === last ? components : [],
        ephemeral: !isPublic,
      });
    }
  },
} satisfies Command;

function answerIdOf(customId: string, at: number): number {
  const id = Number(customId.split(":")[at]);
  if (!Number.isSafeInteger(id) || id <= 0) throw new UserError("That button is not valid any more.");
  return id;
}

/** 👍 / 👎 on a public answer: one vote per person per answer (clicking again changes it). */
export const voteButton = {
  prefix: "vote",
  access: "everyone",
  async handle(interaction, ctx) {
    const [, direction] = interaction.customId.split(":");
    if (direction !== "up" && direction !== "down") throw new UserError("That button is not valid any more.");
    // FeedbackService checks that the answer is a public one of this guild and this channel.
    const tally = ctx.classroom.feedback.vote(
      interaction.guildId,
      interaction.channelId ?? "", // no channel: no answer can match, "not found"
      answerIdOf(interaction.customId, 2),
      interaction.user.id,
      direction,
    );
    await respond(interaction, {
      content: `Thanks, your ${direction === "up" ? "👍" : "👎"} is counted (one vote per person; click again to change it). This answer now has 👍 ${tally.up} · 👎 ${tally.down}.`,
    });
  },
} satisfies ComponentHandler;

const CORRECTION_FIELD = "answer";

/** "Correct this answer": the button opens a modal (prefilled), its submit stores the teacher's correction. */
export const correctAnswer = {
  prefix: CORRECTION_PREFIX,
  access: "teacher",
  async handle(interaction, ctx) {
    const guildId = interaction.guildId;
    const answerId = answerIdOf(interaction.customId, 1);
    if (interaction.isModalSubmit()) {
      await correctFromModal(interaction, ctx, guildId, answerId);
      return;
    }
    await openCorrectionModal(interaction as ButtonInteraction, ctx, guildId, answerId);
  },
} satisfies ComponentHandler;

async function openCorrectionModal(
  interaction: ButtonInteraction,
  ctx: AppContext,
  guildId: string,
  answerId: number,
): Promise<void> {
  // Guild-scoped: another guild's answer id is "not found".
  const row = ctx.classroom.answer(guildId, answerId);
  if (!row) throw new UserError("That answer no longer exists in this server.");
  const current = row.correctedAnswer ?? row.answer;
  const input = new TextInputBuilder()
    .setCustomId(CORRECTION_FIELD)
    .setStyle(TextInputStyle.Paragraph)
    .setMaxLength(Math.min(MAX_CORRECTION_CHARS, DiscordLimits.modalTextInput))
    .setRequired(true);
  if (current.length <= DiscordLimits.modalTextInput) input.setValue(current);
  const modal = new ModalBuilder()
    .setCustomId(correctionId(answerId))
    .setTitle("Correct this answer")
    .addLabelComponents(
      new LabelBuilder()
        .setLabel("The answer students should learn from")
        .setDescription("Saved for the next /dataset export")
        .setTextInputComponent(input),
    );
  await interaction.showModal(modal);
}

async function correctFromModal(
  interaction: ModalSubmitInteraction,
  ctx: AppContext,
  guildId: string,
  answerId: number,
): Promise<void> {
  const text = interaction.fields.getTextInputValue(CORRECTION_FIELD);
  await ctx.classroom.feedback.correct(guildId, answerId, interaction.user.id, text);
  await respond(interaction, {
    content: "Saved. The corrected answer goes into the next `/dataset export`.",
  });
}
