// /config: where notices go, which role counts as teacher, and what the guild is set to.
import {
  ChannelType,
  EmbedBuilder,
  InteractionContextType,
  PermissionFlagsBits,
  SlashCommandBuilder,
} from "discord.js";
import type { SafetyView } from "../classroom/safety.ts";
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
  .addSubcommand((s) =>
    s
      .setName("safety")
      .setDescription("Show /ask's moderation; server admins can tighten it")
      .addNumberOption((o) =>
        o
          .setName("threshold")
          .setDescription("Flag the categories from this score (0.001 to 1), below the provider's own")
          .setMinValue(0.001)
          .setMaxValue(1),
      )
      .addStringOption((o) =>
        o
          .setName("categories")
          .setDescription('Which categories, comma-separated (e.g. "violence, harassment"), or "all"')
          .setMaxLength(500),
      )
      .addBooleanOption((o) =>
        o.setName("reset").setDescription("Back to the moderation provider's own decisions"),
      ),
  )
  .addSubcommand((s) =>
    s
      .setName("safety-channel")
      .setDescription("Where severe safety alerts also go (server admins); leave empty to stop")
      .addChannelOption((o) =>
        o
          .setName("channel")
          .setDescription("A channel of this server the safety lead reads")
          .addChannelTypes(ChannelType.GuildText, ChannelType.GuildAnnouncement),
      ),
  )
  .addSubcommand((s) =>
    s
      .setName("safety-role")
      .setDescription(
        "The role pinged on severe safety alerts, the only role classtune pings (server admins)",
      )
      .addRoleOption((o) => o.setName("role").setDescription("Leave empty to ping no role")),
  )
  .addSubcommand((s) => s.setName("show").setDescription("Show this server's classtune settings"));

function safetyEmbed(v: SafetyView): EmbedBuilder {
  return new EmbedBuilder().setTitle("Safety: moderation of /ask").addFields(
    {
      name: "Checked by",
      value: v.enabled
        ? `${v.moderator}: every question before the model, every answer before it is posted`
        : "nobody: moderation is off on this bot (MODERATION_PROVIDER=off)",
    },
    {
      name: "While moderation is down",
      value:
        v.fail === "closed"
          ? 'questions are refused ("try again shortly")'
          : "questions are answered unchecked, and teachers are told",
    },
    {
      name: "This server's tightening",
      value:
        v.threshold === null
          ? "none: the provider's own decisions (`/config safety threshold:` to tighten)"
          : `${v.categories.length === 0 ? "every category" : v.categories.join(", ")} flagged from a score of ${v.threshold}`,
    },
    { name: "Severe categories", value: v.severe.join(", ") },
  );
}

export default {
  data,
  access: "teacher",
  async execute(interaction, ctx) {
    const guildId = interaction.guildId;
    const sub = interaction.options.getSubcommand();
    switch (sub) {
      case "notifications": {
        const channel = await guildChannelOption(interaction, "channel", true);
        await ctx.guildSettings.update(guildId, { notifyChannelId: channel.id });
        const waiting = await ctx.notifier.rearm(guildId);
        await respond(interaction, { content: `Fine-tuning notices will be posted in <#${channel.id}>.` });
        if (waiting > 0) {
          await ctx.notifier.drain().catch((err: unknown) => {
            ctx.logger.warn({ err, guildId }, "could not post the waiting notices; the poller retries");
          });
        }
        return;
      }
      case "safety": {
        const threshold = interaction.options.getNumber("threshold") ?? undefined;
        const categories = interaction.options.getString("categories") ?? undefined;
        const reset = interaction.options.getBoolean("reset") ?? false;
        const changes = reset || threshold !== undefined || categories !== undefined;
        // What is flagged is for the server's managers to decide, checked here whatever Discord's defaults say.
        if (changes && !interaction.memberPermissions?.has(PermissionFlagsBits.ManageGuild)) {
          await respond(interaction, {
            content: "Only members with the Manage Server permission can change the safety settings.",
          });
          return;
        }
        const view = await (reset
          ? ctx.classroom.safety.reset(guildId)
          : changes
            ? ctx.classroom.safety.tighten(guildId, { threshold, categories })
            : ctx.classroom.safety.show(guildId));
        await respond(interaction, { embeds: [safetyEmbed(view)] });
        return;
      }
      case "safety-channel":
      case "safety-role": {
        // Who is woken for a child's safety is for the server's managers, checked here whatever Discord's defaults.
        if (!interaction.memberPermissions?.has(PermissionFlagsBits.ManageGuild)) {
          await respond(interaction, {
            content: "Only members with the Manage Server permission can choose where safety alerts go.",
          });
          return;
        }
        if (sub === "safety-channel") {
          const channel = await guildChannelOption(interaction, "channel");
          await ctx.classroom.safety.setChannel(guildId, channel?.id ?? null);
          await respond(interaction, {
            content: channel
              ? `Severe safety alerts (self-harm, violence, sexual content involving minors) now also go to <#${channel.id}>, besides the teachers' notice channel.`
              : "Severe safety alerts now go to the teachers' notice channel only.",
          });
          return;
        }
        const role = interaction.options.getRole("role");
        await ctx.classroom.safety.setRole(guildId, role?.id ?? null);
        await respond(interaction, {
          content: role
            ? `<@&${role.id}> will be pinged on severe safety alerts, and on nothing else. No other role is ever pinged.`
            : "No role is pinged on safety alerts any more.",
        });
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
        await ctx.guildSettings.update(guildId, { teacherRoleId: role.id });
        await respond(interaction, {
          content: `Members with <@&${role.id}> can now use the teacher commands.`,
        });
        return;
      }
      default: {
        const s = await ctx.guildSettings.get(guildId);
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
          {
            name: "Severe safety alerts",
            value: `${s.safetyChannelId ? `also in <#${s.safetyChannelId}>` : "in the notice channel only"}; ${s.safetyRoleId ? `ping <@&${s.safetyRoleId}>` : "ping no role"} (\`/config safety-channel\`, \`/config safety-role\`)`,
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
