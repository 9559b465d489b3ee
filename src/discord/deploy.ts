// Registers the slash commands from the same list the runtime uses (`npm run deploy-commands`, src/deploy.ts).
import { REST, Routes } from "discord.js";
import { commands } from "../commands/index.ts";

export async function deployCommands(options: {
  token: string;
  clientId: string;
  guildId?: string | undefined;
  apiUrl: string;
}): Promise<number> {
  const rest = new REST({ api: options.apiUrl }).setToken(options.token);
  const body = commands.map((c) => c.data.toJSON());
  const route = options.guildId
    ? Routes.applicationGuildCommands(options.clientId, options.guildId)
    : Routes.applicationCommands(options.clientId);
  const result = (await rest.put(route, { body })) as unknown[];
  return result.length;
}
