// Discord markdown a student's text must not carry into a public message: what could mislead the class
// when the bot republishes it. Pure: no discord.js.

/** A zero-width space: breaks a markdown token without changing what the reader sees. */
const ZWSP = "\u200b";

// A raw http(s) link as Discord finds one: up to whitespace or "<", not ending in punctuation, with
// balanced parentheses kept (…/wiki/Cell_(biology)). An optional "<" in front: an already wrapped link.
const URL_PART = String.raw`[^\s<>()]|\([^\s<>()]*\)`;
const RAW_URL = new RegExp(
  String.raw`<?https?:\/\/(?:${URL_PART})*(?:[^\s<>().,:;"'!?\]]|\([^\s<>()]*\))`,
  "gi",
);
// A heading (#, ##, ###) or subtext (-#) at a line's start, also inside a quote or a list item.
const HEADING = /^([ \t]*(?:>+[ \t]*|[-*+][ \t]+|\d+[.)][ \t]+)*)(#{1,3}|-#)(?=[ \t])/gm;

/**
 * Neutralises the markdown in `text` that can mislead when the bot repeats it publicly, keeping what the
 * reader sees: masked links (`[discord.gift](https://evil…)` shows its real address), raw links (no
 * embed: wrapped in <>), headings and subtext (`#`, `-#` at a line's start), mentions (`@everyone`,
 * `@here`, `<@id>`, `<@!id>`, `<@&id>`, `<#id>`, `</command:id>`: they render as plain text), spoilers
 * (`||`) and code fences (` ``` `, which would open a block around what follows). Bold, italics and inline
 * code stay as written.
 */
export function neutraliseMarkdown(text: string): string {
  return text
    .replaceAll("```", `\`${ZWSP}\`${ZWSP}\``)
    .replaceAll("](", `]${ZWSP}(`)
    .replace(RAW_URL, (url: string, at: number, whole: string) =>
      url.startsWith("<") && whole[at + url.length] === ">" ? url : `<${url}>`,
    )
    .replace(HEADING, `$1${ZWSP}$2`)
    .replace(/@(everyone|here)\b/gi, `@${ZWSP}$1`)
    .replace(/<(@[!&]?|#|\/)(?=[^<>\n]*>)/g, `<${ZWSP}$1`)
    .replace(/\|(?=\|)/g, `|${ZWSP}`);
}
