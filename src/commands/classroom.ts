// /classroom: class channels (public answers, their own model, system prompt, fallback, temperature and
// max tokens). Teachers only: Manage Server by default, checked again by the router.
import {
  ChannelType,
  EmbedBuilder,
  InteractionContextType,
  PermissionFlagsBits,
  SlashCommandBuilder,
} from "discord.js";
import { MAX_SYSTEM_PROMPT_CHARS } from "../classroom/settings.ts";
import { guildChannelOption } from "../discord/channels.ts";
import type { Command } from "../discord/command.ts";
import { DiscordLimits } from "../discord/limits.ts";
import { guildModelChoices } from "../discord/modelChoices.ts";
import { respond } from "../discord/respond.ts";
import { DEFAULT_MAX_TOKENS, DEFAULT_SYSTEM_PROMPT, DEFAULT_TEMPERATURE } from "../domain/assistant.ts";

const textChannels = [ChannelType.GuildText, ChannelType.GuildAnnouncement] as const;

const data = new SlashCommandBuilder()
  .setName("classroom")
  .setDescription("Class channels: public answers from the class's model (teachers)")
  .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild)
  .setContexts(InteractionContextType.Guild)
  .addSubcommand((s) =>
    s
      .setName("setup")
      .setDescription("Make a channel a class channel, or change its settings")
      .addChannelOption((o) =>
        o
          .setName("channel")
          .setDescription("The class's channel")
          .addChannelTypes(...textChannels)
          .setRequired(true),
      )
      .addStringOption((o) =>
        o
          .setName("model")
          .setDescription("The model that answers there")
          .setRequired(true)
          .setAutocomplete(true),
      )
      .addStringOption((o) =>
        o
          .setName("system-prompt")
          .setDescription(`How the model should behave (default: "${DEFAULT_SYSTEM_PROMPT}")`)
          .setMaxLength(MAX_SYSTEM_PROMPT_CHARS),
      )
      .addStringOption((o) =>
        o
          .setName("fallback-model")
          .setDescription("Answers when the model is gone (shut down or deleted)")
          .setAutocomplete(true),
      )
      .addNumberOption((o) =>
        o
          .setName("temperature")
          .setDescription(`0 (focused) to 2 (creative); default ${DEFAULT_TEMPERATURE}`)
          .setMinValue(0)
          .setMaxValue(2),
      )
      .addIntegerOption((o) =>
        o
          .setName("max-tokens")
          .setDescription(`Longest answer in tokens; default ${DEFAULT_MAX_TOKENS}`)
          .setMinValue(1)
          .setMaxValue(16_384),
      ),
  )
  .addSubcommand((s) => s.setName("list").setDescription("List the class channels and channel models"))
  .addSubcommand((s) =>
    s
      .setName("remove")
      .setDescription("Make a class channel an ordinary channel again")
      .addChannelOption((o) =>
        o
          .setName("channel")
          .setDescription("The class channel")
          .addChannelTypes(...textChannels)
          .setRequired(true),
      ),
  );

const clip = (text: string, max: number) => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);

export default {
  data,
  access: "teacher",
  async autocomplete(interaction, ctx) {
    return guildModelChoices(ctx, interaction.guildId, interaction.options.getFocused());
  },
  async execute(interaction, ctx) {
    const guildId = interaction.guildId;
    const settings = ctx.classroom.settings;
    switch (interaction.options.getSubcommand()) {
      case "setup": {
        const channel = await guildChannelOption(interaction, "channel", true);
        const s = await settings.setup({
          guildId,
          channelId: channel.id,
          model: interaction.options.getString("model", true),
          systemPrompt: interaction.options.getString("system-prompt") ?? undefined,
          fallbackModel: interaction.options.getString("fallback-model") ?? undefined,
          temperature: interaction.options.getNumber("temperature") ?? undefined,
          maxTokens: interaction.options.getInteger("max-tokens") ?? undefined,
          teacherId: interaction.user.id,
        });
        await respond(interaction, {
          content: [
            `<#${s.channelId}> is a class channel: /ask there is answered publicly by \`${s.model}\`${s.fallbackModel ? ` (fallback \`${s.fallbackModel}\`)` : " (no fallback model)"}, temperature ${s.temperature}, at most ${s.maxTokens} tokens.`,
            `System prompt: ${clip(s.systemPrompt, 300)}`,
          ].join("\n"),
        });
        return;
      }
      case "remove": {
        const channel = await guildChannelOption(interaction, "channel", true);
        settings.remove(guildId, channel.id);
        await respond(interaction, {
          content: `<#${channel.id}> is no longer a class channel: /ask there is private again and uses the server's default model.`,
        });
        return;
      }
      default: {
        const rows = settings.list(guildId);
        const embed = new EmbedBuilder().setTitle("Class channels");
        if (rows.length === 0) {
          embed.setDescription("No class channels yet: `/classroom setup channel:… model:…` makes one.");
        }
        for (const r of rows.slice(0, DiscordLimits.embedFields)) {
          embed.addFields({
            name: r.isClass ? "Class channel" : "Channel model",
            value: clip(
              [
                `<#${r.channelId}>: \`${r.model}\`${r.fallbackModel ? `, fallback \`${r.fallbackModel}\`` : ""}`,
                r.isClass
                  ? `temperature ${r.temperature} · max ${r.maxTokens} tokens · prompt: ${clip(r.systemPrompt, 200)}`
                  : "private answers",
              ].join("\n"),
              DiscordLimits.embedFieldValue,
            ),
          });
        }
        if (rows.length > DiscordLimits.embedFields) {
          embed.setFooter({ text: `…and ${rows.length - DiscordLimits.embedFields} more` });
        }
        await respond(interaction, { embeds: [embed] });
      }
    }
  },
} satisfies Command;
