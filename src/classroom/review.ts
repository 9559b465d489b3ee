// The teachers' review of the class's recent questions and answers (/review and `classtune review`): who asked,
// when, which model answered, the votes, a teacher's correction and moderation flags. Guild-scoped in SQL; the
// caller checks that the reader is a teacher of that guild. Private answers are included: teachers oversee them.
import type { ReviewQuery, ReviewRepository, ReviewRow } from "../db/review.ts";
import { UserError } from "../domain/errors.ts";
import { windowStartMs } from "./usage.ts";

export type { ReviewRow } from "../db/review.ts";

/** Answers per Discord page: five fields and one row of five "Correct" buttons. */
export const REVIEW_PAGE_SIZE = 5;
export const DEFAULT_REVIEW_DAYS = 7;
export const MAX_REVIEW_DAYS = 90;
/** The most rows the terminal export reads at once. */
export const MAX_REVIEW_EXPORT = 100_000;
const MAX_PAGE_SIZE = 100;

export interface ReviewFilter {
  /** Last N days, today (UTC) included. */
  days: number;
  channelId?: string | undefined;
  /** The asker. */
  studentId?: string | undefined;
  flaggedOnly?: boolean | undefined;
}

/** Where a page is: its number, and the newest answer id when the review was opened (so pages do not shift). */
export interface ReviewCursor {
  page: number;
  anchor?: number | undefined;
}

export interface ReviewPage {
  guildId: string;
  filter: ReviewFilter;
  rows: ReviewRow[];
  /** 1-based; a page past the end is the last page. */
  page: number;
  pageCount: number;
  total: number;
  size: number;
  anchor: number;
  /** First instant of the window (ISO). */
  since: string;
}

export interface ReviewExport {
  guildId: string;
  filter: ReviewFilter;
  since: string;
  total: number;
  rows: ReviewRow[];
  /** More rows matched than were read (MAX_REVIEW_EXPORT). */
  truncated: boolean;
}

const DISCORD_ID = /^\d{1,20}$/;

/** Throws a UserError naming what is wrong with a filter; returns it unchanged otherwise. */
export function checkReviewFilter(f: ReviewFilter): ReviewFilter {
  if (!Number.isInteger(f.days) || f.days < 1 || f.days > MAX_REVIEW_DAYS) {
    throw new UserError(`Days must be a whole number from 1 to ${MAX_REVIEW_DAYS}.`, "bad_days");
  }
  for (const [name, id] of [
    ["channel", f.channelId],
    ["student", f.studentId],
  ] as const) {
    if (id !== undefined && !DISCORD_ID.test(id)) {
      throw new UserError(
        `The ${name} must be a Discord id (digits only), not "${id.slice(0, 40)}".`,
        "bad_id",
      );
    }
  }
  return f;
}

export class ReviewService {
  constructor(
    private readonly deps: {
      review: ReviewRepository;
      now?: () => number;
    },
  ) {}

  private query(guildId: string, filter: ReviewFilter, maxId: number): ReviewQuery {
    checkReviewFilter(filter);
    const now = (this.deps.now ?? Date.now)();
    return {
      guildId,
      sinceIso: new Date(windowStartMs(now, filter.days)).toISOString(),
      maxId,
      channelId: filter.channelId,
      userId: filter.studentId,
      flaggedOnly: filter.flaggedOnly ?? false,
    };
  }

  /** One page, newest first. Page and anchor come from a button a client may forge: both are only bounds. */
  async page(
    guildId: string,
    filter: ReviewFilter,
    cursor: ReviewCursor = { page: 1 },
    size = REVIEW_PAGE_SIZE,
  ): Promise<ReviewPage> {
    if (!Number.isSafeInteger(cursor.page) || cursor.page < 1) {
      throw new UserError("The page must be a whole number of at least 1.", "bad_page");
    }
    if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE_SIZE) {
      throw new Error(`review page size ${size} is out of range`);
    }
    const anchor = cursor.anchor ?? (await this.deps.review.maxId(guildId));
    if (!Number.isSafeInteger(anchor) || anchor < 0) {
      throw new UserError("That button is not valid any more.", "bad_cursor");
    }
    const q = this.query(guildId, filter, anchor);
    const total = await this.deps.review.count(q);
    const pageCount = Math.max(1, Math.ceil(total / size));
    const page = Math.min(cursor.page, pageCount);
    return {
      guildId,
      filter,
      rows: await this.deps.review.page(q, size, (page - 1) * size),
      page,
      pageCount,
      total,
      size,
      anchor,
      since: q.sinceIso,
    };
  }

  /** Every matching row (up to MAX_REVIEW_EXPORT), newest first: the terminal's listing and its CSV. */
  async export(guildId: string, filter: ReviewFilter, limit = MAX_REVIEW_EXPORT): Promise<ReviewExport> {
    const q = this.query(guildId, filter, await this.deps.review.maxId(guildId));
    const total = await this.deps.review.count(q);
    const rows = await this.deps.review.page(q, limit, 0);
    return { guildId, filter, since: q.sinceIso, total, rows, truncated: total > rows.length };
  }
}
