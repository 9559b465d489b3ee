// Privacy: what classtune holds about a person (/privacy show), deleting it (/privacy delete), a teacher taking a
// student's exported answers out of the server's datasets (/dataset remove-student), a server removing the bot
// (its data deleted after GUILD_DATA_GRACE_DAYS unless it comes back), and the durable daily sweep that carries
// out retention and those deletions. Which table holds what is decided once, in src/db/privacy.ts.
import { rm } from "node:fs/promises";
import type { RewriteDataset } from "../datasets/store.ts";
import { DatasetExportRepository } from "../db/datasetExports.ts";
import {
  type ExportedByStudent,
  type GuildPurgeCounts,
  type PersonalRows,
  PrivacyRepository,
  type RetentionCounts,
  retentionCutoff,
} from "../db/privacy.ts";
import type { Store } from "../db/query/store.ts";
import { type Logger, silentLogger } from "../logger.ts";

export { ANONYMOUS_USER, type ExportedByStudent } from "../db/privacy.ts";

const DAY_MS = 86_400_000;
/** A Discord server id (a snowflake): other tenants (the terminal's "cli") never leave. */
const DISCORD_ID = /^\d{17,20}$/;
/** The sweep's name in privacy_sweeps. */
export const DAILY_SWEEP = "daily";
/** How many recent questions /privacy show lists. */
export const SHOWN_QUESTIONS = 5;

export interface PrivacyConfig {
  /** Questions, answers, votes and raw usage older than this many days are deleted (usage folded first). */
  dataRetentionDays: number;
  /** Datasets (and their finished jobs) older than this are deleted; undefined: kept. */
  datasetRetentionDays: number | undefined;
  /** A server that removed the bot has its data deleted this many days later. */
  guildGraceDays: number;
}

export interface PrivacyServiceDeps {
  store: Store;
  config: PrivacyConfig;
  /** The in-memory answer cache of /ask (classroom/cache.ts). */
  cache: { forget(guildId: string, questions?: string[]): number };
  rewriteDataset: RewriteDataset;
  logger?: Logger;
  now?: () => Date;
}

export interface PrivacyReport {
  guildId: string;
  userId: string;
  /** Rows per kind of data, and what /privacy delete would do with them. */
  counts: { kind: string; table: string; column: string; rows: number; onDelete: string }[];
  lastQuestions: { question: string; createdAt: string }[];
  /** Teachers' datasets holding the person's exported answers. */
  exported: ExportedByStudent[];
  /** Every row, per table and column: the attached JSON. */
  rows: PersonalRows[];
}

export interface DeletionResult {
  /** Rows deleted or anonymised, per table. */
  touched: Record<string, number>;
  cachedAnswersForgotten: number;
  /** What lives on in teachers' datasets (removed only by /dataset remove-student). */
  exported: ExportedByStudent[];
}

export interface RemoveStudentResult {
  datasets: { id: number; fileName: string; removed: number; examplesLeft: number; fineTunable: boolean }[];
}

export interface PrivacySweepCounts {
  retention: RetentionCounts;
  datasetsDeleted: number;
  guildsDeleted: string[];
  /** Servers whose deletion is due but waits (billed hosting running, a job training). */
  guildsWaiting: string[];
  filesDeleted: number;
}

/** The user turns of a chat JSONL line (what a job's held-out test question is taken from). */
function userTurns(line: string): string[] {
  try {
    const parsed = JSON.parse(line) as { messages?: { role?: unknown; content?: unknown }[] };
    return (parsed.messages ?? []).flatMap((m) =>
      m.role === "user" && typeof m.content === "string" ? [m.content] : [],
    );
  } catch {
    return [];
  }
}

const ON_DELETE: Record<PersonalRows["action"], string> = {
  delete: "deleted",
  anonymise: "your id removed",
  keep: "kept in a teacher's dataset until the teacher removes it",
};

export class PrivacyService {
  private readonly repo: PrivacyRepository;
  private readonly exports: DatasetExportRepository;
  private readonly logger: Logger;
  private readonly now: () => Date;
  private sweeping: Promise<PrivacySweepCounts | undefined> | undefined;

  constructor(private readonly deps: PrivacyServiceDeps) {
    this.repo = new PrivacyRepository(deps.store);
    this.exports = new DatasetExportRepository(deps.store);
    this.logger = deps.logger ?? silentLogger;
    this.now = deps.now ?? (() => new Date());
  }

  /** Everything classtune holds about the person in this server. */
  async show(guildId: string, userId: string): Promise<PrivacyReport> {
    const rows = await this.repo.personalRows(guildId, userId);
    return {
      guildId,
      userId,
      counts: rows.map((r) => ({
        kind: r.kind,
        table: r.table,
        column: r.column,
        rows: r.rows.length,
        onDelete: ON_DELETE[r.action],
      })),
      lastQuestions: await this.repo.lastQuestions(guildId, userId, SHOWN_QUESTIONS),
      exported: await this.repo.exportedAnswers(guildId, userId),
      rows,
    };
  }

  /** Deletes the person's rows in this server (src/db/privacy.ts says how, per table) and their cached answers. */
  async delete(guildId: string, userId: string): Promise<DeletionResult> {
    const questions = await this.repo.questions(guildId, userId);
    const touched = await this.repo.deletePerson(guildId, userId);
    const cachedAnswersForgotten = this.deps.cache.forget(guildId, questions);
    const exported = await this.repo.exportedAnswers(guildId, userId);
    this.logger.info(
      { guildId, tables: touched, cachedAnswersForgotten, exportedDatasets: exported.length },
      "a person deleted their data (/privacy delete)",
    );
    return { touched, cachedAnswersForgotten, exported };
  }

  /** Takes the student's exported answers out of every dataset of this server that holds them. */
  async removeStudent(guildId: string, studentId: string): Promise<RemoveStudentResult> {
    const result: RemoveStudentResult = { datasets: [] };
    for (const datasetId of await this.exports.datasetsOf(guildId, studentId)) {
      const recorded = await this.exports.lines(guildId, datasetId);
      const theirs = new Set(recorded.filter((l) => l.studentId === studentId).map((l) => l.line));
      const rewritten = await this.deps.rewriteDataset({
        guildId,
        datasetId,
        keepLine: (n) => !theirs.has(n),
      });
      if (!rewritten) continue;
      await this.repo.forgetTestQuestions(
        guildId,
        datasetId,
        new Set(rewritten.removedLines.flatMap(userTurns)),
      );
      const at = this.now().toISOString();
      await this.exports.replace(
        guildId,
        datasetId,
        recorded.flatMap((l) => {
          const line = rewritten.renumbered.get(l.line);
          return line === undefined || l.studentId === studentId ? [] : [{ ...l, line }];
        }),
        at,
      );
      result.datasets.push({
        id: datasetId,
        fileName: rewritten.row.fileName,
        removed: rewritten.removed,
        examplesLeft: rewritten.row.examples,
        fineTunable: rewritten.row.fineTunable,
      });
    }
    this.logger.info(
      { guildId, datasets: result.datasets.length },
      "a student's exported answers were removed",
    );
    return result;
  }

  /** The bot was removed from a server: its data is deleted after the grace period, unless it comes back. */
  async guildLeft(guildId: string): Promise<Date> {
    const now = this.now();
    const deleteAfter = new Date(now.getTime() + this.deps.config.guildGraceDays * DAY_MS);
    await this.repo.scheduleGuildDeletion(guildId, now, deleteAfter);
    this.logger.warn(
      { guildId, deleteAfter: deleteAfter.toISOString() },
      "classtune was removed from a server: its data will be deleted unless it is invited back",
    );
    return deleteAfter;
  }

  /** The bot joined (or is back in) a server: a scheduled deletion is cancelled. */
  async guildJoined(guildId: string): Promise<boolean> {
    const cancelled = await this.repo.cancelGuildDeletion(guildId);
    if (cancelled)
      this.logger.info({ guildId }, "classtune is back in a server: its data is no longer deleted");
    return cancelled;
  }

  /**
   * On connecting (READY): every server the bot is in has its scheduled deletion cancelled (it was invited back
   * while the bot was offline), and a Discord server with data that the bot is no longer in (removed while
   * offline: no GUILD_DELETE ever came) is scheduled. Non-Discord ids (the terminal's "cli") are never scheduled.
   */
  async reconcileGuilds(present: Iterable<string>): Promise<{ cancelled: string[]; scheduled: string[] }> {
    const here = new Set(present);
    const cancelled: string[] = [];
    for (const g of here) if (await this.guildJoined(g)) cancelled.push(g);
    const scheduled: string[] = [];
    for (const g of await this.repo.guildsWithData()) {
      if (here.has(g) || !DISCORD_ID.test(g) || (await this.repo.scheduledDeletion(g))) continue;
      await this.guildLeft(g);
      scheduled.push(g);
    }
    return { cancelled, scheduled };
  }

  scheduledDeletion(guildId: string): Promise<{ leftAt: string; deleteAfter: string } | undefined> {
    return this.repo.scheduledDeletion(guildId);
  }

  /**
   * The daily sweep, called on every poller tick: runs when a day has passed since the last run recorded in
   * SQLite (so a restart neither skips nor repeats it), else does nothing. Never throws: a failure is logged and
   * the next tick tries again. Undefined when it was not due.
   */
  sweep(): Promise<PrivacySweepCounts | undefined> {
    this.sweeping ??= this.sweepIfDue().finally(() => {
      this.sweeping = undefined;
    });
    return this.sweeping;
  }

  private async sweepIfDue(): Promise<PrivacySweepCounts | undefined> {
    const now = this.now();
    const last = await this.repo.lastRun(DAILY_SWEEP);
    if (last !== undefined && now.getTime() - last.getTime() < DAY_MS) return undefined;
    try {
      const counts = await this.runSweep(now);
      await this.repo.recordRun(DAILY_SWEEP, now, counts);
      this.logger.info({ ...counts }, "privacy sweep done");
      return counts;
    } catch (err) {
      this.logger.error({ err }, "privacy sweep failed; the next tick tries again");
      return undefined;
    }
  }

  /** Retention, dataset retention and the servers whose grace period ended, whether due or not. */
  async runSweep(now: Date): Promise<PrivacySweepCounts> {
    const { config } = this.deps;
    const retention = await this.repo.purgeBefore(
      retentionCutoff(now, config.dataRetentionDays).toISOString(),
    );
    const files: string[] = [];
    let datasetsDeleted = 0;
    if (config.datasetRetentionDays !== undefined) {
      const before = retentionCutoff(now, config.datasetRetentionDays).toISOString();
      for (const d of await this.repo.expiredDatasets(before)) {
        files.push(...(await this.repo.deleteDataset(d.id)));
        datasetsDeleted++;
      }
    }
    const guildsDeleted: string[] = [];
    const guildsWaiting: string[] = [];
    for (const guildId of await this.repo.dueGuildDeletions(now)) {
      const busy = await this.repo.guildBusy(guildId);
      if (busy !== undefined) {
        this.logger.warn({ guildId, busy }, "a departed server's data waits: deleted once this has stopped");
        guildsWaiting.push(guildId);
        continue;
      }
      let purged: GuildPurgeCounts;
      try {
        purged = await this.repo.deleteGuild(guildId);
      } catch (err) {
        // One transaction: nothing of it was deleted. Another server's deletion and retention go on.
        this.logger.error(
          { err, guildId },
          "a departed server's data could not be deleted; retried tomorrow",
        );
        guildsWaiting.push(guildId);
        continue;
      }
      this.deps.cache.forget(guildId);
      files.push(...purged.orphanFiles);
      guildsDeleted.push(guildId);
      this.logger.warn({ guildId, deleted: purged.deleted }, "a departed server's data was deleted");
    }
    for (const file of new Set(files)) await rm(file, { force: true });
    return { retention, datasetsDeleted, guildsDeleted, guildsWaiting, filesDeleted: new Set(files).size };
  }
}
