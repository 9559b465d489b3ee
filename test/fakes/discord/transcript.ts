// A readable transcript of what happened on the fake Discord: who ran which command, clicked what, and what
// the bot posted or edited, in order. For `npm run demo` and for failure messages in tests.
import { ApplicationCommandOptionType, ComponentType, InteractionType } from "discord.js";
import type { FakeInteraction } from "./interaction.ts";
import type { FakeMessage } from "./model.ts";

export type TimelineEvent =
  | { kind: "interaction"; interaction: FakeInteraction; at: number; label?: string | undefined }
  | { kind: "thinking" | "posted" | "edited"; message: FakeMessage; snapshot: MessageSnapshot; at: number };

/** The parts of a message worth printing, frozen at the time of the event. */
export interface MessageSnapshot {
  content: string;
  embeds: {
    title?: string | undefined;
    description?: string | undefined;
    fields: { name: string; value: string }[];
  }[];
  files: { filename: string; size: number }[];
  buttons: string[];
  ephemeral: boolean;
}

export function snapshot(message: FakeMessage): MessageSnapshot {
  const buttons: string[] = [];
  const visit = (component: unknown) => {
    const c = component as { type?: number; label?: string; custom_id?: string; components?: unknown[] };
    if (c.type === ComponentType.Button) buttons.push(c.label ?? c.custom_id ?? "button");
    for (const child of c.components ?? []) visit(child);
  };
  for (const row of message.components) visit(row);
  return {
    content: message.content,
    embeds: message.embeds.map((e) => ({
      title: e.title,
      description: e.description,
      fields: (e.fields ?? []).map((f) => ({ name: f.name, value: f.value })),
    })),
    files: message.files.map((f) => ({ filename: f.filename, size: f.bytes.length })),
    buttons,
    ephemeral: message.ephemeral,
  };
}

interface OptionLike {
  name: string;
  type: ApplicationCommandOptionType;
  value?: unknown;
  options?: OptionLike[];
}

function commandLine(interaction: FakeInteraction): string {
  const data = interaction.payload.data as {
    name?: string;
    options?: OptionLike[];
    resolved?: {
      attachments?: Record<string, { filename: string }>;
      channels?: Record<string, { name?: string | null }>;
      users?: Record<string, { username: string }>;
      roles?: Record<string, { name: string }>;
    };
  };
  const resolved = data.resolved;
  const words = [`/${data.name ?? "?"}`];
  let options = data.options ?? [];
  while (
    options.length === 1 &&
    options[0] &&
    options[0].type <= ApplicationCommandOptionType.SubcommandGroup
  ) {
    words.push(options[0].name);
    options = options[0].options ?? [];
  }
  for (const option of options) {
    const id = String(option.value);
    const shown =
      option.type === ApplicationCommandOptionType.Attachment
        ? resolved?.attachments?.[id]?.filename
        : option.type === ApplicationCommandOptionType.Channel
          ? `#${resolved?.channels?.[id]?.name ?? id}`
          : option.type === ApplicationCommandOptionType.Role
            ? `@${resolved?.roles?.[id]?.name ?? id}`
            : option.type === ApplicationCommandOptionType.User
              ? `@${resolved?.users?.[id]?.username ?? id}`
              : id;
    words.push(`${option.name}:${shown}`);
  }
  return words.join(" ");
}

function describeInteraction(
  interaction: FakeInteraction,
  label: string | undefined,
  channelName: (id: string) => string,
): string {
  const who = `#${channelName(interaction.channel.id)}  ${interaction.user.username}`;
  const data = interaction.payload.data as {
    custom_id?: string;
    components?: { components?: { custom_id: string; value: string }[] }[];
  };
  switch (interaction.type) {
    case InteractionType.ApplicationCommand:
      return `${who}: ${commandLine(interaction)}`;
    case InteractionType.ApplicationCommandAutocomplete:
      return `${who} types in ${commandLine(interaction)}`;
    case InteractionType.MessageComponent:
      return `${who} clicks [${label ?? data.custom_id}]`;
    case InteractionType.ModalSubmit: {
      const fields = (data.components ?? [])
        .flatMap((row) => row.components ?? [])
        .map((f) => `${f.custom_id}="${f.value}"`);
      return `${who} submits ${data.custom_id}: ${fields.join(" ")}`;
    }
    default:
      return `${who}: interaction type ${interaction.type}`;
  }
}

/** The label of the component with this custom id, read when it is clicked (the bot may remove it after). */
export function componentLabel(message: FakeMessage, customId: string): string | undefined {
  let label: string | undefined;
  const visit = (component: unknown) => {
    const c = component as { custom_id?: string; label?: string; components?: unknown[] };
    if (c.custom_id === customId) label = c.label;
    for (const child of c.components ?? []) visit(child);
  };
  for (const row of message.components) visit(row);
  return label;
}

/** Renders the timeline as indented plain-text lines. */
export function renderTranscript(
  events: TimelineEvent[],
  botName: string,
  channelName: (id: string) => string,
): string {
  const lines: string[] = [];
  for (const event of events) {
    if (event.kind === "interaction") {
      if (event.interaction.type === InteractionType.ApplicationCommandAutocomplete) continue;
      lines.push(describeInteraction(event.interaction, event.label, channelName));
      continue;
    }
    const { message, snapshot: shot } = event;
    const audience = shot.ephemeral ? " (only they see this)" : "";
    const where = `#${channelName(message.channelId)}  ${botName}${audience}`;
    if (event.kind === "thinking") {
      lines.push(`${where} is thinking…`);
      continue;
    }
    lines.push(
      `${where}${event.kind === "edited" ? " (edit)" : ""}:${shot.content ? ` ${shot.content.split("\n").join("\n    ")}` : ""}`,
    );
    for (const embed of shot.embeds) {
      if (embed.title) lines.push(`    ┃ ${embed.title}`);
      if (embed.description) lines.push(...embed.description.split("\n").map((l) => `    ┃ ${l}`));
      for (const field of embed.fields)
        lines.push(`    ┃ ${field.name}: ${field.value.split("\n").join(" / ")}`);
    }
    for (const file of shot.files) lines.push(`    📎 ${file.filename} (${file.size} bytes)`);
    if (shot.buttons.length > 0) lines.push(`    ${shot.buttons.map((b) => `[${b}]`).join(" ")}`);
  }
  return lines.join("\n");
}
