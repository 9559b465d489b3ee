// The feedback loop: students' 👍/👎 (one vote per person per answer), teachers' corrections, and
// `/dataset export`, which turns the guild's well-rated and corrected Q&A into a new JSONL dataset: chat
// examples (supervised), or preference pairs for DPO (format "preference", see selectPreferencePairs).
//
// Whose questions can leave the classroom: an answer given privately (ephemeral, outside a class channel) is
// exported only when a teacher corrected it. Public class-channel answers were already shown to the class, and
// they are exported only when a teacher runs the export (the command is teacher-only) and the class rated them
// at least minScore; the asker's own vote does not count. Nothing is ever exported automatically.
//
// A follow-up conversation (answers.parent_id, migration 013) is exported as one multi-turn example: every turn
// before the last one that qualifies goes in as context, each assistant message with OpenAI's `weight`: 1 where
// the turn qualified on its own (as above), 0 where it is only context. Each (conversation so far, question) is
// trained on once: a turn written with weight 1 in one line is never also a line of its own, nor weight 1 in
// another branch of the same conversation (a student may follow one answer up twice).
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
  /**
   * Whether the trainer of the model the export is for takes OpenAI's per-message `weight` (its catalog's
   * trainer.messageKeys). Unset: it does (OpenAI's format). False: conversations are cut before a turn that would
   * need weight 0 (selectForExport).
   */
  acceptsWeight?: ((model: string) => boolean) | undefined;
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
  /** Lines holding a follow-up conversation (earlier turns as context). */
  multiTurn: number;
}

/** What an answer teaches: the teacher's correction when there is one, else the answer as given. */
const taughtText = (a: AnswerRow): string => a.correctedAnswer ?? a.answer;

/** One DPO example in OpenAI's preference format. */
export interface PreferenceLine {
  /** The system prompt, a follow-up's earlier turns (user, assistant, …), and the question. */
  input: { messages: { role: "system" | "user" | "assistant"; content: string }[] };
  preferred_output: { role: "assistant"; content: string }[];
  non_preferred_output: { role: "assistant"; content: string }[];
}

const preferenceLine = (
  a: AnswerRow,
  earlier: readonly AnswerRow[],
  preferred: string,
  other: string,
): PreferenceLine => ({
  input: {
    messages: [
      { role: "system", content: a.systemPrompt },
      ...earlier.flatMap((t) => [
        { role: "user" as const, content: t.question },
        { role: "assistant" as const, content: taughtText(t) },
      ]),
      { role: "user", content: a.question },
    ],
  },
  preferred_output: [{ role: "assistant", content: preferred }],
  non_preferred_output: [{ role: "assistant", content: other }],
});

/**
 * The turns before a follow-up, oldest first, from the answers at hand; undefined when one of them is not among
 * them (asked before the export's `since`). Bounded by the answer's turn.
 */
function earlierTurns<A extends AnswerRow>(a: A, byId: ReadonlyMap<number, A>): A[] | undefined {
  const earlier: A[] = [];
  let at: A = a;
  while (at.parentId !== null) {
    const parent = byId.get(at.parentId);
    if (!parent || earlier.length >= a.turn) return undefined;
    earlier.unshift(parent);
    at = parent;
  }
  return earlier;
}

/** What an answer's question means in its conversation: the system prompt, the turns before it, the question. */
const questionKey = (a: AnswerRow, earlier: readonly AnswerRow[]): string[] => [
  a.systemPrompt,
  ...earlier.flatMap((t) => [normaliseQuestion(t.question), taughtText(t)]),
  normaliseQuestion(a.question),
];

/**
 * Pure: the preference pairs of a guild's answers. A teacher's correction is preferred over the model's own
 * answer (any answer: a correction is the teacher's choice to export it). Among the public answers to one
 * question (the same system prompt, the same conversation before it and normalised text: a regeneration, a
 * repeat, two channels), the best rated (its correction, if a teacher made one) is preferred over the worst
 * rated when its net votes are at least `minScore` higher; private answers carry no votes and never enter a
 * vote pair. A pair whose two texts are the same teaches nothing: skipped. A follow-up's pair holds its
 * conversation so far in `input.messages` (as taught: corrections win); one whose earlier turns are not all
 * among `answers` is skipped.
 */
export function selectPreferencePairs(
  answers: AnswerWithScore[],
  minScore: number,
): {
  lines: PreferenceLine[];
  fromCorrections: number;
  fromVotes: number;
  multiTurn: number;
  askers: string[];
} {
  const lines: PreferenceLine[] = [];
  /** Per line, the student whose question it holds (what /privacy show and /dataset remove-student trace). */
  const askers: string[] = [];
  const seen = new Set<string>();
  const byId = new Map(answers.map((a) => [a.id, a]));
  const context = new Map<number, AnswerWithScore[] | undefined>(
    answers.map((a) => [a.id, earlierTurns(a, byId)]),
  );
  let multiTurn = 0;
  const add = (a: AnswerWithScore, preferred: string, other: string): boolean => {
    const earlier = context.get(a.id);
    if (earlier === undefined || preferred.trim() === other.trim()) return false;
    const key = JSON.stringify([...questionKey(a, earlier), preferred, other]);
    if (seen.has(key)) return false;
    seen.add(key);
    lines.push(preferenceLine(a, earlier, preferred, other));
    askers.push(a.userId);
    if (earlier.length > 0) multiTurn++;
    return true;
  };
  let fromCorrections = 0;
  let fromVotes = 0;
  for (const a of answers) {
    if (a.correctedAnswer !== null && add(a, a.correctedAnswer, a.answer)) fromCorrections++;
  }
  const byQuestion = new Map<string, AnswerWithScore[]>();
  for (const a of answers) {
    const earlier = context.get(a.id);
    if (!a.public || earlier === undefined) continue;
    const key = JSON.stringify(questionKey(a, earlier));
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
    const preferred = taughtText(best);
    if (best.score - worst.score >= minScore && add(best, preferred, worst.answer)) fromVotes++;
  }
  return { lines, fromCorrections, fromVotes, multiTurn, askers };
}

export interface ExportMessage {
  role: "system" | "user" | "assistant";
  content: string;
  /** Multi-turn lines only, on assistant messages: 1 to learn from this answer, 0 when it is only context. */
  weight?: 0 | 1;
}

export interface ExportLine {
  messages: ExportMessage[];
}

/**
 * Pure: the conversations of a guild's answers, each a path from a first question to an answer nothing in the
 * list follows up (oldest first), in the order of their first question, branches by their last answer. A follow-up
 * whose earlier turn is not in the list (asked before `since`, or deleted) is left out with what follows it: a
 * conversation belongs to the period it began in. Single answers are conversations of one.
 */
export function conversationsOf<A extends AnswerRow>(answers: readonly A[]): A[][] {
  const children = new Map<number, A[]>();
  const ids = new Set(answers.map((a) => a.id));
  for (const a of answers) {
    if (a.parentId === null || !ids.has(a.parentId)) continue;
    children.set(a.parentId, [...(children.get(a.parentId) ?? []), a]);
  }
  const paths: A[][] = [];
  for (const root of answers) {
    if (root.parentId !== null) continue;
    // Depth first without recursion: a long conversation cannot overflow the stack.
    const stack: A[][] = [[root]];
    while (stack.length > 0) {
      const path = stack.pop() as A[];
      const next = children.get((path.at(-1) as A).id) ?? [];
      if (next.length === 0) paths.push(path);
      for (let i = next.length - 1; i >= 0; i--) stack.push([...path, next[i] as A]);
    }
  }
  return paths;
}

/**
 * Pure: which answers go into the export, as JSONL lines (corrected text wins; exact repeats once). An answer
 * qualifies when a teacher corrected it, or it is public with a score of at least minScore. A conversation is cut
 * after its last turn that qualifies and is not yet in the export; one turn left is a line as for a single answer,
 * more make one multi-turn line with `weight` on every assistant message. `weights: false` (a trainer that takes
 * no `weight`): a conversation is cut before its first turn that would need weight 0, so nothing unqualified is
 * trained on.
 */
export function selectForExport(
  answers: AnswerWithScore[],
  minScore: number,
  options: { weights?: boolean } = {},
): { lines: ExportLine[]; fromCorrections: number; fromVotes: number; multiTurn: number; askers: string[] } {
  const weights = options.weights ?? true;
  const seen = new Set<string>();
  const lines: ExportLine[] = [];
  /** Who asked each line's questions (same index as `lines`): recorded so /privacy can say where it went. */
  const askers: string[] = [];
  let fromCorrections = 0;
  let fromVotes = 0;
  let multiTurn = 0;
  const qualifies = (a: AnswerWithScore) => a.correctedAnswer !== null || (a.public && a.score >= minScore);
  // Corrections first, so a corrected repeat wins over an uncorrected one.
  const paths = conversationsOf(answers);
  const ordered = [
    ...paths.filter((p) => p.some((a) => a.correctedAnswer !== null)),
    ...paths.filter((p) => p.every((a) => a.correctedAnswer === null)),
  ];
  for (const path of ordered) {
    // A turn is trained on when it qualifies and the same question after the same conversation is not yet in.
    const keys = path.map((a, i) => JSON.stringify(questionKey(a, path.slice(0, i))));
    const trained = path.map((a, i) => qualifies(a) && !seen.has(keys[i] as string));
    // Up to the last trained turn; without weights, only the trained turns before the first that is not.
    const firstUntrained = trained.indexOf(false);
    const end = !weights && firstUntrained !== -1 ? firstUntrained : trained.lastIndexOf(true) + 1;
    if (end === 0) continue;
    const turns = path.slice(0, end);
    turns.forEach((_, i) => {
      if (trained[i]) seen.add(keys[i] as string);
    });
    const last = turns.at(-1) as AnswerWithScore;
    const multi = turns.length > 1;
    lines.push({
      messages: [
        // The prompt the last answer was given under (a teacher may have changed it during the conversation).
        { role: "system", content: last.systemPrompt },
        ...turns.flatMap((a, i): ExportMessage[] => [
          { role: "user", content: a.question },
          multi && weights
            ? { role: "assistant", content: taughtText(a), weight: trained[i] ? 1 : 0 }
            : { role: "assistant", content: taughtText(a) },
        ]),
      ],
    });
    askers.push(last.userId);
    if (multi) multiTurn++;
    if (turns.some((a, i) => trained[i] && a.correctedAnswer !== null)) fromCorrections++;
    else fromVotes++;
  }
  return { lines, fromCorrections, fromVotes, multiTurn, askers };
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

  private async mustGet(guildId: string, answerId: number): Promise<AnswerRow> {
    const a = await this.deps.answers.get(guildId, answerId);
    if (!a) throw new UserError("That answer no longer exists in this server.", "not_found");
    return a;
  }

  /**
   * One vote per person per answer; voting again replaces it. Returns the new counts. Only a public answer can
   * be voted on, and only from its own channel: any other id (a private answer, another channel's, another
   * guild's, one that never existed) is "not found" alike, so forged button ids reveal nothing.
   */
  async vote(
    guildId: string,
    channelId: string,
    answerId: number,
    userId: string,
    value: "up" | "down",
  ): Promise<VoteTally> {
    const a = await this.deps.answers.get(guildId, answerId);
    if (!a?.public || a.channelId !== channelId) {
      throw new UserError("That answer no longer exists in this server.", "not_found");
    }
    await this.deps.answers.vote(guildId, answerId, userId, value === "up" ? 1 : -1, this.nowIso());
    return this.deps.answers.tally(guildId, answerId);
  }

  async tally(guildId: string, answerId: number): Promise<VoteTally> {
    await this.mustGet(guildId, answerId);
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
    await this.mustGet(guildId, answerId);
    const refused = await this.deps.screenCorrection?.(guildId, corrected);
    if (refused) throw new UserError(refused, "correction_not_saved");
    await this.deps.answers.correct(guildId, answerId, corrected, teacherId, this.nowIso());
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
    const answers = await this.deps.answers.withScores(req.guildId, since);
    const model = req.model ?? this.deps.defaultModel;
    const weights = this.deps.acceptsWeight?.(model) ?? true;
    const { lines, fromCorrections, fromVotes, multiTurn, askers } =
      format === "preference"
        ? selectPreferencePairs(answers, minScore)
        : selectForExport(answers, minScore, { weights });
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
        model,
      });
      // The export writes at least one JSON line: never a file that is no dataset.
      if (stored.row === null) throw new Error(`the export was refused as no dataset: ${stored.refused}`);
      const { row, report } = stored;
      await this.deps.exports?.record(
        askers.map((studentId, i) => ({
          datasetId: row.id,
          guildId: req.guildId,
          line: i + 1,
          studentId,
          exportedBy: req.requesterId,
        })),
        this.nowIso(),
      );
      return { format, row, report, examples: lines.length, fromCorrections, fromVotes, multiTurn };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}
