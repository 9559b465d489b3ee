// The suite's PostgreSQL (issue 14): scripts/test.js starts a throwaway cluster (scripts/postgres.js) and passes its
// URL on, skips the PostgreSQL half only with a loud notice when PostgreSQL is not installed, and fails when it is
// installed but does not start; test/helpers/postgres.ts gives each test an empty database of its own.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { findPostgres, postgresMajor, startPostgres } from "../../scripts/postgres.js";
import { freshPostgresDatabase, postgresUrl, skipWithoutPostgres } from "../helpers/postgres.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const bin = findPostgres();
const skipWithoutInstall = bin ? false : "PostgreSQL is not installed here (scripts/test.js printed why)";

async function query<T extends pg.QueryResultRow>(
  url: string,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

describe("the runner's PostgreSQL", () => {
  it("is running for this very run whenever PostgreSQL is installed", {
    skip: skipWithoutInstall,
  }, async () => {
    assert.ok(
      postgresUrl,
      "scripts/test.js did not pass CLASSTUNE_TEST_POSTGRES_URL although PostgreSQL is installed",
    );
    const [row] = await query<{ rolsuper: boolean }>(
      postgresUrl,
      "SELECT rolsuper FROM pg_roles WHERE rolname = current_user",
    );
    assert.equal(row?.rolsuper, true, "the URL is a superuser's");
  });
});

describe("startPostgres", { skip: skipWithoutInstall, concurrency: true }, () => {
  it("starts a cluster of its own on loopback, and stop() stops it and removes its folder", async () => {
    const cluster = await startPostgres();
    assert.ok(cluster);
    const port = Number(new URL(cluster.url).port);
    try {
      const [row] = await query<{ listen: string; version: string; fsync: string; connections: string }>(
        cluster.url,
        `SELECT current_setting('listen_addresses') AS listen, current_setting('server_version') AS version,
                current_setting('fsync') AS fsync, current_setting('max_connections') AS connections`,
      );
      assert.equal(row?.listen, "127.0.0.1");
      assert.ok(row?.version.startsWith(`${postgresMajor(bin as string)}.`), row?.version);
      assert.deepEqual([row?.fsync, row?.connections], ["off", "300"]);
      assert.notEqual(cluster.url, postgresUrl, "a second cluster, not the runner's");
      assert.ok(existsSync(cluster.dir));
    } finally {
      await cluster.stop();
    }
    assert.equal(existsSync(cluster.dir), false, "the folder is removed");
    assert.equal(await accepts(port), false, "nothing listens on its port any more");
    await cluster.stop(); // twice is fine
  });

  // A process that starts a cluster, reports it, and waits to be killed.
  const HOLDER = `import { startPostgres } from ${JSON.stringify(new URL("../../scripts/postgres.js", import.meta.url).href)};
const { url, dir } = await startPostgres();
console.log(JSON.stringify({ url, dir }));
setInterval(() => {}, 1000);`;

  for (const signal of ["SIGTERM", "SIGKILL"] as const) {
    it(`leaves no server or folder behind when its process is killed with ${signal}`, async () => {
      const holder = spawn(process.execPath, ["--input-type=module", "-e", HOLDER], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      const [line] = await new Promise<string[]>((resolve) =>
        holder.stdout.once("data", (d: Buffer) => resolve(d.toString().split("\n"))),
      );
      const { url, dir } = JSON.parse(line as string) as { url: string; dir: string };
      const port = Number(new URL(url).port);
      assert.equal(await accepts(port), true);
      const exited = new Promise((resolve) => holder.once("exit", (_code, sig) => resolve(sig)));
      holder.kill(signal);
      assert.equal(await exited, signal, "it ends as the signal ends it");
      // After SIGKILL the guardian stops the server: give it its time.
      for (let waited = 0; (existsSync(dir) || (await accepts(port))) && waited < 15_000; waited += 100)
        await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(existsSync(dir), false, "the folder is removed");
      assert.equal(await accepts(port), false, "the server is stopped");
    });
  }

  it("leaves no folder or program behind when its process is killed with SIGKILL during initdb", async () => {
    // A temporary folder of this test's own, so the cluster's folder is found there (readable by the server's user).
    const tmp = mkdtempSync(join(tmpdir(), "classtune-pg-initdb-"));
    chmodSync(tmp, 0o755);
    after(() => rmSync(tmp, { recursive: true, force: true }));
    const holder = spawn(process.execPath, ["--input-type=module", "-e", HOLDER], {
      stdio: ["ignore", "ignore", "inherit"],
      env: { ...process.env, TMPDIR: tmp },
    });
    const exited = new Promise((resolve) => holder.once("exit", (_code, sig) => resolve(sig)));
    // initdb has begun writing the cluster: its data folder is there, the server not yet.
    let cluster: string | undefined;
    for (let waited = 0; !cluster && waited < 15_000; waited += 5) {
      cluster = readdirSync(tmp)
        .map((name) => join(tmp, name))
        .find((d) => existsSync(join(d, "data")));
      if (!cluster) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assert.ok(cluster, "initdb started");
    assert.equal(
      existsSync(join(cluster, "data", "postmaster.pid")),
      false,
      "killed before the server started",
    );
    holder.kill("SIGKILL");
    assert.equal(await exited, "SIGKILL");
    const running = (): string[] =>
      readdirSync("/proc")
        .filter((pid) => /^\d+$/.test(pid))
        .filter((pid) => {
          try {
            return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(cluster as string);
          } catch {
            return false;
          }
        });
    for (let waited = 0; (existsSync(cluster) || running().length > 0) && waited < 15_000; waited += 100)
      await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(existsSync(cluster), false, "the folder is removed");
    assert.deepEqual(running(), [], "no initdb (or server) still runs on it");
  });

  it("is null when PostgreSQL is not installed (CLASSTUNE_POSTGRES_BIN names a folder without it)", async () => {
    const env = { ...process.env, CLASSTUNE_POSTGRES_BIN: "/nonexistent" };
    assert.equal(findPostgres({ env }), null);
    assert.equal(await startPostgres({ env }), null);
  });
});

describe("freshPostgresDatabase", { skip: skipWithoutPostgres }, () => {
  const taken: string[] = [];
  const exists = async (name: string) =>
    (await query(postgresUrl as string, "SELECT 1 FROM pg_database WHERE datname = $1", [name])).length > 0;
  const tablesIn = async (url: string) =>
    (await query(url, "SELECT 1 FROM information_schema.tables WHERE table_schema = 'public'")).length;

  async function take(t: Parameters<typeof freshPostgresDatabase>[0]): Promise<string> {
    const url = await freshPostgresDatabase(t);
    const [row] = await query<{ name: string }>(url, "SELECT current_database() AS name");
    assert.ok(row);
    taken.push(row.name);
    return url;
  }

  it("gives a test an empty database of its own", async (t) => {
    const url = await take(t);
    assert.equal(await tablesIn(url), 0);
    await query(url, "CREATE TABLE left_behind (id integer)");
    assert.equal(await tablesIn(url), 1);
  });

  it("gives the next test another empty one, the first having been dropped when its test ended", async (t) => {
    const url = await take(t);
    assert.notEqual(taken[1], taken[0]);
    assert.equal(await tablesIn(url), 0);
    assert.equal(await exists(taken[0] as string), false);
    assert.equal(await exists(taken[1] as string), true);
  });

  after(async () => {
    assert.equal(taken.length, 2);
    assert.equal(await exists(taken[1] as string), false, "the second database is dropped after its test");
  });
});

describe("scripts/test.js", { concurrency: true }, () => {
  // A project of its own (test/*.test.ts) for the runner to run: the fixtures report what they were given.
  const dir = mkdtempSync(join(tmpdir(), "classtune-runner-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, "test"));
  writeFileSync(join(dir, "package.json"), '{ "type": "module" }\n');
  writeFileSync(
    join(dir, "test", "passes.test.ts"),
    [
      'import { connect } from "node:net";',
      'import { it } from "node:test";',
      'it("reports the URL it was given", async () => {',
      "  const url = process.env.CLASSTUNE_TEST_POSTGRES_URL;",
      "  const listening = url",
      "    ? await new Promise((resolve) => {",
      '        const socket = connect(Number(new URL(url).port), "127.0.0.1");',
      '        socket.once("connect", () => (socket.destroy(), resolve(true)));',
      '        socket.once("error", () => resolve(false));',
      "      })",
      "    : false;",
      '  console.log("FIXTURE " + JSON.stringify({ url: url ?? null, listening }));',
      "});",
      "",
    ].join("\n"),
  );
  writeFileSync(
    join(dir, "test", "fails.test.ts"),
    'import { it } from "node:test";\nit("fails", () => { throw 1; });\n',
  );

  function runner(filter: string, env: Record<string, string>) {
    // Not this process's environment: it holds our own runner's URL, and node --test's context for its children.
    const child = spawn(process.execPath, [join(ROOT, "scripts", "test.js"), filter], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? "", ...env },
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      err += d;
    });
    return new Promise<{
      code: number | null;
      err: string;
      seen: { url: string | null; listening: boolean } | null;
    }>((resolve) =>
      child.on("close", (code) => {
        const seen = /FIXTURE (\{.*\})/.exec(out)?.[1];
        resolve({ code, err, seen: seen ? JSON.parse(seen) : null });
      }),
    );
  }
  const NOTICE = /PostgreSQL is not installed: the PostgreSQL half of the suite was SKIPPED/g;

  it("without PostgreSQL, runs the rest and says so loudly, before and after", async () => {
    const r = await runner("passes", { CLASSTUNE_POSTGRES_BIN: "/nonexistent" });
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(r.seen, { url: null, listening: false });
    assert.equal(r.err.match(NOTICE)?.length, 2, r.err);
    assert.match(r.err, /install postgresql-15/);
  });

  it("keeps the tests' exit code", async () => {
    const r = await runner("fails", { CLASSTUNE_POSTGRES_BIN: "/nonexistent" });
    assert.equal(r.code, 1);
  });

  it("uses the server CLASSTUNE_TEST_POSTGRES_URL names, when set, without a notice", async () => {
    const url = "postgres://someone@127.0.0.1:9/postgres";
    const r = await runner("passes", {
      CLASSTUNE_POSTGRES_BIN: "/nonexistent",
      CLASSTUNE_TEST_POSTGRES_URL: url,
    });
    assert.equal(r.code, 0, r.err);
    assert.equal(r.seen?.url, url);
    assert.doesNotMatch(r.err, NOTICE);
  });

  it("fails, saying why, when PostgreSQL is installed but does not start", async () => {
    // A bin folder whose initdb fails: installed (it holds initdb and postgres), but broken.
    const broken = join(dir, "broken-bin");
    mkdirSync(broken);
    chmodSync(dir, 0o755); // as root the server's programs run as the postgres user
    writeFileSync(join(broken, "initdb"), "#!/bin/sh\necho 'initdb: disk on fire' >&2\nexit 1\n", {
      mode: 0o755,
    });
    writeFileSync(join(broken, "postgres"), "#!/bin/sh\necho 'postgres (PostgreSQL) 15.0'\n", {
      mode: 0o755,
    });
    const r = await runner("passes", { CLASSTUNE_POSTGRES_BIN: broken });
    assert.equal(r.code, 1);
    assert.match(r.err, /PostgreSQL is installed but did not start/);
    assert.match(r.err, /disk on fire/);
    assert.equal(r.seen, null, "the tests did not run");
    assert.doesNotMatch(r.err, NOTICE);
  });

  it("starts a cluster for the tests and stops it when they end", { skip: skipWithoutInstall }, async () => {
    const r = await runner("passes", {});
    assert.equal(r.code, 0, r.err);
    assert.ok(r.seen?.url, "the tests were given a URL");
    assert.equal(r.seen.listening, true, "the server was up during the tests");
    assert.notEqual(r.seen.url, postgresUrl);
    assert.equal(await accepts(Number(new URL(r.seen.url).port)), false, "and is stopped after them");
  });
});
