// How /review reads in Discord: one embed per page (an answer a field), the page buttons and one "Correct"
// button per answer (the /ask correction modal, `correct:<id>`). The page buttons' custom ids carry the whole
// filter and cursor (stateless); every click is checked again and read within the clicker's own guild.

import { ActionRowBuilder, ButtonBuilder, ButtonStyle, EmbedBuilder } from "discord.js";
import {
  MAX_REVIEW_DAYS,
  type ReviewFilter,
  type ReviewPage,
  type ReviewRow,
} from "../../classroom/review.ts";
import { UserError } from "../../domain/errors.ts";
import { correctionId } from "../feedbackIds.ts";
import { DiscordLimits } from "../limits.ts";
import { neutraliseMarkdown } from "../markdown.ts";
import { Colors } from "./report.ts";

export const REVIEW_PREFIX = "review";

/** Each answer's field: with five a page, title, description and footer the embed stays under 6,000. */
const FIELD_VALUE_MAX = 1000;
const FIELD_NAME_MAX = 100;
const QUESTION_CHARS = 280;
const ANSWER_CHARS = 360;
const CORRECTION_CHARS = 200;

/** Clips without splitting a surrogate pair (an emoji cut in half renders as a broken glyph). */
export function clipText(text: string, max: number): string {
  if (text.length <= max) return text;
  let cut = max - 1;
  if (/[\uD800-\uDBFF]/.test(text[cut - 1] ?? "")) cut--;
  return `${text.slice(0, cut)}…`;
}

/** A student's (or the model's) text on one line, clipped, its misleading markdown neutralised. */
function quoted(text: string, max: number): string {
  return neutraliseMarkdown(clipText(text.replace(/\s+/g, " ").trim(), max));
}

const ID = /^\d{1,20}$/;

/** A page button's target: the page and the anchor of the view it belongs to. */
export interface ReviewPageRef {
  page: number;
  anchor: number;
}

/**
 * `review:<n|p>:<page>:<anchor>:<days>:<f>:<channel>:<student>` (empty when unfiltered). The n/p keeps the two
 * buttons' ids distinct when both point at the same page. At most 82 characters: snowflakes have ≤ 20 digits.
 */
export function reviewPageId(dir: "n" | "p", filter: ReviewFilter, cursor: ReviewPageRef): string {
  const id = [
    REVIEW_PREFIX,
    dir,
    cursor.page,
    cursor.anchor,
    filter.days,
    filter.flaggedOnly ? 1 : 0,
    filter.channelId ?? "",
    filter.studentId ?? "",
  ].join(":");
  if (id.length > DiscordLimits.customId) throw new Error(`review custom id too long: ${id.length}`);
  return id;
}

const notValid = () => new UserError("That button is not valid any more. Run `/review` again.", "bad_button");

/** The filter and cursor of a page button; anything malformed is "not valid" (a client can forge ids). */
export function parseReviewPageId(customId: string): { filter: ReviewFilter; cursor: ReviewPageRef } {
  const parts = customId.split(":");
  if (parts.length !== 8 || parts[0] !== REVIEW_PREFIX) throw notValid();
  const [, dir, page, anchor, days, flagged, channelId = "", studentId = ""] = parts;
  const int = (s: string | undefined) => (s !== undefined && /^\d{1,15}$/.test(s) ? Number(s) : Number.NaN);
  const cursor = { page: int(page), anchor: int(anchor) };
  const filter: ReviewFilter = { days: int(days), flaggedOnly: flagged === "1" };
  if (
    (dir !== "n" && dir !== "p") ||
    (flagged !== "0" && flagged !== "1") ||
    !(cursor.page >= 1) ||
    !(cursor.anchor >= 0) ||
    !(filter.days >= 1 && filter.days <= MAX_REVIEW_DAYS) ||
    (channelId !== "" && !ID.test(channelId)) ||
    (studentId !== "" && !ID.test(studentId))
  ) {
    throw notValid();
  }
  if (channelId !== "") filter.channelId = channelId;
  if (studentId !== "") filter.studentId = studentId;
  return { filter, cursor };
}

function filterLine(f: ReviewFilter): string {
  const parts = [`last ${f.days} day${f.days === 1 ? "" : "s"}`];
  if (f.channelId) parts.push(`in <#${f.channelId}>`);
  if (f.studentId) parts.push(`asked by <@${f.studentId}>`);
  if (f.flaggedOnly) parts.push("flagged only");
  return parts.join(" · ");
}

function field(r: ReviewRow): { name: string; value: string } {
  const seconds = Math.floor(Date.parse(r.createdAt) / 1000);
  const meta = [
    `<@${r.userId}> in <#${r.channelId}>`,
    `<t:${seconds}:f>`,
    r.public ? "class" : "private",
    `👍 ${r.up} · 👎 ${r.down}`,
  ];
  if (r.flagged) meta.push(`⚠️ flagged: ${quoted(r.flags.join(", ") || "yes", 80)}`);
  const lines = [
    meta.join(" · "),
    `**Q:** ${quoted(r.question, QUESTION_CHARS)}`,
    `**A:** ${quoted(r.answer, ANSWER_CHARS)}`,
  ];
  if (r.correctedAnswer !== null) {
    const by = r.correctedBy ? ` by <@${r.correctedBy}>` : "";
    lines.push(`✏️ **Corrected**${by}: ${quoted(r.correctedAnswer, CORRECTION_CHARS)}`);
  }
  const model = r.model.replaceAll("`", "'");
  return {
    name: clipText(`#${r.answerId} · ${model}`, FIELD_NAME_MAX),
    value: clipText(lines.join("\n"), FIELD_VALUE_MAX),
  };
}

export function reviewEmbed(p: ReviewPage): EmbedBuilder {
  const summary =
    p.total === 0
      ? p.filter.flaggedOnly
        ? "No flagged answers in this period."
        : "No questions were answered in this period."
      : `Page ${p.page} of ${p.pageCount} · ${p.total} answer${p.total === 1 ? "" : "s"}, newest first`;
  return new EmbedBuilder()
    .setTitle("Class review")
    .setColor(Colors.info)
    .setDescription(`${filterLine(p.filter)}\n${summary}`)
    .addFields(p.rows.map(field))
    .setFooter({ text: "Only you can see this. Correct an answer with its button below." });
}

export function reviewComponents(p: ReviewPage): ActionRowBuilder<ButtonBuilder>[] {
  const at = (page: number) => ({ page, anchor: p.anchor });
  const pager = new ActionRowBuilder<ButtonBuilder>().addComponents(
    new ButtonBuilder()
      .setCustomId(reviewPageId("p", p.filter, at(Math.max(1, p.page - 1))))
      .setLabel("◀ Newer")
      .setStyle(ButtonStyle.Secondary)
      .setDisabled(p.page <= 1),
    new ButtonBuilder()
      .setCustomId(reviewPageId("n", p.filter, at(Math.min(p.pageCount, p.page + 1))))
      .setLabel("Older ▶")
      .setStyle(ButtonStyle.Secondary)
      .setDisabled(p.page >= p.pageCount),
  );
  if (p.rows.length === 0) return [pager];
  const corrections = new ActionRowBuilder<ButtonBuilder>().addComponents(
    p.rows.map((r) =>
      new ButtonBuilder()
        .setCustomId(correctionId(r.answerId))
        .setLabel(`Correct #${r.answerId}`.slice(0, DiscordLimits.buttonLabel))
        .setStyle(ButtonStyle.Primary),
    ),
  );
  return [pager, corrections];
}
