// /model: the guild's models (list, for everyone, with where each one's serving step stands and what its billed
// hosting costs so far), the default model of a channel or the guild (use: ready models only), models other
// providers serve (add; the deployment a teacher made by hand for a trained model makes that model ready), and
// billed hosting (deploy: after a confirmation showing its price, the day's budget and when it stops by itself;
// undeploy: stops the billing). Teachers only for use/add/deploy/undeploy, checked by the router on every call,
// the buttons included.
import {
  ActionRowBuilder,
  ButtonBuilder,
  type ButtonInteraction,
  ButtonStyle,
  ChannelType,
  EmbedBuilder,
  InteractionContextType,
  SlashCommandBuilder,
} from "discord.js";
import { guildChannelOption } from "../discord/channels.ts";
import type { Command, ComponentHandler } from "../discord/command.ts";
import type { AppContext } from "../discord/context.ts";
import { DiscordLimits } from "../discord/limits.ts";
import { guildModelChoices, hostedModelChoices } from "../discord/modelChoices.ts";
import { hostingLine, renderHostingOffer, renderStopOutcome } from "../discord/render/hosting.ts";
import { renderRedeploy, servingLines } from "../discord/render/jobs.ts";
import { defer, respond } from "../discord/respond.ts";
import { UserError } from "../domain/errors.ts";

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
  )
  .addSubcommand((s) =>
    s
      .setName("deploy")
      .setDescription("Start (or wake) a model's hosting, billed while it runs (teachers)")
      .addStringOption((o) =>
        o
          .setName("model")
          .setDescription("A trained model of this server")
          .setRequired(true)
          .setAutocomplete(true),
      ),
  )
  .addSubcommand((s) =>
    s
      .setName("undeploy")
      .setDescription("Stop a model's hosting: the billing stops, the model sleeps (teachers)")
      .addStringOption((o) =>
        o
          .setName("model")
          .setDescription("A hosted model of this server")
          .setRequired(true)
          .setAutocomplete(true),
      ),
  );

export const HOSTING_PREFIX = "hosting";

/** The Wake button under an "asleep" answer, for teachers: leads to the same confirmation as /model deploy. */
export function wakeButtonRow(modelId: number): ActionRowBuilder<ButtonBuilder> {
  return new ActionRowBuilder<ButtonBuilder>().addComponents(
    new ButtonBuilder()
      .setCustomId(`${HOSTING_PREFIX}:wake:${modelId}`)
      .setLabel("Wake it (teachers)")
      .setStyle(ButtonStyle.Primary),
  );
}

/** The confirmation: the price, the day's budget and the automatic stops, with Start and Cancel. */
export async function offerHosting(
  interaction: Parameters<Command["execute"]>[0] | ButtonInteraction<"cached" | "raw">,
  ctx: AppContext,
  modelName: string,
): Promise<void> {
  const offer = await ctx.hosting.offer(interaction.guildId ?? "", modelName);
  const row = new ActionRowBuilder<ButtonBuilder>().addComponents(
    new ButtonBuilder()
      .setCustomId(`${HOSTING_PREFIX}:start:${offer.model.id}`)
      .setLabel(`Start (${`$${offer.terms.price.usdPerHour.toFixed(2)}`}/h)`)
      .setStyle(ButtonStyle.Danger),
    new ButtonBuilder()
      .setCustomId(`${HOSTING_PREFIX}:cancel:0`)
      .setLabel("Cancel")
      .setStyle(ButtonStyle.Secondary),
  );
  await respond(interaction, { embeds: [renderHostingOffer(offer)], components: [row] });
}

async function modelById(ctx: AppContext, guildId: string, raw: string | undefined) {
  const id = Number(raw);
  const model = Number.isSafeInteger(id) && id > 0 ? await ctx.models.getById(guildId, id) : undefined;
  if (!model) throw new UserError("That model was not found in this server.", "not_found");
  return model;
}

/** Start / Cancel on the hosting confirmation, and Wake on an "asleep" answer. Teachers only (the router checks). */
export const hostingButtons = {
  prefix: HOSTING_PREFIX,
  access: "teacher",
  async handle(interaction, ctx) {
    if (!interaction.isButton())
      throw new Error(`unexpected ${HOSTING_PREFIX} interaction ${interaction.customId}`);
    const [, action, arg] = interaction.customId.split(":");
    const guildId = interaction.guildId ?? "";
    switch (action) {
      case "wake":
        await offerHosting(interaction, ctx, (await modelById(ctx, guildId, arg)).name);
        return;
      case "start": {
        const model = await modelById(ctx, guildId, arg);
        await interaction.update({ content: `Starting \`${model.name}\`…`, embeds: [], components: [] });
        const result = await ctx.hosting.start(guildId, model.name, interaction.user.id);
        await interaction.editReply({
          content: renderRedeploy(model.jobId ?? 0, result),
          embeds: [],
          components: [],
        });
        return;
      }
      case "cancel":
        await interaction.update({ content: "Cancelled: nothing was started.", embeds: [], components: [] });
        return;
      default:
        throw new Error(`unknown ${HOSTING_PREFIX} button ${interaction.customId}`);
    }
  },
} satisfies ComponentHandler;

const day = (iso: string | null) => (iso ? iso.slice(0, 10) : undefined);

/** A model's running hosting as a line of its own in /model list; "" when none runs. */
async function hostingOf(ctx: AppContext, guildId: string, model: string): Promise<string> {
  const state = await ctx.hosting.state(guildId, model);
  return state ? `\n${hostingLine(state)}` : "";
}

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
    const sub = interaction.options.getSubcommand(false);
    if (sub === "deploy" || sub === "undeploy") {
      return hostedModelChoices(ctx, interaction.guildId, focused.value);
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
          await ctx.classroom.settings.setChannelModel(guildId, channel.id, model, interaction.user.id);
          await respond(interaction, { content: `/ask in <#${channel.id}> now uses \`${model.trim()}\`.` });
        } else {
          await ctx.classroom.settings.setGuildModel(guildId, model);
          await respond(interaction, {
            content: `/ask now uses \`${model.trim()}\` in this server, except in channels with their own model.`,
          });
        }
        return;
      }
      case "deploy": {
        await offerHosting(interaction, ctx, interaction.options.getString("model", true));
        return;
      }
      case "undeploy": {
        await defer(interaction);
        const outcome = await ctx.hosting.stop(
          guildId,
          interaction.options.getString("model", true),
          interaction.user.id,
        );
        await respond(interaction, { content: renderStopOutcome(outcome) });
        return;
      }
      case "add": {
        const name = interaction.options.getString("model", true);
        const provider = interaction.options.getString("provider", true);
        // The deployment a teacher made by hand for a trained model (Azure without credentials).
        const deployed = await ctx.serving.acceptManualDeployment(guildId, name, provider);
        if (deployed) {
          await respond(interaction, {
            content: `\`${name.trim()}\` is the deployment of job #${deployed.jobId}'s model \`${deployed.name}\` (${deployed.provider}): that model is ready now and answers as \`${deployed.servedAs}\`. Use it with \`/model use model:${deployed.name}\` or \`/ask model:\`.`,
          });
          return;
        }
        const row = await ctx.classroom.settings.addModel(
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
        const models = await ctx.models.list(guildId, DiscordLimits.embedFields);
        const guildDefault = (await ctx.guildSettings.get(guildId)).defaultModel;
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
              .concat(await hostingOf(ctx, guildId, m.name))
              .slice(0, DiscordLimits.embedFieldValue),
          });
        }
        await respond(interaction, { embeds: [embed] });
      }
    }
  },
} satisfies Command;
