// The fake Discord itself: world state, the REST API (node:http) and the gateway (ws) on one loopback port,
// and the test-facing methods that dispatch interactions and wait for the bot's answers. See index.ts for
// the documented API.
import { EventEmitter } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import busboy from "busboy";
import {
  type APIAttachment,
  type APIInteraction,
  ApplicationCommandOptionType,
  ApplicationCommandType,
  ApplicationIntegrationType,
  ComponentType,
  GatewayDispatchEvents,
  GatewayOpcodes,
  InteractionContextType,
  InteractionResponseType,
  InteractionType,
  MessageFlags,
  PermissionFlagsBits,
  RESTJSONErrorCodes,
} from "discord.js";
import { WebSocketServer } from "ws";
import { type CdnFile, FakeCdn } from "./cdn.ts";
import { type GatewayFrame, type GatewayHost, GatewaySession, type IdentifyRecord } from "./gateway.ts";
import { randomToken, snowflake } from "./ids.ts";
import { FakeInteraction, type InteractionHost, type WaitOptions } from "./interaction.ts";
import {
  type ChannelSpec,
  DEFAULT_EVERYONE_PERMISSIONS,
  FakeChannel,
  FakeGuild,
  type FakeMember,
  FakeMessage,
  FakeRole,
  FakeUser,
  type RoleSpec,
  type UploadedFile,
} from "./model.ts";
import { componentLabel, renderTranscript, snapshot, type TimelineEvent } from "./transcript.ts";

export interface FakeDiscordOptions {
  botUserId?: string | undefined;
  /** Defaults to the bot user id, as for applications made in the developer portal. */
  applicationId?: string | undefined;
  botUsername?: string | undefined;
  /** Sent in HELLO. discord.js beats at this interval after a random first delay. Default 41,250 ms. */
  heartbeatIntervalMs?: number | undefined;
  /** The bot's permissions in every channel (`app_permissions`). Default: view, send, embed, attach, history. */
  botPermissions?: bigint | undefined;
  /** When set, a callback later than this after dispatch is refused with "Unknown interaction", like Discord. */
  ackDeadlineMs?: number | undefined;
  /** The clock for interaction timing (dispatch, callback, deadline). Default Date.now; tests may drive it. */
  clock?: (() => number) | undefined;
  /** Default timeout of every wait helper. Default 10,000 ms: generous for a loaded 2-core CI runner. */
  defaultTimeoutMs?: number | undefined;
  /** `shards` in GET /gateway/bot: the shard count Discord recommends (what SHARD_COUNT=auto runs). Default 1. */
  recommendedShards?: number | undefined;
  /**
   * `session_start_limit.max_concurrency` in GET /gateway/bot: how many shards may identify at once (discord.js
   * waits 5 s between two shards of one bucket). Default 1, as for most bots.
   */
  maxConcurrency?: number | undefined;
}

/** One REST request the fake received. */
export interface RecordedRequest {
  method: string;
  /** The path below the API version, e.g. `/channels/123/messages`. */
  path: string;
  query: Record<string, string>;
  /** The JSON body (or multipart `payload_json`), undefined when there was none. */
  body: unknown;
  files: UploadedFile[];
  /** Whether it carried `Authorization: Bot <token>` with the right token. */
  authorized: boolean;
  status: number;
  at: number;
}

/** A stored application command, as `PUT /applications/:app/commands` returned it. */
export interface StoredCommand {
  id: string;
  application_id: string;
  guild_id?: string;
  name: string;
  description: string;
  type: ApplicationCommandType;
  options?: CommandOptionDefinition[];
  default_member_permissions: string | null;
  version: string;
  [key: string]: unknown;
}

interface CommandOptionDefinition {
  type: ApplicationCommandOptionType;
  name: string;
  options?: CommandOptionDefinition[];
  [key: string]: unknown;
}

/** A value for a slash-command option; its Discord type comes from the deployed command, else from the value. */
export type OptionValue = string | number | boolean | CdnFile | FakeChannel | FakeRole | FakeUser;

export interface InteractionTarget {
  /** Where the user invoked the command; its guild is the interaction's guild. */
  channel: FakeChannel;
  user: FakeUser;
  locale?: string | undefined;
}

export interface SlashInput extends InteractionTarget {
  command: string;
  subcommand?: string | undefined;
  /** Subcommand group, for `/command group subcommand`. */
  group?: string | undefined;
  options?: Record<string, OptionValue | undefined> | undefined;
  /**
   * Default true: against a deployed command, unknown options, missing required ones, a missing subcommand
   * and values of the wrong type throw, as Discord's own client would never send them. false sends as given.
   */
  strict?: boolean | undefined;
}

export interface AutocompleteInput extends SlashInput {
  /** The option being typed in; its value is taken from `options[focused]` (default ""). */
  focused: string;
}

export interface ClickInput {
  message: FakeMessage;
  customId: string;
  user: FakeUser;
  /** For a select menu: the chosen values (string selects; ids for user, role and channel selects). */
  values?: string[] | undefined;
  /** Default: the message's channel. */
  channel?: FakeChannel | undefined;
  locale?: string | undefined;
  /**
   * A hostile client's forged click: sends `customId` as a button click on `message` even though the message
   * has no such component (Discord's clients never do; the bot must not trust the id).
   */
  forged?: boolean | undefined;
}

export interface ModalInput extends Partial<InteractionTarget> {
  /** The interaction the bot answered with a modal; supplies custom id, channel, user and message. */
  from?: FakeInteraction | undefined;
  customId?: string | undefined;
  /** Text input custom id → value. */
  fields: Record<string, string>;
  message?: FakeMessage | undefined;
}

type Handler = (req: ParsedRequest, params: string[]) => Reply | Promise<Reply>;

interface ParsedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body: Record<string, unknown> | undefined;
  files: UploadedFile[];
  authorized: boolean;
}

interface Reply {
  status: number;
  body?: unknown;
}

const DEFAULT_BOT_PERMISSIONS =
  PermissionFlagsBits.ViewChannel |
  PermissionFlagsBits.SendMessages |
  PermissionFlagsBits.EmbedLinks |
  PermissionFlagsBits.AttachFiles |
  PermissionFlagsBits.ReadMessageHistory;

/**
 * Discord's limits, checked on every message body so a bot that exceeds them fails like in production
 * (https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
 */
const LIMITS = {
  content: 2000,
  embeds: 10,
  embedTitle: 256,
  embedDescription: 4096,
  embedFields: 25,
  embedFieldName: 256,
  embedFieldValue: 1024,
  embedFooter: 2048,
  embedAuthor: 256,
  embedTotal: 6000,
  choices: 25,
  choiceText: 100,
  actionRows: 5,
};

const API_VERSION_PREFIX = "/api/v10";

/** The flags a bot may set when it creates a reply or follow-up. */
const REPLY_FLAGS =
  MessageFlags.Ephemeral |
  MessageFlags.SuppressEmbeds |
  MessageFlags.SuppressNotifications |
  MessageFlags.IsComponentsV2;

function discordError(status: number, code: number, message: string, errors?: unknown): Reply {
  return { status, body: { message, code, ...(errors ? { errors } : {}) } };
}

export class FakeDiscord implements GatewayHost, InteractionHost {
  /** Base URL for discord.js `rest.api` (and the deploy script): `http://127.0.0.1:PORT/api`. */
  readonly apiUrl: string;
  /** The gateway URL returned by `GET /gateway/bot`. */
  readonly gatewayUrl: string;
  /** The bot token the fake accepts (REST `Authorization: Bot …` and gateway IDENTIFY). */
  readonly token: string;
  readonly botUser: FakeUser;
  readonly applicationId: string;
  readonly heartbeatIntervalMs: number;
  /** Every REST request, in order. */
  readonly requests: RecordedRequest[] = [];
  /** REST requests for routes the fake does not implement (answered 404); a clean test leaves this empty. */
  readonly unhandledRequests: RecordedRequest[] = [];
  /** Every gateway payload in both directions. */
  readonly gatewayFrames: GatewayFrame[] = [];
  /** Every IDENTIFY received (one per login). */
  readonly identifies: IdentifyRecord[] = [];
  /** Session ids resumed (after `disconnectAll()` discord.js resumes rather than identifies). */
  readonly resumes: string[] = [];
  readonly guilds: FakeGuild[] = [];
  readonly users: FakeUser[] = [];
  /** What happened, in order: interactions and the bot's messages and edits (see transcript()). */
  readonly timeline: TimelineEvent[] = [];

  private readonly sessions: GatewaySession[] = [];
  private readonly messagesById = new Map<string, FakeMessage>();
  private readonly interactionsById = new Map<string, FakeInteraction>();
  private readonly interactionsByToken = new Map<string, FakeInteraction>();
  private readonly globalCommands: StoredCommand[] = [];
  private readonly guildCommands = new Map<string, StoredCommand[]>();
  private readonly changes = new EventEmitter();
  private readonly routes: [string, RegExp, Handler][];
  private readonly botPermissions: bigint;
  /** See FakeDiscordOptions.ackDeadlineMs; may be changed between interactions. */
  ackDeadlineMs: number | undefined;
  private readonly clock: () => number;
  private readonly defaultTimeoutMs: number;
  private readySessionCount = 0;
  private readonly recommendedShards: number;
  private readonly maxConcurrency: number;
  private readonly refusals: { when: (body: Record<string, unknown>) => boolean; left: number }[] = [];

  private constructor(
    private readonly server: Server,
    private readonly wss: WebSocketServer,
    readonly cdn: FakeCdn,
    options: FakeDiscordOptions,
  ) {
    const { port } = server.address() as AddressInfo;
    this.apiUrl = `http://127.0.0.1:${port}/api`;
    this.gatewayUrl = `ws://127.0.0.1:${port}/gateway`;
    const botId = options.botUserId ?? snowflake();
    this.botUser = new FakeUser(botId, options.botUsername ?? "classtune", true);
    this.applicationId = options.applicationId ?? botId;
    this.token = `${Buffer.from(botId).toString("base64url")}.fake.${randomToken(20)}`;
    this.heartbeatIntervalMs = options.heartbeatIntervalMs ?? 41_250;
    this.botPermissions = options.botPermissions ?? DEFAULT_BOT_PERMISSIONS;
    this.ackDeadlineMs = options.ackDeadlineMs;
    this.clock = options.clock ?? Date.now;
    this.defaultTimeoutMs = options.defaultTimeoutMs ?? 10_000;
    this.recommendedShards = options.recommendedShards ?? 1;
    this.maxConcurrency = options.maxConcurrency ?? 1;
    this.changes.setMaxListeners(0);
    this.routes = this.buildRoutes();
    wss.on("connection", (ws, request) => {
      this.sessions.push(new GatewaySession(this, ws, request));
      this.onChange();
    });
    server.on("request", (req, res) => void this.handleHttp(req, res));
  }

  static async start(options: FakeDiscordOptions = {}): Promise<FakeDiscord> {
    const server = createServer();
    const wss = new WebSocketServer({ server, path: "/gateway" });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const cdn = await FakeCdn.start();
    return new FakeDiscord(server, wss, cdn, options);
  }

  // ---- the world ----------------------------------------------------------------------------------------

  addUser(spec: {
    username: string;
    id?: string | undefined;
    bot?: boolean | undefined;
    globalName?: string | undefined;
  }): FakeUser {
    const user = new FakeUser(
      spec.id ?? snowflake(),
      spec.username,
      spec.bot ?? false,
      spec.globalName ?? null,
    );
    this.users.push(user);
    return user;
  }

  /**
   * Adds a guild with its channels and roles (strings are names). The bot is a member. If the bot is already
   * connected, it receives GUILD_CREATE at once, as when it is invited to a server.
   */
  addGuild(spec: {
    name: string;
    id?: string | undefined;
    channels?: (ChannelSpec | string)[] | undefined;
    roles?: (RoleSpec | string)[] | undefined;
    everyonePermissions?: bigint | undefined;
    owner?: FakeUser | undefined;
  }): FakeGuild {
    const id = spec.id ?? snowflake();
    const owner = spec.owner ?? this.addUser({ username: `${spec.name}-owner` });
    const guild = new FakeGuild(
      id,
      spec.name,
      owner.id,
      spec.everyonePermissions ?? DEFAULT_EVERYONE_PERMISSIONS,
    );
    for (const channel of spec.channels ?? ["general"]) guild.addChannel(channel);
    for (const role of spec.roles ?? []) guild.addRole(role);
    // As when invited with permissions: a managed role named after the bot carries them.
    const botRole = guild.addRole({ name: this.botUser.username, permissions: this.botPermissions });
    botRole.managedBy = this.botUser.id;
    guild.addMember(this.botUser, { roles: [botRole] });
    guild.addMember(owner);
    guild.onChange = (event, item) =>
      this.dispatch(
        event === "channel" ? GatewayDispatchEvents.ChannelCreate : GatewayDispatchEvents.GuildRoleCreate,
        event === "channel" ? item.toAPI() : { guild_id: guild.id, role: item.toAPI() },
        guild.id,
      );
    this.guilds.push(guild);
    this.dispatch(GatewayDispatchEvents.GuildCreate, guild.toAPI(), guild.id);
    return guild;
  }

  /**
   * The server removes the bot (kick, or the bot's integration removed): the guild is no longer the bot's, and a
   * connected bot receives GUILD_DELETE with only the id, as Discord sends it. (`unavailable: true` would mean an
   * outage, not a removal.)
   */
  removeBot(guild: FakeGuild): void {
    const at = this.guilds.indexOf(guild);
    if (at < 0) throw new Error(`the bot is not in guild ${guild.id}`);
    this.guilds.splice(at, 1);
    this.dispatch(GatewayDispatchEvents.GuildDelete, { id: guild.id }, guild.id);
  }

  /** The server invites the bot back: a connected bot receives GUILD_CREATE with the whole guild. */
  reinviteBot(guild: FakeGuild): void {
    if (this.guilds.includes(guild)) throw new Error(`the bot is already in guild ${guild.id}`);
    this.guilds.push(guild);
    this.dispatch(GatewayDispatchEvents.GuildCreate, guild.toAPI(), guild.id);
  }

  /** Every message the bot sent (channel messages, replies, follow-ups), in creation order. */
  messages(): FakeMessage[] {
    return [...this.messagesById.values()];
  }

  /** The messages the bot sent in a channel, including ephemeral replies (check `message.ephemeral`). */
  channelMessages(channel: FakeChannel | string): FakeMessage[] {
    const id = typeof channel === "string" ? channel : channel.id;
    return this.messages().filter((m) => m.channelId === id && !m.deleted);
  }

  message(id: string): FakeMessage | undefined {
    return this.messagesById.get(id);
  }

  /**
   * Fault injection: message bodies (creates and edits, on every route) for which `when` is true are refused
   * with 400 50035 Invalid Form Body, as Discord refuses a shape by a rule the fake does not model. Applies
   * `times` times (default: until lifted); returns a function that lifts it.
   */
  refuseMessages(
    when: (body: Record<string, unknown>) => boolean,
    { times = Number.POSITIVE_INFINITY }: { times?: number } = {},
  ): () => void {
    const rule = { when, left: times };
    this.refusals.push(rule);
    return () => {
      rule.left = 0;
    };
  }

  /** Waits for a message in `channel` that matches `predicate` (checked again after every create or edit). */
  waitForMessage(
    channel: FakeChannel | string,
    predicate: (message: FakeMessage) => boolean = () => true,
    options: WaitOptions = {},
  ): Promise<FakeMessage> {
    const id = typeof channel === "string" ? channel : channel.id;
    return this.waitFor(
      () =>
        `a message in channel ${id} (now: ${JSON.stringify(this.channelMessages(id).map((m) => m.content))})`,
      () => this.channelMessages(id).find(predicate),
      options.timeoutMs,
    );
  }

  /**
   * The conversation so far as readable text: who ran which command or clicked what, and what the bot posted
   * or edited (embeds, files, buttons; ephemeral replies marked). Autocomplete is left out.
   */
  transcript(): string {
    return renderTranscript(this.timeline, this.botUser.username, (id) => this.findChannel(id)?.name ?? id);
  }

  /** Deployed commands: global ones, or one guild's. */
  commands(guild?: FakeGuild | string): StoredCommand[] {
    if (guild === undefined) return this.globalCommands;
    return this.guildCommands.get(typeof guild === "string" ? guild : guild.id) ?? [];
  }

  interaction(id: string): FakeInteraction | undefined {
    return this.interactionsById.get(id);
  }

  // ---- the gateway -----------------------------------------------------------------------------------------

  /**
   * Waits until a bot is connected and has been sent READY and its guilds. With `count`, waits for the n-th
   * READY since start (2 after a restart).
   */
  waitForReady(options: WaitOptions & { count?: number | undefined } = {}): Promise<void> {
    const count = options.count ?? 1;
    return this.waitFor(
      () => `the bot to identify (READY sent ${this.readySessionCount} times, need ${count})`,
      () => (this.readySessionCount >= count && this.readySessions().length > 0 ? true : undefined),
      options.timeoutMs,
    ).then(() => undefined);
  }

  /** Heartbeats received from the bot (each was ACKed). */
  heartbeats(): GatewayFrame[] {
    return this.gatewayFrames.filter((f) => f.direction === "received" && f.op === GatewayOpcodes.Heartbeat);
  }

  /** Waits for the n-th heartbeat (default: one more than now). */
  waitForHeartbeat(options: WaitOptions & { count?: number | undefined } = {}): Promise<GatewayFrame> {
    const count = options.count ?? this.heartbeats().length + 1;
    return this.waitFor(
      () => `heartbeat #${count} (got ${this.heartbeats().length})`,
      () => this.heartbeats()[count - 1],
      options.timeoutMs ?? this.heartbeatIntervalMs * 2 + 1_000,
    );
  }

  /**
   * Sends a dispatch to every connected bot, or with `guildId` to every connection whose shard holds that guild
   * (every unsharded one). An INTERACTION_CREATE that no connection receives throws: no bot would answer it.
   */
  dispatch(t: GatewayDispatchEvents | string, d: unknown, guildId?: string): void {
    const sessions = this.readySessions().filter((s) => guildId === undefined || s.owns(guildId));
    if (sessions.length === 0 && t === GatewayDispatchEvents.InteractionCreate) {
      throw new Error(
        this.readySessions().length === 0
          ? "no bot is connected to the fake Discord"
          : `no connected shard holds guild ${guildId}`,
      );
    }
    for (const session of sessions) session.dispatch(t, d);
  }

  /** Drops every gateway connection (close code 4000 by default), e.g. to test reconnection. */
  disconnectAll(code?: number): void {
    for (const session of this.sessions) session.close(code);
  }

  // ---- interactions ------------------------------------------------------------------------------------------

  /** Dispatches a slash command; returns at once with a handle to observe the bot's answer. */
  async slash(input: SlashInput): Promise<FakeInteraction> {
    const guild = input.channel.guild;
    const definition = this.findCommand(input.command, guild.id);
    const resolved: Record<string, Record<string, unknown>> = {};
    const options = this.commandOptions(input, definition, resolved, undefined);
    return this.createInteraction(InteractionType.ApplicationCommand, input, {
      id: definition?.id ?? snowflake(),
      name: input.command,
      type: ApplicationCommandType.ChatInput,
      guild_id: guild.id,
      options,
      ...(Object.keys(resolved).length > 0 ? { resolved } : {}),
    });
  }

  /** Dispatches an autocomplete request and returns the choices the bot answered with. */
  async autocomplete(input: AutocompleteInput): Promise<{ name: string; value: string | number }[]> {
    const guild = input.channel.guild;
    const definition = this.findCommand(input.command, guild.id);
    const values = { ...input.options, [input.focused]: input.options?.[input.focused] ?? "" };
    const options = this.commandOptions({ ...input, options: values }, definition, {}, input.focused);
    const interaction = await this.createInteraction(InteractionType.ApplicationCommandAutocomplete, input, {
      id: definition?.id ?? snowflake(),
      name: input.command,
      type: ApplicationCommandType.ChatInput,
      guild_id: guild.id,
      options,
    });
    const callback = await interaction.response();
    if (callback.type !== InteractionResponseType.ApplicationCommandAutocompleteResult) {
      throw new Error(`the bot answered autocomplete with callback type ${callback.type}`);
    }
    return interaction.choices ?? [];
  }

  /** Clicks a button (or picks `values` in a select) on a message the bot sent. Throws if absent or disabled. */
  async click(input: ClickInput): Promise<FakeInteraction> {
    if (input.message.deleted) throw new Error(`message ${input.message.id} was deleted`);
    const component = input.forged
      ? { type: ComponentType.Button, custom_id: input.customId }
      : findComponent(input.message.components, input.customId);
    if (!component) {
      throw new Error(
        `message ${input.message.id} has no component ${input.customId}; it has ${input.message.customIds.join(", ") || "none"}`,
      );
    }
    if (component.disabled === true) throw new Error(`component ${input.customId} is disabled`);
    const channel = input.channel ?? this.channelById(input.message.channelId);
    return this.createInteraction(
      InteractionType.MessageComponent,
      { channel, user: input.user, locale: input.locale },
      {
        custom_id: input.customId,
        component_type: component.type as ComponentType,
        ...(component.type === ComponentType.Button ? {} : { values: input.values ?? [] }),
      },
      input.message,
    );
  }

  /** Submits a modal: usually `{ from: interactionThatOpenedIt, fields }`. */
  async submitModal(input: ModalInput): Promise<FakeInteraction> {
    const modal = input.from?.modal;
    const customId = input.customId ?? (modal?.custom_id as string | undefined);
    const channel = input.channel ?? input.from?.channel;
    const user = input.user ?? input.from?.user;
    if (!customId || !channel || !user)
      throw new Error(
        "submitModal needs `from` (an interaction answered with a modal) or customId, channel and user",
      );
    if (modal) {
      const known = collectCustomIds(modal.components);
      for (const field of Object.keys(input.fields)) {
        if (!known.includes(field))
          throw new Error(`the modal has no text input ${field}; it has ${known.join(", ")}`);
      }
    }
    const components = Object.entries(input.fields).map(([id, value]) => ({
      type: ComponentType.ActionRow,
      components: [{ type: ComponentType.TextInput, custom_id: id, value }],
    }));
    const message = input.message ?? input.from?.sourceMessage;
    return this.createInteraction(
      InteractionType.ModalSubmit,
      { channel, user, locale: input.locale },
      { custom_id: customId, components },
      message,
    );
  }

  // ---- waiting and lifecycle ---------------------------------------------------------------------------------

  /** Resolves with the first truthy `check()`, re-checked after every change; rejects after the timeout. */
  waitFor<T>(
    description: () => string,
    check: () => T | undefined,
    timeoutMs: number | undefined,
  ): Promise<T> {
    const first = check();
    if (first !== undefined) return Promise.resolve(first);
    return new Promise<T>((resolve, reject) => {
      const onChange = () => {
        const value = check();
        if (value === undefined) return;
        cleanup();
        resolve(value);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`fake Discord: timed out waiting for ${description()}`));
      }, timeoutMs ?? this.defaultTimeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.changes.off("change", onChange);
      };
      this.changes.on("change", onChange);
    });
  }

  /** Stops the servers. Destroy the discord.js client first, or it will keep trying to reconnect. */
  async close(): Promise<void> {
    for (const session of this.sessions) session.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await this.cdn.close();
  }

  // ---- GatewayHost ------------------------------------------------------------------------------------------

  get resumeUrl(): string {
    return this.gatewayUrl;
  }

  readyPayload(session: GatewaySession): Record<string, unknown> {
    return {
      v: 10,
      user: { ...this.botUser.toAPI(), verified: true, mfa_enabled: false, flags: 0 },
      guilds: this.guilds.filter((g) => session.owns(g.id)).map((g) => ({ id: g.id, unavailable: true })),
      session_id: session.sessionId,
      session_type: "normal",
      resume_gateway_url: this.gatewayUrl,
      shard: session.identify?.shard ?? [0, 1],
      application: { id: this.applicationId, flags: 0 },
      private_channels: [],
      relationships: [],
      presences: [],
      guild_join_requests: [],
      geo_ordered_rtc_regions: [],
      user_settings: {},
    };
  }

  initialDispatches(session: GatewaySession): { t: GatewayDispatchEvents; d: unknown }[] {
    return this.guilds
      .filter((g) => session.owns(g.id))
      .map((g) => ({ t: GatewayDispatchEvents.GuildCreate, d: g.toAPI() }));
  }

  record(frame: GatewayFrame): void {
    this.gatewayFrames.push(frame);
  }

  resumableSession(sessionId: string): GatewaySession | undefined {
    return this.sessions.find((s) => s.closed && s.sessionId === sessionId);
  }

  onResume(session: GatewaySession): void {
    this.resumes.push(session.sessionId ?? "");
  }

  onIdentify(_session: GatewaySession, identify: IdentifyRecord): void {
    this.identifies.push(identify);
    this.readySessionCount += 1;
  }

  onChange(): void {
    // Deferred a tick so a waiter sees the state after the whole change (e.g. READY and GUILD_CREATEs).
    queueMicrotask(() => this.changes.emit("change"));
  }

  // ---- internals: interactions --------------------------------------------------------------------------------

  private readySessions(): GatewaySession[] {
    return this.sessions.filter((s) => s.ready && !s.closed);
  }

  private channelById(id: string): FakeChannel {
    for (const guild of this.guilds) {
      const channel = guild.channels.find((c) => c.id === id);
      if (channel) return channel;
    }
    throw new Error(`fake Discord: no channel ${id}`);
  }

  private findCommand(name: string, guildId: string): StoredCommand | undefined {
    return (
      this.commands(guildId).find((c) => c.name === name) ?? this.globalCommands.find((c) => c.name === name)
    );
  }

  private commandOptions(
    input: SlashInput,
    definition: StoredCommand | undefined,
    resolved: Record<string, Record<string, unknown>>,
    focused: string | undefined,
  ): unknown[] {
    let definitions = definition?.options;
    const path: string[] = [];
    const wrap: { type: ApplicationCommandOptionType; name: string }[] = [];
    if (input.group !== undefined) {
      wrap.push({ type: ApplicationCommandOptionType.SubcommandGroup, name: input.group });
      path.push(input.group);
    }
    if (input.subcommand !== undefined) {
      wrap.push({ type: ApplicationCommandOptionType.Subcommand, name: input.subcommand });
      path.push(input.subcommand);
    }
    const strict = input.strict !== false;
    for (const name of path) {
      if (!definitions) break;
      const next = definitions.find((o) => o.name === name);
      if (!next) throw new Error(`/${input.command} has no subcommand or group ${name}`);
      definitions = next.options ?? [];
    }
    const where = `/${[input.command, ...path].join(" ")}`;
    if (strict && definitions) {
      // Discord's client makes the user pick a subcommand and fill required options; so does the fake.
      const needsSubcommand = definitions.find((o) => o.type <= ApplicationCommandOptionType.SubcommandGroup);
      if (needsSubcommand) throw new Error(`${where} needs a subcommand, e.g. ${needsSubcommand.name}`);
      if (focused === undefined) {
        const missing = definitions.filter(
          (o) => o.required === true && input.options?.[o.name] === undefined,
        );
        if (missing.length > 0) throw new Error(`${where} needs ${missing.map((o) => o.name).join(", ")}`);
      }
    }
    const leaf = Object.entries(input.options ?? {})
      .filter((entry): entry is [string, OptionValue] => entry[1] !== undefined)
      .map(([name, value]) => {
        const def = definitions?.find((o) => o.name === name);
        if (definitions && !def && strict) {
          throw new Error(
            `${where} has no option ${name}; it has ${definitions.map((o) => o.name).join(", ")}`,
          );
        }
        const type = def?.type ?? inferOptionType(value);
        if (name === focused) return { name, type, value: String(value), focused: true };
        if (strict && def && inferOptionType(value) !== type && !compatible(type, value)) {
          throw new Error(
            `${where} option ${name} is ${ApplicationCommandOptionType[type]}, not ${JSON.stringify(value)}`,
          );
        }
        return {
          name,
          type,
          value: this.resolveOption(
            type,
            value,
            input.channel.guild,
            resolved,
            input.channel.guild.member(input.user),
          ),
        };
      });
    return wrap.reduceRight<unknown[]>((inner, level) => [{ ...level, options: inner }], leaf);
  }

  private resolveOption(
    type: ApplicationCommandOptionType,
    value: OptionValue,
    guild: FakeGuild,
    resolved: Record<string, Record<string, unknown>>,
    invoker: FakeMember | undefined,
  ): string | number | boolean {
    const put = (kind: string, id: string, object: unknown) => {
      resolved[kind] ??= {};
      (resolved[kind] as Record<string, unknown>)[id] = object;
    };
    if (typeof value !== "object") return value;
    if ("attachment" in value) {
      put("attachments", value.id, value.attachment);
      return value.id;
    }
    if (value instanceof FakeChannel) {
      put("channels", value.id, {
        id: value.id,
        name: value.name,
        type: value.type,
        // Discord sends the invoking member's permissions in that channel.
        permissions: (invoker?.permissions ?? 0n).toString(),
      });
      return value.id;
    }
    if (value instanceof FakeRole) {
      put("roles", value.id, value.toAPI());
      return value.id;
    }
    put("users", value.id, value.toAPI());
    const member = guild.member(value);
    if (member)
      put("members", value.id, {
        ...member.toAPI({ withUser: false }),
        permissions: member.permissions.toString(),
      });
    if (type === ApplicationCommandOptionType.Attachment)
      throw new Error("an attachment option needs a CdnFile");
    return value.id;
  }

  private async createInteraction(
    type: InteractionType,
    target: InteractionTarget,
    data: Record<string, unknown>,
    sourceMessage?: FakeMessage,
  ): Promise<FakeInteraction> {
    const guild = target.channel.guild;
    const member = guild.member(target.user);
    if (!member)
      throw new Error(
        `user ${target.user.username} is not a member of ${guild.name}; call guild.addMember first`,
      );
    const id = snowflake();
    const token = Buffer.from(`interaction:${id}:${randomToken(48)}`).toString("base64url");
    const payload = {
      id,
      application_id: this.applicationId,
      type,
      data,
      guild_id: guild.id,
      guild: { id: guild.id, locale: "en-US", features: [] },
      channel_id: target.channel.id,
      channel: { ...target.channel.toAPI(), permissions: member.permissions.toString() },
      member: { ...member.toAPI(), permissions: member.permissions.toString() },
      token,
      version: 1,
      app_permissions: this.botPermissions.toString(),
      locale: target.locale ?? "en-US",
      guild_locale: "en-US",
      entitlements: [],
      authorizing_integration_owners: { [ApplicationIntegrationType.GuildInstall]: guild.id },
      context: InteractionContextType.Guild,
      attachment_size_limit: 25 * 1024 * 1024,
      ...(sourceMessage ? { message: sourceMessage.toAPI() } : {}),
    } as unknown as APIInteraction;
    const interaction = new FakeInteraction(
      this,
      id,
      token,
      type,
      payload,
      guild,
      target.channel,
      target.user,
      sourceMessage,
      this.clock(),
    );
    if (sourceMessage && type === InteractionType.MessageComponent)
      interaction.originalMessageId = sourceMessage.id;
    this.interactionsById.set(id, interaction);
    this.interactionsByToken.set(token, interaction);
    this.dispatch(GatewayDispatchEvents.InteractionCreate, payload, guild.id);
    const customId = (data as { custom_id?: string }).custom_id;
    const label = sourceMessage && customId ? componentLabel(sourceMessage, customId) : undefined;
    this.timeline.push({ kind: "interaction", interaction, at: this.clock(), label });
    return interaction;
  }

  // ---- internals: REST ------------------------------------------------------------------------------------------

  private async handleHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", this.apiUrl);
    const method = req.method ?? "GET";
    const record: RecordedRequest = {
      method,
      path: decodePath(
        url.pathname.startsWith(API_VERSION_PREFIX)
          ? url.pathname.slice(API_VERSION_PREFIX.length)
          : url.pathname,
      ),
      query: Object.fromEntries(url.searchParams),
      body: undefined,
      files: [],
      authorized: req.headers.authorization === `Bot ${this.token}`,
      status: 0,
      at: Date.now(),
    };
    let reply: Reply;
    try {
      const { body, files } = await readBody(req);
      record.body = body;
      record.files = files;
      reply = await this.route(
        { ...record, body: body as Record<string, unknown> | undefined, files },
        url.pathname,
      );
    } catch (error) {
      reply = discordError(
        400,
        RESTJSONErrorCodes.InvalidFormBodyOrContentType,
        `fake Discord could not read the request: ${String(error)}`,
      );
    }
    record.status = reply.status;
    this.requests.push(record);
    if (reply.status === 404 && (reply.body as { code?: number } | undefined)?.code === 0)
      this.unhandledRequests.push(record);
    const resetAfter = 1;
    const headers: Record<string, string> = {
      "x-ratelimit-limit": "50",
      "x-ratelimit-remaining": "49",
      "x-ratelimit-reset": String(Date.now() / 1000 + resetAfter),
      "x-ratelimit-reset-after": String(resetAfter),
      "x-ratelimit-bucket": `fake-${record.method}-${record.path.replace(/\d{5,}/g, ":id").replace(/[^\w:]/g, "_")}`,
    };
    if (reply.body === undefined) {
      res.writeHead(reply.status, headers).end();
    } else {
      res
        .writeHead(reply.status, { ...headers, "content-type": "application/json" })
        .end(JSON.stringify(reply.body));
    }
    this.onChange();
  }

  private async route(req: ParsedRequest, pathname: string): Promise<Reply> {
    if (!pathname.startsWith(API_VERSION_PREFIX)) return discordError(404, 0, "404: Not Found");
    for (const [method, pattern, handler] of this.routes) {
      if (method !== req.method) continue;
      const match = pattern.exec(req.path);
      if (match) return handler(req, match.slice(1));
    }
    return discordError(404, 0, "404: Not Found");
  }

  private buildRoutes(): [string, RegExp, Handler][] {
    const id = "(\\d+)";
    const token = "([^/]+)";
    const bot =
      (handler: Handler): Handler =>
      (req, params) =>
        req.authorized ? handler(req, params) : discordError(401, 0, "401: Unauthorized");
    return [
      ["GET", /^\/gateway\/bot$/, bot(() => ({ status: 200, body: this.gatewayBot() }))],
      ["GET", /^\/gateway$/, () => ({ status: 200, body: { url: this.gatewayUrl } })],
      ["GET", /^\/users\/@me$/, bot(() => ({ status: 200, body: this.botUser.toAPI() }))],
      ["GET", /^\/applications\/@me$/, bot(() => ({ status: 200, body: this.applicationObject() }))],
      [
        "GET",
        new RegExp(`^/applications/${id}/commands$`),
        bot((_r, [app]) => this.listCommands(app, undefined)),
      ],
      [
        "PUT",
        new RegExp(`^/applications/${id}/commands$`),
        bot((r, [app]) => this.putCommands(r, app, undefined)),
      ],
      [
        "POST",
        new RegExp(`^/applications/${id}/commands$`),
        bot((r, [app]) => this.postCommand(r, app, undefined)),
      ],
      [
        "GET",
        new RegExp(`^/applications/${id}/guilds/${id}/commands$`),
        bot((_r, [app, guild]) => this.listCommands(app, guild)),
      ],
      [
        "PUT",
        new RegExp(`^/applications/${id}/guilds/${id}/commands$`),
        bot((r, [app, guild]) => this.putCommands(r, app, guild)),
      ],
      [
        "POST",
        new RegExp(`^/applications/${id}/guilds/${id}/commands$`),
        bot((r, [app, guild]) => this.postCommand(r, app, guild)),
      ],
      [
        "POST",
        new RegExp(`^/interactions/${id}/${token}/callback$`),
        (r, [iid, tok]) => this.interactionCallback(r, iid as string, tok as string),
      ],
      ["GET", new RegExp(`^/webhooks/${id}/${token}/messages/([^/]+)$`), (r, p) => this.webhookMessage(r, p)],
      [
        "PATCH",
        new RegExp(`^/webhooks/${id}/${token}/messages/([^/]+)$`),
        (r, p) => this.webhookMessage(r, p),
      ],
      [
        "DELETE",
        new RegExp(`^/webhooks/${id}/${token}/messages/([^/]+)$`),
        (r, p) => this.webhookMessage(r, p),
      ],
      ["POST", new RegExp(`^/webhooks/${id}/${token}$`), (r, p) => this.followUp(r, p)],
      ["GET", new RegExp(`^/channels/${id}$`), bot((_r, [cid]) => this.getChannel(cid as string))],
      [
        "GET",
        new RegExp(`^/channels/${id}/messages$`),
        bot((r, [cid]) => this.listChannelMessages(r, cid as string)),
      ],
      [
        "POST",
        new RegExp(`^/channels/${id}/messages$`),
        bot((r, [cid]) => this.createChannelMessage(r, cid as string)),
      ],
      [
        "POST",
        new RegExp(`^/channels/${id}/typing$`),
        bot((_r, [cid]) => (this.findChannel(cid as string) ? { status: 204 } : unknownChannel())),
      ],
      [
        "GET",
        new RegExp(`^/channels/${id}/messages/${id}$`),
        bot((r, [cid, mid]) => this.channelMessage(r, cid as string, mid as string)),
      ],
      [
        "PATCH",
        new RegExp(`^/channels/${id}/messages/${id}$`),
        bot((r, [cid, mid]) => this.channelMessage(r, cid as string, mid as string)),
      ],
      [
        "DELETE",
        new RegExp(`^/channels/${id}/messages/${id}$`),
        bot((r, [cid, mid]) => this.channelMessage(r, cid as string, mid as string)),
      ],
      ["GET", new RegExp(`^/guilds/${id}$`), bot((_r, [gid]) => this.getGuild(gid as string))],
      [
        "GET",
        new RegExp(`^/guilds/${id}/members/${id}$`),
        bot((_r, [gid, uid]) => this.getMember(gid as string, uid as string)),
      ],
    ];
  }

  private gatewayBot(): Record<string, unknown> {
    return {
      url: this.gatewayUrl,
      shards: this.recommendedShards,
      session_start_limit: {
        total: 1000,
        remaining: 999,
        reset_after: 14_400_000,
        max_concurrency: this.maxConcurrency,
      },
    };
  }

  private applicationObject(): Record<string, unknown> {
    return {
      id: this.applicationId,
      name: this.botUser.username,
      icon: null,
      description: "",
      bot_public: true,
      bot_require_code_grant: false,
      verify_key: "0".repeat(64),
      flags: 0,
      bot: this.botUser.toAPI(),
      owner: this.botUser.toAPI(),
      team: null,
    };
  }

  private storeCommand(
    body: Record<string, unknown>,
    app: string,
    guildId: string | undefined,
    previous: StoredCommand[],
  ): StoredCommand {
    const existing = previous.find((c) => c.name === body.name);
    const permissions = body.default_member_permissions;
    return {
      ...body,
      id: existing?.id ?? snowflake(),
      application_id: app,
      ...(guildId ? { guild_id: guildId } : {}),
      name: String(body.name),
      description: String(body.description ?? ""),
      type: (body.type as ApplicationCommandType | undefined) ?? ApplicationCommandType.ChatInput,
      default_member_permissions:
        permissions === undefined || permissions === null ? null : String(permissions),
      version: snowflake(),
      ...(body.options ? { options: body.options as CommandOptionDefinition[] } : {}),
    };
  }

  private commandList(guildId: string | undefined): StoredCommand[] {
    if (!guildId) return this.globalCommands;
    let list = this.guildCommands.get(guildId);
    if (!list) {
      list = [];
      this.guildCommands.set(guildId, list);
    }
    return list;
  }

  private checkApp(app: string | undefined, guildId: string | undefined): Reply | undefined {
    if (app !== this.applicationId)
      return discordError(404, RESTJSONErrorCodes.UnknownApplication, "Unknown Application");
    if (guildId && !this.guilds.some((g) => g.id === guildId))
      return discordError(404, RESTJSONErrorCodes.UnknownGuild, "Unknown Guild");
    return undefined;
  }

  private listCommands(app: string | undefined, guildId: string | undefined): Reply {
    return this.checkApp(app, guildId) ?? { status: 200, body: this.commandList(guildId) };
  }

  private putCommands(req: ParsedRequest, app: string | undefined, guildId: string | undefined): Reply {
    const problem = this.checkApp(app, guildId);
    if (problem) return problem;
    if (!Array.isArray(req.body))
      return discordError(400, RESTJSONErrorCodes.InvalidFormBodyOrContentType, "Invalid Form Body");
    const list = this.commandList(guildId);
    const stored = (req.body as Record<string, unknown>[]).map((c) =>
      this.storeCommand(c, app as string, guildId, list),
    );
    list.splice(0, list.length, ...stored);
    return { status: 200, body: stored };
  }

  private postCommand(req: ParsedRequest, app: string | undefined, guildId: string | undefined): Reply {
    const problem = this.checkApp(app, guildId);
    if (problem) return problem;
    const list = this.commandList(guildId);
    const command = this.storeCommand(req.body ?? {}, app as string, guildId, list);
    const index = list.findIndex((c) => c.name === command.name);
    if (index >= 0) list[index] = command;
    else list.push(command);
    return { status: index >= 0 ? 200 : 201, body: command };
  }

  private interactionCallback(req: ParsedRequest, id: string, token: string): Reply {
    const interaction = this.interactionsById.get(id);
    if (!interaction || interaction.token !== token)
      return discordError(404, RESTJSONErrorCodes.UnknownInteraction, "Unknown interaction");
    if (interaction.acknowledged) {
      return discordError(
        400,
        RESTJSONErrorCodes.InteractionHasAlreadyBeenAcknowledged,
        "Interaction has already been acknowledged.",
      );
    }
    if (this.ackDeadlineMs !== undefined && this.clock() - interaction.createdAt > this.ackDeadlineMs) {
      return discordError(404, RESTJSONErrorCodes.UnknownInteraction, "Unknown interaction");
    }
    const body = req.body ?? {};
    const type = body.type as InteractionResponseType;
    const data = (body.data ?? {}) as Record<string, unknown>;
    let message: FakeMessage | undefined;
    const isAutocomplete = interaction.type === InteractionType.ApplicationCommandAutocomplete;
    const wrongKind =
      isAutocomplete !== (type === InteractionResponseType.ApplicationCommandAutocompleteResult) ||
      (type === InteractionResponseType.Modal && interaction.type === InteractionType.ModalSubmit);
    if (wrongKind) {
      return discordError(
        400,
        RESTJSONErrorCodes.InvalidFormBodyOrContentType,
        `Callback type ${String(type)} does not answer interaction type ${interaction.type}`,
      );
    }
    switch (type) {
      case InteractionResponseType.Pong:
        break;
      case InteractionResponseType.DeferredMessageUpdate: {
        const source = interaction.sourceMessage;
        if (!source) {
          return discordError(
            400,
            RESTJSONErrorCodes.InvalidFormBodyOrContentType,
            "Interaction has no message to update",
          );
        }
        interaction.originalMessageId = source.id;
        break;
      }
      case InteractionResponseType.ChannelMessageWithSource: {
        const invalid = this.checkMessage(data, req.files, true);
        if (invalid) return invalid;
        message = this.newMessage(interaction.channel.id, interaction.guild.id, interaction.id);
        this.applyBody(message, data, req.files, false, REPLY_FLAGS);
        interaction.originalMessageId = message.id;
        break;
      }
      case InteractionResponseType.DeferredChannelMessageWithSource: {
        message = this.newMessage(interaction.channel.id, interaction.guild.id, interaction.id);
        message.bodies.push(data);
        message.flags = MessageFlags.Loading | (Number(data.flags ?? 0) & MessageFlags.Ephemeral);
        this.timeline.push({ kind: "thinking", message, snapshot: snapshot(message), at: this.clock() });
        interaction.originalMessageId = message.id;
        break;
      }
      case InteractionResponseType.UpdateMessage: {
        const source = interaction.sourceMessage;
        if (!source)
          return discordError(
            400,
            RESTJSONErrorCodes.InvalidFormBodyOrContentType,
            "Interaction has no message to update",
          );
        const invalid = this.checkMessage(data, req.files, false);
        if (invalid) return invalid;
        this.applyBody(source, data, req.files, true);
        interaction.originalMessageId = source.id;
        message = source;
        break;
      }
      case InteractionResponseType.ApplicationCommandAutocompleteResult: {
        const choices = data.choices;
        const tooLong = (choice: { name?: unknown; value?: unknown }) =>
          String(choice.name ?? "").length > LIMITS.choiceText ||
          (typeof choice.value === "string" && choice.value.length > LIMITS.choiceText);
        if (Array.isArray(choices) && choices.some(tooLong)) {
          return discordError(400, RESTJSONErrorCodes.InvalidFormBodyOrContentType, "Invalid Form Body", {
            data: {
              choices: {
                _errors: [{ code: "BASE_TYPE_BAD_LENGTH", message: "Must be between 1 and 100 in length." }],
              },
            },
          });
        }
        if (!Array.isArray(choices) || choices.length > LIMITS.choices) {
          return discordError(400, RESTJSONErrorCodes.InvalidFormBodyOrContentType, "Invalid Form Body", {
            data: {
              choices: {
                _errors: [
                  { code: "BASE_TYPE_MAX_LENGTH", message: `Must be ${LIMITS.choices} or fewer in length.` },
                ],
              },
            },
          });
        }
        break;
      }
      case InteractionResponseType.Modal:
        break;
      default:
        return discordError(
          400,
          RESTJSONErrorCodes.InvalidFormBodyOrContentType,
          `Unsupported interaction callback type ${String(type)}`,
        );
    }
    interaction.callbacks.push({ type, data, files: req.files, at: this.clock() });
    if (req.query.with_response !== "true") return { status: 204 };
    return {
      status: 200,
      body: {
        interaction: {
          id: interaction.id,
          type: interaction.type,
          activity_instance_id: null,
          response_message_id: message?.id ?? null,
          response_message_loading: message?.loading ?? false,
          response_message_ephemeral: message?.ephemeral ?? false,
        },
        resource: { type, ...(message ? { message: message.toAPI() } : {}) },
      },
    };
  }

  private interactionForWebhook(app: string | undefined, token: string | undefined): FakeInteraction | Reply {
    const interaction = token ? this.interactionsByToken.get(token) : undefined;
    if (!interaction || app !== this.applicationId)
      return discordError(404, RESTJSONErrorCodes.UnknownWebhook, "Unknown Webhook");
    // Discord only accepts webhook calls for an interaction once it has been acknowledged.
    if (!interaction.acknowledged)
      return discordError(404, RESTJSONErrorCodes.UnknownWebhook, "Unknown Webhook");
    return interaction;
  }

  private webhookMessage(req: ParsedRequest, [app, token, messageId]: string[]): Reply {
    const interaction = this.interactionForWebhook(app, token);
    if (!(interaction instanceof FakeInteraction)) return interaction;
    const id = messageId === "@original" ? interaction.originalMessageId : messageId;
    const owned =
      id === interaction.originalMessageId || (id !== undefined && interaction.followUpIds.includes(id));
    const message = id && owned ? this.messagesById.get(id) : undefined;
    if (!message || message.deleted)
      return discordError(404, RESTJSONErrorCodes.UnknownMessage, "Unknown Message");
    return this.messageVerb(req, message);
  }

  private messageVerb(req: ParsedRequest, message: FakeMessage): Reply {
    if (req.method === "GET") return { status: 200, body: message.toAPI() };
    if (req.method === "DELETE") {
      message.deleted = true;
      return { status: 204 };
    }
    const body = req.body ?? {};
    const invalid = this.checkMessage(body, req.files, false);
    if (invalid) return invalid;
    this.applyBody(message, body, req.files, true);
    return { status: 200, body: message.toAPI() };
  }

  private followUp(req: ParsedRequest, [app, token]: string[]): Reply {
    const interaction = this.interactionForWebhook(app, token);
    if (!(interaction instanceof FakeInteraction)) return interaction;
    const body = req.body ?? {};
    const invalid = this.checkMessage(body, req.files, true);
    if (invalid) return invalid;
    const original = interaction.original();
    let message: FakeMessage;
    if (original?.loading && original !== interaction.sourceMessage) {
      // Discord's rule: the first follow-up after a deferral replaces the "thinking…" message.
      message = original;
      this.applyBody(message, body, req.files, true);
    } else {
      message = this.newMessage(interaction.channel.id, interaction.guild.id, interaction.id);
      this.applyBody(message, body, req.files, false, REPLY_FLAGS);
      interaction.followUpIds.push(message.id);
    }
    return req.query.wait === "false" ? { status: 204 } : { status: 200, body: message.toAPI() };
  }

  /** Discord's limits, then the refusals a test injected (refuseMessages). */
  private checkMessage(body: Record<string, unknown>, files: UploadedFile[], isCreate: boolean) {
    const rule = this.refusals.find((r) => r.left > 0 && r.when(body));
    if (rule) {
      rule.left -= 1;
      return discordError(400, RESTJSONErrorCodes.InvalidFormBodyOrContentType, "Invalid Form Body", {
        _errors: [{ code: "TEST_REFUSAL", message: "Refused by the test (refuseMessages)" }],
      });
    }
    return validateMessage(body, files, isCreate);
  }

  private findChannel(id: string): FakeChannel | undefined {
    for (const guild of this.guilds) {
      const channel = guild.channels.find((c) => c.id === id);
      if (channel) return channel;
    }
    return undefined;
  }

  private getChannel(id: string): Reply {
    const channel = this.findChannel(id);
    return channel ? { status: 200, body: channel.toAPI() } : unknownChannel();
  }

  private getGuild(id: string): Reply {
    const guild = this.guilds.find((g) => g.id === id);
    if (!guild) return discordError(404, RESTJSONErrorCodes.UnknownGuild, "Unknown Guild");
    const { channels: _c, members: _m, ...rest } = guild.toAPI();
    return { status: 200, body: rest };
  }

  private getMember(guildId: string, userId: string): Reply {
    const member = this.guilds.find((g) => g.id === guildId)?.member(userId);
    return member
      ? { status: 200, body: member.toAPI() }
      : discordError(404, RESTJSONErrorCodes.UnknownMember, "Unknown Member");
  }

  private listChannelMessages(req: ParsedRequest, channelId: string): Reply {
    if (!this.findChannel(channelId)) return unknownChannel();
    const limit = Math.min(100, Number(req.query.limit ?? 50));
    const messages = this.channelMessages(channelId)
      .filter((m) => !m.ephemeral)
      .reverse()
      .slice(0, limit);
    return { status: 200, body: messages.map((m) => m.toAPI()) };
  }

  private createChannelMessage(req: ParsedRequest, channelId: string): Reply {
    const channel = this.findChannel(channelId);
    if (!channel) return unknownChannel();
    const body = req.body ?? {};
    const invalid = this.checkMessage(body, req.files, true);
    if (invalid) return invalid;
    const message = this.newMessage(channel.id, channel.guild.id, undefined);
    this.applyBody(message, body, req.files, false, REPLY_FLAGS & ~MessageFlags.Ephemeral);
    return { status: 200, body: message.toAPI() };
  }

  private channelMessage(req: ParsedRequest, channelId: string, messageId: string): Reply {
    if (!this.findChannel(channelId)) return unknownChannel();
    const message = this.messagesById.get(messageId);
    if (!message || message.channelId !== channelId || message.deleted || message.ephemeral) {
      return discordError(404, RESTJSONErrorCodes.UnknownMessage, "Unknown Message");
    }
    return this.messageVerb(req, message);
  }

  private newMessage(
    channelId: string,
    guildId: string | undefined,
    interactionId: string | undefined,
  ): FakeMessage {
    const message = new FakeMessage(
      snowflake(),
      channelId,
      guildId,
      this.botUser,
      interactionId,
      interactionId ? this.applicationId : undefined,
    );
    this.messagesById.set(message.id, message);
    return message;
  }

  /** Applies a create or edit body: content, embeds, components, attachments (Discord's keep/replace rules). */
  private applyBody(
    message: FakeMessage,
    body: Record<string, unknown>,
    files: UploadedFile[],
    isEdit: boolean,
    /** On create: which of the body's flags the message keeps. */
    allowedFlags = 0,
  ): void {
    const wasLoading = message.loading;
    message.bodies.push(body);
    if (!isEdit) message.flags = Number(body.flags ?? 0) & allowedFlags;
    if ("content" in body) message.content = String(body.content ?? "");
    if ("embeds" in body) message.embeds = (body.embeds ?? []) as FakeMessage["embeds"];
    if ("components" in body) message.components = (body.components ?? []) as FakeMessage["components"];
    if ("allowed_mentions" in body)
      message.allowedMentions = body.allowed_mentions as FakeMessage["allowedMentions"];
    else if (!isEdit) message.allowedMentions = undefined;
    const uploads = files.map((file) => this.publishUpload(file, message.channelId));
    const listed = body.attachments as { id: string | number }[] | undefined;
    if (Array.isArray(listed)) {
      const next: UploadedFile[] = [];
      for (const entry of listed) {
        const upload = uploads.find((u) => u.field === `files[${entry.id}]`);
        const kept = message.files.find((f) => f.attachment.id === String(entry.id));
        if (upload) next.push(upload);
        else if (kept) next.push(kept);
      }
      for (const upload of uploads) if (!next.includes(upload)) next.push(upload);
      message.files = next;
    } else {
      message.files = isEdit ? [...message.files, ...uploads] : uploads;
    }
    message.attachments = message.files.map((f) => f.attachment);
    if (isEdit) {
      message.editedAt = new Date().toISOString();
      message.flags &= ~MessageFlags.Loading;
      if ("flags" in body) {
        const keep = message.flags & MessageFlags.Ephemeral;
        message.flags =
          keep | (Number(body.flags ?? 0) & (MessageFlags.SuppressEmbeds | MessageFlags.IsComponentsV2));
      }
    }
    const kind = isEdit && !wasLoading ? "edited" : "posted";
    this.timeline.push({ kind, message, snapshot: snapshot(message), at: this.clock() });
  }

  private publishUpload(file: UploadedFile, channelId: string): UploadedFile {
    const served = this.cdn.add(file.filename, file.bytes, { contentType: file.contentType, channelId });
    const attachment: APIAttachment = { ...served.attachment };
    return { ...file, attachment };
  }
}

/** Starts a fake Discord (REST + gateway + CDN) on loopback ports. */
export function startFakeDiscord(options: FakeDiscordOptions = {}): Promise<FakeDiscord> {
  return FakeDiscord.start(options);
}

/** Decodes each segment, so `%40original` reads `@original` in the request log. */
function decodePath(path: string): string {
  return path
    .split("/")
    .map((segment) => {
      try {
        return decodeURIComponent(segment);
      } catch {
        return segment;
      }
    })
    .join("/");
}

function unknownChannel(): Reply {
  return discordError(404, RESTJSONErrorCodes.UnknownChannel, "Unknown Channel");
}

/** Whether a value fits a declared option type that inference would name differently (e.g. 3 for a Number). */
function compatible(type: ApplicationCommandOptionType, value: OptionValue): boolean {
  if (type === ApplicationCommandOptionType.Number) return typeof value === "number";
  if (type === ApplicationCommandOptionType.Mentionable)
    return value instanceof FakeUser || value instanceof FakeRole;
  return false;
}

function inferOptionType(value: OptionValue): ApplicationCommandOptionType {
  if (typeof value === "string") return ApplicationCommandOptionType.String;
  if (typeof value === "boolean") return ApplicationCommandOptionType.Boolean;
  if (typeof value === "number")
    return Number.isInteger(value)
      ? ApplicationCommandOptionType.Integer
      : ApplicationCommandOptionType.Number;
  if ("attachment" in value) return ApplicationCommandOptionType.Attachment;
  if (value instanceof FakeChannel) return ApplicationCommandOptionType.Channel;
  if (value instanceof FakeRole) return ApplicationCommandOptionType.Role;
  return ApplicationCommandOptionType.User;
}

interface LooseComponent {
  type?: number;
  custom_id?: string;
  disabled?: boolean;
  components?: LooseComponent[];
  accessory?: LooseComponent;
}

function findComponent(components: unknown, customId: string): LooseComponent | undefined {
  for (const component of (components ?? []) as LooseComponent[]) {
    if (component.custom_id === customId) return component;
    const inner =
      findComponent(component.components, customId) ??
      findComponent(component.accessory ? [component.accessory] : [], customId);
    if (inner) return inner;
  }
  return undefined;
}

function collectCustomIds(components: unknown): string[] {
  const ids: string[] = [];
  const visit = (list: unknown) => {
    for (const c of (list ?? []) as (LooseComponent & { component?: LooseComponent })[]) {
      if (c.custom_id) ids.push(c.custom_id);
      visit(c.components);
      if (c.component) visit([c.component]);
    }
  };
  visit(components);
  return ids;
}

/** Checks Discord's message limits; returns Discord's 400 reply when one is broken. */
export function validateMessage(
  body: Record<string, unknown>,
  files: UploadedFile[],
  isCreate: boolean,
): Reply | undefined {
  const errors: Record<string, unknown> = {};
  const fail = (path: string, message: string, code = "BASE_TYPE_MAX_LENGTH") => {
    errors[path] = { _errors: [{ code, message }] };
  };
  const atMost = (path: string, text: string, max: number) => {
    if (text.length > max) fail(path, `Must be ${max} or fewer in length.`);
  };
  const content = typeof body.content === "string" ? body.content : "";
  atMost("content", content, LIMITS.content);
  const embeds = Array.isArray(body.embeds) ? (body.embeds as Record<string, unknown>[]) : [];
  if (embeds.length > LIMITS.embeds) fail("embeds", `Must be ${LIMITS.embeds} or fewer in length.`);
  let embedTotal = 0;
  embeds.forEach((embed, i) => {
    const title = String(embed.title ?? "");
    const description = String(embed.description ?? "");
    const footer = String((embed.footer as { text?: string } | undefined)?.text ?? "");
    const author = String((embed.author as { name?: string } | undefined)?.name ?? "");
    const fields = Array.isArray(embed.fields) ? (embed.fields as { name?: string; value?: string }[]) : [];
    atMost(`embeds.${i}.title`, title, LIMITS.embedTitle);
    atMost(`embeds.${i}.description`, description, LIMITS.embedDescription);
    atMost(`embeds.${i}.footer.text`, footer, LIMITS.embedFooter);
    atMost(`embeds.${i}.author.name`, author, LIMITS.embedAuthor);
    if (fields.length > LIMITS.embedFields)
      fail(`embeds.${i}.fields`, `Must be ${LIMITS.embedFields} or fewer in length.`);
    fields.forEach((f, j) => {
      // Discord trims a field's name and value: one left blank is refused as missing.
      for (const [key, max] of [
        ["name", LIMITS.embedFieldName],
        ["value", LIMITS.embedFieldValue],
      ] as const) {
        const text = typeof f[key] === "string" ? f[key] : "";
        if (text.trim() === "")
          fail(`embeds.${i}.fields.${j}.${key}`, "This field is required", "BASE_TYPE_REQUIRED");
        else atMost(`embeds.${i}.fields.${j}.${key}`, text, max);
      }
    });
    embedTotal +=
      title.length +
      description.length +
      footer.length +
      author.length +
      fields.reduce((n, f) => n + String(f.name ?? "").length + String(f.value ?? "").length, 0);
  });
  if (embedTotal > LIMITS.embedTotal)
    fail("embeds", `Embed size exceeds maximum size of ${LIMITS.embedTotal}`);
  if (
    Array.isArray(body.components) &&
    body.components.length > LIMITS.actionRows &&
    (Number(body.flags ?? 0) & MessageFlags.IsComponentsV2) === 0
  ) {
    fail("components", `Must be ${LIMITS.actionRows} or fewer in length.`);
  }
  if (Object.keys(errors).length > 0)
    return discordError(400, RESTJSONErrorCodes.InvalidFormBodyOrContentType, "Invalid Form Body", errors);
  const hasSomething =
    content.length > 0 ||
    embeds.length > 0 ||
    files.length > 0 ||
    (Array.isArray(body.components) && body.components.length > 0) ||
    body.poll !== undefined ||
    body.sticker_ids !== undefined;
  if (isCreate && !hasSomething)
    return discordError(400, RESTJSONErrorCodes.CannotSendAnEmptyMessage, "Cannot send an empty message");
  return undefined;
}

/** Reads a JSON or multipart body (payload_json + files[n]). */
async function readBody(req: IncomingMessage): Promise<{ body: unknown; files: UploadedFile[] }> {
  const type = req.headers["content-type"] ?? "";
  if (type.startsWith("multipart/form-data")) return readMultipart(req);
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks).toString("utf8");
  return { body: raw.length > 0 ? JSON.parse(raw) : undefined, files: [] };
}

function readMultipart(req: IncomingMessage): Promise<{ body: unknown; files: UploadedFile[] }> {
  return new Promise((resolve, reject) => {
    const files: UploadedFile[] = [];
    const fields: Record<string, string> = {};
    const parser = busboy({ headers: req.headers, limits: { fileSize: 50 * 1024 * 1024 } });
    parser.on("field", (name, value) => {
      fields[name] = value;
    });
    parser.on("file", (field, stream, info) => {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => {
        const bytes = Buffer.concat(chunks);
        files.push({
          field,
          filename: info.filename ?? field,
          contentType: info.mimeType,
          bytes,
          attachment: {
            id: "",
            filename: info.filename ?? field,
            size: bytes.length,
            url: "",
            proxy_url: "",
          },
          text: () => bytes.toString("utf8"),
        });
      });
    });
    parser.on("error", reject);
    parser.on("close", () => {
      try {
        const body =
          fields.payload_json !== undefined
            ? JSON.parse(fields.payload_json)
            : Object.keys(fields).length > 0
              ? fields
              : undefined;
        resolve({ body, files });
      } catch (error) {
        reject(error);
      }
    });
    req.pipe(parser);
  });
}
