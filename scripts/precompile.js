// A TypeScript entry point and everything of the project it imports, bundled by esbuild into plain JS and kept
// in node_modules/.cache/classtune/run, so scripts/run.js can start it without tsx's loader (~0.15 s less per
// CLI run: no loader thread, no per-module round trip to it). Packages stay outside the bundle, imported as
// usual. Each file's import.meta.url (and dirname/filename) is kept as its own, so paths built from it still
// point into src/. The bundle is used only while every file it was built from has the size and time it had
// then (checked on each start: a stat per file); otherwise it is built again. `undefined` whenever a bundle
// cannot be built or kept (no esbuild, a syntax error, a cache folder that cannot be written): run.js then
// runs the entry under tsx, as before.
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { readFile } from "node:fs/promises";
import { extname, join, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";

/** Bump when the build options below change what a bundle holds. */
const FORMAT = "1";
/** Older builds of an entry are removed once this old (a process started before may still load their chunks). */
const STALE_MS = 60 * 60 * 1000;
const LOADERS = { ".ts": "ts", ".mts": "ts", ".cts": "ts", ".js": "js", ".mjs": "js", ".cjs": "js" };

/** Rewrites import.meta.url/dirname/filename to the file's own; refuses a relative import.meta.resolve. */
const keepImportMeta = {
  name: "keep-import-meta",
  setup(build) {
    build.onLoad({ filter: /\.[mc]?[jt]s$/ }, async (args) => {
      if (/[\\/]node_modules[\\/]/.test(args.path)) return undefined;
      const source = await readFile(args.path, "utf8");
      if (!source.includes("import.meta")) return undefined;
      if (/import\.meta\.resolve\(\s*["'`]\.{1,2}\//.test(source)) {
        throw new Error(`${args.path}: a relative import.meta.resolve cannot be bundled`);
      }
      const url = pathToFileURL(args.path).href;
      const contents = source
        .replace(/\bimport\.meta\.url\b/g, JSON.stringify(url))
        .replace(/\bimport\.meta\.dirname\b/g, JSON.stringify(resolve(args.path, "..")))
        .replace(/\bimport\.meta\.filename\b/g, JSON.stringify(args.path));
      return { contents, loader: LOADERS[extname(args.path)] ?? "js" };
    });
  },
};

const stamp = (file) => {
  const info = statSync(file, { throwIfNoEntry: false });
  return info ? `${info.size}:${info.mtimeMs}` : "missing";
};

/** The kept bundle of `entryPath` when it is still current, else a new one; undefined when neither can be had. */
export async function precompiled(root, entryPath) {
  const cache = join(root, "node_modules", ".cache", "classtune", "run");
  const id = createHash("sha1").update(entryPath).digest("hex").slice(0, 16);
  const pointer = join(cache, `${id}.json`);
  try {
    const kept = JSON.parse(readFileSync(pointer, "utf8"));
    const main = join(cache, kept.dir, kept.main);
    if (
      kept.format === FORMAT &&
      kept.entry === entryPath &&
      Object.entries(kept.inputs).every(([file, s]) => stamp(file) === s) &&
      existsSync(main)
    ) {
      return pathToFileURL(main);
    }
  } catch {
    // no bundle kept yet, or an unreadable pointer: build one
  }
  try {
    return await build(root, cache, id, pointer, entryPath);
  } catch {
    return undefined;
  }
}

async function build(root, cache, id, pointer, entryPath) {
  const esbuild = await import("esbuild");
  const tmp = join(cache, `${id}.${process.pid}.${Date.now()}.tmp`);
  mkdirSync(cache, { recursive: true });
  const started = Date.now();
  try {
    const out = await esbuild.build({
      entryPoints: [entryPath],
      bundle: true,
      splitting: true,
      format: "esm",
      platform: "node",
      target: "node20",
      packages: "external",
      outdir: tmp,
      metafile: true,
      sourcemap: "linked",
      logLevel: "silent",
      absWorkingDir: root,
      plugins: [keepImportMeta],
    });
    // What the bundle was built from, and what decides how (tsconfig.json, package.json).
    const inputs = {};
    for (const file of [
      ...Object.keys(out.metafile.inputs).map((f) => resolve(root, f)),
      join(root, "tsconfig.json"),
      join(root, "package.json"),
    ]) {
      inputs[file] = stamp(file);
      // Saved while esbuild read it: the bundle may hold the older text, so it is not kept (tsx runs this once).
      if ((statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? 0) >= started) {
        throw new Error(`${file} changed during the build`);
      }
    }
    const [main] = Object.entries(out.metafile.outputs).find(
      ([, o]) => o.entryPoint && resolve(root, o.entryPoint) === entryPath,
    ) ?? [undefined];
    if (!main) throw new Error("esbuild named no output for the entry");
    const fingerprint = createHash("sha1").update(JSON.stringify(inputs)).digest("hex").slice(0, 16);
    const dir = `${id}-${fingerprint}`;
    try {
      renameSync(tmp, join(cache, dir));
    } catch (err) {
      if (!existsSync(join(cache, dir))) throw err; // else another process kept the same build first
    }
    const kept = { format: FORMAT, entry: entryPath, dir, main: relative(tmp, resolve(root, main)), inputs };
    const tmpPointer = `${pointer}.${process.pid}.tmp`;
    writeFileSync(tmpPointer, JSON.stringify(kept));
    renameSync(tmpPointer, pointer);
    removeStale(cache, id, dir);
    return pathToFileURL(join(cache, dir, kept.main));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Removes this entry's older builds (and abandoned temporary folders) once they are STALE_MS old. */
function removeStale(cache, id, current) {
  for (const name of readdirSync(cache)) {
    if (!name.startsWith(`${id}-`) && !(name.startsWith(`${id}.`) && name.endsWith(".tmp"))) continue;
    if (name === current) continue;
    const path = join(cache, name);
    const info = statSync(path, { throwIfNoEntry: false });
    if (info && Date.now() - info.mtimeMs > STALE_MS) rmSync(path, { recursive: true, force: true });
  }
}
