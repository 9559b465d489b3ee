// /config: where notices go, which role counts as teacher, and what the guild is set to.
import {
  ChannelType,
  EmbedBuilder,
  InteractionContextType,
  PermissionFlagsBits,
  SlashCommandBuilder,
} from "discord.js";
import { guildChannelOption } from "../discord/channels.ts";
import type { Command } from "../discord/command.ts";
import { DiscordLimits } from "../discord/limits.ts";
import { describeProvider } from "../discord/render/jobs.ts";
import { respond } from "../discord/respond.ts";

const data = new SlashCommandBuilder()
  .setName("config")
  .setDescription("Configure classtune for this server (teachers)")
  .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild)
  .setContexts(InteractionContextType.Guild)
  .addSubcommand((s) =>
    s
      .setName("notifications")
      .setDescription("Choose the channel where fine-tuning notices are posted")
      .addChannelOption((o) =>
        o
          .setName("channel")
          .setDescription("A text channel the bot can post in")
          .addChannelTypes(ChannelType.GuildText, ChannelType.GuildAnnouncement)
          .setRequired(true),
      ),
  )
  .addSubcommand((s) =>
    s
      .setName("teacher-role")
      .setDescription("Members with this role may use the teacher commands")
      .addRoleOption((o) => o.setName("role").setDescription("The teachers' role").setRequired(true)),
  )
  .addSubcommand((s) => s.setName("show").setDescription("Show this server's classtune settings"));

export default {
  data,
  access: "teacher",
  async execute(interaction, ctx) {
    const guildId = interaction.guildId;
    switch (interaction.options.getSubcommand()) {
      case "notifications": {
        const channel = await guildChannelOption(interaction, "channel", true);
        ctx.guildSettings.update(guildId, { notifyChannelId: channel.id });
        const waiting = ctx.notifier.rearm(guildId);
        await respond(interaction, { content: `Fine-tuning notices will be posted in <#${channel.id}>.` });
        if (waiting > 0) {
          await ctx.notifier.drain().catch((err: unknown) => {
            ctx.logger.warn({ err, guildId }, "could not post the waiting notices; the poller retries");
          });
        }
        return;
      }
      case "teacher-role": {
        // Choosing who may spend money is for the server's managers, not for anyone who holds the role now.
        if (!interaction.memberPermissions?.has(PermissionFlagsBits.ManageGuild)) {
          await respond(interaction, {
            content: "Only members with the Manage Server permission can choose the teacher role.",
          });
          return;
        }
        const role = interaction.options.getRole("role", true);
        if (role.id === guildId) {
          await respond(interaction, {
            content: "@everyone cannot be the teacher role: pick a role only teachers have.",
          });
          return;
        }
        ctx.guildSettings.update(guildId, { teacherRoleId: role.id });
        await respond(interaction, {
          content: `Members with <@&${role.id}> can now use the teacher commands.`,
        });
        return;
      }
      default: {
        const s = ctx.guildSettings.get(guildId);
        const notify = s.notifyChannelId ?? ctx.config.discord.notifyChannelId;
        const embed = new EmbedBuilder().setTitle("classtune settings").addFields(
          {
            name: "Notices",
            value: notify
              ? `<#${notify}>${s.notifyChannelId ? "" : " (bot default)"}`
              : "not set — `/config notifications`",
          },
          {
            name: "Teacher role",
            value: s.teacherRoleId ? `<@&${s.teacherRoleId}>` : "none — Manage Server only",
          },
          { name: "Default model for /ask", value: s.defaultModel ?? "the bot's configured base model" },
          {
            name: ctx.providers.all().length === 1 ? "Fine-tuning provider" : "Fine-tuning providers",
            value: ctx.providers
              .all()
              .map(describeProvider)
              .join("\n")
              .slice(0, DiscordLimits.embedFieldValue),
          },
          { name: "Cost cap per job", value: `$${ctx.config.maxJobCostUsd.toFixed(2)} (estimated)` },
        );
        await respond(interaction, { embeds: [embed] });
      }
    }
  },
} satisfies Command;
