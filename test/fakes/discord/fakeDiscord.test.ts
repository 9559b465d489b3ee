// Tests for the fake Discord itself, driven by the real discord.js client running a tiny bot written here.
import assert from "node:assert/strict";
import { once } from "node:events";
import { after, before, describe, test } from "node:test";
import { inflateSync } from "node:zlib";
import {
  ActionRowBuilder,
  ApplicationCommandOptionType,
  AttachmentBuilder,
  ButtonBuilder,
  ButtonStyle,
  ChannelType,
  Client,
  EmbedBuilder,
  Events,
  GatewayIntentBits,
  GatewayOpcodes,
  type Interaction,
  InteractionResponseType,
  InteractionType,
  MessageFlags,
  ModalBuilder,
  PermissionFlagsBits,
  REST,
  RESTJSONErrorCodes,
  Routes,
  SlashCommandBuilder,
  TextInputBuilder,
  TextInputStyle,
} from "discord.js";
import { WebSocket } from "ws";
import { FakeCdn, type FakeDiscord, type FakeGuild, type FakeUser, startFakeDiscord } from "./index.ts";

const commands = [
  new SlashCommandBuilder()
    .setName("dataset")
    .setDescription("Datasets")
    .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild)
    .addSubcommand((s) =>
      s
        .setName("validate")
        .setDescription("Validate a dataset")
        .addAttachmentOption((o) => o.setName("file").setDescription("JSONL").setRequired(true))
        .addStringOption((o) => o.setName("model").setDescription("Base model")),
    ),
  new SlashCommandBuilder()
    .setName("finetune")
    .setDescription("Fine-tune")
    .addSubcommand((s) =>
      s
        .setName("start")
        .setDescription("Start")
        .addStringOption((o) => o.setName("dataset").setDescription("Dataset").setAutocomplete(true))
        .addIntegerOption((o) => o.setName("epochs").setDescription("Epochs")),
    ),
  new SlashCommandBuilder()
    .setName("notify")
    .setDescription("Post a notice")
    .addChannelOption((o) => o.setName("channel").setDescription("Where").setRequired(true))
    .addUserOption((o) => o.setName("who").setDescription("Who to mention").setRequired(true)),
  new SlashCommandBuilder().setName("feedback").setDescription("Opens a modal"),
];

/** The tiny bot under test: what a real bot does with each interaction, in a few lines each. */
async function handle(interaction: Interaction): Promise<void> {
  if (interaction.isChatInputCommand() && interaction.commandName === "dataset") {
    await interaction.deferReply({ flags: MessageFlags.Ephemeral });
    const file = interaction.options.getAttachment("file", true);
    const text = await (await fetch(file.url)).text();
    const lines = text.trim().split("\n").length;
    const allowed = interaction.memberPermissions?.has(PermissionFlagsBits.ManageGuild) ?? false;
    await interaction.editReply({
      embeds: [
        new EmbedBuilder()
          .setTitle(`Validated ${file.name}`)
          .setDescription(`${lines} lines; teacher: ${allowed}`),
      ],
      files: [new AttachmentBuilder(Buffer.from(`# Report\n${lines} lines\n`), { name: "report.md" })],
      components: [
        new ActionRowBuilder<ButtonBuilder>().addComponents(
          new ButtonBuilder()
            .setCustomId("finetune:start")
            .setLabel("Fine-tune this")
            .setStyle(ButtonStyle.Primary),
        ),
      ],
    });
  } else if (interaction.isAutocomplete()) {
    const typed = String(interaction.options.getFocused()).toLowerCase();
    const names = ["algebra", "biology", "chemistry", ...Array.from({ length: 40 }, (_, i) => `set-${i}`)];
    await interaction.respond(
      names
        .filter((n) => n.includes(typed))
        .slice(0, 25)
        .map((n) => ({ name: n, value: n })),
    );
  } else if (interaction.isButton()) {
    await interaction.update({
      content: `Started by ${interaction.user.username}`,
      embeds: [],
      components: [],
    });
  } else if (interaction.isChatInputCommand() && interaction.commandName === "notify") {
    const channel = interaction.options.getChannel("channel", true, [ChannelType.GuildText]);
    const who = interaction.options.getUser("who", true);
    await interaction.reply({ content: "Posted.", flags: MessageFlags.Ephemeral });
    const notice = await channel.send({
      content: `${who} your job is running @everyone`,
      allowedMentions: { users: [who.id] },
    });
    await notice.edit({ content: `${who} your job is done @everyone` });
  } else if (interaction.isChatInputCommand() && interaction.commandName === "feedback") {
    const input = new TextInputBuilder()
      .setCustomId("comment")
      .setLabel("Comment")
      .setStyle(TextInputStyle.Short);
    await interaction.showModal(
      new ModalBuilder()
        .setCustomId("feedback")
        .setTitle("Feedback")
        .addComponents(new ActionRowBuilder<TextInputBuilder>().addComponents(input)),
    );
  } else if (interaction.isModalSubmit()) {
    await interaction.reply({
      content: `Thanks: ${interaction.fields.getTextInputValue("comment")}`,
      flags: MessageFlags.Ephemeral,
    });
    await interaction.followUp({
      content: "Your comment, attached.",
      files: [{ attachment: Buffer.from("great class"), name: "comment.txt" }],
    });
  }
}

/** The tiny bot's error boundary: a deferred interaction is told what went wrong. */
async function fail(interaction: Interaction, error: unknown): Promise<void> {
  if (interaction.isRepliable() && interaction.deferred) {
    await interaction.editReply({ content: `error: ${(error as Error).message}` });
  }
}

async function startBot(discord: FakeDiscord): Promise<Client> {
  const client = new Client({
    intents: [GatewayIntentBits.Guilds],
    allowedMentions: { parse: [] },
    rest: { api: discord.apiUrl },
  });
  client.on(
    Events.InteractionCreate,
    (interaction) => void handle(interaction).catch((error) => fail(interaction, error)),
  );
  const ready = once(client, Events.ClientReady);
  await client.login(discord.token);
  await ready;
  return client;
}

describe("fake Discord with the real discord.js client", () => {
  let discord: FakeDiscord;
  let client: Client;
  let guild: FakeGuild;
  let teacher: FakeUser;
  let student: FakeUser;

  before(async () => {
    discord = await startFakeDiscord({ heartbeatIntervalMs: 200 });
    guild = discord.addGuild({
      name: "Springfield High",
      channels: ["general", "admin"],
      roles: ["teachers"],
    });
    teacher = discord.addUser({ username: "ms-rivera" });
    student = discord.addUser({ username: "bart" });
    guild.addMember(teacher, { permissions: PermissionFlagsBits.ManageGuild });
    guild.addMember(student);
    await new REST({ api: discord.apiUrl })
      .setToken(discord.token)
      .put(Routes.applicationGuildCommands(discord.applicationId, guild.id), {
        body: commands.map((c) => c.toJSON()),
      });
    client = await startBot(discord);
    await discord.waitForReady();
  });

  after(async () => {
    await client.destroy();
    await discord.close();
  });

  test("the client reaches READY and caches the guild with its channels and roles", () => {
    assert.equal(client.user?.id, discord.botUser.id);
    assert.equal(client.application?.id, discord.applicationId);
    const cached = client.guilds.cache.get(guild.id);
    assert.equal(cached?.name, "Springfield High");
    assert.deepEqual(cached?.channels.cache.map((c) => c.name).sort(), ["admin", "general"]);
    assert.ok(cached?.roles.cache.some((r) => r.name === "teachers"));
    assert.equal(discord.identifies[0]?.intents, GatewayIntentBits.Guilds);
    const me = cached?.members.me;
    assert.ok(me, "the bot is a cached member of its guild");
    const admin = cached?.channels.cache.find((c) => c.name === "admin");
    const needed =
      PermissionFlagsBits.SendMessages | PermissionFlagsBits.EmbedLinks | PermissionFlagsBits.AttachFiles;
    assert.equal(admin?.permissionsFor(me)?.has(needed), true);
  });

  test("deployed commands are stored with their options and default permissions", () => {
    const stored = discord.commands(guild);
    assert.deepEqual(
      stored.map((c) => c.name),
      ["dataset", "finetune", "notify", "feedback"],
    );
    assert.equal(stored[0]?.default_member_permissions, PermissionFlagsBits.ManageGuild.toString());
    assert.equal(stored[0]?.options?.[0]?.name, "validate");
  });

  test("a slash command with an attachment gets a deferred reply, then an edit with an embed and a file", async () => {
    const file = discord.cdn.attachment("qa.jsonl", '{"a":1}\n{"a":2}\n{"a":3}\n');
    const run = await discord.slash({
      channel: guild.channel("general"),
      user: teacher,
      command: "dataset",
      subcommand: "validate",
      options: { file, model: "gpt-4o-mini-2024-07-18" },
    });
    const callback = await run.response();
    assert.equal(run.deferred, true);
    assert.equal(run.ephemeral, true);
    assert.ok((run.ackLatencyMs ?? Number.POSITIVE_INFINITY) < 3_000);
    assert.equal(callback.files.length, 0);
    const reply = await run.waitForOriginal();
    assert.equal(reply.embeds[0]?.title, "Validated qa.jsonl");
    assert.equal(reply.embeds[0]?.description, "3 lines; teacher: true");
    assert.equal(reply.file("report.md").text(), "# Report\n3 lines\n");
    assert.ok(reply.attachments[0]?.url.startsWith(discord.cdn.baseUrl));
    assert.deepEqual(reply.customIds, ["finetune:start"]);
    assert.equal(discord.cdn.requestsFor(file).length, 1);
    const edit = discord.requests.find((r) => r.method === "PATCH" && r.path.endsWith("/messages/@original"));
    assert.equal(edit?.files[0]?.field, "files[0]");
  });

  test("against a deployed command, impossible invocations throw in the test instead of reaching the bot", async () => {
    const channel = guild.channel("general");
    const file = discord.cdn.attachment("d.jsonl", "{}\n");
    const dataset = { channel, user: teacher, command: "dataset" } as const;
    await assert.rejects(discord.slash(dataset), /needs a subcommand/);
    await assert.rejects(discord.slash({ ...dataset, subcommand: "validate" }), /needs file/);
    await assert.rejects(
      discord.slash({ ...dataset, subcommand: "validate", options: { file: "x" } }),
      /is Attachment/,
    );
    await assert.rejects(
      discord.slash({ ...dataset, subcommand: "validate", options: { file, mdl: "x" } }),
      /no option mdl/,
    );
    await assert.rejects(discord.slash({ ...dataset, subcommand: "nope" }), /no subcommand or group nope/);
    const epochs = { channel, user: teacher, command: "finetune", subcommand: "start" } as const;
    await assert.rejects(discord.slash({ ...epochs, options: { epochs: 1.5 } }), /is Integer/);
    const loose = await discord.slash({
      ...dataset,
      subcommand: "validate",
      options: { file: "x" },
      strict: false,
    });
    assert.equal(loose.payload.type, InteractionType.ApplicationCommand);
    const reply = await loose.waitForOriginal(); // the fake delivered it; discord.js itself rejects the value
    assert.match(reply.content, /^error: Required option "file"/);
  });

  test("a student's member permissions come through without Manage Server", async () => {
    const file = discord.cdn.attachment("b.jsonl", "{}\n");
    const run = await discord.slash({
      channel: guild.channel("general"),
      user: student,
      command: "dataset",
      subcommand: "validate",
      options: { file },
    });
    const reply = await run.waitForOriginal();
    assert.equal(reply.embeds[0]?.description, "1 lines; teacher: false");
  });

  test("autocomplete returns the bot's choices, capped at 25", async () => {
    const choices = await discord.autocomplete({
      channel: guild.channel("general"),
      user: teacher,
      command: "finetune",
      subcommand: "start",
      options: { dataset: "bio", epochs: 3 },
      focused: "dataset",
    });
    assert.deepEqual(choices, [{ name: "biology", value: "biology" }]);
    const all = await discord.autocomplete({
      channel: guild.channel("general"),
      user: teacher,
      command: "finetune",
      subcommand: "start",
      focused: "dataset",
    });
    assert.equal(all.length, 25);
  });

  test("a button click updates the message it was clicked on", async () => {
    const file = discord.cdn.attachment("c.jsonl", "{}\n");
    const run = await discord.slash({
      channel: guild.channel("general"),
      user: teacher,
      command: "dataset",
      subcommand: "validate",
      options: { file },
    });
    const reply = await run.waitForOriginal();
    const click = await discord.click({ message: reply, customId: "finetune:start", user: teacher });
    await click.response();
    const updated = await click.waitForOriginal((m) => m.content.startsWith("Started"));
    assert.equal(updated.id, reply.id);
    assert.equal(updated.content, "Started by ms-rivera");
    assert.deepEqual(updated.components, []);
    await assert.rejects(
      discord.click({ message: updated, customId: "finetune:start", user: teacher }),
      /has no component/,
    );
    // A hostile client's forged id still reaches the bot, as it would on Discord's gateway.
    const forged = await discord.click({
      message: updated,
      customId: "finetune:start",
      user: teacher,
      forged: true,
    });
    await forged.response();
    assert.equal((await forged.waitForOriginal()).content, "Started by ms-rivera");
  });

  test("a channel message records allowed_mentions and who it actually pings", async () => {
    const admin = guild.channel("admin");
    const run = await discord.slash({
      channel: guild.channel("general"),
      user: teacher,
      command: "notify",
      options: { channel: admin, who: student },
    });
    assert.equal((await run.waitForOriginal()).content, "Posted.");
    const notice = await discord.waitForMessage(admin, (m) => m.content.includes("job is done"));
    assert.equal(notice.editCount, 1);
    assert.equal(notice.bodies[0]?.content, `<@${student.id}> your job is running @everyone`);
    assert.deepEqual(notice.bodies[0]?.allowed_mentions, { users: [student.id] });
    assert.deepEqual(notice.allowedMentions, { parse: [] }, "the edit carries the client's default");
    assert.deepEqual(notice.pings, { everyone: false, users: [student.id], roles: [] });
    assert.equal(notice.ephemeral, false);
  });

  test("a modal opened by a command can be submitted", async () => {
    const run = await discord.slash({
      channel: guild.channel("general"),
      user: student,
      command: "feedback",
    });
    await run.response();
    assert.equal(run.modal?.custom_id, "feedback");
    const submit = await discord.submitModal({ from: run, fields: { comment: "great class" } });
    const thanks = await submit.waitForOriginal();
    assert.equal(thanks.content, "Thanks: great class");
    assert.equal(thanks.ephemeral, true);
    const followUp = await submit.waitForFollowUp();
    assert.equal(followUp.file("comment.txt").text(), "great class");
    assert.equal(followUp.ephemeral, false);
    assert.equal(followUp.interactionId, submit.id);
  });

  test("heartbeats are ACKed, so the client keeps beating on the same session", async () => {
    const first = await discord.waitForHeartbeat();
    const ack = discord.gatewayFrames.find(
      (f) => f.direction === "sent" && f.op === GatewayOpcodes.HeartbeatAck && f.at >= first.at,
    );
    assert.ok(ack);
    // discord.js sends the next beat only if the previous one was ACKed; otherwise it drops the connection.
    const second = await discord.waitForHeartbeat();
    assert.equal(second.sessionId, first.sessionId);
    assert.equal(discord.identifies.length, 1);
    assert.ok(client.ws.ping >= 0);
  });

  test("a guild or channel added while connected reaches the client (GUILD_CREATE, CHANNEL_CREATE)", async () => {
    const seen = Promise.all([once(client, Events.GuildCreate), once(client, Events.ChannelCreate)]);
    const other = discord.addGuild({ name: "Shelbyville", channels: ["lobby"] });
    const lab = guild.addChannel("lab");
    await seen;
    assert.equal(client.guilds.cache.get(other.id)?.channels.cache.first()?.name, "lobby");
    assert.equal(client.guilds.cache.get(guild.id)?.channels.cache.get(lab.id)?.name, "lab");
  });

  test("removing the bot sends GUILD_DELETE with only the id (no outage flag); a re-invite sends GUILD_CREATE", async () => {
    const other = discord.addGuild({ name: "Capital City", channels: ["hall"] });
    await once(client, Events.GuildCreate);
    const gone = once(client, Events.GuildDelete);
    let unavailable = false;
    client.once(Events.GuildUnavailable, () => {
      unavailable = true;
    });
    discord.removeBot(other);
    const [deleted] = (await gone) as [{ id: string }];
    assert.equal(deleted.id, other.id);
    assert.equal(unavailable, false, "a removal is not an outage");
    assert.equal(client.guilds.cache.has(other.id), false);
    const back = once(client, Events.GuildCreate);
    discord.reinviteBot(other);
    await back;
    assert.equal(client.guilds.cache.get(other.id)?.channels.cache.first()?.name, "hall");
  });

  test("the transcript reads as the conversation", () => {
    const transcript = discord.transcript();
    assert.match(
      transcript,
      /#general {2}ms-rivera: \/dataset validate file:qa\.jsonl model:gpt-4o-mini-2024-07-18/,
    );
    assert.match(transcript, /#general {2}classtune \(only they see this\) is thinking…/);
    assert.match(transcript, /┃ Validated qa\.jsonl/);
    assert.match(transcript, /📎 report\.md \(\d+ bytes\)/);
    assert.match(transcript, /ms-rivera clicks \[Fine-tune this\]/);
    assert.match(transcript, /ms-rivera: \/notify channel:#admin who:@bart/);
    assert.match(transcript, /#admin {2}classtune \(edit\): <@\d+> your job is done @everyone/);
  });

  test("nothing unexpected was requested", () => {
    assert.deepEqual(discord.unhandledRequests, []);
  });

  test("a dropped gateway connection is resumed and the bot keeps answering", async () => {
    discord.disconnectAll();
    await discord.waitForReady();
    assert.equal(discord.resumes.length, 1);
    assert.equal(discord.identifies.length, 1);
    const choices = await discord.autocomplete({
      channel: guild.channel("general"),
      user: teacher,
      command: "finetune",
      subcommand: "start",
      options: { dataset: "chem" },
      focused: "dataset",
    });
    assert.deepEqual(choices, [{ name: "chemistry", value: "chemistry" }]);
  });

  test("a restarted client (destroy, new login) identifies again and answers", async () => {
    await client.destroy();
    client = await startBot(discord);
    await discord.waitForReady({ count: 2 });
    const choices = await discord.autocomplete({
      channel: guild.channel("general"),
      user: teacher,
      command: "finetune",
      subcommand: "start",
      options: { dataset: "alg" },
      focused: "dataset",
    });
    assert.deepEqual(choices, [{ name: "algebra", value: "algebra" }]);
  });
});

describe("fake Discord protocol details", () => {
  let discord: FakeDiscord;
  before(async () => {
    discord = await startFakeDiscord();
    discord.addGuild({ name: "G" });
  });
  after(() => discord.close());

  test("REST without the bot token is refused with Discord's error shape", async () => {
    const response = await fetch(`${discord.apiUrl}/v10/gateway/bot`);
    assert.equal(response.status, 401);
    assert.deepEqual(await response.json(), { message: "401: Unauthorized", code: 0 });
  });

  test("an unknown route answers 404 and is recorded as unhandled", async () => {
    const response = await fetch(`${discord.apiUrl}/v10/guilds/1/bans`, {
      headers: { authorization: `Bot ${discord.token}` },
    });
    assert.equal(response.status, 404);
    assert.deepEqual(await response.json(), { message: "404: Not Found", code: 0 });
    assert.equal(discord.unhandledRequests[0]?.path, "/guilds/1/bans");
  });

  test("zlib-stream compression: every frame ends with a sync flush and inflates to the payload", async () => {
    const ws = new WebSocket(`${discord.gatewayUrl}?v=10&encoding=json&compress=zlib-stream`);
    const frames: Buffer[] = [];
    ws.on("message", (data) => frames.push(data as Buffer));
    await once(ws, "open");
    while (frames.length === 0) await once(ws, "message");
    ws.send(
      JSON.stringify({
        op: GatewayOpcodes.Identify,
        d: { token: discord.token, intents: 1, properties: {} },
      }),
    );
    await discord.waitForReady();
    while (frames.length < 3) await once(ws, "message");
    const all = Buffer.concat(frames);
    for (const frame of frames) assert.deepEqual([...frame.subarray(-4)], [0, 0, 0xff, 0xff]);
    const text = inflateSync(all, { finishFlush: 2 }).toString("utf8");
    assert.match(text, /"op":10/);
    assert.match(text, /"t":"READY"/);
    assert.match(text, /"t":"GUILD_CREATE"/);
    ws.close();
  });

  test("a wrong token in IDENTIFY closes with 4004", async () => {
    const ws = new WebSocket(`${discord.gatewayUrl}?v=10&encoding=json`);
    await once(ws, "message");
    ws.send(
      JSON.stringify({ op: GatewayOpcodes.Identify, d: { token: "nope", intents: 1, properties: {} } }),
    );
    const [code] = await once(ws, "close");
    assert.equal(code, 4004);
  });

  test("the CDN can lie about Content-Length or send none, and records every fetch", async () => {
    const big = Buffer.alloc(100_000, 97);
    const lying = discord.cdn.add("lie.txt", big, { contentLength: 10, reportedSize: 10 });
    const chunked = discord.cdn.add("chunked.txt", big, { contentLength: "none" });
    assert.equal(lying.attachment.size, 10);
    const chunkedResponse = await fetch(chunked.url);
    assert.equal(chunkedResponse.headers.get("content-length"), null);
    assert.equal((await chunkedResponse.arrayBuffer()).byteLength, big.length);
    const lyingResponse = await fetch(lying.url);
    assert.equal(lyingResponse.headers.get("content-length"), "10");
    await lyingResponse.arrayBuffer().catch(() => undefined);
    assert.equal(discord.cdn.requestsFor(lying).length, 1);
    assert.equal(discord.cdn.requestsFor(chunked).length, 1);
  });

  test("a second CDN stands in for a host off the allow-list; a file can redirect to it", async () => {
    const elsewhere = await FakeCdn.start();
    try {
      const target = elsewhere.add("x.jsonl", "{}\n");
      const hop = discord.cdn.add("x.jsonl", "", { redirectTo: target.url });
      assert.notEqual(elsewhere.host, discord.cdn.host);
      const response = await fetch(hop.url, { redirect: "manual" });
      assert.equal(response.status, 302);
      assert.equal(response.headers.get("location"), target.url);
      assert.equal(elsewhere.requestsFor(target).length, 0, "not followed, so never fetched");
    } finally {
      await elsewhere.close();
    }
  });
});

/** A bare gateway client (no discord.js) for checking the wire protocol and the REST rules directly. */
async function rawBot(discord: FakeDiscord): Promise<WebSocket> {
  const ws = new WebSocket(`${discord.gatewayUrl}?v=10&encoding=json`);
  await once(ws, "message");
  const identify = { token: discord.token, intents: GatewayIntentBits.Guilds, properties: {} };
  ws.send(JSON.stringify({ op: GatewayOpcodes.Identify, d: identify }));
  await discord.waitForReady();
  return ws;
}

describe("fake Discord interaction rules, seen from a bare client", () => {
  let discord: FakeDiscord;
  let ws: WebSocket;
  let guild: FakeGuild;
  let user: FakeUser;
  before(async () => {
    discord = await startFakeDiscord();
    guild = discord.addGuild({
      name: "G",
      roles: [{ name: "teachers", permissions: PermissionFlagsBits.ManageGuild }],
    });
    user = discord.addUser({ username: "lisa" });
    guild.addMember(user, { roles: [guild.role("teachers")] });
    ws = await rawBot(discord);
  });
  after(async () => {
    ws.close();
    await discord.close();
  });

  const post = (path: string, body: unknown) =>
    fetch(`${discord.apiUrl}/v10${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });

  test("option types are inferred from values when no command is deployed, with resolved objects", async () => {
    const channel = guild.channel("general");
    const role = guild.role("teachers");
    const run = await discord.slash({
      channel,
      user,
      command: "raw",
      options: { n: 3, x: 1.5, flag: true, role, where: channel, who: user },
    });
    const data = run.payload.data as unknown as {
      options: { name: string; type: number }[];
      resolved: Record<string, Record<string, unknown>>;
    };
    assert.deepEqual(
      data.options.map((o) => [o.name, o.type]),
      [
        ["n", ApplicationCommandOptionType.Integer],
        ["x", ApplicationCommandOptionType.Number],
        ["flag", ApplicationCommandOptionType.Boolean],
        ["role", ApplicationCommandOptionType.Role],
        ["where", ApplicationCommandOptionType.Channel],
        ["who", ApplicationCommandOptionType.User],
      ],
    );
    assert.ok(data.resolved.roles?.[role.id]);
    assert.ok(data.resolved.channels?.[channel.id]);
    assert.ok(data.resolved.members?.[user.id]);
    const member = (run.payload as unknown as { member: { permissions: string } }).member;
    assert.ok(
      (BigInt(member.permissions) & PermissionFlagsBits.ManageGuild) !== 0n,
      "a role's permissions count",
    );
  });

  test("webhooks wait for the callback, one callback only, the first follow-up replaces the deferral", async () => {
    const run = await discord.slash({ channel: guild.channel("general"), user, command: "raw" });
    const webhook = `/webhooks/${discord.applicationId}/${run.token}?wait=true`;
    assert.equal((await post(webhook, { content: "too early" })).status, 404);
    const callback = `/interactions/${run.id}/${run.token}/callback`;
    const deferred = await post(callback, {
      type: InteractionResponseType.DeferredChannelMessageWithSource,
      data: {},
    });
    assert.equal(deferred.status, 204);
    const again = await post(callback, {
      type: InteractionResponseType.ChannelMessageWithSource,
      data: { content: "x" },
    });
    assert.equal(again.status, 400);
    const error = (await again.json()) as { code: number };
    assert.equal(error.code, RESTJSONErrorCodes.InteractionHasAlreadyBeenAcknowledged);
    assert.equal(run.original()?.loading, true);
    const first = (await (await post(webhook, { content: "first" })).json()) as { id: string };
    const second = (await (await post(webhook, { content: "second" })).json()) as { id: string };
    assert.equal(first.id, run.originalMessageId);
    assert.notEqual(second.id, first.id);
    assert.deepEqual(
      run.followUps().map((m) => m.content),
      ["second"],
    );
  });

  test("autocomplete answers are checked: 25 choices of at most 100 characters, only for autocomplete", async () => {
    const channel = guild.channel("general");
    const choices = discord.autocomplete({ channel, user, command: "raw", focused: "q" });
    const last = discord.timeline.at(-1);
    assert.ok(last?.kind === "interaction");
    const { id, token } = last.interaction;
    const answer = (data: unknown, type = InteractionResponseType.ApplicationCommandAutocompleteResult) =>
      post(`/interactions/${id}/${token}/callback`, { type, data });
    const many = Array.from({ length: 26 }, (_, i) => ({ name: `c${i}`, value: `c${i}` }));
    assert.equal((await answer({ choices: many })).status, 400);
    assert.equal((await answer({ choices: [{ name: "x".repeat(101), value: "x" }] })).status, 400);
    assert.equal(
      (await answer({ content: "hi" }, InteractionResponseType.ChannelMessageWithSource)).status,
      400,
    );
    assert.equal((await answer({ choices: many.slice(0, 25) })).status, 204);
    assert.equal((await choices).length, 25);
    const slash = await discord.slash({ channel, user, command: "raw" });
    const wrong = await post(`/interactions/${slash.id}/${slash.token}/callback`, {
      type: InteractionResponseType.ApplicationCommandAutocompleteResult,
      data: { choices: [] },
    });
    assert.equal(wrong.status, 400);
  });

  test("a callback can return the created message (with_response=true)", async () => {
    const run = await discord.slash({ channel: guild.channel("general"), user, command: "raw" });
    const response = await post(`/interactions/${run.id}/${run.token}/callback?with_response=true`, {
      type: InteractionResponseType.ChannelMessageWithSource,
      data: { content: "hi", flags: MessageFlags.Ephemeral },
    });
    const body = (await response.json()) as { resource: { message: { content: string; flags: number } } };
    assert.equal(body.resource.message.content, "hi");
    assert.equal(body.resource.message.flags, MessageFlags.Ephemeral);
    assert.equal(run.ephemeral, true);
  });

  test("a callback after the acknowledgement deadline is refused as Unknown interaction", async () => {
    let now = 1_000_000;
    const timed = await startFakeDiscord({ ackDeadlineMs: 3_000, clock: () => now });
    try {
      const g = timed.addGuild({ name: "T" });
      const u = timed.addUser({ username: "u" });
      g.addMember(u);
      const bare = await rawBot(timed);
      const late = await timed.slash({ channel: g.channel("general"), user: u, command: "raw" });
      now += 3_001;
      const response = await fetch(`${timed.apiUrl}/v10/interactions/${late.id}/${late.token}/callback`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          type: InteractionResponseType.ChannelMessageWithSource,
          data: { content: "late" },
        }),
      });
      assert.equal(response.status, 404);
      assert.equal(((await response.json()) as { code: number }).code, RESTJSONErrorCodes.UnknownInteraction);
      assert.equal(late.acknowledged, false);
      bare.close();
    } finally {
      await timed.close();
    }
  });

  test("Discord's message limits are enforced with its error codes", async () => {
    const rest = new REST({ api: discord.apiUrl }).setToken(discord.token);
    const channel = guild.channel("general");
    const codeIs = (code: number) => (error: unknown) => (error as { code?: number }).code === code;
    await assert.rejects(
      rest.post(Routes.channelMessages(channel.id), { body: { content: "x".repeat(2001) } }),
      codeIs(RESTJSONErrorCodes.InvalidFormBodyOrContentType),
    );
    await assert.rejects(
      rest.post(Routes.channelMessages(channel.id), { body: { content: "" } }),
      codeIs(RESTJSONErrorCodes.CannotSendAnEmptyMessage),
    );
    await assert.rejects(
      rest.post(Routes.channelMessages("1"), { body: { content: "hi" } }),
      codeIs(RESTJSONErrorCodes.UnknownChannel),
    );
    assert.deepEqual(
      discord.channelMessages(channel).filter((m) => !m.interactionId),
      [],
    );
  });

  test("embeds break Discord's documented limits with 50035: blank or long fields, footer, author, 6,000 in all", async () => {
    const rest = new REST({ api: discord.apiUrl }).setToken(discord.token);
    const channel = guild.addChannel("embed-limits");
    const refused = async (embed: Record<string, unknown>, path: string) => {
      const error = await rest.post(Routes.channelMessages(channel.id), { body: { embeds: [embed] } }).then(
        () => undefined,
        (err: unknown) => err as { code?: number; rawError?: { errors?: object } },
      );
      assert.equal(error?.code, RESTJSONErrorCodes.InvalidFormBodyOrContentType, `${path} is refused`);
      assert.ok(Object.keys(error?.rawError?.errors ?? {}).includes(path), `the error names ${path}`);
    };
    await refused({ fields: [{ name: "Answer", value: "" }] }, "embeds.0.fields.0.value");
    await refused({ fields: [{ name: " \n", value: "ok" }] }, "embeds.0.fields.0.name");
    await refused({ fields: [{ name: "x".repeat(257), value: "ok" }] }, "embeds.0.fields.0.name");
    await refused({ fields: [{ name: "ok", value: "x".repeat(1025) }] }, "embeds.0.fields.0.value");
    await refused({ title: "x".repeat(257) }, "embeds.0.title");
    await refused({ description: "x".repeat(4097) }, "embeds.0.description");
    await refused({ footer: { text: "x".repeat(2049) } }, "embeds.0.footer.text");
    await refused({ author: { name: "x".repeat(257) } }, "embeds.0.author.name");
    await refused(
      { fields: Array.from({ length: 26 }, (_, i) => ({ name: `f${i}`, value: "ok" })) },
      "embeds.0.fields",
    );
    await refused(
      {
        description: "x".repeat(4096),
        fields: [1, 2].map((i) => ({ name: `f${i}`, value: "x".repeat(1000) })),
      },
      "embeds",
    );
    const fits = {
      title: "x".repeat(256),
      description: "x".repeat(4096),
      fields: [{ name: "n", value: "v" }],
    };
    await rest.post(Routes.channelMessages(channel.id), { body: { embeds: [fits] } });
    assert.equal(discord.channelMessages(channel).filter((m) => !m.interactionId).length, 1);
  });

  test("a message body a test refuses answers 50035 until the refusal is lifted", async () => {
    const rest = new REST({ api: discord.apiUrl }).setToken(discord.token);
    const channel = guild.addChannel("refusals");
    const lift = discord.refuseMessages((body) => String(body.content).includes("refuse me"));
    await assert.rejects(
      rest.post(Routes.channelMessages(channel.id), { body: { content: "please refuse me" } }),
      (error: unknown) =>
        (error as { code?: number }).code === RESTJSONErrorCodes.InvalidFormBodyOrContentType,
    );
    await rest.post(Routes.channelMessages(channel.id), { body: { content: "but not me" } });
    lift();
    await rest.post(Routes.channelMessages(channel.id), { body: { content: "refuse me no more" } });
    assert.deepEqual(
      discord.channelMessages(channel).map((m) => m.content),
      ["but not me", "refuse me no more"],
    );
  });

  test("a message without allowed_mentions pings whatever it mentions", async () => {
    const rest = new REST({ api: discord.apiUrl }).setToken(discord.token);
    const channel = guild.channel("general");
    const teachers = guild.role("teachers");
    await rest.post(Routes.channelMessages(channel.id), {
      body: { content: `@everyone ${user.mention} ${teachers.mention}` },
    });
    const [message] = discord.channelMessages(channel).filter((m) => !m.interactionId);
    assert.deepEqual(message?.pings, { everyone: true, users: [user.id], roles: [teachers.id] });
  });
});
