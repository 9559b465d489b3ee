// What a slash command and a component handler are. Each command file exports one `Command`;
// src/commands/index.ts lists them for both the runtime and the deploy script.
import type {
  ApplicationCommandOptionChoiceData,
  AutocompleteInteraction,
  ButtonInteraction,
  ChatInputCommandInteraction,
  ModalSubmitInteraction,
  RESTPostAPIChatInputApplicationCommandsJSONBody,
} from "discord.js";
import type { AppContext } from "./context.ts";

/** Who may use a command or a subcommand. Checked by the router on every interaction, server side. */
export type Access = "everyone" | "teacher";

export interface Command {
  data: { name: string; toJSON(): RESTPostAPIChatInputApplicationCommandsJSONBody };
  /** A fixed level, or per subcommand (e.g. `/model list` for everyone, `/model use` for teachers). */
  access: Access | ((subcommand: string | null) => Access);
  execute(interaction: ChatInputCommandInteraction<"cached" | "raw">, ctx: AppContext): Promise<void>;
  /** Choices for the focused option; the router caps them at Discord's 25 and answers [] on error. */
  autocomplete?(
    interaction: AutocompleteInteraction<"cached" | "raw">,
    ctx: AppContext,
  ): Promise<ApplicationCommandOptionChoiceData[]>;
}

/** Buttons and modals, routed by the prefix of their custom id (`prefix:rest`). */
export interface ComponentHandler {
  prefix: string;
  access: Access;
  handle(
    interaction: ButtonInteraction<"cached" | "raw"> | ModalSubmitInteraction<"cached" | "raw">,
    ctx: AppContext,
  ): Promise<void>;
}

export function accessFor(command: Command, subcommand: string | null): Access {
  return typeof command.access === "function" ? command.access(subcommand) : command.access;
}
