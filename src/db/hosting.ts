// Repository for hosting_sessions (migration 008): every deployment classtune asked a billing provider for, with
// the price it started at, its idle clock and its stop. Minutes and cost are computed here, in one place, from
// started_at to stopped_at (or `now` while it runs), rounded up to whole minutes as the providers bill.
import type { Db } from "./open.ts";
import { prepared } from "./statements.ts";

export const STOP_REASONS = ["teacher", "idle", "budget", "failed", "gone"] as const;
export type StopReason = (typeof STOP_REASONS)[number];

export interface HostingSessionRow {
  id: number;
  guildId: string;
  modelName: string;
  provider: string;
  deploymentName: string;
  hardware: string | null;
  usdPerHour: number;
  priceSource: string;
  /** A Discord user id, or "auto" (the provider's entry deploys after every job). */
  startedBy: string;
  startedAt: string;
  readyAt: string | null;
  lastAskedAt: string | null;
  stopReason: StopReason | null;
  stoppedBy: string | null;
  stopRequestedAt: string | null;
  stopAttempts: number;
  stopError: string | null;
  stoppedAt: string | null;
}

export type NewHostingSession = Pick<
  HostingSessionRow,
  | "guildId"
  | "modelName"
  | "provider"
  | "deploymentName"
  | "hardware"
  | "usdPerHour"
  | "priceSource"
  | "startedBy"
>;

/** Billed minutes and their cost over a span of time. */
export interface HostingTotals {
  minutes: number;
  costUsd: number;
}

/** A window's billed hosting, in all and per model (most expensive first). */
export interface HostingUsage extends HostingTotals {
  byModel: { model: string; provider: string; minutes: number; costUsd: number }[];
}

const COLUMNS = `id, guild_id AS guildId, model_name AS modelName, provider, deployment_name AS deploymentName,
  hardware, usd_per_hour AS usdPerHour, price_source AS priceSource, started_by AS startedBy,
  started_at AS startedAt, ready_at AS readyAt, last_asked_at AS lastAskedAt, stop_reason AS stopReason,
  stopped_by AS stoppedBy, stop_requested_at AS stopRequestedAt, stop_attempts AS stopAttempts,
  stop_error AS stopError, stopped_at AS stoppedAt`;

const MINUTE_MS = 60_000;

/**
 * The billed minutes of a session within [from, to): from its start (or `from`) to its stop (or `to`), rounded up
 * to whole minutes, as Together and Fireworks bill. A session outside the window counts nothing.
 */
export function billedMinutes(
  s: Pick<HostingSessionRow, "startedAt" | "stoppedAt">,
  to: Date,
  from?: Date | undefined,
): number {
  const start = Math.max(Date.parse(s.startedAt), from?.getTime() ?? Number.NEGATIVE_INFINITY);
  const end = Math.min(s.stoppedAt === null ? to.getTime() : Date.parse(s.stoppedAt), to.getTime());
  if (!(end > start)) return 0;
  return Math.ceil((end - start) / MINUTE_MS);
}

/** What `minutes` at `usdPerHour` cost. */
export const hostingCost = (minutes: number, usdPerHour: number): number => (minutes / 60) * usdPerHour;

export class HostingRepository {
  constructor(private readonly db: Db) {}

  /** Opens a session for the deployment; a second call for the same deployment returns the first's row. */
  open(s: NewHostingSession, now: Date): HostingSessionRow {
    prepared(
      this.db,
      `INSERT INTO hosting_sessions (guild_id, model_name, provider, deployment_name, hardware, usd_per_hour,
           price_source, started_by, started_at)
         VALUES (@guildId, @modelName, @provider, @deploymentName, @hardware, @usdPerHour, @priceSource,
           @startedBy, @at)
         ON CONFLICT (provider, deployment_name) DO NOTHING`,
    ).run({ ...s, at: now.toISOString() });
    const row = this.byDeployment(s.provider, s.deploymentName);
    if (!row) throw new Error("opened hosting session vanished");
    return row;
  }

  byDeployment(provider: string, deploymentName: string): HostingSessionRow | undefined {
    return prepared(
      this.db,
      `SELECT ${COLUMNS} FROM hosting_sessions WHERE provider = ? AND deployment_name = ?`,
    ).get(provider, deploymentName) as HostingSessionRow | undefined;
  }

  get(guildId: string, id: number): HostingSessionRow | undefined {
    return prepared(this.db, `SELECT ${COLUMNS} FROM hosting_sessions WHERE guild_id = ? AND id = ?`).get(
      guildId,
      id,
    ) as HostingSessionRow | undefined;
  }

  /** The model's session still billing (no stop confirmed), if any: the newest. */
  current(guildId: string, modelName: string): HostingSessionRow | undefined {
    return prepared(
      this.db,
      `SELECT ${COLUMNS} FROM hosting_sessions WHERE guild_id = ? AND model_name = ? AND stopped_at IS NULL
         ORDER BY id DESC LIMIT 1`,
    ).get(guildId, modelName) as HostingSessionRow | undefined;
  }

  /** Every session still billing (one guild's, or every guild's): what the sweep looks at. */
  listOpen(guildId?: string | undefined): HostingSessionRow[] {
    return prepared(
      this.db,
      `SELECT ${COLUMNS} FROM hosting_sessions WHERE stopped_at IS NULL
           AND (@guildId IS NULL OR guild_id = @guildId) ORDER BY id`,
    ).all({ guildId: guildId ?? null }) as HostingSessionRow[];
  }

  /** A guild's sessions that billed at any time in [from, to). */
  listBetween(guildId: string, from: Date, to: Date): HostingSessionRow[] {
    return prepared(
      this.db,
      `SELECT ${COLUMNS} FROM hosting_sessions WHERE guild_id = @guildId AND started_at < @to
           AND (stopped_at IS NULL OR stopped_at > @from) ORDER BY id`,
    ).all({ guildId, from: from.toISOString(), to: to.toISOString() }) as HostingSessionRow[];
  }

  /** The guild's billed minutes and cost in [from, to), in all and per model. */
  usage(guildId: string, from: Date, to: Date): HostingUsage {
    const byModel = new Map<string, HostingUsage["byModel"][number]>();
    for (const s of this.listBetween(guildId, from, to)) {
      const minutes = billedMinutes(s, to, from);
      const key = `${s.provider}\u0000${s.modelName}`;
      const row = byModel.get(key) ?? { model: s.modelName, provider: s.provider, minutes: 0, costUsd: 0 };
      row.minutes += minutes;
      row.costUsd += hostingCost(minutes, s.usdPerHour);
      byModel.set(key, row);
    }
    const rows = [...byModel.values()].filter((r) => r.minutes > 0).sort((a, b) => b.costUsd - a.costUsd);
    return {
      minutes: rows.reduce((n, r) => n + r.minutes, 0),
      costUsd: rows.reduce((n, r) => n + r.costUsd, 0),
      byModel: rows,
    };
  }

  markReady(id: number, now: Date): void {
    prepared(this.db, "UPDATE hosting_sessions SET ready_at = COALESCE(ready_at, ?) WHERE id = ?").run(
      now.toISOString(),
      id,
    );
  }

  /** /ask used the model: its idle clock starts again. */
  touch(guildId: string, modelName: string, now: Date): void {
    prepared(
      this.db,
      `UPDATE hosting_sessions SET last_asked_at = @at
         WHERE guild_id = @guildId AND model_name = @modelName AND stopped_at IS NULL AND stop_requested_at IS NULL`,
    ).run({ guildId, modelName, at: now.toISOString() });
  }

  /** Records why and by whom a stop was asked for, once: false when a stop was already requested. */
  requestStop(id: number, reason: StopReason, by: string, now: Date): boolean {
    return (
      prepared(
        this.db,
        `UPDATE hosting_sessions SET stop_reason = @reason, stopped_by = @by, stop_requested_at = @at
           WHERE id = @id AND stop_requested_at IS NULL AND stopped_at IS NULL`,
      ).run({ id, reason, by, at: now.toISOString() }).changes === 1
    );
  }

  /** The provider confirmed the deployment gone: billing ends now. */
  markStopped(id: number, now: Date, reason?: StopReason | undefined): void {
    prepared(
      this.db,
      `UPDATE hosting_sessions SET stopped_at = @at, stop_error = NULL,
           stop_reason = COALESCE(stop_reason, @reason), stop_requested_at = COALESCE(stop_requested_at, @at)
         WHERE id = @id AND stopped_at IS NULL`,
    ).run({ id, at: now.toISOString(), reason: reason ?? null });
  }

  /** A stop the provider did not confirm: counted and kept in words; the sweep tries again. */
  stopFailed(id: number, error: string): void {
    prepared(
      this.db,
      "UPDATE hosting_sessions SET stop_attempts = stop_attempts + 1, stop_error = ? WHERE id = ? AND stopped_at IS NULL",
    ).run(error.slice(0, 500), id);
  }
}

/** Billed minutes and cost of the sessions within [from, to). */
export function totalsOf(sessions: readonly HostingSessionRow[], to: Date, from?: Date): HostingTotals {
  let minutes = 0;
  let costUsd = 0;
  for (const s of sessions) {
    const m = billedMinutes(s, to, from);
    minutes += m;
    costUsd += hostingCost(m, s.usdPerHour);
  }
  return { minutes, costUsd };
}
