// Follow-up questions: which earlier turns of a conversation go with the next question to the model. Pure: the
// stored turns in, the chat messages out. A conversation holds at most maxTurns questions (ASK_CONTEXT_TURNS), the
// new one included; the oldest earlier turns go first, by that cap and then until the prompt and the answer's
// max_tokens fit the model's context. The system prompt and the new question are never dropped: when even they do
// not fit, the result says so and the caller refuses.
//
// An earlier turn is sent as the student was shown it (the answer as stored), never a teacher's later correction:
// the follow-up was asked about what the student read.

import type { ChatMessage } from "../domain/assistant.ts";

export type { ChatMessage };

/** One earlier question and the answer the student was shown. */
export interface ConversationTurn {
  question: string;
  answer: string;
}

export interface ConversationRequest {
  systemPrompt: string;
  /** The earlier turns, oldest first (AnswerRepository.chain's rows: question, answer). */
  turns: readonly ConversationTurn[];
  /** The new question. */
  question: string;
  /** Most questions in one conversation, the new one included (ASK_CONTEXT_TURNS): at most maxTurns - 1 earlier. */
  maxTurns: number;
  /** The model's context window in tokens (prompt and answer together). */
  contextTokens: number;
  /** Tokens kept for the answer: the request's max_tokens. */
  reserveTokens: number;
  /** The prompt tokens of these messages, by the model's tokenizer or an upper bound (prices.ts promptTokensAtMost). */
  countTokens: (messages: readonly ChatMessage[]) => number;
}

export type ConversationMessages =
  | {
      fits: true;
      /** System prompt, the kept earlier turns (user, assistant, …) and the new question. */
      messages: ChatMessage[];
      keptTurns: number;
      /** Earlier turns left out, oldest first: by the maxTurns cap or for room. */
      droppedTurns: number;
      promptTokens: number;
    }
  | {
      fits: false;
      /** The system prompt and the new question alone. */
      promptTokens: number;
      /** What the prompt may use: contextTokens - reserveTokens. */
      availableTokens: number;
    };

const messagesOf = (
  systemPrompt: string,
  turns: readonly ConversationTurn[],
  question: string,
): ChatMessage[] => [
  { role: "system", content: systemPrompt },
  ...turns.flatMap((t): ChatMessage[] => [
    { role: "user", content: t.question },
    { role: "assistant", content: t.answer },
  ]),
  { role: "user", content: question },
];

function wholeAtLeast(name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min)
    throw new RangeError(`${name} must be a whole number ≥ ${min}`);
}

/** The messages for a question and the conversation before it, trimmed oldest first to the cap and the context. */
export function conversationMessages(req: ConversationRequest): ConversationMessages {
  wholeAtLeast("maxTurns", req.maxTurns, 1);
  wholeAtLeast("contextTokens", req.contextTokens, 1);
  wholeAtLeast("reserveTokens", req.reserveTokens, 0);
  const earlier = req.turns.slice(Math.max(0, req.turns.length - (req.maxTurns - 1)));
  const availableTokens = req.contextTokens - req.reserveTokens;
  // Most context first: the first that fits keeps the most recent turns. At most maxTurns counts (≤ 20).
  for (let drop = 0; ; drop++) {
    const kept = earlier.slice(drop);
    const messages = messagesOf(req.systemPrompt, kept, req.question);
    const promptTokens = req.countTokens(messages);
    if (promptTokens <= availableTokens) {
      return {
        fits: true,
        messages,
        keptTurns: kept.length,
        droppedTurns: req.turns.length - kept.length,
        promptTokens,
      };
    }
    if (kept.length === 0) return { fits: false, promptTokens, availableTokens };
  }
}

/** Whether an answer at this turn can be followed up: its conversation holds fewer than maxTurns questions. */
export function canFollowUp(turn: number, maxTurns: number): boolean {
  return turn < maxTurns;
}

/**
 * The conversation's length so far, as the reply shows it: the second question of a conversation that may hold four
 * is "follow-up 2 of 4". Undefined for a first question or when follow-ups are off.
 */
export function followUpLabel(turn: number, maxTurns: number): string | undefined {
  if (turn < 2 || maxTurns < 2) return undefined;
  return `follow-up ${Math.min(turn, maxTurns)} of ${maxTurns}`;
}
