// The temporary files of dataset uploads and validations, named here, and the start-up sweep of the ones a
// killed process left behind (SIGKILL, out of memory, power loss: no `finally` ran to remove them).
//
// Which leftovers go. Each name carries the pid of the process that made it. A file is removed when that
// process is gone: no process has the pid, or the pid is this process's and the file is older than this
// process (in a container the bot has the same pid on every start). A file of a running pid is kept, since
// another classtune process sharing DATA_DIR or TMPDIR (a CLI next to the bot, a second bot) may be using
// it, until it is older than STALE_TEMP_AGE_MS: no download or validation lasts that long, so by then its
// pid belongs to some other process. Names without a pid (older versions, exports) go by age only.
import { lstat, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Logger } from "../logger.ts";

/** A temporary file older than this is a leftover whatever its pid. */
export const STALE_TEMP_AGE_MS = 24 * 60 * 60 * 1000;

/** A private directory in $TMPDIR for one downloaded attachment. */
export function makeUploadDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), `classtune-upload-${process.pid}-`));
}

/** Where the validator writes a cleaned file, inside DATA_DIR/datasets, until it is kept or dropped. */
export function cleaningScratchPath(datasetsDir: string): string {
  const unique = `${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  return join(datasetsDir, `.cleaning-${unique}.jsonl`);
}

/** The name a file is copied to before it is renamed to `dest` (a crash never leaves a half-written `dest`). */
export function copyTempPath(dest: string): string {
  return `${dest}.${process.pid}.${Date.now()}.tmp`;
}

/** The leftovers' names, by folder; group 1 is the pid when the name has one. */
function leftoverNames(dataDir: string, tmpDir: string): { dir: string; name: RegExp }[] {
  const datasets = join(dataDir, "datasets");
  return [
    { dir: datasets, name: /^\.cleaning-(\d+)-\d+-[a-z0-9]*\.jsonl$/ },
    { dir: datasets, name: /\.jsonl\.(\d+)\.\d+\.tmp$/ },
    { dir: tmpDir, name: /^classtune-upload-(?:(\d+)-)?[A-Za-z0-9]{6}$/ },
    { dir: tmpDir, name: /^classtune-export-[A-Za-z0-9]{6}$/ },
  ];
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM"; // running, as another user
  }
}

function isLeftover(pid: string | undefined, mtimeMs: number, now: number): boolean {
  if (now - mtimeMs > STALE_TEMP_AGE_MS) return true;
  if (pid === undefined) return false;
  if (Number(pid) === process.pid) return mtimeMs < performance.timeOrigin;
  return !isRunning(Number(pid));
}

export interface SweepOptions {
  dataDir: string;
  /** Default: os.tmpdir(), where uploads are downloaded. */
  tmpDir?: string | undefined;
  logger?: Logger | undefined;
  /** Default: Date.now(). */
  now?: number | undefined;
}

/**
 * Removes the leftover temporary files of killed processes (see the top of this file for which) and returns
 * their paths. Never throws: a file it cannot remove (another user's, or gone already) is skipped.
 */
export async function sweepLeftoverTempFiles(options: SweepOptions): Promise<string[]> {
  const now = options.now ?? Date.now();
  const uid = process.getuid?.();
  const removed: string[] = [];
  for (const { dir, name } of leftoverNames(options.dataDir, options.tmpDir ?? tmpdir())) {
    const entries = await readdir(dir).catch(() => [] as string[]);
    for (const entry of entries) {
      const match = name.exec(entry);
      if (!match) continue;
      const path = join(dir, entry);
      try {
        const info = await lstat(path); // a symlink is judged, and removed, as itself: never its target
        if (uid !== undefined && info.uid !== uid) continue; // a shared $TMPDIR: only our own files
        if (!isLeftover(match[1], info.mtimeMs, now)) continue;
        await rm(path, { recursive: true, force: true });
        removed.push(path);
      } catch (err) {
        options.logger?.debug({ err, path }, "could not remove a leftover temporary file");
      }
    }
  }
  if (removed.length > 0) {
    options.logger?.info(
      { count: removed.length, paths: removed.slice(0, 20) },
      "removed temporary files left by a killed process",
    );
  }
  return removed;
}
