// scripts/run.js starts a TypeScript entry from its kept esbuild bundle (scripts/precompile.js): the bundle must
// behave as the sources do (import.meta.url of each file, source-mapped stack traces), be built again when a
// file it was built from changes, and give way to tsx when it cannot be built.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CACHE = join(ROOT, "node_modules", ".cache", "classtune", "run");
const dir = mkdtempSync(join(tmpdir(), "classtune-run-"));

/** The name of the kept bundle's pointer for `entry` (`<id>.json`, its builds in `<id>-*`), if any. */
function keptFor(entry: string): string | undefined {
  return readdirSync(CACHE)
    .filter((n) => n.endsWith(".json"))
    .find((n) => (JSON.parse(readFileSync(join(CACHE, n), "utf8")) as { entry: string }).entry === entry);
}

after(() => {
  for (const name of readdirSync(dir).filter((n) => n.endsWith(".ts"))) {
    const id = keptFor(join(dir, name))?.slice(0, -".json".length);
    if (id === undefined) continue;
    for (const kept of readdirSync(CACHE).filter((n) => n === `${id}.json` || n.startsWith(`${id}-`)))
      rmSync(join(CACHE, kept), { recursive: true, force: true });
  }
  rmSync(dir, { recursive: true, force: true });
});

function run(entry: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [join(ROOT, "scripts", "run.js"), entry, ...args], {
    cwd: dir,
    encoding: "utf8",
    env: { PATH: process.env.PATH ?? "" },
    timeout: 60_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe("scripts/run.js", () => {
  const entry = join(dir, "entry.ts");
  const lib = join(dir, "lib.ts");
  writeFileSync(join(dir, "package.json"), '{ "type": "module" }\n'); // as the project's own
  writeFileSync(
    entry,
    [
      'import { answer, libUrl } from "./lib.ts";',
      "const typed: number = answer();",
      "console.log(JSON.stringify({ typed, url: import.meta.url, libUrl, argv: process.argv.slice(1) }));",
      'if (process.argv.includes("--throw")) throw new Error("thrown on purpose");',
      "",
    ].join("\n"),
  );
  writeFileSync(lib, "export const answer = (): number => 1;\nexport const libUrl = import.meta.url;\n");

  it("runs the entry from a kept bundle, each file seeing its own import.meta.url and the entry as argv[1]", () => {
    const r = run(entry, "--flag");
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(JSON.parse(r.out), {
      typed: 1,
      url: pathToFileURL(entry).href,
      libUrl: pathToFileURL(lib).href,
      argv: [entry, "--flag"],
    });
    assert.ok(keptFor(entry), "a bundle is kept for the entry");
  });

  it("builds the bundle again when a file it was built from changes", () => {
    writeFileSync(lib, "export const answer = (): number => 42;\nexport const libUrl = import.meta.url;\n");
    const r = run(entry);
    assert.equal(r.code, 0, r.err);
    assert.equal((JSON.parse(r.out) as { typed: number }).typed, 42);
  });

  it("reports an uncaught error at its line in the .ts file", () => {
    const r = run(entry, "--throw");
    assert.equal(r.code, 1);
    assert.match(r.err, /thrown on purpose/);
    assert.ok(r.err.includes(`${entry}:4`), r.err);
  });

  it("runs an entry that cannot be bundled under tsx", () => {
    // A relative import.meta.resolve would resolve against the bundle's folder: such a file runs under tsx.
    const unbundled = join(dir, "resolves.ts");
    writeFileSync(unbundled, 'console.log(import.meta.resolve("./lib.ts"));\n');
    const r = run(unbundled);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out.trim(), pathToFileURL(lib).href);
    assert.equal(keptFor(unbundled), undefined);
  });
});
