// A fake Discord for end-to-end tests. The REAL discord.js client connects to it over loopback and the test
// plays the users. It speaks the real protocols: REST v10 (node:http, JSON or multipart) and gateway v10 (ws,
// JSON; zlib-stream or identify compression when the client asks), plus a CDN that serves attachments and
// records every fetch. Nothing is mocked inside discord.js: point `rest.api` at `discord.apiUrl`, log in
// with `discord.token`.
//
//   const discord = await startFakeDiscord({ heartbeatIntervalMs: 200 });
//   const guild = discord.addGuild({ name: "School", channels: ["general", "admin"], roles: ["teachers"] });
//   const teacher = discord.addUser({ username: "ms-rivera" });
//   guild.addMember(teacher, { permissions: PermissionFlagsBits.ManageGuild }); // or { roles: [guild.role("teachers")] }
//   const client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: discord.apiUrl } });
//   await client.login(discord.token); await discord.waitForReady();
//   const file = discord.cdn.attachment("qa.jsonl", text);           // served at file.url
//   const run = await discord.slash({ channel: guild.channel("general"), user: teacher, command: "dataset",
//     subcommand: "validate", options: { file, model: "gpt-4o-mini" } });
//   const reply = await run.waitForOriginal();                       // @original once no longer "thinking…"
//   assert.equal(run.ephemeral, true); reply.embeds[0]?.title; reply.file("report.md").text();
//   const start = await discord.click({ message: reply, customId: "finetune:start", user: teacher });
//   await client.destroy(); await discord.close();                   // destroy the client first
//
// startFakeDiscord(options?: { botUserId?, applicationId?, botUsername?, heartbeatIntervalMs? (41,250),
//   botPermissions? (app_permissions), ackDeadlineMs? (refuse late callbacks), clock? (() => ms),
//   defaultTimeoutMs? (10,000), recommendedShards? (1: GET /gateway/bot `shards`), maxConcurrency? (1) }): Promise<FakeDiscord>
// FakeDiscord
//   apiUrl, gatewayUrl, token, botUser, applicationId, cdn: FakeCdn
//   addUser({ username, id?, bot?, globalName? }): FakeUser
//   addGuild({ name, id?, channels?: (string | { name, type?, id? })[], roles?: (string | { name, permissions? })[],
//     everyonePermissions?, owner? }): FakeGuild       — sent as GUILD_CREATE at once if a bot is connected
//   FakeGuild: addChannel(name | spec), addRole(name | spec), addMember(user, { permissions?, roles?, nick? }),
//     channel(name), role(name), member(user). Member permissions = @everyone | roles | `permissions`.
//   waitForReady({ count?, timeoutMs? }): Promise<void>          — count: the n-th IDENTIFY (2 after a restart)
//   slash({ channel, user, command, subcommand?, group?, options?, locale?, strict? }): Promise<FakeInteraction>
//     Option types come from the deployed command when there is one, else from the value: string, integer,
//     number, boolean, CdnFile (attachment), FakeChannel, FakeRole, FakeUser. Against a deployed command,
//     unknown options, missing required ones or subcommand, and wrong value types throw (strict: false sends
//     as given, to test the bot's own checks).
//     `data.resolved` (attachments, channels, roles, users, members) is filled in.
//   autocomplete({ …slash, focused }): Promise<{ name, value }[]>  — the focused value is options[focused] ?? ""
//   click({ message, customId, user, values?, channel? }): Promise<FakeInteraction>  — throws if absent/disabled
//   submitModal({ from: interactionAnsweredWithAModal, fields: { [customId]: value } }): Promise<FakeInteraction>
//   messages(), channelMessages(channel), message(id), waitForMessage(channel, predicate?, { timeoutMs? })
//   commands(guild?): StoredCommand[]  — what PUT/POST …/commands stored (ids, default_member_permissions…)
//   requests, unhandledRequests (routes the fake lacks, answered 404 — a clean test leaves it empty)
//   identifies, resumes, heartbeats(), waitForHeartbeat({ count? }), gatewayFrames, dispatch(t, d),
//   disconnectAll(code?) (the client then RESUMEs), interaction(id), waitFor(describe, check, timeoutMs), close()
//   transcript(): string — the conversation as readable lines (commands, clicks, the bot's posts and edits);
//   timeline: the same as data
// FakeInteraction (returned at once; the bot answers asynchronously)
//   id, token, payload (the INTERACTION_CREATE data), response(): Promise<InteractionCallback>, callback,
//   callbacks, acknowledged, deferred, ephemeral, ackLatencyMs, choices, modal, original(),
//   waitForOriginal(predicate? = not loading), followUps(), waitForFollowUp(predicate?), messages()
// FakeMessage (as it stands after edits)
//   id, channelId, content, embeds, components, customIds, attachments, files: UploadedFile[] ({ filename,
//   contentType, bytes, text() }), file(name), flags, ephemeral, loading, allowedMentions (latest), bodies
//   (every JSON payload, create first), editCount, interactionId, pings { everyone, users, roles } (the union
//   over the create and every edit of what content + allowed_mentions let through), deleted
// FakeCdn (also FakeCdn.start() for a second host, e.g. one off the allow-list)
//   add(filename, bytes | string, { contentType?, reportedSize?, contentLength? (number | "none"),
//   redirectTo?, status? }): CdnFile { id, url, filename, size, attachment }; attachment() is an alias;
//   baseUrl, host ("127.0.0.1:port"), requests, requestsFor(file)
//
// REST under /api/v10: GET /gateway, /gateway/bot, /users/@me, /applications/@me; GET/PUT/POST
//   /applications/:app[/guilds/:guild]/commands; POST /interactions/:id/:token/callback (types 1, 4-9);
//   POST /webhooks/:app/:token; GET/PATCH/DELETE /webhooks/:app/:token/messages/(@original|:id); GET
//   /channels/:id; GET/POST /channels/:id/messages; GET/PATCH/DELETE /channels/:id/messages/:id; POST
//   /channels/:id/typing; GET /guilds/:id, /guilds/:id/members/:user. Bot routes want `Bot <token>` (else 401).
// Each guild gets a "general" channel unless channels are given, an owner, and the bot as a member with a
//   managed role carrying `botPermissions` (so permissionsFor(guild.members.me) works).
//
// Discord behaviours kept on purpose, so a bot that breaks them fails here as in production: one callback per
// interaction (400 40060 after); webhook calls before the callback fail (404 10015); with `ackDeadlineMs`,
// late callbacks get 404 10062; the first follow-up after a deferral replaces the "thinking…" message; an
// edit's `attachments` list replaces the files; limits (2,000 content, 10 embeds, 256 title, 4,096
// description, 25 fields, 256 field name, 1,024 field value, a blank field name or value, 2,048 footer,
// 256 author, 6,000 per message, 5 rows, 25 choices) answer 400 50035; empty messages 400 50006;
// `refuseMessages(when)` makes matching message bodies answer 400 50035 too (a rule the fake does not model);
// ephemeral messages are invisible to /channels routes; a message without allowed_mentions pings everything
// it mentions. Rate-limit headers are sent with generous limits that are never hit.
// Sharding: a connection that IDENTIFYs with shard [id, count] gets READY, GUILD_CREATE and every guild's events
// (interactions, channel and role creates, GUILD_DELETE) only for guilds with (guild_id >> 22) % count === id;
// snowflakeOnShard(id, count) (ids.ts) makes such a guild id. An interaction no connected shard holds throws.
// Not faked: ETF encoding, DMs, threads, per-channel permission overwrites (the bot may post
// anywhere), replay of events missed during a RESUME, reactions, presence, voice.
export type { CdnFile, CdnFileOptions, CdnRequest } from "./cdn.ts";
export { FakeCdn } from "./cdn.ts";
export type {
  AutocompleteInput,
  ClickInput,
  FakeDiscordOptions,
  InteractionTarget,
  ModalInput,
  OptionValue,
  RecordedRequest,
  SlashInput,
  StoredCommand,
} from "./fakeDiscord.ts";
export { FakeDiscord, startFakeDiscord } from "./fakeDiscord.ts";
export type { GatewayFrame, IdentifyRecord } from "./gateway.ts";
export type { InteractionCallback, WaitOptions } from "./interaction.ts";
export { FakeInteraction } from "./interaction.ts";
export type { MemberOptions, Pings, UploadedFile } from "./model.ts";
export {
  computePings,
  FakeChannel,
  FakeGuild,
  FakeMember,
  FakeMessage,
  FakeRole,
  FakeUser,
} from "./model.ts";
export type { MessageSnapshot, TimelineEvent } from "./transcript.ts";
