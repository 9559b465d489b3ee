// Shows an answer in Discord while it is written: the message being written is edited as text arrives
// (throttled, with a "still writing" marker), continues in follow-up messages at splitMessage's boundaries
// (never inside a code block), and ends with the footer and the components on the last message. Pure logic
// with the I/O and the clock passed in: no discord.js.
import { DiscordLimits } from "./limits.ts";
import { type Break, breakAt, graphemeCut, isFenceLine, MAX_PARTS, type TextAttachment } from "./split.ts";

/**
 * At least this long between two writes to one message. Discord publishes no fixed figure (its docs say to
 * read the X-RateLimit-* headers: https://discord.com/developers/docs/topics/rate-limits), but creating and
 * editing messages has long been held to about 5 requests per 5 s (discord/discord-api-docs#20: "5/5 per
 * server … the rate limit applies to message creation and editing"; discord-relay-chat/drc#17 observes
 * "five in five seconds"), and jakobdylanc/llmcord streams its replies with EDIT_DELAY_SECONDS = 1. 1.2 s
 * keeps a reply under that with room for its follow-up posts, instead of queueing stale edits behind
 * discord.js's 429 handling (which would delay the final text).
 */
export const EDIT_INTERVAL_MS = 1200;

/**
 * How long the first text waits before it is shown, so that an answer arriving all at once (a fast model, a short
 * answer released whole by moderation) is written once, with its footer and buttons, instead of twice. A fifth of
 * a second is well under a real model's time to its first token; finish() cuts the wait short.
 */
export const FIRST_WRITE_DELAY_MS = 200;

/** Ends the message being written, so the reader sees it is not finished; never in a final content. */
export const WRITING_MARKER = " ▌";

/** Room kept in every message for what only the last one gets: the note, the footer, a notice. */
export const TRAILER_RESERVE = 256;

/** After this many failed writes while streaming, only finish() writes (Discord is down, or a message gone). */
const STREAM_FAILURES_TO_PAUSE = 3;

/** How much of a line's start is kept to tell a fence line (```, maybe indented). */
const LINE_HEAD = 64;

/** Writes of a final content: the first, and one retry. */
const FINAL_ATTEMPTS = 2;

/**
 * How full a message must be (of its room for text) before a break of each kind ends it. A streamed message
 * ends at the first good break once it is full enough, before any text after the break is shown: so it only
 * ever grows. The order of the kinds is splitMessage's (gentlest first); the fractions are streaming's own.
 */
const FILL_TO_BREAK: Record<Break, number> = { paragraph: 0.6, line: 0.75, sentence: 0.85, word: 0.95 };

/** What the last message's final write carries besides its content. */
export interface FinalPayload<C> {
  components: C;
  /** The whole answer as a file, when it could not be shown in messages (see StreamReplyResult). */
  attachment?: TextAttachment;
}

/**
 * How the reply reaches Discord. Calls are strictly serialized (never two in flight) and in order; message
 * `index` is posted (once) before it is edited, and after every lower index was posted.
 */
export interface StreamReplyIO<C> {
  /** Replaces message `index`'s content: 0 is the deferred interaction reply (editReply), later ones follow-ups. */
  edit(index: number, content: string, final?: FinalPayload<C>): Promise<void>;
  /** Creates message `index` (1, 2, …) with `content` (followUp); later edits of it name the same index. */
  post(index: number, content: string, final?: FinalPayload<C>): Promise<void>;
}

export interface StreamClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: StreamClock = {
  now: () => Date.now(),
  // Unref'd: a wait that finish() cut short must not hold the process open.
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms).unref()),
};

export interface StreamReplyOptions<C> {
  io: StreamReplyIO<C>;
  clock: StreamClock;
  /** Characters per message (Discord's 2,000). */
  limit?: number;
  /** Messages at most (splitMessage's MAX_PARTS); past it the answer goes to a file. */
  maxMessages?: number;
  editIntervalMs?: number;
  /** Wait before the first write (FIRST_WRITE_DELAY_MS in /ask); default 0. */
  firstWriteDelayMs?: number;
  trailerReserve?: number;
  fileName?: string;
}

export interface StreamReplyFinal<C> {
  /** The whole answer, authoritative: normally every delta appended, joined. */
  body: string;
  /** The footer line, on the last message only. */
  footer: string;
  /** Attached to the last message only. */
  components: C;
  /** A line after the answer, e.g. "(the answer was cut off: the provider stopped mid-way)". */
  note?: string;
}

export type AttachmentReason = "code-block" | "too-many-messages" | "diverged";

export interface StreamReplyFailure {
  index: number;
  op: "edit" | "post";
  /** True when the write was one of finish()'s final writes (false: a streamed, in-progress one). */
  final: boolean;
  error: unknown;
}

export interface StreamReplyResult {
  /** The final content of each message, index 0 first: what is shown, or should have been if a write failed. */
  messages: string[];
  /**
   * Set when the answer could not be shown in messages: a code block longer than a message ("code-block"),
   * more than maxMessages needed ("too-many-messages"), or a final body that differs from what was already
   * shown in finished messages ("diverged"). It went with the last message's final write.
   */
  attachment?: TextAttachment & { reason: AttachmentReason };
  /** Every failed I/O call, in order; the caller logs them. */
  failures: StreamReplyFailure[];
  /** True when every message shows its final content and the last one got the components (and file). */
  delivered: boolean;
}

interface Message {
  exists: boolean;
  /** The final content, once the message is finished. */
  final?: string;
  /** The content Discord shows, as far as we know. */
  sent?: string;
  /** A streamed content whose write failed: not retried until the content changes. */
  failed?: string | undefined;
  lastWriteAt: number;
  finalAttempts: number;
  /** Writes that reached Discord. */
  writes?: number;
}

const NOTICES: Record<AttachmentReason, string> = {
  "code-block": "A code block is too long for a message, so the whole answer is attached as a file.",
  "too-many-messages": "The answer is long, so the whole answer is attached as a file.",
  diverged: "The answer changed as it was written, so the final answer is attached as a file.",
};
const OVERFLOW_WHILE_WRITING =
  "-# still writing; the answer is too long for messages and will come as a file";

const joinParts = (...parts: string[]) => parts.filter((p) => p !== "").join("\n\n");

/**
 * One streamed answer: `append` each delta as it arrives (it never throws for I/O and never waits), then
 * `await finish(...)` once. Work is proportional to the text: each character is scanned once, and a write
 * renders only the message it writes.
 */
export class StreamReply<C> {
  private readonly io: StreamReplyIO<C>;
  private readonly clock: StreamClock;
  private readonly limit: number;
  private readonly maxMessages: number;
  private readonly interval: number;
  private readonly fileName: string;
  /** The room for a message's text with its marker, keeping the trailer's reserve. */
  private readonly budget: number;

  private text = "";
  // The message being written: where its text starts, whether that is mid-line (after a word break), its
  // first non-space character, and the last break outside code seen in it.
  private msgStart = 0;
  private startMidLine = false;
  private firstText = -1;
  private lastBreak = -1;
  private lineStart = 0;
  private inCode = false;
  private codeStart = 0;
  private fence = "```";
  // The line being scanned: its first characters, whether they are a fence (an opening or closing one
  // still being written), whether it is blank so far; and the character before.
  private lineHead = "";
  private lineIsFence = false;
  private lineIsBlank = true;
  private prev = "";
  /** Set when the rest goes to a file: the message shows its text up to `shownEnd`, and stops growing. */
  private overflow: { reason: AttachmentReason; shownEnd: number } | undefined;

  private readonly messages: Message[] = [{ exists: true, lastWriteAt: -Infinity, finalAttempts: 0 }];
  private finishing = false;
  private abandoned = false;
  private payload: FinalPayload<C> | undefined;
  private payloadDelivered = false;
  private streamFailures = 0;
  private readonly failures: StreamReplyFailure[] = [];
  private running: Promise<void> | undefined;
  private readonly firstWriteDelay: number;
  private firstAppendAt: number | undefined;
  /** Resolved by finish(): cuts short a wait that only streaming needed. */
  private readonly finished: Promise<void>;
  private markFinished: () => void = () => undefined;

  constructor(options: StreamReplyOptions<C>) {
    this.io = options.io;
    this.clock = options.clock;
    this.limit = options.limit ?? DiscordLimits.messageContent;
    this.maxMessages = options.maxMessages ?? MAX_PARTS;
    this.interval = options.editIntervalMs ?? EDIT_INTERVAL_MS;
    this.firstWriteDelay = options.firstWriteDelayMs ?? 0;
    this.finished = new Promise((resolve) => {
      this.markFinished = resolve;
    });
    this.fileName = options.fileName ?? "answer.txt";
    this.budget = this.limit - (options.trailerReserve ?? TRAILER_RESERVE);
    if (this.budget < 64) throw new Error("streamReply: the limit leaves no room for text");
  }

  /** Adds text to the answer; the messages catch up in the background (throttled). */
  append(delta: string): void {
    if (this.finishing) throw new Error("streamReply: append after finish");
    if (delta === "") return;
    this.firstAppendAt ??= this.clock.now();
    const from = this.text.length;
    this.text += delta;
    this.scan(delta, from);
    this.kick();
  }

  /**
   * Writes the final contents (waiting out each message's throttle), the footer, components and any file on
   * the last message, retrying a failed final write once. Never throws for I/O: failures are in the result.
   */
  async finish(final: StreamReplyFinal<C>): Promise<StreamReplyResult> {
    if (this.finishing) throw new Error("streamReply: finish called twice");
    this.applyBody(final.body);
    this.finishing = true;
    const trailer = [final.note ?? "", final.footer].filter((p) => p !== "").join("\n");
    this.layOutLast(trailer);
    const last = this.messages.length - 1;
    this.payload = { components: final.components };
    if (this.overflow) {
      const current = this.messages[last] as Message;
      const shown = this.render(this.msgStart, this.overflow.shownEnd);
      const notice = NOTICES[this.overflow.reason];
      const full = joinParts(shown, notice, trailer);
      current.final = this.clip(full.length <= this.limit ? full : joinParts(notice, trailer));
      this.payload.attachment = { name: this.fileName, content: joinParts(final.body, final.note ?? "") };
    }
    for (const m of this.messages) m.failed = undefined;
    this.markFinished();
    this.kick();
    while (this.running) await this.running;
    const { attachment } = this.payload;
    return {
      messages: this.messages.map((m) => m.final ?? ""),
      ...(attachment && this.overflow ? { attachment: { ...attachment, reason: this.overflow.reason } } : {}),
      failures: [...this.failures],
      delivered: this.payloadDelivered && this.messages.every((m) => m.sent === m.final),
    };
  }

  /**
   * Gives the reply up (the answer was refused after it had started to show): no write starts after this, and it
   * resolves once the one in flight is done. Returns how many messages were written, for the caller to remove.
   */
  async abandon(): Promise<number> {
    if (this.finishing) throw new Error("streamReply: abandon after finish");
    this.finishing = true;
    this.abandoned = true;
    this.markFinished();
    while (this.running) await this.running;
    return this.messages.filter((m) => m.sent !== undefined).length;
  }

  // ---- text: where messages break ----

  /**
   * Scans the characters of `delta` (at offset `from` of the answer) once each. It reads the delta, not the
   * whole text (indexing a string built by += would copy it each time): the line is kept as its head.
   */
  private scan(delta: string, from: number): void {
    for (let j = 0; j < delta.length && !this.overflow; j++) this.scanChar(delta[j] as string, from + j);
  }

  private scanChar(c: string, i: number): void {
    if (c === "\n") {
      if (isFenceLine(this.lineHead)) {
        if (!this.inCode) {
          this.inCode = true;
          this.codeStart = this.lineStart;
          this.fence = this.lineHead.trim().slice(0, 3);
        } else {
          this.inCode = false; // the newline after a closing fence is a line break, below
        }
      }
      if (!this.inCode) this.atBreak(c, i);
      this.lineStart = i + 1;
      this.lineHead = "";
      this.lineIsFence = false;
      this.lineIsBlank = true;
    } else {
      // A fence shows in a line's first characters.
      if (this.lineHead.length < LINE_HEAD) {
        this.lineHead += c;
        this.lineIsFence = isFenceLine(this.lineHead);
      }
      if (/\s/.test(c)) {
        // Not inside a fence line ("``` python"): a break there would cut the fence.
        if (!this.inCode && !this.lineIsFence) this.atBreak(c, i);
      } else {
        this.lineIsBlank = false;
        if (this.firstText < 0) this.firstText = i;
      }
    }
    this.prev = c;
    const overhead = WRITING_MARKER.length + (this.codeIsOpen() ? this.fence.length + 1 : 0);
    if (i + 1 - this.msgStart + overhead > this.budget) this.outgrown(i);
  }

  /** Whether the text ends inside a code block, counting a fence line still being written. */
  private codeIsOpen(): boolean {
    return this.inCode !== this.lineIsFence;
  }

  private get isLastAllowed(): boolean {
    return this.messages.length >= this.maxMessages;
  }

  private hasTextBefore(at: number): boolean {
    return this.firstText >= 0 && this.firstText < at;
  }

  /** The whitespace at `i` (outside code) is a break: ends the message there if it is full enough. */
  private atBreak(c: string, i: number): void {
    const kind = breakAt(c, this.prev, this.lineIsBlank);
    if (kind === undefined) return;
    this.lastBreak = i;
    // The last message allowed ends only when it must (then the rest goes to a file).
    if (this.isLastAllowed || !this.hasTextBefore(i)) return;
    const room = this.budget - WRITING_MARKER.length;
    if (i - this.msgStart >= FILL_TO_BREAK[kind] * room)
      this.seal(i, kind === "sentence" || kind === "word", i);
  }

  /** The message cannot hold character `i`: end it at its last break, before its open code block, or hard. */
  private outgrown(i: number): void {
    const t = this.text;
    let cut: number;
    let midLine: boolean;
    if (this.inCode) {
      if (!this.hasTextBefore(this.codeStart)) {
        this.overflow = { reason: "code-block", shownEnd: this.codeStart };
        return;
      }
      cut = this.codeStart; // the break comes before the block starts, never inside it
      midLine = false;
    } else if (this.lastBreak > this.msgStart && this.hasTextBefore(this.lastBreak)) {
      cut = this.lastBreak;
      midLine = t[cut] !== "\n";
    } else {
      // One run longer than a message (a long URL): cut between graphemes, as splitMessage does.
      const from = this.firstText >= 0 ? this.firstText : this.msgStart;
      const max = this.budget - WRITING_MARKER.length - (from - this.msgStart);
      cut = from + graphemeCut(t.slice(from, from + max + 64), max);
      midLine = true;
    }
    if (this.isLastAllowed) {
      this.overflow = { reason: "too-many-messages", shownEnd: cut };
      return;
    }
    this.seal(cut, midLine, i + 1);
  }

  /** Finishes the current message at `cut`; the next one starts there (characters up to `scannedTo` seen). */
  private seal(cut: number, midLine: boolean, scannedTo: number): void {
    const current = this.messages[this.messages.length - 1] as Message;
    current.final = this.render(this.msgStart, cut, this.startMidLine);
    this.messages.push({ exists: false, lastWriteAt: -Infinity, finalAttempts: 0 });
    this.msgStart = cut;
    this.startMidLine = midLine;
    this.lastBreak = -1;
    this.firstText = -1;
    for (let j = cut; j < scannedTo; j++) {
      if (!/\s/.test(this.text[j] as string)) {
        this.firstText = j;
        break;
      }
    }
  }

  /** A message's text: without the whitespace at the break before it (keeping a first line's indent) or after. */
  private render(start: number, end: number, midLine = this.startMidLine): string {
    const s = this.text.slice(start, end);
    return (midLine ? s.trimStart() : s.replace(/^(?:[ \t]*\n)+/, "")).trimEnd();
  }

  /** What the message being written shows now. */
  private liveContent(): string {
    if (this.overflow) {
      const shown = this.render(this.msgStart, this.overflow.shownEnd);
      return shown === "" ? "" : joinParts(shown, OVERFLOW_WHILE_WRITING) + WRITING_MARKER;
    }
    const body = this.render(this.msgStart, this.text.length);
    if (body === "") return "";
    // An open code block gets a closing fence for now, so the markdown renders.
    const fence = this.inCode ? this.fence : this.lineHead.trim().slice(0, 3);
    return `${body}${this.codeIsOpen() ? `\n${fence}` : ""}${WRITING_MARKER}`;
  }

  /** The final body is authoritative: extend with what was not streamed, or rewrite what is not final yet. */
  private applyBody(body: string): void {
    const t = this.text;
    if (body.startsWith(t)) {
      this.text = body;
      this.scan(body.slice(t.length), t.length);
      return;
    }
    let common = 0;
    while (common < t.length && t[common] === body[common]) common++;
    this.text = body;
    // Only whitespace streamed past the common start (the body is the stream, trimmed): nothing shown differs.
    const shownDiffers = t.slice(common).trim() !== "";
    if (this.overflow) {
      if (!shownDiffers) return;
      if (common < this.msgStart) this.overflow.reason = "diverged";
      this.overflow.shownEnd = Math.min(this.overflow.shownEnd, Math.max(common, this.msgStart));
    } else if (common < this.msgStart && shownDiffers) {
      this.overflow = { reason: "diverged", shownEnd: this.msgStart };
    } else {
      this.msgStart = Math.min(this.msgStart, body.length);
      // Scan the current message again; it starts outside any code block (or on its opening fence).
      const lineStart = this.msgStart === 0 ? 0 : body.lastIndexOf("\n", this.msgStart - 1) + 1;
      const before = body.slice(lineStart, this.msgStart);
      this.lineStart = lineStart;
      this.lineHead = before.slice(0, LINE_HEAD);
      this.lineIsFence = isFenceLine(this.lineHead);
      this.lineIsBlank = before.trim() === "";
      this.prev = body[this.msgStart - 1] ?? "";
      this.inCode = false;
      this.lastBreak = -1;
      this.firstText = -1;
      this.scan(body.slice(this.msgStart), this.msgStart);
    }
  }

  /** The last message's final content: its text and the trailer, or the trailer alone in a new message. */
  private layOutLast(trailer: string): void {
    if (this.overflow) return;
    const current = this.messages[this.messages.length - 1] as Message;
    const body = this.render(this.msgStart, this.text.length);
    const previous = this.messages[this.messages.length - 2];
    const ontoPrevious = joinParts(previous?.final ?? "", trailer);
    if (body === "" && !current.exists && previous && ontoPrevious.length <= this.limit) {
      // The answer ended right after a break: the message before is the last one (it gets the trailer).
      this.messages.pop();
      previous.final = ontoPrevious;
      return;
    }
    const all = joinParts(body, trailer);
    if (all.length <= this.limit) {
      current.final = all;
    } else if (!this.isLastAllowed && body !== "" && trailer.length <= this.limit) {
      current.final = body;
      this.messages.push({ exists: false, final: trailer, lastWriteAt: -Infinity, finalAttempts: 0 });
    } else {
      this.overflow = { reason: "too-many-messages", shownEnd: this.text.length };
    }
  }

  private clip(content: string): string {
    return content.length <= this.limit ? content : content.slice(0, graphemeCut(content, this.limit));
  }

  // ---- I/O: one writer, one call at a time ----

  private kick(): void {
    if (!this.running) this.running = this.pump();
  }

  private contentOf(i: number): string {
    const m = this.messages[i] as Message;
    return m.final ?? (i === this.messages.length - 1 ? this.liveContent() : "");
  }

  private finalFor(i: number): FinalPayload<C> | undefined {
    return this.finishing && i === this.messages.length - 1 ? this.payload : undefined;
  }

  /** The first message that needs a write, if any may be written now. */
  private nextWrite(): number | undefined {
    if (this.abandoned) return undefined;
    for (const [i, m] of this.messages.entries()) {
      const content = this.contentOf(i);
      const pending =
        content !== "" && (content !== m.sent || (this.finalFor(i) !== undefined && !this.payloadDelivered));
      if (this.finishing) {
        if (pending && m.finalAttempts < FINAL_ATTEMPTS) return i;
        continue; // done, or given up: the next ones still get their chance
      }
      if (this.streamFailures >= STREAM_FAILURES_TO_PAUSE) return undefined;
      if (pending && content !== m.failed) return i;
      if (!m.exists) return undefined; // a later message never appears before an earlier one
    }
    return undefined;
  }

  private async pump(): Promise<void> {
    await undefined; // so that kick() has stored this writer before it can finish
    for (;;) {
      const i = this.nextWrite();
      if (i === undefined) {
        this.running = undefined; // synchronously, so the next append starts a new writer
        return;
      }
      const m = this.messages[i] as Message;
      // A message written once so far (a short answer that came at once) gets its final write without waiting: two
      // writes are well within Discord's five in five seconds, and the footer and buttons come with the text.
      const quickFinal = this.finishing && (m.writes ?? 0) <= 1 && m.finalAttempts === 0;
      const now = this.clock.now();
      const firstHold =
        !this.finishing && (m.writes ?? 0) === 0 && this.firstAppendAt !== undefined
          ? this.firstAppendAt + this.firstWriteDelay - now
          : 0;
      const wait = Math.max(firstHold, quickFinal ? 0 : m.lastWriteAt + this.interval - now);
      if (wait > 0) {
        // Streaming waits end early when the answer is finished (the final write decides its own wait).
        await (this.finishing
          ? this.clock.sleep(wait)
          : Promise.race([this.clock.sleep(wait), this.finished]));
        continue; // newer text may have come meanwhile: decide again
      }
      const content = this.contentOf(i);
      const final = this.finalFor(i);
      const op = m.exists ? "edit" : "post";
      const finishing = this.finishing; // finish() may start while this write is in flight
      try {
        if (m.exists) await this.io.edit(i, content, final);
        else await this.io.post(i, content, final);
        m.exists = true;
        m.sent = content;
        m.writes = (m.writes ?? 0) + 1;
        if (final) this.payloadDelivered = true;
      } catch (error) {
        this.failures.push({ index: i, op, final: finishing, error });
        if (finishing) m.finalAttempts++;
        else {
          m.failed = content;
          this.streamFailures++;
        }
      }
      m.lastWriteAt = this.clock.now();
    }
  }
}

/** Starts a streamed reply (see StreamReply). */
export function streamReply<C>(options: StreamReplyOptions<C>): StreamReply<C> {
  return new StreamReply(options);
}
