// `npm run deploy-commands`: registers the slash commands from the same list the runtime uses.
// Guild deploys (DISCORD_GUILD_ID) are instant; global ones can take up to an hour to show everywhere.
// Run it when commands change, not on every start (Discord allows 200 command creates a day per guild).
import { pathToFileURL } from "node:url";
import { REST, Routes } from "discord.js";
import { commands } from "./commands/index.ts";
import { ConfigError, loadConfig } from "./config.ts";

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

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  try {
    const config = loadConfig();
    const { token, clientId, guildId, apiUrl } = config.discord;
    if (!token || !clientId) {
      process.stderr.write(
        "deploy-commands needs DISCORD_TOKEN and DISCORD_CLIENT_ID (see .env.example and the README).\n",
      );
      process.exit(2);
    }
    const n = await deployCommands({ token, clientId, guildId, apiUrl });
    process.stdout.write(`Registered ${n} commands ${guildId ? `in guild ${guildId}` : "globally"}.\n`);
  } catch (err) {
    process.stderr.write(
      `deploy-commands: ${err instanceof ConfigError || err instanceof Error ? err.message : String(err)}\n`,
    );
    process.exit(err instanceof ConfigError ? 2 : 1);
  }
}
