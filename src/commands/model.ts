// /model: the guild's models (list, for everyone, with where each one's serving step stands), the default model
// of a channel or the guild (use: ready models only), and models other providers serve (add; the deployment a
// teacher made by hand for a trained model makes that model ready). Teachers only for use/add, checked by the
// router on every call.
import { ChannelType, EmbedBuilder, InteractionContextType, SlashCommandBuilder } from "discord.js";
import { guildChannelOption } from "../discord/channels.ts";
import type { Command } from "../discord/command.ts";
import { DiscordLimits } from "../discord/limits.ts";
import { guildModelChoices } from "../discord/modelChoices.ts";
import { servingLines } from "../discord/render/jobs.ts";
import { respond } from "../discord/respond.ts";

const data = new SlashCommandBuilder()
  .setName("model")
  .setDescription("The models /ask can use in this server")
  .setContexts(InteractionContextType.Guild)
  .addSubcommand((s) => s.setName("list").setDescription("List this server's models"))
  .addSubcommand((s) =>
    s
      .setName("use")
      .setDescription("Set the default model of a channel, or of the whole server (teachers)")
      .addStringOption((o) =>
        o.setName("model").setDescription("A model of this server").setRequired(true).setAutocomplete(true),
      )
      .addChannelOption((o) =>
        o
          .setName("channel")
          .setDescription("Only in this channel (default: the whole server)")
          .addChannelTypes(ChannelType.GuildText, ChannelType.GuildAnnouncement),
      ),
  )
  .addSubcommand((s) =>
    s
      .setName("add")
      .setDescription("Register a model another provider serves (teachers)")
      .addStringOption((o) =>
        o
          .setName("model")
          .setDescription("The model's id as its provider names it")
          .setRequired(true)
          .setMaxLength(256),
      )
      .addStringOption((o) =>
        o
          .setName("provider")
          .setDescription("A chat provider configured on this bot")
          .setRequired(true)
          .setAutocomplete(true),
      )
      .addStringOption((o) =>
        o.setName("label").setDescription("A friendly name shown in lists").setMaxLength(100),
      ),
  );

const day = (iso: string | null) => (iso ? iso.slice(0, 10) : undefined);

export default {
  data,
  access: (sub) => (sub === "list" ? "everyone" : "teacher"),
  async autocomplete(interaction, ctx) {
    const focused = interaction.options.getFocused(true);
    if (focused.name === "provider") {
      const typed = focused.value.toLowerCase();
      return ctx.classroom.providers
        .names()
        .filter((n) => n.toLowerCase().includes(typed))
        .map((n) => ({ name: n, value: n }));
    }
    return guildModelChoices(ctx, interaction.guildId, focused.value);
  },
  async execute(interaction, ctx) {
    const guildId = interaction.guildId;
    switch (interaction.options.getSubcommand()) {
      case "use": {
        const model = interaction.options.getString("model", true);
        const channel = await guildChannelOption(interaction, "channel");
        if (channel) {
          ctx.classroom.settings.setChannelModel(guildId, channel.id, model, interaction.user.id);
          await respond(interaction, { content: `/ask in <#${channel.id}> now uses \`${model.trim()}\`.` });
        } else {
          ctx.classroom.settings.setGuildModel(guildId, model);
          await respond(interaction, {
            content: `/ask now uses \`${model.trim()}\` in this server, except in channels with their own model.`,
          });
        }
        return;
      }
      case "add": {
        const name = interaction.options.getString("model", true);
        const provider = interaction.options.getString("provider", true);
        // The deployment a teacher made by hand for a trained model (Azure without credentials).
        const deployed = ctx.serving.acceptManualDeployment(guildId, name, provider);
        if (deployed) {
          await respond(interaction, {
            content: `\`${name.trim()}\` is the deployment of job #${deployed.jobId}'s model \`${deployed.name}\` (${deployed.provider}): that model is ready now and answers as \`${deployed.servedAs}\`. Use it with \`/model use model:${deployed.name}\` or \`/ask model:\`.`,
          });
          return;
        }
        const row = ctx.classroom.settings.addModel(
          guildId,
          name,
          provider,
          interaction.options.getString("label") ?? undefined,
        );
        await respond(interaction, {
          content: `Registered \`${row.name}\` (${row.provider})${row.label ? ` as "${row.label}"` : ""}. Use it with \`/model use\` or \`/ask model:\`.`,
        });
        return;
      }
      default: {
        const models = ctx.models.list(guildId, DiscordLimits.embedFields);
        const guildDefault = ctx.guildSettings.get(guildId).defaultModel;
        const embed = new EmbedBuilder()
          .setTitle("Models in this server")
          .setDescription(
            [
              `Server default for /ask: \`${guildDefault ?? ctx.config.ask.defaultModel}\`${guildDefault ? "" : " (the bot's base model)"}`,
              models.length === 0
                ? "No models yet: fine-tune one with `/finetune start`, or register one with `/model add`."
                : "",
            ]
              .filter((l) => l !== "")
              .join("\n"),
          );
        for (const m of models) {
          const shutdown = day(m.shutdownDate);
          embed.addFields({
            name: (m.label ?? m.name).slice(0, DiscordLimits.embedTitle),
            value: [
              m.label ? `\`${m.name}\`` : undefined,
              `provider ${m.provider}${ctx.providers.get(m.provider)?.sandbox ? " (sandbox)" : ""}`,
              `base ${m.baseModel}`,
              m.jobId !== null ? `trained ${day(m.createdAt)}` : `added ${day(m.createdAt)}`,
              shutdown ? `shuts down ${shutdown}` : undefined,
            ]
              .filter((p) => p !== undefined)
              .join(" · ")
              .concat(`\n${servingLines(m, m.jobId)}`)
              .slice(0, DiscordLimits.embedFieldValue),
          });
        }
        await respond(interaction, { embeds: [embed] });
      }
    }
  },
} satisfies Command;
