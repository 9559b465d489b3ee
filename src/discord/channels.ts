// Which server a channel belongs to, checked wherever a channel id is accepted: a command's channel option
// (every command that takes a channel reads it through guildChannelOption, so another server's channel, typed
// by hand or forged, is refused before anything is stored) and the notice sender (never posts a server's
// notices in another server's channel).
import { type ChatInputCommandInteraction, type Client, DiscordAPIError } from "discord.js";
import { UserError } from "../domain/errors.ts";

export const CHANNEL_NOT_IN_GUILD = "channel_not_in_guild";

/** The server of a channel, from the client's cache or else Discord; undefined when it is unknown or hidden. */
export async function guildOfChannel(client: Client, channelId: string): Promise<string | undefined> {
  try {
    const channel = client.channels.cache.get(channelId) ?? (await client.channels.fetch(channelId));
    return channel && "guildId" in channel ? channel.guildId : undefined;
  } catch (err) {
    if (err instanceof DiscordAPIError) return undefined; // unknown channel, or one the bot cannot see
    throw err;
  }
}

export interface GuildChannelOption {
  id: string;
}

export async function guildChannelOption(
  interaction: ChatInputCommandInteraction,
  name: string,
  required: true,
): Promise<GuildChannelOption>;
export async function guildChannelOption(
  interaction: ChatInputCommandInteraction,
  name: string,
  required?: boolean,
): Promise<GuildChannelOption | undefined>;
/** The option's channel when it is one of the interaction's server's channels; a UserError otherwise. */
export async function guildChannelOption(
  interaction: ChatInputCommandInteraction,
  name: string,
  required = false,
): Promise<GuildChannelOption | undefined> {
  const channel = interaction.options.getChannel(name, required);
  if (!channel) return undefined;
  // A cached channel knows its server; the option's resolved data alone does not (Discord leaves guild_id out).
  const guildId =
    "guildId" in channel && typeof channel.guildId === "string"
      ? channel.guildId
      : await guildOfChannel(interaction.client, channel.id);
  if (guildId === undefined || guildId !== interaction.guildId) {
    throw new UserError(
      `That channel (${channel.id}) is not in this server: choose one of this server's channels.`,
      CHANNEL_NOT_IN_GUILD,
    );
  }
  return { id: channel.id };
}
