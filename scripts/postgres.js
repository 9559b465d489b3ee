// A throwaway PostgreSQL cluster for the test suite (issue 14): scripts/test.js starts one on loopback from the
// machine's own PostgreSQL (initdb into a temporary folder) and stops it when the tests end.
// CLASSTUNE_POSTGRES_BIN=<folder> picks the PostgreSQL bin folder (one holding initdb and postgres); a folder
// without them (e.g. /nonexistent) makes PostgreSQL count as not installed.
import { execFileSync, spawn } from "node:child_process";
import {
  chownSync,
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;
const PORT_ATTEMPTS = 3;
// Test speed, not durability: the cluster is deleted at the end. Every test takes a database of its own and
// some open pools, hence the connections.
const SETTINGS = {
  fsync: "off",
  synchronous_commit: "off",
  full_page_writes: "off",
  max_connections: "300",
};

const hasServer = (bin) => existsSync(join(bin, "initdb")) && existsSync(join(bin, "postgres"));

/** The bin folder of the installed PostgreSQL (holding initdb and postgres), or null when it is not installed. */
export function findPostgres({ env = process.env } = {}) {
  if (env.CLASSTUNE_POSTGRES_BIN)
    return hasServer(env.CLASSTUNE_POSTGRES_BIN) ? env.CLASSTUNE_POSTGRES_BIN : null;
  try {
    const bin = execFileSync("pg_config", ["--bindir"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
    if (hasServer(bin.trim())) return bin.trim();
  } catch {
    // no pg_config on PATH (Debian puts only the client's in /usr/bin): look in the packages' folders
  }
  const root = "/usr/lib/postgresql";
  const majors = existsSync(root) ? readdirSync(root).filter((n) => /^\d+$/.test(n)) : [];
  const best = majors
    .sort((a, b) => Number(b) - Number(a))
    .map((n) => join(root, n, "bin"))
    .find(hasServer);
  return best ?? null;
}

/** The server's major version (e.g. 15), from `postgres --version`. */
export function postgresMajor(bin) {
  const out = execFileSync(join(bin, "postgres"), ["--version"], { encoding: "utf8" });
  const major = /\(PostgreSQL\)\s+(\d+)/.exec(out)?.[1];
  if (!major) throw new Error(`cannot read PostgreSQL's version from: ${out.trim()}`);
  return Number(major);
}

/** initdb and postgres refuse to run as root: as root they run as the `postgres` system user. */
function serverUser() {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const id = (flag) => Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8" }).trim());
    return { uid: id("-u"), gid: id("-g") };
  } catch {
    throw new Error("running as root, and there is no `postgres` system user to run PostgreSQL as");
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function tail(file, lines = 20) {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no server log)";
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs a program to its end, resolving with its exit code and its output (stdout and stderr together); `onSpawn`
 * hears its pid.
 */
function run(file, args, options, onSpawn = () => {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { ...options, stdio: ["ignore", "pipe", "pipe"] });
    if (child.pid) onSpawn(child.pid);
    let output = "";
    child.stdout.on("data", (d) => {
      output += d;
    });
    child.stderr.on("data", (d) => {
      output += d;
    });
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, output }));
  });
}

/**
 * Starts a throwaway cluster on 127.0.0.1 (trust authentication, superuser `classtune`) in a new temporary folder.
 * Resolves with its superuser URL (to the `postgres` database), the folder, and stop() (idempotent: stops the
 * server and removes the folder); null when PostgreSQL is not installed. Rejects, with the server log's tail,
 * when it is installed but does not start. The runner's exit, SIGINT and SIGTERM also stop it.
 */
export async function startPostgres({ log = () => {}, env = process.env } = {}) {
  const bin = findPostgres({ env });
  if (!bin) return null;
  const major = postgresMajor(bin);
  const user = serverUser();
  const dir = mkdtempSync(join(tmpdir(), "classtune-pg-"));
  const data = join(dir, "data");
  const logFile = join(dir, "postgres.log");
  // The server's own programs get the user to run as and a folder it may enter (the caller's may be private).
  const as = { cwd: dir, env: { ...env, LC_ALL: "C" }, ...(user ?? {}) };
  let server;
  const cluster = { url: "", dir, stop: () => stop() };
  // From the folder's first moment (initdb included), it outlives a runner killed outright (see guard).
  const guardian = guard(dir);

  let stopping;
  function stop() {
    stopping ??= (async () => {
      removeHooks();
      if (server && !server.done) {
        server.child.kill("SIGINT"); // fast shutdown
        const timedOut = await Promise.race([
          server.ended.then(() => false),
          sleep(STOP_TIMEOUT_MS).then(() => true),
        ]);
        if (timedOut) {
          server.child.kill("SIGKILL");
          await server.ended;
        }
      }
      rmSync(dir, { recursive: true, force: true });
      guardian.dismiss();
    })();
    return stopping;
  }
  // The runner's end: exit handlers run no more callbacks, so this one waits synchronously.
  function stopNow() {
    removeHooks();
    if (server && !server.done) {
      server.child.kill("SIGINT");
      // The postmaster removes postmaster.pid as its last step (this process cannot reap it from here).
      const pidFile = join(data, "postmaster.pid");
      const wait = new Int32Array(new SharedArrayBuffer(4));
      for (let waited = 0; existsSync(pidFile) && waited < STOP_TIMEOUT_MS; waited += 50)
        Atomics.wait(wait, 0, 0, 50);
      if (existsSync(pidFile)) server.child.kill("SIGKILL");
    }
    rmSync(dir, { recursive: true, force: true });
    guardian.dismiss();
  }
  function onSignal(signal) {
    stop().finally(() => {
      // Ours was the only handler: end as the signal would have without it.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  }
  function removeHooks() {
    process.off("exit", stopNow);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  process.on("exit", stopNow);
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  try {
    if (user) chownSync(dir, user.uid, user.gid);
    const initArgs = ["-D", data, "-A", "trust", "-U", "classtune", "-E", "UTF8", "--locale=C", "--no-sync"];
    if (major >= 15) initArgs.push("--no-instructions");
    const init = await run(join(bin, "initdb"), initArgs, as, guardian.watch);
    if (init.code !== 0) throw new Error(`initdb failed (exit ${init.code}):\n${init.output.trim()}`);

    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const settings = Object.entries(SETTINGS).flatMap(([k, v]) => ["-c", `${k}=${v}`]);
      const out = openSync(logFile, "a");
      const args = ["-D", data, "-k", dir, "-h", "127.0.0.1", "-p", String(port), ...settings];
      server = spawnServer(join(bin, "postgres"), args, { ...as, stdio: ["ignore", out, out] });
      if (server.child.pid) guardian.watch(server.child.pid);
      closeSync(out);
      const state = await ready(bin, port, server, as);
      if (state === "ready") {
        cluster.url = `postgres://classtune@127.0.0.1:${port}/postgres`;
        log(`PostgreSQL ${major} started on 127.0.0.1:${port} (${dir})`);
        return cluster;
      }
      // Another program took the port between our look and the server's bind: try another one.
      const clash = /could not bind|could not create any TCP\/IP sockets/.test(tail(logFile));
      if (state === "exited" && clash && attempt < PORT_ATTEMPTS) continue;
      throw new Error(
        state === "exited"
          ? `postgres exited before accepting connections:\n${tail(logFile)}`
          : `postgres did not accept connections within ${START_TIMEOUT_MS / 1000} s:\n${tail(logFile)}`,
      );
    }
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Waits until the server accepts connections ("ready"), ends ("exited") or the start timeout passes ("timeout"). */
async function ready(bin, port, server, as) {
  const deadline = Date.now() + START_TIMEOUT_MS;
  const isready = existsSync(join(bin, "pg_isready")) ? join(bin, "pg_isready") : "pg_isready";
  const args = ["-q", "-h", "127.0.0.1", "-p", String(port), "-U", "classtune", "-d", "postgres"];
  const ended = server.ended.then(() => "exited");
  while (Date.now() < deadline && !server.done) {
    const probe = run(isready, args, { env: as.env }).then(({ code }) => (code === 0 ? "ready" : "not yet"));
    const state = await Promise.race([probe, ended]);
    if (state !== "not yet") return state;
    await sleep(50);
  }
  return server.done ? "exited" : "timeout";
}

/** Spawns the postmaster; `ended` settles (and `done` turns true) when it exits or cannot be spawned. */
function spawnServer(file, args, options) {
  const child = spawn(file, args, options);
  const server = { child, done: false, ended: Promise.resolve() };
  server.ended = new Promise((resolve) => {
    const end = () => {
      server.done = true;
      resolve();
    };
    child.once("exit", end);
    child.once("error", end);
  });
  return server;
}

// Each line read is the pid of the program now working in the folder (initdb, then the postmaster). At the end of
// its input it interrupts the last one (initdb stops and cleans up; postgres shuts down fast), waits for it to end
// (the postmaster removes postmaster.pid last), at most 10 s, and removes the folder.
const GUARDIAN = `pid=
while read -r next; do pid=$next; done
[ -n "$pid" ] && kill -INT "$pid" 2>/dev/null
n=0
while { [ -e "$1/data/postmaster.pid" ] || { [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }; } && [ $n -lt 100 ]; do
  sleep 0.1; n=$((n + 1))
done
rm -rf "$1"`;

/**
 * A guardian shell for the cluster's folder, for a runner killed outright (SIGKILL, which no handler sees): its
 * stdin, a pipe from the runner, ends with the runner, and it then stops what runs in the folder and removes it.
 * watch(pid) names the program now running there; dismiss() ends the guardian once the runner has cleaned up itself
 * (so it never signals a pid that may since have been reused).
 */
function guard(dir) {
  const guardian = spawn("sh", ["-c", GUARDIAN, "classtune-postgres-guardian", dir], {
    detached: true, // a kill of the runner's whole process group spares it
    stdio: ["pipe", "ignore", "ignore"],
  });
  guardian.on("error", () => {}); // no sh: the runner's own hooks still stop the server
  guardian.unref();
  guardian.stdin.on("error", () => {});
  guardian.stdin.unref();
  return {
    watch: (pid) => guardian.stdin.write(`${pid}\n`),
    dismiss: () => guardian.kill("SIGKILL"),
  };
}
