// /dataset: validate a JSONL attachment (report, cleaned file, "Fine-tune this") and list the guild's datasets.
//
// Each subcommand is one entry of `subcommands` below: its builder, its handler and (optionally) its
// autocomplete. To add one (e.g. `/dataset export`), add an entry: the slash-command data, the dispatch and
// the autocomplete all read the map, nothing else needs to change.
import { stat } from "node:fs/promises";
import {
  ActionRowBuilder,
  type ApplicationCommandOptionChoiceData,
  AttachmentBuilder,
  type AutocompleteInteraction,
  ButtonBuilder,
  ButtonStyle,
  type ChatInputCommandInteraction,
  EmbedBuilder,
  escapeMarkdown,
  InteractionContextType,
  PermissionFlagsBits,
  SlashCommandBuilder,
  type SlashCommandSubcommandBuilder,
} from "discord.js";
import type { ExportFormat } from "../classroom/feedback.ts";
import type { DatasetRow } from "../datasets/store.ts";
import type { Command } from "../discord/command.ts";
import type { AppContext } from "../discord/context.ts";
import { fileStem, modelOption, providerCatalog, storeAttachment } from "../discord/datasetUpload.ts";
import { DiscordLimits } from "../discord/limits.ts";
import { baseModelChoices, providerChoices } from "../discord/modelChoices.ts";
import { Colors, renderReportEmbed } from "../discord/render/report.ts";
import { defer, respond } from "../discord/respond.ts";
import { isTrainable } from "../domain/trainable.ts";

/** Files a bot may upload without server boosts. */
const MAX_UPLOAD_BYTES = DiscordLimits.attachmentBytes;

/** The custom id of the "Fine-tune this" button (handled in src/commands/finetune.ts). */
export const fineTuneThisId = (datasetId: number) => `finetune:from-dataset:${datasetId}`;

export interface DatasetSubcommand {
  build(s: SlashCommandSubcommandBuilder): SlashCommandSubcommandBuilder;
  execute(interaction: ChatInputCommandInteraction<"cached" | "raw">, ctx: AppContext): Promise<void>;
  autocomplete?(
    interaction: AutocompleteInteraction<"cached" | "raw">,
    ctx: AppContext,
  ): Promise<ApplicationCommandOptionChoiceData[]>;
}

const validate: DatasetSubcommand = {
  build: (s) =>
    s
      .setDescription("Check a JSONL dataset against a provider's rules, estimate its cost and store it")
      .addAttachmentOption((o) =>
        o.setName("file").setDescription("The dataset: one JSON object per line (.jsonl)").setRequired(true),
      )
      .addStringOption((o) =>
        o
          .setName("model")
          .setDescription("Base model to validate for (default: the provider's default)")
          .setAutocomplete(true),
      )
      .addStringOption((o) =>
        o
          .setName("provider")
          .setDescription("Fine-tuning provider whose rules and models apply (default: the default provider)")
          .setAutocomplete(true),
      ),
  async execute(interaction, ctx) {
    await defer(interaction);
    const catalog = providerCatalog(interaction.options.getString("provider"), ctx.catalogs);
    const model = modelOption(interaction.options.getString("model"), catalog);
    const attachment = interaction.options.getAttachment("file", true);
    const stored = await storeAttachment(ctx, {
      guildId: interaction.guildId,
      uploaderId: interaction.user.id,
      attachment,
      model,
      provider: catalog.provider,
    });
    const { row, report } = stored;
    const reportFile = (name: string) =>
      new AttachmentBuilder(Buffer.from(JSON.stringify(report, null, 2)), {
        name: `${fileStem(name)}.report.json`,
      });
    if (row === null) {
      await respond(interaction, {
        content: `Not stored: ${stored.refused}. Attach the dataset as a JSONL text file (one JSON object per line).`,
        embeds: [renderReportEmbed(report, attachment.name)],
        files: [reportFile(attachment.name)],
      });
      return;
    }
    const stem = fileStem(row.fileName);
    const files = [reportFile(row.fileName)];
    const notes: string[] = [];
    if (row.cleanedPath) {
      const { size } = await stat(row.cleanedPath);
      if (size <= MAX_UPLOAD_BYTES) {
        files.push(new AttachmentBuilder(row.cleanedPath, { name: `${stem}.cleaned.jsonl` }));
        notes.push(`The ${report.valid} valid line(s) are attached as \`${stem}.cleaned.jsonl\`.`);
      } else {
        notes.push(
          "The cleaned file is too large to attach here; it is stored and used by `/finetune start`.",
        );
      }
    }
    const usable = isTrainable(row);
    notes.push(
      usable
        ? `Stored as dataset #${row.id}: fine-tune it with the button or \`/finetune start dataset:${row.id}\`.`
        : `Stored as dataset #${row.id}; fix the problems and upload it again to fine-tune.`,
    );
    const embed = renderReportEmbed(report, `Dataset #${row.id}: ${row.fileName}`);
    await respond(interaction, {
      content: notes.join("\n"),
      embeds: [embed],
      files,
      components: usable ? [fineTuneThisRow(row.id)] : [],
    });
  },
  async autocomplete(interaction, ctx) {
    const focused = interaction.options.getFocused(true);
    if (focused.name === "provider") return providerChoices(ctx, focused.value);
    if (focused.name !== "model") return [];
    // The models of the provider chosen so far (none chosen, or not one: the default's).
    const chosen = interaction.options.getString("provider") ?? undefined;
    const known = ctx.catalogs.catalogs.find(
      (c) => c.provider.toLowerCase() === chosen?.trim().toLowerCase(),
    );
    return baseModelChoices(focused.value, known ?? ctx.catalogs.default);
  },
};

/** The "Fine-tune this" button under a stored, usable dataset. */
function fineTuneThisRow(datasetId: number): ActionRowBuilder<ButtonBuilder> {
  return new ActionRowBuilder<ButtonBuilder>().addComponents(
    new ButtonBuilder()
      .setCustomId(fineTuneThisId(datasetId))
      .setLabel("Fine-tune this")
      .setStyle(ButtonStyle.Primary),
  );
}

function datasetLine(d: DatasetRow): string {
  const verdict = isTrainable(d)
    ? d.invalid === 0
      ? "✅ valid"
      : `⚠️ ${d.invalid} invalid (cleaned file usable)`
    : `❌ ${d.invalid > 0 ? `${d.invalid} invalid` : "too few examples"}`;
  return `**#${d.id}** ${escapeMarkdown(d.fileName)} · ${d.valid}/${d.examples} examples · ${verdict} · ${d.totalTokens.toLocaleString("en-US")} tokens · ${d.baseModel} · ${d.createdAt.slice(0, 10)}`;
}

const list: DatasetSubcommand = {
  build: (s) => s.setDescription("This server's datasets, newest first"),
  async execute(interaction, ctx) {
    const rows = await ctx.datasets.list(interaction.guildId, DiscordLimits.autocompleteChoices);
    if (rows.length === 0) {
      await respond(interaction, {
        content: "No datasets yet: attach one with `/dataset validate file:`.",
      });
      return;
    }
    let description = "";
    for (const line of rows.map(datasetLine)) {
      if (description.length + line.length + 1 > DiscordLimits.embedDescription) break;
      description += `${line}\n`;
    }
    const embed = new EmbedBuilder()
      .setTitle("Datasets")
      .setColor(Colors.info)
      .setDescription(description.trimEnd())
      .setFooter({ text: "Fine-tune one with /finetune start dataset:<id>" });
    await respond(interaction, { embeds: [embed] });
  },
};

/** `/dataset export`: the guild's well-rated and teacher-corrected Q&A as a new dataset, through the validator. */
const exportAnswers: DatasetSubcommand = {
  build: (s) =>
    s
      .setDescription("Turn well-rated and teacher-corrected /ask answers into a new dataset")
      .addIntegerOption((o) =>
        o
          .setName("min-score")
          .setDescription(
            "Net votes (👍 − 👎) an answer needs, or for preference the margin between two; default 1",
          )
          .setMinValue(1),
      )
      .addStringOption((o) =>
        o.setName("since").setDescription("Only answers from this date on (YYYY-MM-DD)").setMaxLength(40),
      )
      .addStringOption((o) =>
        o
          .setName("format")
          .setDescription(
            "supervised (Q&A examples, default) or preference (DPO pairs: the better answer over the other)",
          )
          .addChoices(
            { name: "supervised", value: "supervised" },
            { name: "preference", value: "preference" },
          ),
      ),
  async execute(interaction, ctx) {
    await defer(interaction);
    const result = await ctx.classroom.feedback.exportDataset({
      guildId: interaction.guildId,
      requesterId: interaction.user.id,
      format: (interaction.options.getString("format") ?? undefined) as ExportFormat | undefined,
      minScore: interaction.options.getInteger("min-score") ?? undefined,
      since: interaction.options.getString("since") ?? undefined,
    });
    const { row, report } = result;
    const { size } = await stat(row.storedPath);
    const usable = isTrainable(row);
    const notes = [
      result.format === "preference"
        ? `Exported ${result.examples} preference pair(s) for DPO: ${result.fromCorrections} a teacher's correction over the model's answer, ${result.fromVotes} the class's better-rated answer over the other.`
        : `Exported ${result.examples} example(s): ${result.fromCorrections} corrected by a teacher, ${result.fromVotes} rated by the class.`,
      ...(result.multiTurn > 0
        ? [
            `${result.multiTurn} of them ${result.multiTurn === 1 ? "is a follow-up conversation" : "are follow-up conversations"}, exported as multi-turn examples.`,
          ]
        : []),
      usable
        ? `Stored as dataset #${row.id}: fine-tune it with the button or \`/finetune start dataset:${row.id}\`.`
        : `Stored as dataset #${row.id}; it needs more examples (or fixes) before it can be fine-tuned.`,
    ];
    if (size > MAX_UPLOAD_BYTES) notes.push("The file is too large to attach here; it is stored.");
    await respond(interaction, {
      content: notes.join("\n"),
      embeds: [renderReportEmbed(report, `Dataset #${row.id}: ${row.fileName}`)],
      files: size <= MAX_UPLOAD_BYTES ? [new AttachmentBuilder(row.storedPath, { name: row.fileName })] : [],
      components: usable ? [fineTuneThisRow(row.id)] : [],
    });
  },
};

/**
 * `/dataset remove-student student:<user>`: takes the student's exported answers out of every dataset of this server.
 * Each dataset is rewritten (validated again, stored content-addressed like an upload, same id), and its old file is
 * deleted once no dataset refers to it. A model already trained on it, and the copy the fine-tuning provider received,
 * are not changed: the reply says so.
 */
const removeStudent: DatasetSubcommand = {
  build: (s) =>
    s
      .setDescription("Remove a student's exported answers from this server's datasets (rewrites them)")
      .addUserOption((o) => o.setName("student").setDescription("Whose answers to remove").setRequired(true)),
  async execute(interaction, ctx) {
    await defer(interaction);
    const student = interaction.options.getUser("student", true);
    const result = await ctx.privacy.removeStudent(interaction.guildId, student.id);
    if (result.datasets.length === 0) {
      await respond(interaction, { content: `No dataset of this server holds answers of <@${student.id}>.` });
      return;
    }
    const lines = result.datasets.map(
      (d) =>
        `• dataset #${d.id} (${escapeMarkdown(d.fileName)}): ${d.removed} example(s) removed, ${d.examplesLeft} left${d.fineTunable ? "" : " (no longer fine-tunable as it is)"}`,
    );
    await respond(interaction, {
      content: [
        `Removed <@${student.id}>'s answers:`,
        ...lines,
        "A model already trained on these datasets, and the copies the fine-tuning provider received, are not changed.",
      ].join("\n"),
    });
  },
};

/** The subcommands, by name: the builder, dispatch and autocomplete below all read this map. */
export const subcommands: Record<string, DatasetSubcommand> = {
  validate,
  list,
  export: exportAnswers,
  "remove-student": removeStudent,
};

const data = new SlashCommandBuilder()
  .setName("dataset")
  .setDescription("Validate and list fine-tuning datasets (teachers)")
  .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild)
  .setContexts(InteractionContextType.Guild);
for (const [name, sub] of Object.entries(subcommands)) data.addSubcommand((s) => sub.build(s.setName(name)));

export default {
  data,
  access: "teacher",
  async execute(interaction, ctx) {
    const sub = subcommands[interaction.options.getSubcommand()];
    if (!sub) throw new Error(`no handler for /dataset ${interaction.options.getSubcommand()}`);
    await sub.execute(interaction, ctx);
  },
  async autocomplete(interaction, ctx) {
    return (await subcommands[interaction.options.getSubcommand()]?.autocomplete?.(interaction, ctx)) ?? [];
  },
} satisfies Command;
