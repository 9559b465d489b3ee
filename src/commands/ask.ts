// /ask: a student's question to the channel's model, streamed into the reply as it is written. Public in class
// channels (with 👍/👎 and a teacher's "Correct this answer"), ephemeral elsewhere; every answer can be followed up
// by the student who asked (Follow up: a modal, then the next turn of the conversation). Refusals are short
// ephemeral messages. Mentions never ping.
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
import type { AskAnswer, AskRequest } from "../classroom/ask.ts";
import { canFollowUp, followUpLabel } from "../classroom/conversation.ts";
import { MAX_CORRECTION_CHARS } from "../classroom/feedback.ts";
import type { Command, ComponentHandler } from "../discord/command.ts";
import type { AppContext } from "../discord/context.ts";
import { CORRECTION_PREFIX, correctionId, FOLLOW_UP_PREFIX, followUpId } from "../discord/feedbackIds.ts";
import { DiscordLimits } from "../discord/limits.ts";
import { neutraliseMarkdown } from "../discord/markdown.ts";
import { guildModelChoices } from "../discord/modelChoices.ts";
import { defer, type RepliableInteraction, respond } from "../discord/respond.ts";
import { interactionIsTeacher } from "../discord/router.ts";
import { splitMessage } from "../discord/split.ts";
import { type FinalPayload, StreamReply, type StreamReplyIO, systemClock } from "../discord/streamReply.ts";
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
  const turn = followUpLabel(a.turn, a.maxTurns);
  if (turn) parts.push(turn);
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

type AnswerComponents = ActionRowBuilder<ButtonBuilder>[];

/**
 * The buttons under an answer: in a class channel 👍/👎 and "Correct this answer"; everywhere "Follow up" while
 * the conversation has room (then a disabled button saying to start a new /ask). A withheld answer has none.
 */
function answerComponents(a: AskAnswer, isPublic: boolean): AnswerComponents {
  if (a.withheld) return [];
  const buttons = isPublic
    ? [
        new ButtonBuilder()
          .setCustomId(`vote:up:${a.answerId}`)
          .setEmoji("👍")
          .setStyle(ButtonStyle.Secondary),
        new ButtonBuilder()
          .setCustomId(`vote:down:${a.answerId}`)
          .setEmoji("👎")
          .setStyle(ButtonStyle.Secondary),
        new ButtonBuilder()
          .setCustomId(correctionId(a.answerId))
          .setLabel("Correct this answer")
          .setStyle(ButtonStyle.Secondary),
      ]
    : [];
  if (a.maxTurns > 1) {
    const open = canFollowUp(a.turn, a.maxTurns);
    buttons.push(
      new ButtonBuilder()
        .setCustomId(followUpId(a.answerId))
        .setLabel(open ? "Follow up" : `${a.maxTurns} questions asked: start a new /ask`)
        .setStyle(open ? ButtonStyle.Primary : ButtonStyle.Secondary)
        .setDisabled(!open),
    );
  }
  return buttons.length > 0 ? [new ActionRowBuilder<ButtonBuilder>().addComponents(buttons)] : [];
}

/**
 * The reply as streamReply writes it: message 0 is the deferred reply, later ones follow-ups (ephemeral like the
 * deferral), edited by their ids. Nothing pings.
 */
function replyIO(
  interaction: RepliableInteraction,
  ephemeral: boolean,
): StreamReplyIO<AnswerComponents> & { removeAll(): Promise<void> } {
  const ids: string[] = [];
  const extras = (final: FinalPayload<AnswerComponents> | undefined) => ({
    components: final?.components ?? [],
    ...(final?.attachment
      ? {
          files: [
            new AttachmentBuilder(Buffer.from(final.attachment.content, "utf8"), {
              name: final.attachment.name,
            }),
          ],
        }
      : {}),
    allowedMentions: { parse: [] },
  });
  return {
    async edit(index, content, final) {
      const id = ids[index];
      await interaction.editReply({ content, ...extras(final), ...(index > 0 && id ? { message: id } : {}) });
    },
    async post(index, content, final) {
      const message = await interaction.followUp({
        content,
        ...extras(final),
        ...(ephemeral ? { flags: MessageFlags.Ephemeral } : {}),
      });
      ids[index] = message.id;
    },
    /** Deletes every message written so far (the reply and its follow-ups); one already gone is no matter. */
    async removeAll() {
      await interaction.deleteReply().catch(() => undefined);
      for (const id of ids) if (id) await interaction.deleteReply(id).catch(() => undefined);
    },
  };
}

/**
 * Asks the question (a new /ask or a follow-up) and shows the answer as it is written. The deferral comes first:
 * Discord's 3 seconds run out long before a model finishes.
 */
async function answerQuestion(
  interaction: RepliableInteraction,
  ctx: AppContext,
  q: Pick<AskRequest, "question" | "model" | "followUpOf">,
): Promise<void> {
  const guildId = interaction.guildId ?? "";
  const channelId = interaction.channelId ?? "";
  // Read once: the deferral, the teacher check and the service all go by the same settings.
  const settings = await ctx.classroom.settings.question(guildId, channelId);
  const isPublic = settings.channel?.isClass ?? false;
  await defer(interaction, { ephemeral: !isPublic });
  const isTeacher = await interactionIsTeacher(interaction, ctx, settings.guild);
  // In a class channel the class reads the question too (Discord shows only the command's name).
  const header = isPublic ? `${quoteQuestion(q.question)}\n\n` : "";
  const io = replyIO(interaction, !isPublic);
  const reply = new StreamReply<AnswerComponents>({ io, clock: systemClock });
  let streaming = false;
  const result = await ctx.classroom.ask(
    { guildId, channelId, userId: interaction.user.id, isTeacher, settings, ...q },
    (delta) => {
      if (!streaming) reply.append(header);
      streaming = true;
      reply.append(delta);
    },
  );

  // Moderation alerted the teachers: post it now rather than at the next poller tick.
  const alerted = result.ok ? result.withheld : result.reason === "moderation_flagged";
  if (alerted || (!result.ok && result.reason === "moderation_unavailable")) {
    void ctx.notifier.drainFresh().catch(() => undefined);
  }

  if (!result.ok) {
    // Refused after the answer had started to show (its conversation was deleted meanwhile): what was streamed goes,
    // and the student reads the refusal instead, as for any refusal.
    if (streaming && (await reply.abandon()) > 0) await io.removeAll();
    // A refusal may quote what the student typed (a model name): keep it within one message.
    const message = clip(result.message, DiscordLimits.messageContent);
    // A model asleep: a teacher gets the Wake button (the button checks again that they are one).
    const asleep = result.wakeModel ? await ctx.models.get(guildId, result.wakeModel) : undefined;
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
  const components = answerComponents(result, isPublic);
  const body = `${header}${result.answer}`;
  // Nothing was streamed (a cached answer, a provider that does not stream, ASK_STREAM=false): the whole answer at
  // once, split as a long answer always was.
  if (!streaming) {
    await showWholeAnswer(interaction, { body, footer, components, isPublic });
    return;
  }
  // Withheld after some of it was shown (moderation flagged a later chunk, or went down under closed): the answer
  // goes, every message of it, and the withheld notice takes its place (not a "diverged" file beside a kept part).
  if (result.withheld) {
    if ((await reply.abandon()) > 0) await io.removeAll();
    await showWholeAnswer(interaction, { body, footer, components, isPublic });
    return;
  }
  const done = await reply.finish({ body, footer, components });
  for (const f of done.failures) {
    ctx.logger.warn(
      { err: f.error, guildId, answerId: result.answerId, message: f.index, op: f.op, final: f.final },
      "could not write the answer to Discord",
    );
  }
}

/** A whole answer in the deferred reply (and follow-ups when long), or as a .txt when it cannot be split cleanly. */
async function showWholeAnswer(
  interaction: RepliableInteraction,
  a: { body: string; footer: string; components: AnswerComponents; isPublic: boolean },
): Promise<void> {
  const split = splitMessage(`${a.body}\n\n${a.footer}`);
  if (split.attachment) {
    await respond(interaction, {
      content: `The answer is long, so it is attached as a file.\n${a.footer}`,
      files: [
        new AttachmentBuilder(Buffer.from(split.attachment.content, "utf8"), {
          name: split.attachment.name,
        }),
      ],
      components: a.components,
    });
    return;
  }
  const last = split.parts.length - 1;
  for (const [i, part] of split.parts.entries()) {
    await respond(interaction, {
      content: part,
      components: i === last ? a.components : [],
      ephemeral: !a.isPublic,
    });
  }
}

export default {
  data,
  access: "everyone",
  async autocomplete(interaction, ctx) {
    const typed = interaction.options.getFocused();
    if (await interactionIsTeacher(interaction, ctx))
      return guildModelChoices(ctx, interaction.guildId, typed);
    // A student is offered only what they may ask (ModelRouter.mayAsk): the registered models and this
    // channel's chosen ones.
    const channel = await ctx.classroom.settings.channel(interaction.guildId, interaction.channelId);
    const chosen = await ctx.classroom.router.chosenModels(interaction.guildId, channel);
    return guildModelChoices(ctx, interaction.guildId, typed, chosen);
  },
  async execute(interaction, ctx) {
    await answerQuestion(interaction, ctx, {
      question: interaction.options.getString("question", true),
      model: interaction.options.getString("model") ?? undefined,
    });
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
    const tally = await ctx.classroom.feedback.vote(
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
  const row = await ctx.classroom.answer(guildId, answerId);
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

const FOLLOW_UP_FIELD = "question";

/**
 * "Follow up": the button opens a modal for the next question (only the student who asked may: checked here
 * and again when the question is asked), its submit asks it with the conversation so far.
 */
export const followUp = {
  prefix: FOLLOW_UP_PREFIX,
  access: "everyone",
  async handle(interaction, ctx) {
    const answerId = answerIdOf(interaction.customId, 1);
    if (interaction.isModalSubmit()) {
      await answerQuestion(interaction, ctx, {
        question: interaction.fields.getTextInputValue(FOLLOW_UP_FIELD),
        followUpOf: answerId,
      });
      return;
    }
    const refused = await ctx.classroom.followUpRefusal(
      interaction.guildId,
      interaction.channelId ?? "",
      interaction.user.id,
      answerId,
    );
    if (refused) throw new UserError(refused.message, refused.reason);
    const input = new TextInputBuilder()
      .setCustomId(FOLLOW_UP_FIELD)
      .setStyle(TextInputStyle.Paragraph)
      .setMaxLength(Math.min(ctx.config.ask.maxQuestionChars, DiscordLimits.modalTextInput))
      .setRequired(true);
    const modal = new ModalBuilder()
      .setCustomId(followUpId(answerId))
      .setTitle("Follow up")
      .addLabelComponents(
        new LabelBuilder()
          .setLabel("Your next question")
          .setDescription("Sent with your conversation so far")
          .setTextInputComponent(input),
      );
    await (interaction as ButtonInteraction).showModal(modal);
  },
} satisfies ComponentHandler;
