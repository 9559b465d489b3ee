// The gateway's state for the health endpoints (src/health/server.ts): discord.js's Status in words, read from
// the client when a probe asks. READY means the client logged in and every shard it runs is READY now: the
// manager's own status stays Ready through a shard's reconnect, the shard's does not.
import { type Client, Status } from "discord.js";
import type { GatewayHealth } from "../health/server.ts";

const STATUS_WORDS: Record<Status, string> = {
  [Status.Ready]: "ready",
  [Status.Connecting]: "connecting",
  [Status.Reconnecting]: "reconnecting",
  [Status.Idle]: "idle",
  [Status.Nearly]: "nearly",
  [Status.Disconnected]: "disconnected",
  [Status.WaitingForGuilds]: "waiting_for_guilds",
  [Status.Identifying]: "identifying",
  [Status.Resuming]: "resuming",
};

/** discord.js's -1: no heartbeat answered yet. */
const pingOf = (ms: number): number | undefined => (Number.isFinite(ms) && ms >= 0 ? ms : undefined);

export function gatewayHealth(client: Client): GatewayHealth {
  const shards = [...client.ws.shards.values()].map((s) => ({
    id: s.id,
    status: STATUS_WORDS[s.status] ?? "unknown",
    ping: pingOf(s.ping),
  }));
  const notReady = shards.find((s) => s.status !== "ready");
  const ready = client.isReady() && shards.length > 0 && notReady === undefined;
  const status = ready ? "ready" : (notReady?.status ?? STATUS_WORDS[client.ws.status] ?? "unknown");
  return { ready, status, ping: pingOf(client.ws.ping), shards };
}
