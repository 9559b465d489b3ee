// The fake gateway: a WebSocket endpoint speaking Discord's gateway protocol v10 (JSON encoding), with the
// optional compression discord.js may ask for: `compress=zlib-stream` in the URL (one deflate stream,
// each payload ending in a Z_SYNC_FLUSH) or `compress: true` in IDENTIFY (each payload deflated on its own).
import type { IncomingMessage } from "node:http";
import { createDeflate, type Deflate, deflateSync, constants as zlibConstants } from "node:zlib";
import { GatewayCloseCodes, GatewayDispatchEvents, GatewayOpcodes } from "discord.js";
import type { WebSocket } from "ws";
import { randomToken, shardOf } from "./ids.ts";

/** A payload as it crossed the wire, recorded for assertions. */
export interface GatewayFrame {
  sessionId: string | undefined;
  direction: "received" | "sent";
  op: GatewayOpcodes;
  t?: string | null | undefined;
  d: unknown;
  at: number;
}

export interface IdentifyRecord {
  token: string;
  intents: number;
  compress: boolean;
  shard: [number, number] | undefined;
  properties: Record<string, string>;
  /** The query string of the connection: v, encoding, compress. */
  query: Record<string, string>;
}

/** What the gateway needs from the rest of the fake. */
export interface GatewayHost {
  token: string;
  heartbeatIntervalMs: number;
  resumeUrl: string;
  /** READY for a session that has just identified (its sessionId and identify are set). */
  readyPayload(session: GatewaySession): Record<string, unknown>;
  /** The dispatches to send right after READY (GUILD_CREATE for every guild of the session's shard). */
  initialDispatches(session: GatewaySession): { t: GatewayDispatchEvents; d: unknown }[];
  record(frame: GatewayFrame): void;
  onIdentify(session: GatewaySession, identify: IdentifyRecord): void;
  /** A closed session with this id that may be resumed. */
  resumableSession(sessionId: string): GatewaySession | undefined;
  onResume(session: GatewaySession): void;
  onChange(): void;
}

export class GatewaySession {
  sessionId: string | undefined;
  sequence = 0;
  ready = false;
  closed = false;
  identify: IdentifyRecord | undefined;
  private deflate: Deflate | undefined;
  private identifyCompress = false;
  private sendChain: Promise<void> = Promise.resolve();
  readonly query: Record<string, string>;

  constructor(
    private readonly host: GatewayHost,
    private readonly ws: WebSocket,
    request: IncomingMessage,
  ) {
    this.query = Object.fromEntries(new URL(request.url ?? "/", "ws://localhost").searchParams);
    if (this.query.v !== "10") {
      ws.close(GatewayCloseCodes.InvalidAPIVersion, "Invalid API version");
      this.closed = true;
      return;
    }
    if ((this.query.encoding ?? "json") !== "json") {
      ws.close(GatewayCloseCodes.DecodeError, "Only JSON encoding is faked");
      this.closed = true;
      return;
    }
    if (this.query.compress === "zlib-stream") this.deflate = createDeflate();
    ws.on("message", (data, isBinary) => this.receive(data as Buffer, isBinary));
    ws.on("close", () => {
      this.closed = true;
      this.ready = false;
      this.host.onChange();
    });
    ws.on("error", () => {});
    this.send(GatewayOpcodes.Hello, { heartbeat_interval: host.heartbeatIntervalMs });
  }

  /**
   * Whether this connection receives a guild's events: every guild when it identified without `shard` (or as
   * [0, 1]); else those with (guild_id >> 22) % num_shards === shard_id, as Discord routes them.
   */
  owns(guildId: string): boolean {
    const shard = this.identify?.shard;
    return shard === undefined || shardOf(guildId, shard[1]) === shard[0];
  }

  /** Sends a dispatch (op 0) with the next sequence number. */
  dispatch(t: GatewayDispatchEvents | string, d: unknown): void {
    this.sequence += 1;
    this.send(GatewayOpcodes.Dispatch, d, t, this.sequence);
  }

  send(op: GatewayOpcodes, d: unknown, t: string | null = null, s: number | null = null): void {
    if (this.closed) return;
    const json = JSON.stringify({ op, d, s, t });
    this.host.record({ sessionId: this.sessionId, direction: "sent", op, t, d, at: Date.now() });
    const { deflate } = this;
    if (deflate) {
      // One shared stream: serialise so frames stay in order, each ending with the 00 00 FF FF flush marker.
      this.sendChain = this.sendChain.then(
        () =>
          new Promise<void>((resolve) => {
            const chunks: Buffer[] = [];
            const onData = (chunk: Buffer) => chunks.push(chunk);
            deflate.on("data", onData);
            deflate.write(json);
            deflate.flush(zlibConstants.Z_SYNC_FLUSH, () => {
              deflate.off("data", onData);
              if (!this.closed) this.ws.send(Buffer.concat(chunks), { binary: true });
              resolve();
            });
          }),
      );
    } else if (this.identifyCompress) {
      this.ws.send(deflateSync(json), { binary: true });
    } else {
      this.ws.send(json);
    }
  }

  /** Closes the connection from the server side, e.g. to make the client reconnect. */
  close(code: number = GatewayCloseCodes.UnknownError, reason = "fake Discord closed the connection"): void {
    if (this.closed) return;
    this.closed = true;
    this.ready = false;
    this.ws.close(code, reason);
  }

  terminate(): void {
    this.closed = true;
    this.ready = false;
    this.ws.terminate();
  }

  private receive(data: Buffer, isBinary: boolean): void {
    let payload: { op?: unknown; d?: unknown };
    try {
      payload = JSON.parse(isBinary ? data.toString("utf8") : data.toString("utf8"));
    } catch {
      this.close(GatewayCloseCodes.DecodeError, "Error while decoding payload.");
      return;
    }
    const op = payload.op as GatewayOpcodes;
    this.host.record({ sessionId: this.sessionId, direction: "received", op, d: payload.d, at: Date.now() });
    switch (op) {
      case GatewayOpcodes.Heartbeat:
        this.send(GatewayOpcodes.HeartbeatAck, null);
        break;
      case GatewayOpcodes.Identify:
        this.onIdentify(payload.d as Record<string, unknown>);
        break;
      case GatewayOpcodes.Resume:
        this.onResume(payload.d as Record<string, unknown>);
        break;
      case GatewayOpcodes.PresenceUpdate:
      case GatewayOpcodes.VoiceStateUpdate:
      case GatewayOpcodes.RequestGuildMembers:
        break;
      default:
        this.close(GatewayCloseCodes.UnknownOpcode, "Unknown opcode.");
    }
    this.host.onChange();
  }

  /**
   * RESUME of a session whose connection has closed: the new connection takes over its id and sequence and
   * gets RESUMED. Events dispatched while no connection was up are not replayed (the fake drops them).
   * An unknown session gets "invalid session, do not resume", so the client identifies afresh.
   */
  private onResume(d: Record<string, unknown>): void {
    const previous = typeof d.session_id === "string" ? this.host.resumableSession(d.session_id) : undefined;
    if (d.token !== this.host.token || !previous || this.sessionId) {
      this.send(GatewayOpcodes.InvalidSession, false);
      return;
    }
    this.sessionId = previous.sessionId;
    this.sequence = previous.sequence;
    this.identify = previous.identify;
    previous.sessionId = undefined;
    this.host.onResume(this);
    this.dispatch(GatewayDispatchEvents.Resumed, {});
    this.ready = true;
  }

  private onIdentify(d: Record<string, unknown>): void {
    if (this.sessionId) {
      this.close(GatewayCloseCodes.AlreadyAuthenticated, "Already authenticated.");
      return;
    }
    if (d.token !== this.host.token) {
      this.close(GatewayCloseCodes.AuthenticationFailed, "Authentication failed.");
      return;
    }
    this.identify = {
      token: String(d.token),
      intents: Number(d.intents),
      compress: d.compress === true,
      shard: Array.isArray(d.shard) ? (d.shard as [number, number]) : undefined,
      properties: (d.properties ?? {}) as Record<string, string>,
      query: this.query,
    };
    this.identifyCompress = this.identify.compress && !this.deflate;
    this.sessionId = randomToken(16);
    this.host.onIdentify(this, this.identify);
    this.dispatch(GatewayDispatchEvents.Ready, this.host.readyPayload(this));
    for (const { t, d: data } of this.host.initialDispatches(this)) this.dispatch(t, data);
    this.ready = true;
  }
}
