// `npm run bench -- store [--quick] [--postgres URL]`: what the query layer costs per /ask question (issue 14). The
// database work of one question (bench/store-sequence.ts: 9 statements, the last 5 in one transaction, over a
// database migrated with the real SQLite migrations and seeded so every read finds its row) runs through:
//   SQLite      (a) today's repositories (better-sqlite3, synchronous)
//               (b) Kysely 0.28, SqliteDialect, each statement built and compiled per call (as repositories would be)
//               (b+) the same over a statement cache (Kysely's driver prepares every statement on every call)
//               (b') the same Kysely code compiled once, over the statement cache
//   PostgreSQL  (c) the same Kysely code, PostgresDialect over a pg.Pool, and (c') compiled once
//               (d) node-postgres with hand-written SQL as named (server-side prepared) statements
// Per question: this process's CPU time (process.cpuUsage, user + system: the bars are in CPU time), wall
// latency p50/p99, and for PostgreSQL the server backends' CPU (/proc/<pid>/stat of the pool's backends; the server
// must run on this machine). One question at a time, and IN_FLIGHT at once (they interleave where the real question
// waits on the network). Medians over rounds; the layers take turns within a round. PostgreSQL from --postgres URL
// or CLASSTUNE_BENCH_POSTGRES_URL (the bench makes schemas of its own there and drops them); without, its rows are
// skipped with a notice.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import {
  DummyDriver,
  Kysely,
  PostgresAdapter,
  PostgresDialect,
  PostgresIntrospector,
  PostgresQueryCompiler,
  SqliteAdapter,
  type SqliteDatabase,
  SqliteDialect,
  SqliteIntrospector,
  SqliteQueryCompiler,
} from "kysely";
import pg from "pg";
import { startPostgres } from "../scripts/postgres.js";
import { type Db, openDb } from "../src/db/open.ts";
import { namedStatements } from "../src/db/query/namedStatements.ts";
import { keptStatements } from "../src/db/query/store.ts";
import { median, pct } from "./stats.ts";
import {
  buildEachTime,
  compiledOnce,
  kyselyQuestion,
  kyselyStatements,
  POSTGRES_STAND_IN_DDL,
  type Question,
  questionFor,
  type Runner,
  rawPgQuestion,
  repositoryQuestion,
  type StatementName,
  type StoreSchema,
  seed,
  seedSqliteJobs,
} from "./store-sequence.ts";

const IN_FLIGHT = 16;
/** Connections per pool: fewer than IN_FLIGHT, as a bot's pool would be. */
const POOL_MAX = 8;
const STATEMENTS_PER_QUESTION = 9;

export interface Layer {
  name: string;
  engine: "SQLite" | "PostgreSQL";
  ask: (q: Question) => Promise<number>;
  /** The server processes doing this layer's work (PostgreSQL backends); none for SQLite. */
  backends: number[];
  close(): Promise<void>;
}

export interface PhaseResult {
  cpuUs: number;
  p50Ms: number;
  p99Ms: number;
  qps: number;
  /** Server CPU per question (PostgreSQL backends); undefined for SQLite. */
  serverUs: number | undefined;
}

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of these processes, in µs (Linux /proc; their ticks are 1/CLK_TCK s). */
function processCpuUs(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return (ticks * 1e6) / CLOCK_TICKS;
}

/** Questions [from, from + n) through the layer, `inFlight` at a time. */
export async function runPhase(
  layer: Layer,
  from: number,
  n: number,
  inFlight: number,
): Promise<PhaseResult> {
  const latencies: number[] = [];
  const server0 = layer.backends.length > 0 ? processCpuUs(layer.backends) : 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < n) {
        const i = from + next++;
        const t = performance.now();
        const answerId = await layer.ask(questionFor(i));
        latencies.push(performance.now() - t);
        if (!Number.isInteger(answerId) || answerId < 1) throw new Error(`${layer.name}: no answer id`);
      }
    }),
  );
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const serverUs = layer.backends.length > 0 ? (processCpuUs(layer.backends) - server0) / n : undefined;
  latencies.sort((a, b) => a - b);
  return {
    cpuUs: (cpu.user + cpu.system) / n,
    p50Ms: pct(latencies, 0.5),
    p99Ms: pct(latencies, 0.99),
    qps: n / (wallMs / 1000),
    serverUs,
  };
}

function sqliteLayers(dir: string): Layer[] {
  const open = async (name: string) => {
    const db = openDb(join(dir, `${name.replace(/\W+/g, "-")}.db`));
    seedSqliteJobs(db);
    // A Kysely only for the seed; destroying it would close the database.
    await seed(new Kysely<StoreSchema>({ dialect: new SqliteDialect({ database: db }) }));
    return db;
  };
  const kysely = (name: string, database: (db: Db) => SqliteDatabase, run: Runner): Layer => {
    let k: Kysely<StoreSchema> | undefined;
    let ask: Layer["ask"] | undefined;
    return {
      name,
      engine: "SQLite",
      backends: [],
      ask: async (q) => {
        if (!ask) {
          k = new Kysely<StoreSchema>({
            dialect: new SqliteDialect({ database: database(await open(name)) }),
          });
          ask = kyselyQuestion(k, run);
        }
        return ask(q);
      },
      close: async () => k?.destroy(),
    };
  };
  let raw: Db | undefined;
  let rawAsk: Layer["ask"] | undefined;
  return [
    {
      name: "(a) today: repositories, better-sqlite3",
      engine: "SQLite",
      backends: [],
      ask: async (q) => {
        if (!rawAsk) {
          raw = await open("raw");
          rawAsk = repositoryQuestion(raw);
        }
        return rawAsk(q);
      },
      close: async () => {
        raw?.close();
      },
    },
    kysely("(b) Kysely, SqliteDialect", (db) => db as unknown as SqliteDatabase, buildEachTime),
    kysely("(b+) Kysely + stmt cache", keptStatements, buildEachTime),
    kysely("(b') Kysely compiled once + stmt cache", keptStatements, compiledOnce()),
  ];
}

interface PostgresLayerSpec {
  name: string;
  schema: string;
  make: (pool: pg.Pool) => { ask: Layer["ask"]; close: () => Promise<void> };
}

async function postgresLayer(url: string, spec: PostgresLayerSpec): Promise<Layer> {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await admin.query(`DROP SCHEMA IF EXISTS ${spec.schema} CASCADE`);
    await admin.query(`CREATE SCHEMA ${spec.schema}`);
    await admin.query(`SET search_path = ${spec.schema}`);
    await admin.query(POSTGRES_STAND_IN_DDL);
  } finally {
    await admin.end();
  }
  const pool = new pg.Pool({
    connectionString: url,
    max: POOL_MAX,
    idleTimeoutMillis: 0,
    options: `-c search_path=${spec.schema}`,
  });
  // Open every connection now, so the backends measured are all the pool will use.
  const clients = await Promise.all(Array.from({ length: POOL_MAX }, () => pool.connect()));
  const backends = await Promise.all(
    clients.map(
      async (c) => (await c.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]?.pid ?? 0,
    ),
  );
  for (const c of clients) c.release();
  await seed(new Kysely<StoreSchema>({ dialect: new PostgresDialect({ pool }) }));
  const { ask, close } = spec.make(pool);
  return {
    name: spec.name,
    engine: "PostgreSQL",
    backends,
    ask,
    async close() {
      await close();
      const end = new pg.Client({ connectionString: url });
      await end.connect();
      await end.query(`DROP SCHEMA IF EXISTS ${spec.schema} CASCADE`).finally(() => end.end());
    },
  };
}

function postgresLayers(url: string): Promise<Layer>[] {
  const viaKysely =
    (run: Runner, named = false) =>
    (pool: pg.Pool) => {
      const k = new Kysely<StoreSchema>({
        dialect: new PostgresDialect({ pool: named ? namedStatements(pool) : pool }),
      });
      return { ask: kyselyQuestion(k, run), close: () => k.destroy() };
    };
  return [
    postgresLayer(url, {
      name: "(c) Kysely, PostgresDialect",
      schema: "classtune_store_bench_kysely",
      make: viaKysely(buildEachTime),
    }),
    postgresLayer(url, {
      name: "(c') Kysely compiled once",
      schema: "classtune_store_bench_compiled",
      make: viaKysely(compiledOnce()),
    }),
    postgresLayer(url, {
      name: "(c'') Kysely compiled once + named stmts",
      schema: "classtune_store_bench_named",
      make: viaKysely(compiledOnce(), true),
    }),
    postgresLayer(url, {
      name: "(d) raw pg, named statements",
      schema: "classtune_store_bench_raw",
      make: (pool) => ({ ask: rawPgQuestion(pool), close: () => pool.end() }),
    }),
  ];
}

/**
 * Kysely's own cost per statement, without a database: the builder and the compiler (what compiling once saves),
 * µs of CPU per statement, averaged over the question's statements (each weighted by how often a question runs it).
 */
export function buildCostUs(iterations: number): { sqlite: number; postgres: number } {
  const cold = (engine: "sqlite" | "postgres") =>
    new Kysely<StoreSchema>({
      dialect: {
        createAdapter: () => (engine === "sqlite" ? new SqliteAdapter() : new PostgresAdapter()),
        createDriver: () => new DummyDriver(),
        createIntrospector: (db) =>
          engine === "sqlite" ? new SqliteIntrospector(db) : new PostgresIntrospector(db),
        createQueryCompiler: () =>
          engine === "sqlite" ? new SqliteQueryCompiler() : new PostgresQueryCompiler(),
      },
    });
  const q = questionFor(0);
  const p = {
    ...q,
    now: null,
    model: "m",
    since: "2026-01-01T00:00:00.000Z",
    systemPrompt: "s",
    public: 1,
    createdAt: "2026-01-01T00:00:00.000Z",
    moderation: "passed",
    withheld: 0,
    parentId: null,
    provider: "openai",
    promptTokens: 1,
    completionTokens: 1,
    latencyMs: 1,
    costUsd: 0.1,
    cacheHit: 0,
    error: null,
    truncated: 0,
    at: "2026-01-01T00:00:00.000Z",
    answerId: 1,
    target: "answer",
    outcome: "passed",
    categories: "[]",
    topCategory: null,
    topScore: null,
    severe: 0,
    flaggedText: null,
  };
  // How often one question runs each statement (bench/store-sequence.ts).
  const uses: Record<StatementName, number> = {
    channel: 1,
    guild: 1,
    model: 1,
    spent: 1,
    answer: 1,
    usage: 1,
    touch: 1,
    verdict: 2,
  };
  const measure = (db: Kysely<StoreSchema>) => {
    let total = 0;
    for (const [name, n] of Object.entries(uses) as [StatementName, number][]) {
      const build = kyselyStatements[name];
      for (let i = 0; i < 200; i++) build(db, p).compile();
      const t = process.cpuUsage();
      for (let i = 0; i < iterations; i++) build(db, p).compile();
      const c = process.cpuUsage(t);
      total += ((c.user + c.system) / iterations) * n;
    }
    return total / STATEMENTS_PER_QUESTION;
  };
  return { sqlite: measure(cold("sqlite")), postgres: measure(cold("postgres")) };
}

/**
 * Where the PostgreSQL server comes from: --postgres=URL, else CLASSTUNE_BENCH_POSTGRES_URL (a bench's own input, read
 * here as bench/validate.ts reads its environment), else a throwaway cluster (scripts/postgres.js) unless
 * --no-postgres, else none.
 */
async function postgresServer(
  args: string[],
): Promise<{ url: string; stop?: () => Promise<void> } | undefined> {
  const flag = args.find((a) => a.startsWith("--postgres="))?.slice("--postgres=".length);
  const url = flag || process.env.CLASSTUNE_BENCH_POSTGRES_URL || undefined;
  if (url) return { url };
  if (args.includes("--no-postgres")) return undefined;
  // Else a throwaway cluster from the machine's PostgreSQL, as npm test starts one (fsync off: commit latency is
  // understated, CPU barely changes).
  const started = await startPostgres();
  return started ? { url: started.url, stop: started.stop } : undefined;
}

const f1 = (x: number) => x.toFixed(1);
const f2 = (x: number) => x.toFixed(2);

export async function main(args: string[] = []): Promise<void> {
  const quick = args.includes("--quick");
  const rounds = quick ? 2 : 5;
  const perPhase = quick ? 150 : 1000;
  const warmUp = quick ? 50 : 200;
  const load = loadavg();
  const cpu = cpus();
  const server = await postgresServer(args);
  const dir = mkdtempSync(join(tmpdir(), "classtune-bench-store-"));
  const layers: Layer[] = sqliteLayers(dir);
  let serverLine = "PostgreSQL: skipped (--no-postgres, or PostgreSQL is not installed): SQLite rows only";
  try {
    if (server) {
      const probe = new pg.Client({ connectionString: server.url });
      await probe.connect();
      const settings = await probe
        .query<{ v: string; sc: string; fs: string }>(
          "SELECT version() AS v, current_setting('synchronous_commit') AS sc, current_setting('fsync') AS fs",
        )
        .finally(() => probe.end());
      const s = settings.rows[0];
      serverLine = `PostgreSQL: ${s?.v.split(" on ")[0] ?? "?"} on this machine (synchronous_commit=${s?.sc}, fsync=${s?.fs}); pool of ${POOL_MAX}; DDL: the bench's stand-in`;
      for (const l of postgresLayers(server.url)) layers.push(await l);
    }
    process.stdout.write(
      [
        `machine: ${cpu.length} cores (${cpu[0]?.model.trim() ?? "unknown"}), node ${process.version}, ${process.platform}, load average at start ${load.map(f2).join(" ")}`,
        `SQLite: better-sqlite3 file database, WAL, synchronous=NORMAL (src/db/open.ts, real migrations)`,
        serverLine,
        `one question: ${STATEMENTS_PER_QUESTION} statements (4 reads, then 5 in one transaction); ${rounds} rounds × ${perPhase} questions per phase, after ${warmUp} warm-up; medians over rounds`,
        "",
      ].join("\n"),
    );

    let next = 0;
    const take = (n: number) => {
      const from = next;
      next += n;
      return from;
    };
    for (const l of layers) await runPhase(l, take(warmUp), warmUp, 1);
    const results = new Map<Layer, { seq: PhaseResult[]; conc: PhaseResult[] }>(
      layers.map((l) => [l, { seq: [], conc: [] }]),
    );
    for (let r = 0; r < rounds; r++) {
      for (const l of layers) {
        const mine = results.get(l);
        mine?.seq.push(await runPhase(l, take(perPhase), perPhase, 1));
        mine?.conc.push(await runPhase(l, take(perPhase), perPhase, IN_FLIGHT));
      }
    }

    const m = (xs: PhaseResult[], k: keyof PhaseResult) => median(xs.map((x) => x[k] ?? 0));
    const rows = layers.map((l) => {
      const { seq, conc } = results.get(l) ?? { seq: [], conc: [] };
      const server = l.backends.length > 0;
      return {
        layer: l,
        seqCpu: m(seq, "cpuUs"),
        concCpu: m(conc, "cpuUs"),
        seqServer: server ? m(seq, "serverUs") : undefined,
        concServer: server ? m(conc, "serverUs") : undefined,
        cells: [
          l.name,
          f1(m(seq, "cpuUs")),
          `${f2(m(seq, "p50Ms"))} / ${f2(m(seq, "p99Ms"))}`,
          server ? f1(m(seq, "serverUs")) : "–",
          f1(m(conc, "cpuUs")),
          `${f2(m(conc, "p50Ms"))} / ${f2(m(conc, "p99Ms"))}`,
          m(conc, "qps").toFixed(0),
          server ? f1(m(conc, "serverUs")) : "–",
        ],
      };
    });
    const header = [
      "layer",
      "CPU µs/q",
      "p50 / p99 ms",
      "server µs/q",
      `CPU µs/q`,
      "p50 / p99 ms",
      "q/s",
      "server µs/q",
    ];
    const table = [header, ...rows.map((r) => r.cells)];
    const widths = header.map((_, i) => Math.max(...table.map((row) => (row[i] ?? "").length)));
    const line = (row: string[]) =>
      row.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("  ");
    const seqWidth = widths.slice(1, 4).reduce((a, b) => a + b + 2, -2);
    process.stdout.write(
      [
        `${"".padEnd(widths[0] ?? 0)}  ${"one at a time".padEnd(seqWidth)}  ${IN_FLIGHT} in flight`,
        line(header),
        ...table.slice(1).map(line),
        "",
      ].join("\n"),
    );

    const build = buildCostUs(quick ? 2000 : 20000);
    process.stdout.write(
      `Kysely's builder + compiler alone (no database): ${f1(build.sqlite)} µs per statement (SQLite), ${f1(build.postgres)} µs (PostgreSQL); ${f1(build.sqlite * STATEMENTS_PER_QUESTION)} µs per question\n`,
    );

    const byName = (prefix: string) => rows.find((r) => r.layer.name.startsWith(`${prefix} `));
    const [a, b, b2, c, c2, c3, d] = ["(a)", "(b)", "(b')", "(c)", "(c')", "(c'')", "(d)"].map(byName);
    const ratio = (x: number | undefined, y: number | undefined) =>
      x !== undefined && y !== undefined && y > 0 ? `${f2(x / y)}×` : "–";
    const cheapest = (...xs: (typeof a)[]) =>
      xs.filter((x) => x !== undefined).sort((x, y) => (x?.seqCpu ?? 0) - (y?.seqCpu ?? 0))[0];
    const parts: string[] = [];
    if (a && b) {
      parts.push(
        `Kysely/raw on SQLite ${ratio(b.seqCpu, a.seqCpu)} CPU (+${f1((b.seqCpu - a.seqCpu) / STATEMENTS_PER_QUESTION)} µs a statement); compiled once + statement cache ${ratio(b2?.seqCpu, a.seqCpu)}`,
      );
    }
    if (a && b && c) {
      const bar = c.seqCpu <= 1.5 * b.seqCpu && c.concCpu <= 1.5 * b.concCpu;
      const pgBest = cheapest(c, c2, c3, d);
      const sqliteBest = cheapest(a, b, b2);
      const added = (pgBest?.seqCpu ?? 0) - a.seqCpu;
      parts.push(
        `PostgreSQL/SQLite via Kysely ${ratio(c.seqCpu, b.seqCpu)} one at a time, ${ratio(c.concCpu, b.concCpu)} ${IN_FLIGHT} in flight (1.5× ${bar ? "holds" : "FAILS"} on this ratio)`,
        `against SQLite today ${ratio(c.seqCpu, a.seqCpu)}; cheapest PostgreSQL (${pgBest?.layer.name.split(" ")[0]}) over cheapest SQLite (${sqliteBest?.layer.name.split(" ")[0]}) ${ratio(pgBest?.seqCpu, sqliteBest?.seqCpu)}, with the server's CPU ${ratio((pgBest?.seqCpu ?? 0) + (pgBest?.seqServer ?? 0), sqliteBest?.seqCpu)}`,
        `so PostgreSQL adds ≥ ${f1(added)} µs of bot CPU per question over today: a whole question stays within 1.5× only if the rest of it costs ≥ ${f1(2 * added)} µs`,
      );
    } else {
      parts.push("PostgreSQL skipped: the 1.5× bar not measured");
    }
    process.stdout.write(`verdict: ${parts.join(";\n  ")}\n`);
  } finally {
    for (const l of layers) await l.close();
    await server?.stop?.();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main(process.argv.slice(2));
