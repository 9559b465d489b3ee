// The feedback loop: students' 👍/👎 (one vote per person per answer), teachers' corrections, and
// `/dataset export`, which turns the guild's well-rated and corrected Q&A into a new JSONL dataset: chat
// examples (supervised), or preference pairs for DPO (format "preference", see selectPreferencePairs).
//
// Whose questions can leave the classroom: an answer given privately (ephemeral, outside a class channel) is
// exported only when a teacher corrected it. Public class-channel answers were already shown to the class, and
// they are exported only when a teacher runs the export (the command is teacher-only) and the class rated them
// at least minScore; the asker's own vote does not count. Nothing is ever exported automatically.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { StoreDataset } from "../datasets/store.ts";
import type { ValidationReport } from "../datasets/types.ts";
import type { AnswerRepository, AnswerRow, AnswerWithScore, VoteTally } from "../db/answers.ts";
import type { DatasetExportRepository } from "../db/datasetExports.ts";
import type { DatasetRow } from "../db/datasets.ts";
import { UserError } from "../domain/errors.ts";
import { normaliseQuestion } from "./cache.ts";

/** Discord's modal text input holds at most 4,000 characters. */
export const MAX_CORRECTION_CHARS = 4000;

export interface FeedbackServiceDeps {
  answers: AnswerRepository;
  storeDataset: StoreDataset;
  /** Where each exported line's asker is recorded (/privacy show and delete, /dataset remove-student read it). */
  exports?: DatasetExportRepository | undefined;
  /** Base model the export is validated for unless the caller names one. */
  defaultModel: string;
  now?: () => number;
  /**
   * Moderation of a teacher's correction before it is saved (it becomes training data): the reason it may not be
   * saved, or null. Unset: corrections are saved as written.
   */
  screenCorrection?: ((guildId: string, text: string) => Promise<string | null>) | undefined;
}

/** "supervised": chat examples (the default); "preference": DPO pairs (the preferred answer over the other). */
export type ExportFormat = "supervised" | "preference";
export const EXPORT_FORMATS: readonly ExportFormat[] = ["supervised", "preference"];

export interface ExportRequest {
  guildId: string;
  requesterId: string;
  /** Default "supervised". */
  format?: ExportFormat | undefined;
  /**
   * Net votes (👍 − 👎) an uncorrected public answer needs; default 1. Preference: how many more net votes
   * the better of two answers to one question needs.
   */
  minScore?: number | undefined;
  /** Only answers given at or after this time (ISO date or datetime, or a Date). */
  since?: string | Date | undefined;
  model?: string | undefined;
}

export interface ExportResult {
  format: ExportFormat;
  row: DatasetRow;
  report: ValidationReport;
  /** Lines written: examples (supervised) or pairs (preference). */
  examples: number;
  fromCorrections: number;
  fromVotes: number;
}

/** One DPO example in OpenAI's preference format. */
export interface PreferenceLine {
  input: { messages: { role: "system" | "user"; content: string }[] };
  preferred_output: { role: "assistant"; content: string }[];
  non_preferred_output: { role: "assistant"; content: string }[];
}

const preferenceLine = (a: AnswerRow, preferred: string, other: string): PreferenceLine => ({
  input: {
    messages: [
      { role: "system", content: a.systemPrompt },
      { role: "user", content: a.question },
    ],
  },
  preferred_output: [{ role: "assistant", content: preferred }],
  non_preferred_output: [{ role: "assistant", content: other }],
});

/**
 * Pure: the preference pairs of a guild's answers. A teacher's correction is preferred over the model's own
 * answer (any answer: a correction is the teacher's choice to export it). Among the public answers to one
 * question (the same system prompt and normalised text: a regeneration, a repeat, two channels), the best
 * rated (its correction, if a teacher made one) is preferred over the worst rated when its net votes are at
 * least `minScore` higher; private answers
 * carry no votes and never enter a vote pair. A pair whose two texts are the same teaches nothing: skipped.
 */
export function selectPreferencePairs(
  answers: AnswerWithScore[],
  minScore: number,
): { lines: PreferenceLine[]; fromCorrections: number; fromVotes: number; askers: string[] } {
  const lines: PreferenceLine[] = [];
  /** Per line, the student whose question it holds (what /privacy show and /dataset remove-student trace). */
  const askers: string[] = [];
  const seen = new Set<string>();
  const add = (a: AnswerRow, preferred: string, other: string): boolean => {
    if (preferred.trim() === other.trim()) return false;
    const key = JSON.stringify([a.systemPrompt, normaliseQuestion(a.question), preferred, other]);
    if (seen.has(key)) return false;
    seen.add(key);
    lines.push(preferenceLine(a, preferred, other));
    askers.push(a.userId);
    return true;
  };
  let fromCorrections = 0;
  let fromVotes = 0;
  for (const a of answers) {
    if (a.correctedAnswer !== null && add(a, a.correctedAnswer, a.answer)) fromCorrections++;
  }
  const byQuestion = new Map<string, AnswerWithScore[]>();
  for (const a of answers) {
    if (!a.public) continue;
    const key = JSON.stringify([a.systemPrompt, normaliseQuestion(a.question)]);
    byQuestion.set(key, [...(byQuestion.get(key) ?? []), a]);
  }
  for (const group of byQuestion.values()) {
    if (group.length < 2) continue;
    // The first (oldest) of equals wins either end: the result does not depend on the sort's stability.
    let best = group[0] as AnswerWithScore;
    let worst = best;
    for (const a of group) {
      if (a.score > best.score) best = a;
      if (a.score < worst.score) worst = a;
    }
    // A teacher's correction stands for its answer's text here too (never the text the teacher replaced).
    const preferred = best.correctedAnswer ?? best.answer;
    if (best.score - worst.score >= minScore && add(best, preferred, worst.answer)) fromVotes++;
  }
  return { lines, fromCorrections, fromVotes, askers };
}

export interface ExportLine {
  messages: { role: "system" | "user" | "assistant"; content: string }[];
}

/** Pure: which answers go into the export, as JSONL lines (corrected text wins; exact repeats once). */
export function selectForExport(
  answers: AnswerWithScore[],
  minScore: number,
): { lines: ExportLine[]; fromCorrections: number; fromVotes: number; askers: string[] } {
  const seen = new Set<string>();
  const lines: ExportLine[] = [];
  /** Who asked each line's question (same index as `lines`): recorded so /privacy can say where it went. */
  const askers: string[] = [];
  let fromCorrections = 0;
  let fromVotes = 0;
  // Corrections first, so a corrected repeat wins over an uncorrected one.
  const ordered = [
    ...answers.filter((a) => a.correctedAnswer !== null),
    ...answers.filter((a) => a.correctedAnswer === null),
  ];
  for (const a of ordered) {
    const corrected = a.correctedAnswer !== null;
    if (!corrected && !(a.public && a.score >= minScore)) continue;
    const key = JSON.stringify([a.systemPrompt, normaliseQuestion(a.question)]);
    if (seen.has(key)) continue;
    seen.add(key);
    lines.push({
      messages: [
        { role: "system", content: a.systemPrompt },
        { role: "user", content: a.question },
        { role: "assistant", content: corrected ? (a.correctedAnswer as string) : a.answer },
      ],
    });
    askers.push(a.userId);
    if (corrected) fromCorrections++;
    else fromVotes++;
  }
  return { lines, fromCorrections, fromVotes, askers };
}

function parseSince(since: string | Date | undefined): string {
  if (since === undefined) return "0000";
  const t = since instanceof Date ? since.getTime() : Date.parse(since);
  if (!Number.isFinite(t)) {
    throw new UserError(
      `"${String(since)}" is not a date: use YYYY-MM-DD (for example 2026-09-01).`,
      "bad_since",
    );
  }
  return new Date(t).toISOString();
}

export class FeedbackService {
  constructor(private readonly deps: FeedbackServiceDeps) {}

  private nowIso(): string {
    return new Date((this.deps.now ?? Date.now)()).toISOString();
  }

  private mustGet(guildId: string, answerId: number): AnswerRow {
    const a = this.deps.answers.get(guildId, answerId);
    if (!a) throw new UserError("That answer no longer exists in this server.", "not_found");
    return a;
  }

  /**
   * One vote per person per answer; voting again replaces it. Returns the new counts. Only a public answer can
   * be voted on, and only from its own channel: any other id (a private answer, another channel's, another
   * guild's, one that never existed) is "not found" alike, so forged button ids reveal nothing.
   */
  vote(
    guildId: string,
    channelId: string,
    answerId: number,
    userId: string,
    value: "up" | "down",
  ): VoteTally {
    const a = this.deps.answers.get(guildId, answerId);
    if (!a?.public || a.channelId !== channelId) {
      throw new UserError("That answer no longer exists in this server.", "not_found");
    }
    this.deps.answers.vote(guildId, answerId, userId, value === "up" ? 1 : -1, this.nowIso());
    return this.deps.answers.tally(guildId, answerId);
  }

  tally(guildId: string, answerId: number): VoteTally {
    this.mustGet(guildId, answerId);
    return this.deps.answers.tally(guildId, answerId);
  }

  /**
   * A teacher's corrected answer (the caller checks the teacher), moderated like an answer before it is saved: it
   * becomes training data. The latest correction wins.
   */
  async correct(guildId: string, answerId: number, teacherId: string, text: string): Promise<AnswerRow> {
    const corrected = text.trim();
    if (corrected === "") throw new UserError("The corrected answer is empty.", "empty_correction");
    if (corrected.length > MAX_CORRECTION_CHARS) {
      throw new UserError(`The corrected answer is too long (at most ${MAX_CORRECTION_CHARS} characters).`);
    }
    this.mustGet(guildId, answerId);
    const refused = await this.deps.screenCorrection?.(guildId, corrected);
    if (refused) throw new UserError(refused, "correction_not_saved");
    this.deps.answers.correct(guildId, answerId, corrected, teacherId, this.nowIso());
    return this.mustGet(guildId, answerId);
  }

  /** Builds the JSONL, stores it through the validator as a new dataset of this guild, returns its report. */
  async exportDataset(req: ExportRequest): Promise<ExportResult> {
    const minScore = req.minScore ?? 1;
    if (!Number.isInteger(minScore) || minScore < 1) {
      throw new UserError("min-score must be a whole number of at least 1 (👍 minus 👎).", "bad_min_score");
    }
    const format = req.format ?? "supervised";
    if (!EXPORT_FORMATS.includes(format)) {
      throw new UserError(
        `"${String(format)}" is no export format: use ${EXPORT_FORMATS.join(" or ")}.`,
        "bad_format",
      );
    }
    const since = parseSince(req.since);
    const answers = this.deps.answers.withScores(req.guildId, since);
    const { lines, fromCorrections, fromVotes, askers } =
      format === "preference" ? selectPreferencePairs(answers, minScore) : selectForExport(answers, minScore);
    const period = req.since === undefined ? "" : " in that period";
    if (lines.length === 0) {
      throw new UserError(
        format === "preference"
          ? `Nothing to export as preference pairs yet: no teacher corrected an answer, and no question has two public answers whose net votes differ by ${minScore} or more${period}.`
          : `Nothing to export yet: no public answer has a score of ${minScore} or more, and no answer was corrected by a teacher${period}.`,
        "nothing_to_export",
      );
    }
    const dir = await mkdtemp(join(tmpdir(), "classtune-export-"));
    try {
      const kind = format === "preference" ? "preference" : "export";
      const fileName = `classroom-${kind}-${this.nowIso().slice(0, 10)}.jsonl`;
      const sourcePath = join(dir, fileName);
      await writeFile(sourcePath, `${lines.map((l) => JSON.stringify(l)).join("\n")}\n`);
      const stored = await this.deps.storeDataset({
        guildId: req.guildId,
        uploaderId: req.requesterId,
        fileName,
        sourcePath,
        model: req.model ?? this.deps.defaultModel,
      });
      // The export writes at least one JSON line: never a file that is no dataset.
      if (stored.row === null) throw new Error(`the export was refused as no dataset: ${stored.refused}`);
      const { row, report } = stored;
      this.deps.exports?.record(
        askers.map((studentId, i) => ({
          datasetId: row.id,
          guildId: req.guildId,
          line: i + 1,
          studentId,
          exportedBy: req.requesterId,
        })),
        this.nowIso(),
      );
      return { format, row, report, examples: lines.length, fromCorrections, fromVotes };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}
