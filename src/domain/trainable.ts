// "Can this dataset be fine-tuned?": decided here once, for the validator's verdict, the job service, the
// upload flow, the report and the dataset list.
import { UserError } from "./errors.ts";

/** OpenAI refuses training files with fewer examples (providers with another minimum say so in their catalog). */
export const MIN_TRAINING_EXAMPLES = 10;

/** A validated file is fine-tunable as it is: no invalid line, no file-level error, enough examples. */
export function isFineTunableFile(
  tally: { valid: number; invalid: number; fileLevelErrors: number },
  minExamples = MIN_TRAINING_EXAMPLES,
): boolean {
  return tally.invalid === 0 && tally.fileLevelErrors === 0 && tally.valid >= minExamples;
}

export interface TrainableFacts {
  fineTunable: boolean;
  /** The cleaned file (invalid lines dropped), when one was written. */
  cleanedPath: string | null;
  valid: number;
}

/** A stored dataset trains as validated, or on its cleaned file when that still keeps enough examples. */
export function isTrainable(d: TrainableFacts, minExamples = MIN_TRAINING_EXAMPLES): boolean {
  return d.fineTunable || (d.cleanedPath !== null && d.valid >= minExamples);
}

/** The one refusal for a dataset that cannot train. */
export function notTrainableError(
  d: TrainableFacts & { id: number; fileName: string; invalid: number },
  minExamples = MIN_TRAINING_EXAMPLES,
): UserError {
  return new UserError(
    `Dataset #${d.id} (${d.fileName}) cannot be fine-tuned: ${d.invalid} invalid line(s) and ${d.valid} valid example(s); at least ${minExamples} valid examples are needed. Fix it and validate it again.`,
    "not_fine_tunable",
  );
}
