// The start-up sweep of temporary files a killed process left: what goes (a gone process's, anything a day
// old), what stays (a running process's, this process's own, every other file), over a real folder.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  cleaningScratchPath,
  copyTempPath,
  makeUploadDir,
  STALE_TEMP_AGE_MS,
  sweepLeftoverTempFiles,
} from "../../src/datasets/tempFiles.ts";

const root = mkdtempSync(join(tmpdir(), "classtune-sweep-test-"));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

/** A data directory with its datasets folder, and a private stand-in for $TMPDIR. */
function folders() {
  const base = join(root, `case-${n++}`);
  const dataDir = join(base, "data");
  const tmpDir = join(base, "tmp");
  mkdirSync(join(dataDir, "datasets"), { recursive: true });
  mkdirSync(tmpDir);
  return { dataDir, datasets: join(dataDir, "datasets"), tmpDir };
}

/** The pid of a process that has exited. */
function deadPid(): number {
  const { pid } = spawnSync(process.execPath, ["-e", ""]);
  assert.ok(pid);
  return pid;
}

function file(path: string, ageMs = 0): string {
  writeFileSync(path, "partial");
  age(path, ageMs);
  return path;
}

function dir(path: string, ageMs = 0): string {
  mkdirSync(path);
  writeFileSync(join(path, "upload.jsonl"), "partial");
  age(path, ageMs);
  return path;
}

function age(path: string, ms: number): void {
  const when = new Date(Date.now() - ms);
  utimesSync(path, when, when);
}

describe("sweepLeftoverTempFiles", () => {
  it("removes the temporary files of a process that is gone, and keeps a running process's", async () => {
    const { dataDir, datasets, tmpDir } = folders();
    const dead = deadPid();
    const running = process.ppid;
    const sha = "a".repeat(64);
    const gone = [
      file(join(datasets, `.cleaning-${dead}-1700000000000-k3j4h5.jsonl`)),
      file(join(datasets, `${sha}.jsonl.${dead}.1700000000000.tmp`)),
      file(join(datasets, `${sha}.gpt-4o-mini-2024-07-18.cleaned.jsonl.${dead}.1700000000000.tmp`)),
      dir(join(tmpDir, `classtune-upload-${dead}-AbC12z`)),
    ];
    const kept = [
      file(join(datasets, `.cleaning-${running}-1700000000000-k3j4h5.jsonl`)),
      dir(join(tmpDir, `classtune-upload-${running}-AbC12z`)),
    ];
    const removed = await sweepLeftoverTempFiles({ dataDir, tmpDir });
    assert.deepEqual(removed.sort(), gone.sort());
    for (const path of gone) assert.equal(existsSync(path), false, path);
    for (const path of kept) assert.equal(existsSync(path), true, path);
  });

  it("removes this process's own pid's files only when they are older than the process", async () => {
    const { dataDir, datasets, tmpDir } = folders();
    const beforeStart = Date.now() - performance.timeOrigin + 60_000;
    const fromLastRun = file(join(datasets, `.cleaning-${process.pid}-1-abc.jsonl`), beforeStart);
    const inUse = file(cleaningScratchPath(datasets));
    const upload = await makeUploadDir(); // the real $TMPDIR: this process's, in use
    try {
      await sweepLeftoverTempFiles({ dataDir, tmpDir });
      await sweepLeftoverTempFiles({ dataDir });
      assert.equal(existsSync(fromLastRun), false, "a file of the same pid from before this process started");
      assert.equal(existsSync(inUse), true);
      assert.equal(existsSync(upload), true);
    } finally {
      rmSync(upload, { recursive: true, force: true });
    }
  });

  it("removes anything older than a day whatever its pid, and a name without a pid only then", async () => {
    const { dataDir, datasets, tmpDir } = folders();
    const running = process.ppid;
    const day = STALE_TEMP_AGE_MS + 60_000;
    const gone = [
      file(join(datasets, `.cleaning-${running}-1-abc.jsonl`), day),
      dir(join(tmpDir, "classtune-upload-Xy7Q2a"), day),
      dir(join(tmpDir, "classtune-export-Qw3Er5"), day),
    ];
    const kept = [dir(join(tmpDir, "classtune-upload-Pq9Zz1")), dir(join(tmpDir, "classtune-export-Mn4Bv6"))];
    const removed = await sweepLeftoverTempFiles({ dataDir, tmpDir });
    assert.deepEqual(removed.sort(), gone.sort());
    for (const path of kept) assert.equal(existsSync(path), true, path);
  });

  it("leaves every other file alone, and removes a symlink as itself, never what it points to", async () => {
    const { dataDir, datasets, tmpDir } = folders();
    const dead = deadPid();
    const day = STALE_TEMP_AGE_MS + 60_000;
    const others = [
      file(join(datasets, `${"b".repeat(64)}.jsonl`), day),
      file(join(datasets, `${"b".repeat(64)}.gpt-4o-mini-2024-07-18.cleaned.jsonl`), day),
      file(join(datasets, ".cleaning-notes.txt"), day),
      dir(join(tmpDir, "classtune-e2e-Ab12Cd"), day),
      file(join(tmpDir, `report-${dead}.json`), day),
    ];
    const precious = dir(join(root, `precious-${n++}`));
    const link = join(tmpDir, `classtune-upload-${dead}-Lnk123`);
    symlinkSync(precious, link);
    const removed = await sweepLeftoverTempFiles({ dataDir, tmpDir });
    assert.deepEqual(removed, [link]);
    for (const path of others) assert.equal(existsSync(path), true, path);
    assert.equal(existsSync(join(precious, "upload.jsonl")), true, "the link's target is untouched");
  });

  it("names each temporary file with this process's pid, so that the sweep recognises it", async () => {
    const { dataDir, datasets } = folders();
    const day = STALE_TEMP_AGE_MS + 60_000;
    const scratch = file(cleaningScratchPath(datasets), day);
    const copy = file(copyTempPath(join(datasets, `${"c".repeat(64)}.jsonl`)), day);
    const upload = await makeUploadDir();
    age(upload, day);
    for (const path of [scratch, copy, upload]) assert.ok(path.includes(String(process.pid)), path);
    const removed = await sweepLeftoverTempFiles({ dataDir });
    for (const path of [scratch, copy, upload]) assert.ok(removed.includes(path), path);
  });

  it("does nothing, and does not throw, when the folders do not exist", async () => {
    const missing = join(root, "no-such-dir");
    assert.deepEqual(await sweepLeftoverTempFiles({ dataDir: missing, tmpDir: missing }), []);
  });
});
