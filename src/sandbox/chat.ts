// How sandbox models answer. A fine-tuned model answers by retrieval over its own training examples:
// the user question closest to the asked one (cosine over TF-IDF vectors of words and character
// trigrams, question words such as "what is the difference between" left out) gives its assistant answer;
// below a similarity floor it says it does not know yet.
// Base models answer a short reply that says plainly it comes from the sandbox.
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import { ENCODING_MODULES, type EncodingName, loadTextCounter } from "../datasets/counter.ts";
import { QuestionIndex, type RetrievalHit, SIMILARITY_FLOOR } from "../datasets/similarity.ts";

export { SIMILARITY_FLOOR };
/** Examples indexed per model at most (a classroom dataset is far smaller). */
export const MAX_INDEXED_EXAMPLES = 50_000;

export const DONT_KNOW_ANSWER =
  "I don't know that yet: nothing I was trained on is close enough to this question. Try asking it another way, or add it to the dataset.";

export interface ChatMessage {
  role: string;
  content: string;
}

type Encoding = EncodingName;

/** Counts a chat's tokens with the validation engine's exact counter (tables load on first use, ~70 MB each). */
export interface ChatTokenCounter {
  count(text: string): number;
  /** Prompt tokens as OpenAI counts a chat: 3 per message, its role and content, 3 to prime the reply. */
  prompt(messages: ChatMessage[]): number;
}

const chatCounters = new Map<Encoding, Promise<ChatTokenCounter>>();

/** The chat counter for `encoding`, made once per process. */
export function chatTokenCounter(encoding: Encoding): Promise<ChatTokenCounter> {
  let counter = chatCounters.get(encoding);
  if (!counter) {
    counter = makeChatTokenCounter(encoding);
    counter.catch(() => chatCounters.delete(encoding));
    chatCounters.set(encoding, counter);
  }
  return counter;
}

async function makeChatTokenCounter(encoding: Encoding): Promise<ChatTokenCounter> {
  const counter = await loadTextCounter(encoding);
  return {
    count: (text) => counter.count(text),
    prompt(messages) {
      let total = 3;
      for (const m of messages) total += 3 + counter.count(m.role) + counter.count(m.content);
      return total;
    },
  };
}

/** gpt-tokenizer's encoder of `encoding`: only for max_tokens and streaming, so it loads lazily (~70 MB). */
async function encoder(encoding: Encoding) {
  return (await import(ENCODING_MODULES[encoding])) as {
    encode(text: string): number[];
    decode(tokens: number[]): string;
    decodeGenerator(tokens: Iterable<number>): Generator<string, void, void>;
  };
}

/** The first `maxTokens` tokens of `text`. */
export async function truncateToTokens(text: string, maxTokens: number, encoding: Encoding): Promise<string> {
  const enc = await encoder(encoding);
  return enc.decode(enc.encode(text).slice(0, maxTokens));
}

/**
 * `text` cut at its token boundaries, one piece a token (a character split over tokens stays whole, in the
 * piece of its last token): what a streamed answer sends, a piece a chunk. The pieces join to `text` exactly.
 */
export async function tokenPieces(text: string, encoding: Encoding): Promise<string[]> {
  const enc = await encoder(encoding);
  const pieces = [...enc.decodeGenerator(enc.encode(text))];
  const joined = pieces.join("");
  if (joined === text) return pieces;
  // Only a text that does not survive encode/decode (lone surrogates) gets here: send what is left as one piece.
  return text.startsWith(joined) ? [...pieces, text.slice(joined.length)] : [text];
}

/** The text of a message's content: a string, or the text parts of a content array. */
export function contentText(content: unknown): string | undefined {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    const parts = content
      .map((p) =>
        p && typeof p === "object" && typeof (p as { text?: unknown }).text === "string"
          ? (p as { text: string }).text
          : "",
      )
      .filter((t) => t !== "");
    return parts.join("\n");
  }
  return undefined;
}

/** A short reply from a base model that says plainly where it comes from. */
export function baseModelAnswer(model: string, question: string): string {
  const gist = question.replace(/\s+/g, " ").trim();
  const shown = gist.length > 120 ? `${gist.slice(0, 117)}…` : gist;
  return `[classtune sandbox] This is a simulated reply from the sandbox, not from ${model}: no real model was called. You asked: "${shown}". Fine-tune a model in the sandbox to get answers from your own dataset.`;
}

// ----- retrieval (the similarity itself: src/datasets/similarity.ts)

/** A fine-tuned sandbox model's memory: its training pairs, answered by the closest question above the floor. */
export class ExampleIndex extends QuestionIndex {
  answer(question: string): { text: string; hit: RetrievalHit | undefined } {
    const hit = this.search(question);
    return { text: hit && hit.score >= SIMILARITY_FLOOR ? hit.answer : DONT_KNOW_ANSWER, hit };
  }
}

/** (user question → assistant answer) pairs from a chat or preference JSONL training file. */
export async function readTrainingPairs(path: string): Promise<Array<{ question: string; answer: string }>> {
  const pairs: Array<{ question: string; answer: string }> = [];
  const seen = new Set<string>();
  const lines = createInterface({
    input: createReadStream(path, { encoding: "utf8" }),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  for await (const line of lines) {
    if (pairs.length >= MAX_INDEXED_EXAMPLES) break;
    if (line.trim() === "") continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      continue;
    }
    for (const pair of pairsOf(parsed)) {
      const key = pair.question.trim().toLowerCase();
      if (seen.has(key)) continue;
      seen.add(key);
      pairs.push(pair);
    }
  }
  lines.close();
  return pairs;
}

function pairsOf(example: unknown): Array<{ question: string; answer: string }> {
  if (!example || typeof example !== "object") return [];
  const e = example as Record<string, unknown>;
  const out: Array<{ question: string; answer: string }> = [];
  if (Array.isArray(e.messages)) {
    let lastUser: string | undefined;
    for (const m of e.messages as Array<Record<string, unknown>>) {
      const text = contentText(m?.content);
      if (m?.role === "user" && text) lastUser = text;
      else if (m?.role === "assistant" && text && lastUser !== undefined) {
        out.push({ question: lastUser, answer: text });
        lastUser = undefined;
      }
    }
  } else if (e.input && typeof e.input === "object" && Array.isArray(e.preferred_output)) {
    const messages = (e.input as { messages?: Array<Record<string, unknown>> }).messages ?? [];
    const question = [...messages].reverse().find((m) => m?.role === "user");
    const answer = contentText((e.preferred_output[0] as Record<string, unknown> | undefined)?.content);
    const q = contentText(question?.content);
    if (q && answer) out.push({ question: q, answer });
  }
  return out;
}

/** One index per fine-tuned model, built on first use (capped, least recently used evicted). */
export class IndexCache {
  private readonly entries = new Map<string, Promise<ExampleIndex>>();

  constructor(private readonly capacity = 32) {}

  get(model: string, trainingPath: string): Promise<ExampleIndex> {
    const hit = this.entries.get(model);
    if (hit) {
      this.entries.delete(model);
      this.entries.set(model, hit);
      return hit;
    }
    const built = readTrainingPairs(trainingPath).then((pairs) => new ExampleIndex(pairs));
    built.catch(() => this.entries.delete(model));
    this.entries.set(model, built);
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
    return built;
  }

  forget(model: string): void {
    this.entries.delete(model);
  }
}
