// `npm run deploy-commands` against the fake Discord: every command of the runtime's list is registered with
// its options and default permissions (teacher commands Manage Server; /ask and /model for everyone), guild
// only, globally or in one guild.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { InteractionContextType, PermissionFlagsBits, ApplicationCommandOptionType as T } from "discord.js";
import { commands } from "../../src/commands/index.ts";
import { deployCommands } from "../../src/discord/deploy.ts";
import { type FakeDiscord, type StoredCommand, startFakeDiscord } from "../fakes/discord/index.ts";

let discord: FakeDiscord;
const deploy = (guildId?: string) =>
  deployCommands({ token: discord.token, clientId: discord.applicationId, apiUrl: discord.apiUrl, guildId });

before(async () => {
  discord = await startFakeDiscord();
});
after(() => discord.close());

const MANAGE_GUILD = PermissionFlagsBits.ManageGuild.toString();
/** Who may see each command by default; a command missing here fails the test until it is added. */
const DEFAULT_PERMISSIONS: Record<string, string | null> = {
  config: MANAGE_GUILD,
  dataset: MANAGE_GUILD,
  finetune: MANAGE_GUILD,
  classroom: MANAGE_GUILD,
  usage: MANAGE_GUILD,
  review: MANAGE_GUILD,
  ask: null,
  model: null,
  privacy: null,
};

type Option = NonNullable<StoredCommand["options"]>[number];
const sub = (command: StoredCommand | undefined, name: string) => {
  const found = command?.options?.find((o) => o.name === name && o.type === T.Subcommand);
  assert.ok(found, `/${command?.name} ${name} is deployed`);
  return found;
};
/** An option's contract: name, type, required, autocomplete, limits. */
const shape = (o: Option) => ({
  name: o.name,
  type: o.type,
  required: o.required === true,
  autocomplete: o.autocomplete === true,
  ...(o.min_value === undefined ? {} : { min: o.min_value }),
  ...(o.max_value === undefined ? {} : { max: o.max_value }),
  ...(o.max_length === undefined ? {} : { maxLength: o.max_length }),
});

describe("deploy-commands", () => {
  it("registers every command of the runtime's list, exactly as built, with its default permissions", async () => {
    assert.equal(await deploy(), commands.length);
    const deployed = discord.commands();
    assert.deepEqual(deployed.map((c) => c.name).sort(), commands.map((c) => c.data.name).sort());
    for (const command of commands) {
      const json = command.data.toJSON();
      const stored = deployed.find((c) => c.name === json.name);
      assert.ok(stored);
      assert.ok(json.name in DEFAULT_PERMISSIONS, `/${json.name} has a declared default permission here`);
      assert.equal(stored.default_member_permissions, DEFAULT_PERMISSIONS[json.name], `/${json.name}`);
      assert.deepEqual(stored.contexts, [InteractionContextType.Guild], `/${json.name} is guild-only`);
      const built = JSON.parse(JSON.stringify(json.options ?? [])) as unknown;
      assert.deepEqual(stored.options ?? [], built, `/${json.name} options as built`);
    }
  });

  it("registers /dataset validate and list with their options", () => {
    const dataset = discord.commands().find((c) => c.name === "dataset");
    assert.deepEqual((sub(dataset, "validate").options ?? []).map(shape), [
      { name: "file", type: T.Attachment, required: true, autocomplete: false },
      { name: "model", type: T.String, required: false, autocomplete: true },
      { name: "provider", type: T.String, required: false, autocomplete: true },
    ]);
    assert.deepEqual(sub(dataset, "list").options ?? [], []);
  });

  it("registers /finetune start, status, list and cancel with their options", () => {
    const finetune = discord.commands().find((c) => c.name === "finetune");
    assert.deepEqual((sub(finetune, "start").options ?? []).map(shape), [
      { name: "dataset", type: T.Integer, required: false, autocomplete: true, min: 1 },
      { name: "file", type: T.Attachment, required: false, autocomplete: false },
      { name: "model", type: T.String, required: false, autocomplete: true },
      { name: "suffix", type: T.String, required: false, autocomplete: false, maxLength: 64 },
      { name: "epochs", type: T.Integer, required: false, autocomplete: false, min: 1, max: 50 },
      { name: "provider", type: T.String, required: false, autocomplete: true },
      { name: "method", type: T.String, required: false, autocomplete: false },
      { name: "beta", type: T.Number, required: false, autocomplete: false, min: 0.01, max: 2 },
      { name: "from-job", type: T.Integer, required: false, autocomplete: true, min: 1 },
    ]);
    const job = { name: "job", type: T.Integer, required: true, autocomplete: true };
    assert.deepEqual((sub(finetune, "status").options ?? []).map(shape), [job]);
    assert.deepEqual(sub(finetune, "list").options ?? [], []);
    assert.deepEqual((sub(finetune, "cancel").options ?? []).map(shape), [job]);
  });

  it("deploys to one guild when DISCORD_GUILD_ID is set", async () => {
    const guild = discord.addGuild({ name: "Pilot School", channels: ["general"] });
    assert.equal(await deploy(guild.id), commands.length);
    assert.deepEqual(
      discord
        .commands(guild)
        .map((c) => c.name)
        .sort(),
      commands.map((c) => c.data.name).sort(),
    );
  });
});
