// Renders what happened on the fake Discord as a readable classroom transcript.
import type { FakeMessage } from "../test/fakes/discord/index.ts";

const WIDTH = 96;

function wrap(text: string, indent: string): string {
  const out: string[] = [];
  for (const raw of text.split("\n")) {
    let line = raw;
    while (line.length > WIDTH - indent.length) {
      const cut = line.lastIndexOf(" ", WIDTH - indent.length);
      const at = cut > 20 ? cut : WIDTH - indent.length;
      out.push(indent + line.slice(0, at));
      line = line.slice(at).trimStart();
    }
    out.push(indent + line);
  }
  return out.join("\n");
}

/** Replaces Discord mention syntax with readable names. */
export type NameOf = (kind: "user" | "channel" | "role", id: string) => string;

function readable(text: string, nameOf: NameOf): string {
  return text
    .replace(/<@!?(\d+)>/g, (_, id: string) => `@${nameOf("user", id)}`)
    .replace(/<#(\d+)>/g, (_, id: string) => `#${nameOf("channel", id)}`)
    .replace(/<@&(\d+)>/g, (_, id: string) => `@${nameOf("role", id)}`);
}

function buttonLabels(message: FakeMessage): string[] {
  const labels: string[] = [];
  const visit = (c: unknown): void => {
    if (!c || typeof c !== "object") return;
    const comp = c as {
      label?: unknown;
      emoji?: { name?: string };
      components?: unknown[];
      custom_id?: unknown;
    };
    if (typeof comp.custom_id === "string") {
      const label = [comp.emoji?.name, typeof comp.label === "string" ? comp.label : undefined]
        .filter(Boolean)
        .join(" ");
      if (label) labels.push(label);
    }
    for (const child of comp.components ?? []) visit(child);
  };
  for (const row of message.components) visit(row);
  return labels;
}

export function renderMessage(who: string, message: FakeMessage, nameOf: NameOf): string {
  const lines: string[] = [];
  const tag = message.ephemeral ? " (only visible to the asker)" : "";
  lines.push(`  ${who}${tag}:`);
  if (message.content) lines.push(wrap(readable(message.content, nameOf), "    "));
  for (const embed of message.embeds) {
    if (embed.title) lines.push(wrap(`▌ ${readable(embed.title, nameOf)}`, "    "));
    if (embed.description) lines.push(wrap(readable(embed.description, nameOf), "    │ "));
    for (const field of embed.fields ?? []) {
      lines.push(wrap(`${field.name}: ${readable(field.value, nameOf)}`, "    │ "));
    }
    if (embed.footer?.text) lines.push(wrap(`— ${readable(embed.footer.text, nameOf)}`, "    │ "));
  }
  if (message.files.length > 0) lines.push(`    📎 ${message.files.map((f) => f.filename).join(", ")}`);
  const buttons = buttonLabels(message);
  if (buttons.length > 0) lines.push(`    ${buttons.map((b) => `[${b}]`).join(" ")}`);
  return lines.join("\n");
}
