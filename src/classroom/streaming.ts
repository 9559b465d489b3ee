// A streamed answer on its way to the student: the chat stream is read as it arrives, and its text is let through
// to the reply in moderated chunks, so nothing a student reads skipped the safety check that a whole answer gets.
//
// The chunking, written down:
// - Moderation off: every delta goes straight through.
// - Moderation on: text is held until at least MODERATION_CHUNK_CHARS new characters have arrived and a sentence
//   or paragraph has ended; then the answer SO FAR (not the new piece alone: a harmful sentence split across two
//   chunks is still read whole) is checked, and if it passes, the new text is let through. While a check is in
//   flight more text gathers; the next check starts when it returns. The last check is of the whole answer, and
//   it is the verdict that is recorded and decides caching, as for an answer that was not streamed.
// - A chunk flagged (or moderation down under MODERATION_FAIL=closed): nothing more is let through, the stream is
//   stopped (no more tokens are paid for), and the student's reply is replaced by the withheld message. What had
//   been shown before had passed its own check.
// 200 characters is about 50 tokens, a second of a typical model's output: the student sees the first sentences
// that soon. A 500-token answer (about 2,000 characters) costs about ten moderation calls instead of one: OpenAI's
// moderation endpoint is free, and the sandbox's is local.
import type { AnswerScreening } from "./moderation.ts";

/** New characters gathered before the answer so far is checked again (see above). */
export const MODERATION_CHUNK_CHARS = 200;

/** Told each piece of the answer as it may be shown. */
export type TextSink = (delta: string) => void;

/** Checks the answer so far; the gate's screenAnswer with the question and the student bound. */
export type ScreenText = (text: string) => Promise<AnswerScreening>;

/** The end of the last sentence or paragraph in text[from..], if the piece is long enough to be checked. */
export function chunkEnd(text: string, from: number, minChars: number): number | undefined {
  if (text.length - from < minChars) return undefined;
  const piece = text.slice(from);
  let end: number | undefined;
  for (const m of piece.matchAll(/[.!?…](?=\s)|\n\n/g)) end = m.index + m[0].length;
  return end !== undefined && end >= minChars ? from + end : undefined;
}

/**
 * Lets the streamed text through to `sink` as the rules above allow. `offer(textSoFar)` after every delta;
 * `finish(text)` once the stream ended, for the recorded screening of the whole answer.
 */
export class ModeratedRelease {
  private released = 0;
  private latest = "";
  private checking: Promise<void> | undefined;
  private stopping: AnswerScreening | undefined;

  constructor(
    private readonly sink: TextSink,
    private readonly screen: ScreenText | undefined,
    private readonly minChars = MODERATION_CHUNK_CHARS,
  ) {}

  /** A check flagged the answer (or could not run under closed): stop reading the stream. */
  get stopped(): boolean {
    return this.stopping !== undefined;
  }

  offer(text: string): void {
    this.latest = text;
    if (this.stopping) return;
    if (!this.screen) {
      this.emit(text.length);
      return;
    }
    if (this.checking) return;
    const end = chunkEnd(text, this.released, this.minChars);
    if (end === undefined) return;
    const screen = this.screen;
    this.checking = screen(text.slice(0, end))
      .then((s) => {
        if (s.withheld) this.stopping = s;
        else this.emit(end);
      })
      .catch(() => undefined) // screenAnswer does not throw (moderation down is a screening); belt and braces
      .finally(() => {
        this.checking = undefined;
        this.offer(this.latest);
      });
  }

  /** The whole answer's screening (the flagged chunk's, if one was flagged); the rest of the text let through. */
  async finish(text: string): Promise<AnswerScreening | undefined> {
    while (this.checking) await this.checking;
    if (this.stopping) return this.stopping;
    const screening = this.screen ? await this.screen(text) : undefined;
    if (!screening?.withheld) this.emit(text.length, text);
    return screening;
  }

  private emit(end: number, text = this.latest): void {
    if (end <= this.released) return;
    const piece = text.slice(this.released, end);
    this.released = end;
    this.sink(piece);
  }
}
