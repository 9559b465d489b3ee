// A fake Discord for end-to-end tests: the REAL discord.js client connects to it over loopback and the test
// plays the users. It speaks the real protocols: REST v10 (node:http) and the gateway v10 (ws, JSON, with
// zlib-stream or identify compression when asked), plus a CDN that serves attachments and records fetches.
//
//   const discord = await startFakeDiscord();                  // options: botUserId, applicationId, heartbeatIntervalMs…
//   const guild = discord.addGuild({ name: "School", channels: ["general", "admin"], roles: ["teachers"] });
//   const teacher = discord.addUser({ username: "ms-rivera" });
//   guild.addMember(teacher, { permissions: PermissionFlagsBits.ManageGuild });   // or { roles: [guild.role("teachers")] }
//   const client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: discord.apiUrl } });
//   await client.login(discord.token); await discord.waitForReady();
//   const file = discord.cdn.attachment("qa.jsonl", text);      // served at file.url; discord.cdn.requestsFor(file)
//   const run = await discord.slash({ channel: guild.channel("general"), user: teacher, command: "dataset",
//                                     subcommand: "validate", options: { file, model: "gpt-4o-mini" } });
//   await run.response();                                       // the callback (run.deferred, run.ephemeral)
//   const reply = await run.waitForOriginal();                  // the @original message once not "thinking…"
//   reply.embeds[0]?.title; reply.file("report.md").text(); reply.pings; reply.allowedMentions
//   const click = await discord.click({ message: reply, customId: "finetune:start", user: teacher });
//   client.destroy(); await discord.close();                   // destroy the client first
//
// World: addUser, addGuild → FakeGuild (addChannel, addRole, addMember, channel(name), role(name)).
// Interactions (each returns a FakeInteraction handle at once; the bot answers asynchronously):
//   slash({ channel, user, command, subcommand?, group?, options? })   option types come from the deployed
//     command when there is one (unknown option names then throw), else from the value: string, integer,
//     number, boolean, CdnFile (attachment), FakeChannel, FakeRole, FakeUser; resolved objects are filled in.
//   autocomplete({ …slash, focused }) → the choices;  click({ message, customId, user });
//   submitModal({ from: interactionAnsweredWithAModal, fields: { customId: value } }).
// FakeInteraction: response(), callback(s), acknowledged, deferred, ephemeral, ackLatencyMs, choices, modal,
//   original(), waitForOriginal(predicate?), followUps(), waitForFollowUp(predicate?), messages().
// Messages (FakeMessage): content, embeds, components, files (UploadedFile with bytes/text()), attachments,
//   flags, ephemeral, loading, allowedMentions, pings {everyone, users, roles}, bodies (every payload sent),
//   editCount, customIds. discord.messages(), channelMessages(channel), waitForMessage(channel, predicate?).
// Assertions on the wire: discord.requests, discord.unhandledRequests (routes the fake lacks, answered 404:
//   keep it empty), discord.commands(guild?), discord.identifies, discord.heartbeats(), waitForHeartbeat(),
//   discord.gatewayFrames. Every wait takes { timeoutMs } (default 5 s) and fails with what it saw.
// Discord behaviours kept on purpose: one callback per interaction (40060 after), webhook calls before the
//   callback fail (10015), the first follow-up after a deferral replaces the "thinking…" message, message
//   limits (2,000 content, 10 embeds, 4,096 description, 6,000 total, 25 choices) answer 400 50035, an edit's
//   `attachments` list replaces the files, messages with no allowed_mentions ping everything they mention.
// Not faked: RESUME (answered "invalid session", so the client identifies again), ETF encoding, sharding,
//   DMs, threads, select menus other than by click(), rate limiting (headers are sent, limits never hit).
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
