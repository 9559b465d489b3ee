// The custom id of "Correct this answer": the button under an answer, the button on a /review page and the
// correction modal they open all carry it, and one handler (commands/ask.ts) answers it.
export const CORRECTION_PREFIX = "correct";

/** `correct:<answer id>`. */
export const correctionId = (answerId: number): string => `${CORRECTION_PREFIX}:${answerId}`;

// The "Follow up" button under an answer and the modal it opens: `followup:<answer id>` (commands/ask.ts).
export const FOLLOW_UP_PREFIX = "followup";

/** `followup:<answer id>`. */
export const followUpId = (answerId: number): string => `${FOLLOW_UP_PREFIX}:${answerId}`;
