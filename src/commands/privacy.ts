// /privacy show | delete (anyone, ephemeral): what classtune holds about the caller in this server, with all of it
// as a JSON file, and deleting it after a confirmation button only the caller can press (checked here, server side).
import {
  ActionRowBuilder,
  AttachmentBuilder,
  ButtonBuilder,
  ButtonStyle,
  escapeMarkdown,
  InteractionContextType,
  SlashCommandBuilder,
} from "discord.js";
import type { Command, ComponentHandler } from "../discord/command.ts";
import { DiscordLimits } from "../discord/limits.ts";
import { respond } from "../discord/respond.ts";
import { UserError } from "../domain/errors.ts";
import { ANONYMOUS_USER, type ExportedByStudent } from "../privacy/service.ts";

/** The confirmation button's custom id carries whose data it deletes: only that person may press it. */
export const confirmDeleteId = (userId: string) => `privacy:delete:${userId}`;

const data = new SlashCommandBuilder()
  .setName("privacy")
  .setDescription("What classtune holds about you in this server, and deleting it")
  .setContexts(InteractionContextType.Guild)
  .addSubcommand((s) =>
    s.setName("show").setDescription("What classtune holds about you here (only you see it)"),
  )
  .addSubcommand((s) =>
    s
      .setName("delete")
      .setDescription("Delete your questions, answers and votes in this server (asks first)"),
  );

const clip = (text: string, max: number) => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);

/** Where a student's exported answers live on, and who exported them (a mention that never pings). */
export function exportedLines(exported: ExportedByStudent[]): string[] {
  return exported.map(
    (e) =>
      `• ${e.lines} answer(s) in dataset #${e.datasetId} (${escapeMarkdown(e.fileName)}), exported by ${e.exportedBy === ANONYMOUS_USER ? "a teacher who has since deleted their data" : `<@${e.exportedBy}>`}`,
  );
}

const EXPORTED_NOTE =
  "These live on in the teachers' datasets: ask the teacher to remove them with `/dataset remove-student`.";

export default {
  data,
  access: "everyone",
  async execute(interaction, ctx) {
    const sub = interaction.options.getSubcommand();
    const { guildId } = interaction;
    const userId = interaction.user.id;
    if (sub === "show") {
      const report = await ctx.privacy.show(guildId, userId);
      const lines: string[] = [];
      if (report.counts.length === 0) lines.push("classtune holds nothing about you in this server.");
      else {
        lines.push("**What classtune holds about you in this server**");
        for (const c of report.counts)
          lines.push(`• ${c.kind} (\`${c.table}.${c.column}\`): ${c.rows} — on delete: ${c.onDelete}`);
      }
      if (report.lastQuestions.length > 0) {
        lines.push("", "**Your last questions**");
        for (const q of report.lastQuestions) {
          lines.push(
            `• ${q.createdAt.slice(0, 10)}: ${escapeMarkdown(clip(q.question.replace(/\s+/g, " "), 150))}`,
          );
        }
      }
      if (report.exported.length > 0) {
        lines.push(
          "",
          "**Exported by a teacher into a dataset**",
          ...exportedLines(report.exported),
          EXPORTED_NOTE,
        );
      }
      const json = Buffer.from(JSON.stringify(report, null, 2));
      const fits = json.length <= DiscordLimits.attachmentBytes;
      lines.push(
        "",
        fits
          ? "Everything is in the attached file. `/privacy delete` deletes it."
          : "It is too much to attach here: the bot's operator can export it for you. `/privacy delete` deletes it.",
      );
      await respond(interaction, {
        content: clip(lines.join("\n"), DiscordLimits.messageContent),
        files: fits ? [new AttachmentBuilder(json, { name: "classtune-privacy.json" })] : [],
      });
      return;
    }
    if (sub === "delete") {
      const report = await ctx.privacy.show(guildId, userId);
      const total = report.counts.reduce((n, c) => n + c.rows, 0);
      await respond(interaction, {
        content: [
          `This deletes your questions, answers, votes and cached answers in this server, and removes your id from its usage records (${total} row(s) in all). It cannot be undone.`,
          ...(report.exported.length > 0
            ? ["", "Not deleted by this:", ...exportedLines(report.exported), EXPORTED_NOTE]
            : []),
        ].join("\n"),
        components: [
          new ActionRowBuilder<ButtonBuilder>().addComponents(
            new ButtonBuilder()
              .setCustomId(confirmDeleteId(userId))
              .setLabel("Delete my data")
              .setStyle(ButtonStyle.Danger),
          ),
        ],
      });
      return;
    }
    throw new Error(`no handler for /privacy ${sub}`);
  },
} satisfies Command;

/** The "Delete my data" button: deletes the presser's data, and only when the button is theirs. */
export const confirmDelete = {
  prefix: "privacy",
  access: "everyone",
  async handle(interaction, ctx) {
    const [, action, owner] = interaction.customId.split(":");
    if (action !== "delete" || owner === undefined) throw new UserError("That button is not valid any more.");
    if (owner !== interaction.user.id) {
      throw new UserError(
        "This button deletes someone else's data: only they can press it. Use `/privacy delete` for yours.",
      );
    }
    const result = await ctx.privacy.delete(interaction.guildId, interaction.user.id);
    const rows = Object.values(result.touched).reduce((n, c) => n + c, 0);
    await respond(interaction, {
      content: [
        `Done: ${rows} row(s) deleted or anonymised${result.cachedAnswersForgotten > 0 ? `, ${result.cachedAnswersForgotten} cached answer(s) forgotten` : ""}. Usage totals stay, without your id.`,
        ...(result.exported.length > 0
          ? ["", "Still held:", ...exportedLines(result.exported), EXPORTED_NOTE]
          : []),
      ].join("\n"),
    });
  },
} satisfies ComponentHandler;
