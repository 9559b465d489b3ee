// Repository for hosting_sessions (migration 008): every deployment classtune asked a billing provider for, with
// the price it started at, its idle clock and its stop. Minutes and cost are computed here, in one place, from
// started_at to stopped_at (or `now` while it runs), rounded up to whole minutes as the providers bill.
import { compiled, type Param } from "./query/compiled.ts";
import type { Queryable } from "./query/store.ts";

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

const COLUMNS = [
  "id",
  "guild_id as guildId",
  "model_name as modelName",
  "provider",
  "deployment_name as deploymentName",
  "hardware",
  "usd_per_hour as usdPerHour",
  "price_source as priceSource",
  "started_by as startedBy",
  "started_at as startedAt",
  "ready_at as readyAt",
  "last_asked_at as lastAskedAt",
  "stop_reason as stopReason",
  "stopped_by as stoppedBy",
  "stop_requested_at as stopRequestedAt",
  "stop_attempts as stopAttempts",
  "stop_error as stopError",
  "stopped_at as stoppedAt",
] as const;

const insertSession = compiled((db, p: Param<NewHostingSession & { at: string }>) =>
  db
    .insertInto("hosting_sessions")
    .values({
      guild_id: p("guildId"),
      model_name: p("modelName"),
      provider: p("provider"),
      deployment_name: p("deploymentName"),
      hardware: p("hardware"),
      usd_per_hour: p("usdPerHour"),
      price_source: p("priceSource"),
      started_by: p("startedBy"),
      started_at: p("at"),
    })
    .onConflict((oc) => oc.columns(["provider", "deployment_name"]).doNothing()),
);

const ofDeployment = compiled((db, p: Param<{ provider: string; deploymentName: string }>) =>
  db
    .selectFrom("hosting_sessions")
    .select(COLUMNS)
    .where("provider", "=", p("provider"))
    .where("deployment_name", "=", p("deploymentName"))
    .$castTo<HostingSessionRow>(),
);

const byId = compiled((db, p: Param<{ guildId: string; id: number }>) =>
  db
    .selectFrom("hosting_sessions")
    .select(COLUMNS)
    .where("guild_id", "=", p("guildId"))
    .where("id", "=", p("id"))
    .$castTo<HostingSessionRow>(),
);

const currentOf = compiled((db, p: Param<{ guildId: string; modelName: string }>) =>
  db
    .selectFrom("hosting_sessions")
    .select(COLUMNS)
    .where("guild_id", "=", p("guildId"))
    .where("model_name", "=", p("modelName"))
    .where("stopped_at", "is", null)
    .orderBy("id", "desc")
    .limit(1)
    .$castTo<HostingSessionRow>(),
);

/** Every guild's open sessions (listOpen without a guild: one query per shape, no untyped NULL parameter). */
const openAll = compiled((db) =>
  db
    .selectFrom("hosting_sessions")
    .select(COLUMNS)
    .where("stopped_at", "is", null)
    .orderBy("id")
    .$castTo<HostingSessionRow>(),
);

const openOf = compiled((db, p: Param<{ guildId: string }>) =>
  db
    .selectFrom("hosting_sessions")
    .select(COLUMNS)
    .where("stopped_at", "is", null)
    .where("guild_id", "=", p("guildId"))
    .orderBy("id")
    .$castTo<HostingSessionRow>(),
);

const between = compiled((db, p: Param<{ guildId: string; from: string; to: string }>) =>
  db
    .selectFrom("hosting_sessions")
    .select(COLUMNS)
    .where("guild_id", "=", p("guildId"))
    .where("started_at", "<", p("to"))
    .where((eb) => eb.or([eb("stopped_at", "is", null), eb("stopped_at", ">", p("from"))]))
    .orderBy("id")
    .$castTo<HostingSessionRow>(),
);

const setReady = compiled((db, p: Param<{ id: number; at: string }>) =>
  db
    .updateTable("hosting_sessions")
    .set((eb) => ({ ready_at: eb.fn.coalesce("ready_at", eb.val(p("at"))) }))
    .where("id", "=", p("id")),
);

const setAsked = compiled((db, p: Param<{ guildId: string; modelName: string; at: string }>) =>
  db
    .updateTable("hosting_sessions")
    .set({ last_asked_at: p("at") })
    .where("guild_id", "=", p("guildId"))
    .where("model_name", "=", p("modelName"))
    .where("stopped_at", "is", null)
    .where("stop_requested_at", "is", null),
);

const setStopRequested = compiled(
  (db, p: Param<{ id: number; reason: StopReason; by: string; at: string }>) =>
    db
      .updateTable("hosting_sessions")
      .set({ stop_reason: p("reason"), stopped_by: p("by"), stop_requested_at: p("at") })
      .where("id", "=", p("id"))
      .where("stop_requested_at", "is", null)
      .where("stopped_at", "is", null),
);

const setStopped = compiled((db, p: Param<{ id: number; at: string; reason: StopReason | null }>) =>
  db
    .updateTable("hosting_sessions")
    .set((eb) => ({
      stopped_at: p("at"),
      stop_error: null,
      stop_reason: eb.fn.coalesce("stop_reason", eb.val(p("reason"))),
      stop_requested_at: eb.fn.coalesce("stop_requested_at", eb.val(p("at"))),
    }))
    .where("id", "=", p("id"))
    .where("stopped_at", "is", null),
);

const addStopFailure = compiled((db, p: Param<{ id: number; error: string }>) =>
  db
    .updateTable("hosting_sessions")
    .set((eb) => ({ stop_attempts: eb("stop_attempts", "+", 1), stop_error: p("error") }))
    .where("id", "=", p("id"))
    .where("stopped_at", "is", null),
);

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
  constructor(private readonly on: Queryable) {}

  /** The same repository over a transaction of its store (store.transaction's `tx`). */
  in(tx: Queryable): HostingRepository {
    return new HostingRepository(tx);
  }

  /** Opens a session for the deployment; a second call for the same deployment returns the first's row. */
  async open(s: NewHostingSession, now: Date): Promise<HostingSessionRow> {
    await insertSession.executeChanges(this.on, {
      guildId: s.guildId,
      modelName: s.modelName,
      provider: s.provider,
      deploymentName: s.deploymentName,
      hardware: s.hardware,
      usdPerHour: s.usdPerHour,
      priceSource: s.priceSource,
      startedBy: s.startedBy,
      at: now.toISOString(),
    });
    const row = await this.byDeployment(s.provider, s.deploymentName);
    if (!row) throw new Error("opened hosting session vanished");
    return row;
  }

  byDeployment(provider: string, deploymentName: string): Promise<HostingSessionRow | undefined> {
    return ofDeployment.executeTakeFirst(this.on, { provider, deploymentName });
  }

  get(guildId: string, id: number): Promise<HostingSessionRow | undefined> {
    return byId.executeTakeFirst(this.on, { guildId, id });
  }

  /** The model's session still billing (no stop confirmed), if any: the newest. */
  current(guildId: string, modelName: string): Promise<HostingSessionRow | undefined> {
    return currentOf.executeTakeFirst(this.on, { guildId, modelName });
  }

  /** Every session still billing (one guild's, or every guild's): what the sweep looks at. */
  listOpen(guildId?: string | undefined): Promise<HostingSessionRow[]> {
    return guildId === undefined ? openAll.execute(this.on, {}) : openOf.execute(this.on, { guildId });
  }

  /** A guild's sessions that billed at any time in [from, to). */
  listBetween(guildId: string, from: Date, to: Date): Promise<HostingSessionRow[]> {
    return between.execute(this.on, { guildId, from: from.toISOString(), to: to.toISOString() });
  }

  /** The guild's billed minutes and cost in [from, to), in all and per model. */
  async usage(guildId: string, from: Date, to: Date): Promise<HostingUsage> {
    const byModel = new Map<string, HostingUsage["byModel"][number]>();
    for (const s of await this.listBetween(guildId, from, to)) {
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

  async markReady(id: number, now: Date): Promise<void> {
    await setReady.executeChanges(this.on, { id, at: now.toISOString() });
  }

  /** /ask used the model: its idle clock starts again. */
  async touch(guildId: string, modelName: string, now: Date): Promise<void> {
    await setAsked.executeChanges(this.on, { guildId, modelName, at: now.toISOString() });
  }

  /** Records why and by whom a stop was asked for, once: false when a stop was already requested. */
  async requestStop(id: number, reason: StopReason, by: string, now: Date): Promise<boolean> {
    return (await setStopRequested.executeChanges(this.on, { id, reason, by, at: now.toISOString() })) === 1;
  }

  /** The provider confirmed the deployment gone: billing ends now. */
  async markStopped(id: number, now: Date, reason?: StopReason | undefined): Promise<void> {
    await setStopped.executeChanges(this.on, { id, at: now.toISOString(), reason: reason ?? null });
  }

  /** A stop the provider did not confirm: counted and kept in words; the sweep tries again. */
  async stopFailed(id: number, error: string): Promise<void> {
    await addStopFailure.executeChanges(this.on, { id, error: error.slice(0, 500) });
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
