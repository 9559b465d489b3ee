// Composition root: config -> db -> services -> discord client -> scheduler.
import { ConfigError, loadConfig } from "./config.ts";

try {
  const config = loadConfig();
  if (!config.discord.token) {
    process.stderr.write(
      [
        "classtune: DISCORD_TOKEN is not set, so the bot cannot connect to Discord.",
        "  Set DISCORD_TOKEN (Bot → Reset Token) and DISCORD_CLIENT_ID (General Information → Application ID)",
        "  from https://discord.com/developers/applications, in the environment or in ./.env (see .env.example).",
        "  Offline, without Discord: npm run -s classtune -- help",
        "",
      ].join("\n"),
    );
    process.exit(1);
  }
  process.stderr.write("classtune: the Discord bot is not built yet.\n");
  process.exit(1);
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`classtune: ${err.message}\n`);
    process.exit(2);
  }
  throw err;
}
