// The discord.js client as classtune uses it: Guilds intent only (no privileged intents), and
// mentions off by default on everything it sends.
import { Client, GatewayIntentBits } from "discord.js";

export function createDiscordClient(options: { apiUrl: string }): Client {
  return new Client({
    intents: [GatewayIntentBits.Guilds],
    allowedMentions: { parse: [] },
    rest: { api: options.apiUrl },
  });
}
