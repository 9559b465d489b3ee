// `npm run deploy-commands`: registers the slash commands from the same list the runtime uses.
// Guild deploys (DISCORD_GUILD_ID) are instant; global ones can take up to an hour to show everywhere.
// Run it when commands change, not on every start (Discord allows 200 command creates a day per guild).
import { pathToFileURL } from "node:url";
import { ConfigError, loadConfig } from "./config.ts";
import { deployCommands } from "./discord/deploy.ts";

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
