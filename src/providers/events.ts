// Reading a provider's fine-tuning events defensively: each item of a page is checked once here, at the
// provider boundary, so the poller only ever sees well-formed events. An item that cannot be read (an ISO
// string where epoch seconds belong, a `data` that is no object, a loss that is no number, a missing field)
// becomes a MalformedEvent in its place: skipped and logged by the poller, never an error that stops a job.
import { z } from "zod";
import type { EventListItem } from "./types.ts";

/** 9999-12-31T23:59:59Z: the last second an ISO date shows with a four-digit year. */
export const MAX_EVENT_EPOCH_SECONDS = 253_402_300_799;

/** How much of a malformed item goes into the log. */
const EXCERPT_CHARS = 300;

/** A metric as OpenAI sends it: a finite number, or absent or null (zod's number refuses NaN and ±Infinity). */
const metric = z.number().nullish();

/** The fields of OpenAI's metrics events that classtune reads; any others pass through unchecked. */
const eventData = z
  .looseObject({
    step: z.number().int().nonnegative().nullish(),
    total_steps: z.number().int().positive().nullish(),
    train_loss: metric,
    valid_loss: metric,
    full_valid_loss: metric,
    train_mean_token_accuracy: metric,
  })
  .refine((d) => d.step == null || d.total_steps == null || d.step <= d.total_steps, {
    message: "step is past total_steps",
    path: ["step"],
  });

const wireEvent = z.object({
  id: z.string().min(1),
  created_at: z.number().nonnegative().max(MAX_EVENT_EPOCH_SECONDS),
  level: z.string(),
  message: z.string(),
  type: z.string().nullish(),
  data: eventData.nullish(),
});

/** One item of an OpenAI-style event list (`created_at` in epoch seconds), checked. */
export function readProviderEvent(raw: unknown): EventListItem {
  const parsed = wireEvent.safeParse(raw);
  if (parsed.success) {
    const e = parsed.data;
    return {
      id: e.id,
      createdAt: e.created_at * 1000,
      level: e.level,
      message: e.message,
      type: e.type ?? null,
      data: e.data ?? null,
    };
  }
  const id = (raw as { id?: unknown } | null)?.id;
  return {
    malformed: true,
    id: typeof id === "string" && id !== "" ? id : null,
    problem: parsed.error.issues
      .map((i) => (i.path.length > 0 ? `${i.path.join(".")}: ${i.message}` : i.message))
      .join("; "),
    excerpt: excerptOf(raw),
  };
}

function excerptOf(raw: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(raw) ?? String(raw);
  } catch {
    text = String(raw);
  }
  return text.length > EXCERPT_CHARS ? `${text.slice(0, EXCERPT_CHARS)}…` : text;
}
