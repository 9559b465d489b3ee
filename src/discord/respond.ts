// Answering an interaction whatever state it is in (fresh, deferred, replied), with mentions off.
import {
  type ButtonInteraction,
  type ChatInputCommandInteraction,
  type InteractionEditReplyOptions,
  type InteractionReplyOptions,
  MessageFlags,
  type ModalSubmitInteraction,
} from "discord.js";

export type RepliableInteraction = ChatInputCommandInteraction | ButtonInteraction | ModalSubmitInteraction;

export interface ReplyPayload {
  content?: string;
  embeds?: InteractionReplyOptions["embeds"];
  components?: InteractionReplyOptions["components"];
  files?: InteractionReplyOptions["files"];
  /** Only used when the interaction has not been acknowledged yet; a deferral fixed it already. */
  ephemeral?: boolean;
  /** Users who may be pinged; nobody else, never @everyone or roles. */
  mentionUsers?: string[];
}

function allowedMentions(p: ReplyPayload) {
  return { parse: [], users: p.mentionUsers ?? [] } as const;
}

/** Replies, or edits the deferred reply, or follows up when a reply was already sent. */
export async function respond(interaction: RepliableInteraction, payload: ReplyPayload): Promise<void> {
  const { ephemeral = true, mentionUsers: _m, ...rest } = payload;
  if (interaction.deferred && !interaction.replied) {
    await interaction.editReply({
      ...rest,
      allowedMentions: allowedMentions(payload),
    } as InteractionEditReplyOptions);
  } else if (interaction.replied) {
    await interaction.followUp({
      ...rest,
      flags: ephemeral ? MessageFlags.Ephemeral : undefined,
      allowedMentions: allowedMentions(payload),
    } as InteractionReplyOptions);
  } else {
    await interaction.reply({
      ...rest,
      flags: ephemeral ? MessageFlags.Ephemeral : undefined,
      allowedMentions: allowedMentions(payload),
    } as InteractionReplyOptions);
  }
}

/** Acknowledge now (Discord's 3-second deadline) when the work ahead waits on I/O. */
export async function defer(interaction: RepliableInteraction, { ephemeral = true } = {}): Promise<void> {
  if (interaction.deferred || interaction.replied) return;
  await interaction.deferReply(ephemeral ? { flags: MessageFlags.Ephemeral } : {});
}
