// The discord.js client as classtune uses it: Guilds intent only (no privileged intents), and
// mentions off by default on everything it sends.
import { Client, GatewayIntentBits } from "discord.js";

// Discord exempts interaction callbacks and webhooks (every /ask reply) from its 50 requests/s global limit,
// but discord.js paces all requests by it: /ask stalled at ~48 answers/s (bench/ask.ts). Classtune's other
// requests (notices) stay far below 50/s, and Discord's own 429s, global ones included, are still honoured.
const GLOBAL_REQUESTS_PER_SECOND = 1_000;

export function createDiscordClient(options: { apiUrl: string }): Client {
  return new Client({
    intents: [GatewayIntentBits.Guilds],
    allowedMentions: { parse: [] },
    rest: { api: options.apiUrl, globalRequestsPerSecond: GLOBAL_REQUESTS_PER_SECOND },
  });
}
