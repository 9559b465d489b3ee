// Routes every interaction to its command or component handler, inside one error boundary:
// guild-only, the server-side access check, a safety-net deferral before Discord's 3-second deadline,
// UserErrors shown as short ephemeral messages, anything else logged with the interaction id.
import { DiscordAPIError, type Interaction, MessageFlags } from "discord.js";
import type { GuildSettings } from "../db/guildSettings.ts";
import { isUserError } from "../domain/errors.ts";
import { accessFor, type Command, type ComponentHandler } from "./command.ts";
import type { AppContext } from "./context.ts";
import { DiscordLimits } from "./limits.ts";
import { isTeacher, memberRoleIds } from "./permissions.ts";
import { type RepliableInteraction, respond } from "./respond.ts";

/** Turns a non-user error (a provider outage, say) into plain words, or undefined when it has none. */
export type ErrorDescriber = (err: unknown) => string | undefined;

export interface RouterOptions {
  commands: readonly Command[];
  components?: readonly ComponentHandler[];
  ctx: AppContext;
  describeError?: ErrorDescriber;
  /** Defer automatically if a handler has not acknowledged by then. */
  safetyDeferMs?: number;
}

export const GENERIC_ERROR =
  "Something went wrong on our side. The teachers can find the details in the bot's log.";
const TEACHERS_ONLY =
  "Only teachers can do that: you need the Manage Server permission or the teacher role (`/config teacher-role`).";

export interface InteractionRouter {
  handle(interaction: Interaction): Promise<void>;
  /** Resolves when no interaction is being handled (for graceful shutdown). */
  idle(): Promise<void>;
}

export function createInteractionRouter(options: RouterOptions): InteractionRouter {
  const { ctx, describeError, safetyDeferMs = DiscordLimits.acknowledgeMs - 700 } = options;
  const commands = new Map(options.commands.map((c) => [c.data.name, c]));
  const components = new Map((options.components ?? []).map((c) => [c.prefix, c]));
  const inFlight = new Set<Promise<void>>();

  const teacher = (interaction: Interaction) => interactionIsTeacher(interaction, ctx);

  async function fail(interaction: RepliableInteraction, err: unknown): Promise<void> {
    let message: string;
    if (isUserError(err)) {
      message = err.message;
    } else {
      const described = describeError?.(err);
      message = described ?? GENERIC_ERROR;
      ctx.logger.error(
        {
          err,
          interactionId: interaction.id,
          guildId: interaction.guildId,
          userId: interaction.user.id,
          command: interaction.isChatInputCommand() ? interaction.commandName : undefined,
          customId: "customId" in interaction ? interaction.customId : undefined,
        },
        described
          ? "provider error while handling an interaction"
          : "unexpected error while handling an interaction",
      );
    }
    try {
      await respond(interaction, {
        content: message.slice(0, DiscordLimits.messageContent),
        ephemeral: true,
      });
    } catch (replyErr) {
      // The token may have expired or Discord may be unreachable: nothing more we can tell the user.
      ctx.logger.warn({ err: replyErr, interactionId: interaction.id }, "could not deliver an error message");
    }
  }

  async function dispatch(interaction: Interaction): Promise<void> {
    if (interaction.isAutocomplete()) {
      const command = commands.get(interaction.commandName);
      if (!interaction.inGuild() || !command?.autocomplete) return void (await interaction.respond([]));
      const sub = interaction.options.getSubcommand(false);
      if (accessFor(command, sub) === "teacher" && !(await teacher(interaction)))
        return void (await interaction.respond([]));
      try {
        const choices = await command.autocomplete(interaction, ctx);
        await interaction.respond(
          choices.slice(0, DiscordLimits.autocompleteChoices).map((c) => ({
            ...c,
            name: c.name.slice(0, DiscordLimits.choiceName),
          })),
        );
      } catch (err) {
        ctx.logger.warn({ err, interactionId: interaction.id }, "autocomplete failed");
        if (!interaction.responded) await interaction.respond([]).catch(() => undefined);
      }
      return;
    }
    if (!interaction.isChatInputCommand() && !interaction.isButton() && !interaction.isModalSubmit()) return;
    if (!interaction.inGuild()) {
      await interaction.reply({
        content: "classtune works inside a server, not in direct messages.",
        flags: MessageFlags.Ephemeral,
      });
      return;
    }
    const timer = setTimeout(() => {
      if (!interaction.deferred && !interaction.replied) {
        interaction.deferReply({ flags: MessageFlags.Ephemeral }).catch(() => undefined);
      }
    }, safetyDeferMs);
    try {
      if (interaction.isChatInputCommand()) {
        const command = commands.get(interaction.commandName);
        if (!command) throw new Error(`no handler for /${interaction.commandName}`);
        if (
          accessFor(command, interaction.options.getSubcommand(false)) === "teacher" &&
          !(await teacher(interaction))
        ) {
          await respond(interaction, { content: TEACHERS_ONLY, ephemeral: true });
          return;
        }
        await command.execute(interaction, ctx);
      } else {
        const prefix = interaction.customId.split(":")[0] ?? "";
        const handler = components.get(prefix);
        if (!handler) throw new Error(`no handler for component ${interaction.customId}`);
        if (handler.access === "teacher" && !(await teacher(interaction))) {
          await respond(interaction, { content: TEACHERS_ONLY, ephemeral: true });
          return;
        }
        await handler.handle(interaction, ctx);
      }
    } catch (err) {
      await fail(interaction, err);
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    async handle(interaction) {
      const work = dispatch(interaction).catch((err: unknown) => {
        // Unknown interaction (10062) and the like: the token is gone; log and move on, never crash.
        const code = err instanceof DiscordAPIError ? err.code : undefined;
        ctx.logger.warn({ err, code, interactionId: interaction.id }, "interaction could not be answered");
      });
      inFlight.add(work);
      await work.finally(() => inFlight.delete(work));
    },
    async idle() {
      await Promise.allSettled([...inFlight]);
    },
  };
}

/**
 * The `isTeacher` decision for a handler that needs it for its own logic (not only access); from the guild's settings
 * when the handler already read them, else read now.
 */
export async function interactionIsTeacher(
  interaction: Interaction,
  ctx: AppContext,
  settings?: Pick<GuildSettings, "teacherRoleId">,
): Promise<boolean> {
  const guild = settings ?? (await ctx.guildSettings.get(interaction.guildId ?? ""));
  return isTeacher(
    { permissions: interaction.memberPermissions, roleIds: memberRoleIds(interaction.member) },
    guild.teacherRoleId,
  );
}
