// The fake Discord's world: users, guilds with channels, roles and members, and the messages the bot sends.
// Each object knows how to render itself as the JSON Discord would send (`toAPI()`).
import {
  type APIAllowedMentions,
  type APIAttachment,
  type APIChannel,
  type APIGuildMember,
  type APIMessage,
  type APIRole,
  type APIUser,
  ChannelType,
  MessageFlags,
  MessageType,
  PermissionFlagsBits,
} from "discord.js";
import { snowflake } from "./ids.ts";

const ALL_PERMISSIONS = Object.values(PermissionFlagsBits).reduce((all, bit) => all | bit, 0n);

/** What @everyone may do in a fresh fake guild: see, talk, read history, use slash commands. */
export const DEFAULT_EVERYONE_PERMISSIONS =
  PermissionFlagsBits.ViewChannel |
  PermissionFlagsBits.SendMessages |
  PermissionFlagsBits.ReadMessageHistory |
  PermissionFlagsBits.UseApplicationCommands;

export class FakeUser {
  readonly kind = "user";
  constructor(
    readonly id: string,
    readonly username: string,
    readonly bot: boolean,
    readonly globalName: string | null = null,
  ) {}

  toAPI(): APIUser {
    return {
      id: this.id,
      username: this.username,
      discriminator: "0",
      global_name: this.globalName,
      avatar: null,
      ...(this.bot ? { bot: true } : {}),
    };
  }

  /** `<@id>`, the way a message mentions this user. */
  get mention(): string {
    return `<@${this.id}>`;
  }
}

export class FakeRole {
  readonly kind = "role";
  /** The bot user id, for the role Discord creates for a bot when it joins (managed, not assignable). */
  managedBy: string | undefined;
  constructor(
    readonly id: string,
    readonly name: string,
    public permissions: bigint,
    readonly position: number,
  ) {}

  toAPI(): APIRole {
    return {
      id: this.id,
      name: this.name,
      color: 0,
      colors: { primary_color: 0, secondary_color: null, tertiary_color: null },
      hoist: false,
      icon: null,
      unicode_emoji: null,
      position: this.position,
      permissions: this.permissions.toString(),
      managed: this.managedBy !== undefined,
      ...(this.managedBy ? { tags: { bot_id: this.managedBy } } : {}),
      mentionable: false,
      flags: 0 as APIRole["flags"],
    };
  }

  get mention(): string {
    return `<@&${this.id}>`;
  }
}

export class FakeChannel {
  readonly kind = "channel";
  constructor(
    readonly id: string,
    readonly name: string,
    readonly type:
      | ChannelType.GuildText
      | ChannelType.GuildAnnouncement
      | ChannelType.GuildVoice
      | ChannelType.GuildCategory,
    readonly guild: FakeGuild,
    readonly position: number,
  ) {}

  toAPI(): APIChannel {
    return {
      id: this.id,
      name: this.name,
      type: this.type,
      guild_id: this.guild.id,
      position: this.position,
      permission_overwrites: [],
      parent_id: null,
      nsfw: false,
      ...(this.type === ChannelType.GuildText
        ? { topic: null, last_message_id: null, rate_limit_per_user: 0 }
        : {}),
    } as APIChannel;
  }

  get mention(): string {
    return `<#${this.id}>`;
  }
}

export interface MemberOptions {
  /** Permissions granted to this member on top of @everyone and their roles (e.g. ManageGuild for a teacher). */
  permissions?: bigint | undefined;
  roles?: FakeRole[] | undefined;
  nick?: string | undefined;
}

export class FakeMember {
  readonly joinedAt = new Date().toISOString();
  constructor(
    readonly guild: FakeGuild,
    readonly user: FakeUser,
    public roles: FakeRole[],
    /** Extra permissions granted directly (a convenience: real Discord grants them only through roles). */
    public extraPermissions: bigint,
    public nick: string | null,
  ) {}

  /** Effective guild permissions: @everyone | roles | extra; Administrator implies everything. */
  get permissions(): bigint {
    let bits = this.guild.everyoneRole.permissions | this.extraPermissions;
    for (const role of this.roles) bits |= role.permissions;
    if (this.guild.ownerId === this.user.id || (bits & PermissionFlagsBits.Administrator) !== 0n)
      return ALL_PERMISSIONS;
    return bits;
  }

  toAPI(options: { withUser?: boolean } = {}): APIGuildMember {
    return {
      ...(options.withUser === false ? {} : { user: this.user.toAPI() }),
      nick: this.nick,
      avatar: null,
      banner: null,
      roles: this.roles.map((r) => r.id),
      joined_at: this.joinedAt,
      premium_since: null,
      deaf: false,
      mute: false,
      flags: 0 as APIGuildMember["flags"],
      pending: false,
      communication_disabled_until: null,
    } as APIGuildMember;
  }
}

export interface ChannelSpec {
  name: string;
  type?: FakeChannel["type"] | undefined;
  id?: string | undefined;
}

export interface RoleSpec {
  name: string;
  permissions?: bigint | undefined;
  id?: string | undefined;
}

export class FakeGuild {
  readonly channels: FakeChannel[] = [];
  readonly roles: FakeRole[] = [];
  readonly members = new Map<string, FakeMember>();
  readonly everyoneRole: FakeRole;
  /** Called when a channel or role is added after the bot connected (the fake dispatches CHANNEL_CREATE etc.). */
  onChange: ((event: "channel" | "role", item: FakeChannel | FakeRole) => void) | undefined;

  constructor(
    readonly id: string,
    readonly name: string,
    readonly ownerId: string,
    everyonePermissions: bigint,
  ) {
    this.everyoneRole = new FakeRole(id, "@everyone", everyonePermissions, 0);
    this.roles.push(this.everyoneRole);
  }

  addChannel(spec: ChannelSpec | string): FakeChannel {
    const {
      name,
      type = ChannelType.GuildText,
      id = snowflake(),
    } = typeof spec === "string" ? { name: spec } : spec;
    const channel = new FakeChannel(id, name, type, this, this.channels.length);
    this.channels.push(channel);
    this.onChange?.("channel", channel);
    return channel;
  }

  addRole(spec: RoleSpec | string): FakeRole {
    const { name, permissions = 0n, id = snowflake() } = typeof spec === "string" ? { name: spec } : spec;
    const role = new FakeRole(id, name, permissions, this.roles.length);
    this.roles.push(role);
    this.onChange?.("role", role);
    return role;
  }

  /** Makes `user` a member. Returns the member; calling again replaces their roles and permissions. */
  addMember(user: FakeUser, options: MemberOptions = {}): FakeMember {
    const member = new FakeMember(
      this,
      user,
      options.roles ?? [],
      options.permissions ?? 0n,
      options.nick ?? null,
    );
    this.members.set(user.id, member);
    return member;
  }

  /** The channel with this name (throws if there is none, so a typo fails loudly). */
  channel(name: string): FakeChannel {
    const channel = this.channels.find((c) => c.name === name || c.id === name);
    if (!channel) throw new Error(`fake guild ${this.name} has no channel ${name}`);
    return channel;
  }

  role(name: string): FakeRole {
    const role = this.roles.find((r) => r.name === name || r.id === name);
    if (!role) throw new Error(`fake guild ${this.name} has no role ${name}`);
    return role;
  }

  member(user: FakeUser | string): FakeMember | undefined {
    return this.members.get(typeof user === "string" ? user : user.id);
  }

  /** The GUILD_CREATE payload. */
  toAPI(): Record<string, unknown> {
    return {
      id: this.id,
      name: this.name,
      icon: null,
      splash: null,
      discovery_splash: null,
      owner_id: this.ownerId,
      afk_channel_id: null,
      afk_timeout: 300,
      verification_level: 0,
      default_message_notifications: 1,
      explicit_content_filter: 0,
      features: [],
      mfa_level: 0,
      application_id: null,
      system_channel_id: null,
      system_channel_flags: 0,
      rules_channel_id: null,
      vanity_url_code: null,
      description: null,
      banner: null,
      premium_tier: 0,
      preferred_locale: "en-US",
      public_updates_channel_id: null,
      nsfw_level: 0,
      premium_progress_bar_enabled: false,
      safety_alerts_channel_id: null,
      joined_at: new Date().toISOString(),
      large: false,
      unavailable: false,
      member_count: this.members.size,
      roles: this.roles.map((r) => r.toAPI()),
      channels: this.channels.map((c) => c.toAPI()),
      members: [...this.members.values()].map((m) => m.toAPI()),
      threads: [],
      presences: [],
      voice_states: [],
      emojis: [],
      stickers: [],
      stage_instances: [],
      guild_scheduled_events: [],
      soundboard_sounds: [],
    };
  }
}

/** A file the bot uploaded with a message (multipart `files[n]`). */
export interface UploadedFile {
  /** The multipart field name, e.g. `files[0]`. */
  field: string;
  filename: string;
  contentType: string;
  bytes: Buffer;
  /** The attachment object Discord returned for it. */
  attachment: APIAttachment;
  /** The bytes as UTF-8 text, for assertions on reports. */
  text(): string;
}

/** Who a message actually pings, computed from its content and `allowed_mentions` the way Discord does. */
export interface Pings {
  everyone: boolean;
  users: string[];
  roles: string[];
}

/** Discord's rule: no allowed_mentions parses everything; otherwise only what `parse`, `users`, `roles` allow. */
export function computePings(content: string, allowed: APIAllowedMentions | undefined): Pings {
  const users = [...content.matchAll(/<@!?(\d+)>/g)].map((m) => m[1] as string);
  const roles = [...content.matchAll(/<@&(\d+)>/g)].map((m) => m[1] as string);
  const mentionsEveryone = /@(everyone|here)/.test(content);
  if (!allowed) return { everyone: mentionsEveryone, users: [...new Set(users)], roles: [...new Set(roles)] };
  const parse = allowed.parse ?? [];
  return {
    everyone: mentionsEveryone && parse.includes("everyone" as never),
    users: [
      ...new Set(
        users.filter((id) => parse.includes("users" as never) || (allowed.users ?? []).includes(id)),
      ),
    ],
    roles: [
      ...new Set(
        roles.filter((id) => parse.includes("roles" as never) || (allowed.roles ?? []).includes(id)),
      ),
    ],
  };
}

/** A message the bot sent (channel message, interaction reply or follow-up), as it stands after edits. */
export class FakeMessage {
  content = "";
  embeds: NonNullable<APIMessage["embeds"]> = [];
  components: NonNullable<APIMessage["components"]> = [];
  attachments: APIAttachment[] = [];
  /** The files currently attached (uploaded with this message or a later edit). */
  files: UploadedFile[] = [];
  flags = 0;
  /** `allowed_mentions` of the latest create or edit that carried one (undefined if none did); see `bodies`. */
  allowedMentions: APIAllowedMentions | undefined;
  /** Every body the bot sent for this message, the create first, then each edit. */
  readonly bodies: Record<string, unknown>[] = [];
  editedAt: string | null = null;
  deleted = false;
  readonly createdAt = new Date().toISOString();

  constructor(
    readonly id: string,
    readonly channelId: string,
    readonly guildId: string | undefined,
    readonly author: FakeUser,
    /** Set for interaction responses and follow-ups. */
    readonly interactionId: string | undefined,
    readonly applicationId: string | undefined,
  ) {}

  get ephemeral(): boolean {
    return (this.flags & MessageFlags.Ephemeral) !== 0;
  }

  /** True while a deferred reply shows "thinking…" (flag Loading) and has not been edited yet. */
  get loading(): boolean {
    return (this.flags & MessageFlags.Loading) !== 0;
  }

  get editCount(): number {
    return Math.max(0, this.bodies.length - 1);
  }

  /**
   * Who this message could have pinged: the union, over the create and every edit that carried content, of
   * what that body's content and allowed_mentions let through (embeds never ping). Conservative on purpose.
   */
  get pings(): Pings {
    const all: Pings = { everyone: false, users: [], roles: [] };
    for (const body of this.bodies) {
      if (typeof body.content !== "string") continue;
      const pings = computePings(body.content, body.allowed_mentions as APIAllowedMentions | undefined);
      all.everyone ||= pings.everyone;
      all.users = [...new Set([...all.users, ...pings.users])];
      all.roles = [...new Set([...all.roles, ...pings.roles])];
    }
    return all;
  }

  /** An uploaded file by name (throws if absent, listing what is there). */
  file(filename: string): UploadedFile {
    const file = this.files.find((f) => f.filename === filename);
    if (!file)
      throw new Error(
        `message ${this.id} has no file ${filename}; it has ${this.files.map((f) => f.filename).join(", ") || "none"}`,
      );
    return file;
  }

  /** Custom ids of every button and select in the message, in order. */
  get customIds(): string[] {
    const ids: string[] = [];
    const visit = (component: unknown): void => {
      if (!component || typeof component !== "object") return;
      const c = component as { custom_id?: unknown; components?: unknown[]; accessory?: unknown };
      if (typeof c.custom_id === "string") ids.push(c.custom_id);
      for (const child of c.components ?? []) visit(child);
      visit(c.accessory);
    };
    for (const row of this.components) visit(row);
    return ids;
  }

  toAPI(): APIMessage {
    return {
      id: this.id,
      channel_id: this.channelId,
      ...(this.guildId ? { guild_id: this.guildId } : {}),
      author: this.author.toAPI(),
      content: this.content,
      timestamp: this.createdAt,
      edited_timestamp: this.editedAt,
      tts: false,
      mention_everyone: computePings(this.content, this.allowedMentions).everyone,
      mentions: [],
      mention_roles: computePings(this.content, this.allowedMentions).roles,
      attachments: this.attachments,
      embeds: this.embeds,
      components: this.components,
      pinned: false,
      type: this.interactionId ? MessageType.ChatInputCommand : MessageType.Default,
      flags: this.flags,
      ...(this.applicationId ? { webhook_id: this.applicationId, application_id: this.applicationId } : {}),
    };
  }
}
