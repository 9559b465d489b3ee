// Benchmark of `classtune validate`, end to end through the real CLI: generates a ~32 MB, 20,000-example
// chat dataset (system/user/assistant, answers of 200–2,000 characters, some non-ASCII) under bench/.out,
// runs `node scripts/run.js src/cli.ts validate FILE --json` several times for gpt-4o-mini (o200k, OpenAI's
// counting rule) and for an open model (`--tokenizer=llama3.1` by default: the built-in sandbox's
// meta-llama/Llama-3.1-8B-Instruct, counted by its own chat template; also qwen2.5, or `--tokenizer=none`),
// and prints the median MB/s, examples/s, peak RSS and the ratio of the two times. Each model is also run
// with a cold cache (an empty CLASSTUNE_CACHE_DIR per run: the first validation after `npm ci` builds the
// worker bundle and the tokenizer tables; the CLI's own bundle, scripts/precompile.js, stays kept), printed
// under its warm median. `--big` adds a ~500 MB file (the bar: peak RSS ≤ 300 MB, cold or warm). A
// one-example file gives the fixed cost of every run (start-up and exit) and the rate of the rest.
// Then it measures the counting alone, in 2 worker threads as the validator runs them (esbuild-bundled, the
// validator's heap limits, checkLine with each model's counter), without the CLI's start-up and file reading,
// and prints the medians of 5 runs and their ratio.
// Peak RSS comes from GNU time (`/usr/bin/time -v`) when present, else from a --require probe in the child.
import { spawn } from "node:child_process";
import { once } from "node:events";
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import * as esbuild from "esbuild";
import { builtInCatalog } from "../src/datasets/catalog.ts";
import { ENCODING_MODULES } from "../src/datasets/counter.ts";
import { WORKER_BUNDLE_OPTIONS, WORKER_HEAP_LIMITS } from "../src/datasets/validator.ts";
import { mulberry32 } from "../src/sandbox/trainer.ts";
import {
  isOpenTokenizerFamily,
  type OpenTokenizerFamily,
  openTokenizerFiles,
} from "../src/tokenizers/index.ts";
import type { BenchMode } from "./open-tokens-worker.ts";
import { median } from "./stats.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const OUT = join(ROOT, "bench", ".out");
const GNU_TIME = "/usr/bin/time";
const RUNS = 5;
const BIG_RUNS = 3;
/** Runs with an empty cache folder (the first validation after install). */
const COLD_RUNS = 3;

const WORDS = (
  "the of and to in is that for it as with was on be by this are from at or an which one have not but all " +
  "energy cell plant water light molecule force mass equation fraction triangle angle history river climate " +
  "reaction electron protein theorem evidence experiment ratio graph pressure temperature volume density " +
  "students explain because therefore example remember answer question measure compare describe result " +
  "photosynthesis mitochondria velocity acceleration probability hypothesis democracy revolution grammar"
).split(" ");
const NON_ASCII = [
  "café",
  "naïve",
  "über",
  "Straße",
  "résumé",
  "año",
  "niño",
  "日本語",
  "中文",
  "emoji 🙂",
  "π",
  "√2",
];

function sentence(rand: () => number): string {
  const n = 6 + Math.floor(rand() * 14);
  const words: string[] = [];
  for (let i = 0; i < n; i++) {
    words.push(
      rand() < 0.03
        ? (NON_ASCII[Math.floor(rand() * NON_ASCII.length)] as string)
        : (WORDS[Math.floor(rand() * WORDS.length)] as string),
    );
  }
  const s = words.join(" ");
  return `${s[0]?.toUpperCase()}${s.slice(1)}${rand() < 0.2 ? "?" : "."}`;
}

function text(rand: () => number, min: number, max: number): string {
  const target = min + Math.floor(rand() * (max - min));
  let s = sentence(rand);
  while (s.length < target) s += ` ${sentence(rand)}`;
  return s.slice(0, max);
}

/** Writes `examples` chat lines to `path` (skipped when a file of that name already exists). */
export async function generate(path: string, examples: number): Promise<void> {
  if (existsSync(path)) return;
  mkdirSync(dirname(path), { recursive: true });
  const rand = mulberry32(42); // the same dataset on every machine
  const systems = Array.from({ length: 8 }, () => text(rand, 100, 200));
  const tmp = `${path}.tmp`;
  const out = createWriteStream(tmp);
  for (let i = 0; i < examples; i++) {
    const line = `${JSON.stringify({
      messages: [
        { role: "system", content: systems[i % systems.length] },
        { role: "user", content: text(rand, 30, 200) },
        { role: "assistant", content: text(rand, 200, 2000) },
      ],
    })}\n`;
    if (!out.write(line)) await once(out, "drain");
  }
  out.end();
  await once(out, "close");
  const { renameSync } = await import("node:fs");
  renameSync(tmp, path);
}

interface Run {
  seconds: number;
  /** User + system CPU seconds of the CLI (GNU time only; 0 otherwise): comparable on a busy machine. */
  cpuSeconds: number;
  maxRssKb: number;
  examples: number;
  exitCode: number;
}

async function runCli(file: string, extra: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const useTime = existsSync(GNU_TIME);
  const probe = join(OUT, "rss-probe.cjs");
  if (!useTime) {
    writeFileSync(
      probe,
      'process.on("exit", () => process.stderr.write("\\nBENCH_MAXRSS_KB " + process.resourceUsage().maxRSS + "\\n"));\n',
    );
  }
  const cli = [join(ROOT, "scripts", "run.js"), "src/cli.ts", "validate", file, "--json", ...extra];
  const [cmd, args] = useTime ? [GNU_TIME, ["-v", process.execPath, ...cli]] : [process.execPath, cli];
  const started = performance.now();
  const child = spawn(cmd, args, {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    // No provider keys: the built-in sandbox is the provider, whose catalog has OpenAI's and the open models.
    env: {
      ...cleanEnv(),
      ...env,
      ...(useTime ? {} : { NODE_OPTIONS: `--require ${probe}` }),
    },
  });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout.on("data", (b: Buffer) => stdout.push(b));
  child.stderr.on("data", (b: Buffer) => stderr.push(b));
  const [code] = (await once(child, "exit")) as [number | null];
  const seconds = (performance.now() - started) / 1000;
  const err = Buffer.concat(stderr).toString();
  const rss = useTime
    ? [...err.matchAll(/Maximum resident set size \(kbytes\): (\d+)/g)].map((m) => Number(m[1]))
    : [...err.matchAll(/BENCH_MAXRSS_KB (\d+)/g)].map((m) => Number(m[1]));
  const cpu = (label: string) =>
    Number(new RegExp(`${label} time \\(seconds\\): ([\\d.]+)`).exec(err)?.[1] ?? 0);
  let examples = 0;
  try {
    examples = (JSON.parse(Buffer.concat(stdout).toString()) as { examples: number }).examples;
  } catch {
    throw new Error(`validate printed no JSON (exit ${code}): ${err.slice(0, 500)}`);
  }
  return {
    seconds,
    cpuSeconds: cpu("User") + cpu("System"),
    maxRssKb: Math.max(0, ...rss),
    examples,
    exitCode: code ?? -1,
  };
}

/** The environment without any provider configuration, so every run validates against the built-in sandbox. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) {
    if (/^(OPENAI_|FINETUNE_|PROVIDER_NAME$|MODELS_FILE$|PRICES_FILE$)/.test(k)) delete env[k];
  }
  return env;
}

/**
 * Runs the CLI `runs` times; returns the median seconds. `cold`: each run with an empty cache folder of its own
 * (CLASSTUNE_CACHE_DIR, a fresh temp folder, removed after), as the first validation after `npm ci`: the worker
 * bundle and the tokenizer tables are built, not read.
 */
async function measure(
  label: string,
  file: string,
  runs: number,
  extra: string[] = [],
  cold = false,
): Promise<number> {
  const mb = statSync(file).size / 1e6;
  const results: Run[] = [];
  for (let i = 0; i < runs; i++) {
    const cacheDir = cold ? mkdtempSync(join(tmpdir(), "classtune-cold-cache-")) : undefined;
    const r = await runCli(file, extra, cacheDir ? { CLASSTUNE_CACHE_DIR: cacheDir } : {}).finally(() => {
      if (cacheDir) rmSync(cacheDir, { recursive: true, force: true });
    });
    results.push(r);
    process.stdout.write(
      `  run ${i + 1}: ${r.seconds.toFixed(2)} s, ${(mb / r.seconds).toFixed(1)} MB/s, CPU ${r.cpuSeconds.toFixed(2)} s, peak RSS ${(r.maxRssKb / 1024).toFixed(0)} MB, exit ${r.exitCode}\n`,
    );
  }
  const seconds = median(results.map((r) => r.seconds));
  const examples = results[0]?.examples ?? 0;
  const rss = Math.max(...results.map((r) => r.maxRssKb)) / 1024;
  const cpuSeconds = median(results.map((r) => r.cpuSeconds));
  process.stdout.write(
    `${label}: ${mb.toFixed(1)} MB, ${examples.toLocaleString("en-US")} examples, median of ${runs}: ` +
      `${seconds.toFixed(2)} s, ${(mb / seconds).toFixed(1)} MB/s, ${Math.round(examples / seconds).toLocaleString("en-US")} examples/s, ` +
      `peak RSS ${rss.toFixed(0)} MB (max over runs)` +
      (cpuSeconds > 0 ? `; CPU ${cpuSeconds.toFixed(2)} s (user+sys, median)` : "") +
      `; load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(" ")}\n`,
  );
  return seconds;
}

/**
 * The CLI on a one-example file: what every validation pays whatever the file's size (Node's start, the CLI's
 * modules, config and catalogs, one worker's start and its tables, exit), and the rate of the rest of `file`'s
 * median `seconds`.
 */
async function measureFixedCost(file: string, seconds: number): Promise<void> {
  const tiny = join(OUT, "chat-1.jsonl");
  await generate(tiny, 1);
  const runs: Run[] = [];
  for (let i = 0; i < RUNS; i++) runs.push(await runCli(tiny, []));
  const fixed = median(runs.map((r) => r.seconds));
  process.stdout.write(
    `fixed cost (a one-example file, median of ${RUNS}): ${fixed.toFixed(2)} s, CPU ${median(runs.map((r) => r.cpuSeconds)).toFixed(2)} s, ` +
      `peak RSS ${(Math.max(...runs.map((r) => r.maxRssKb)) / 1024).toFixed(0)} MB; ` +
      `the rest of the 32 MB file's ${seconds.toFixed(2)} s: ${(seconds - fixed).toFixed(2)} s, ${(statSync(file).size / 1e6 / (seconds - fixed)).toFixed(1)} MB/s\n`,
  );
}

const BATCH_BYTES = 128 * 1024;
const WORKERS = 2;

/** Batches of whole lines, each with its own buffer (transferred to a worker). */
function batchesOf(file: string): Uint8Array[] {
  const bytes = readFileSync(file);
  const out: Uint8Array[] = [];
  let start = 0;
  while (start < bytes.length) {
    let end = Math.min(start + BATCH_BYTES, bytes.length);
    if (end < bytes.length) end = bytes.indexOf(10, end) + 1 || bytes.length;
    out.push(new Uint8Array(bytes.subarray(start, end)));
    start = end;
  }
  return out;
}

interface CountRun {
  seconds: number;
  /** From spawning the workers to the first answer: start-up and table loading. */
  firstSeconds: number;
  tokens: number;
  examples: number;
}

/** Counts every example of the batches in WORKERS threads, two batches in flight each, as the validator does. */
async function countInWorkers(code: string, mode: BenchMode, batches: Uint8Array[]): Promise<CountRun> {
  const entry = new URL(`data:text/javascript,${encodeURIComponent(code)}`);
  const started = performance.now();
  let first = 0;
  let tokens = 0;
  let examples = 0;
  let next = 0;
  const workers = Array.from(
    { length: WORKERS },
    () => new Worker(entry, { workerData: mode, resourceLimits: WORKER_HEAP_LIMITS }),
  );
  try {
    await Promise.all(
      workers.map(
        (worker) =>
          new Promise<void>((resolve, reject) => {
            let outstanding = 0;
            const feed = () => {
              while (outstanding < 2 && next < batches.length) {
                const batch = new Uint8Array(batches[next++] as Uint8Array); // a copy: runs reuse the batches
                outstanding++;
                worker.postMessage(batch, [batch.buffer as ArrayBuffer]);
              }
              if (outstanding === 0) resolve();
            };
            worker.on("message", (r: { tokens: number; examples: number }) => {
              first ||= performance.now();
              tokens += r.tokens;
              examples += r.examples;
              outstanding--;
              feed();
            });
            worker.on("error", reject);
            feed();
          }),
      ),
    );
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  const seconds = (performance.now() - started) / 1000;
  return { seconds, firstSeconds: (first - started) / 1000, tokens, examples };
}

async function measureOpenCounting(file: string, family: OpenTokenizerFamily): Promise<void> {
  const built = await esbuild.build({
    entryPoints: [join(ROOT, "bench", "open-tokens-worker.ts")],
    ...WORKER_BUNDLE_OPTIONS,
  });
  const code = built.outputFiles[0]?.text ?? "";
  const batches = batchesOf(file);
  const mb = statSync(file).size / 1e6;
  const modes: [string, BenchMode][] = [
    [
      "gpt-4o-mini (o200k, cookbook rule)",
      { kind: "o200k", encodingUrl: import.meta.resolve(ENCODING_MODULES.o200k_base) },
    ],
    [`${family} (its chat template)`, { kind: "open", family, files: openTokenizerFiles(family) }],
  ];
  const medians: number[] = [];
  for (const [label, mode] of modes) {
    const runs: CountRun[] = [];
    for (let i = 0; i < RUNS; i++) runs.push(await countInWorkers(code, mode, batches));
    const seconds = median(runs.map((r) => r.seconds));
    medians.push(seconds);
    const r = runs[0] as CountRun;
    process.stdout.write(
      `count in ${WORKERS} workers, ${label}: ${r.examples.toLocaleString("en-US")} examples, ` +
        `${r.tokens.toLocaleString("en-US")} tokens, median of ${RUNS}: ${seconds.toFixed(2)} s ` +
        `(${(mb / seconds).toFixed(1)} MB/s; first answer after ${median(runs.map((x) => x.firstSeconds)).toFixed(2)} s)` +
        ` [${runs.map((x) => x.seconds.toFixed(2)).join(", ")}]\n`,
    );
  }
  process.stdout.write(
    `counting alone, ${family} / o200k time: ${((medians[1] as number) / (medians[0] as number)).toFixed(2)}×; load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")}\n`,
  );
}

export async function main(flags: string[]): Promise<void> {
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  process.stdout.write(`machine: ${cpus().length} × ${cpu}, Node ${process.version}\n`);
  const small = join(OUT, "chat-20000.jsonl");
  await generate(small, 20_000);
  const o200k = await measure("validate 32 MB, gpt-4o-mini (o200k_base)", small, RUNS);
  await measureFixedCost(small, o200k);
  const o200kCold = await measure(
    "validate 32 MB, gpt-4o-mini (o200k_base), cold cache",
    small,
    COLD_RUNS,
    [],
    true,
  );
  process.stdout.write(`validate o200k, cold / warm time: ${(o200kCold / o200k).toFixed(2)}×\n`);
  const tokenizer =
    flags.find((f) => f.startsWith("--tokenizer="))?.slice("--tokenizer=".length) ?? "llama3.1";
  if (tokenizer !== "none") {
    if (!isOpenTokenizerFamily(tokenizer)) {
      throw new Error(`--tokenizer=${tokenizer}: expected llama3.1, qwen2.5 or none`);
    }
    const model = builtInCatalog("sandbox").models.find((m) => m.tokenizer === tokenizer);
    if (!model) throw new Error(`the sandbox's catalog has no ${tokenizer} model`);
    const open = await measure(`validate 32 MB, ${model.id} (${tokenizer})`, small, RUNS, [
      "--model",
      model.id,
    ]);
    const openCold = await measure(
      `validate 32 MB, ${model.id} (${tokenizer}), cold cache`,
      small,
      COLD_RUNS,
      ["--model", model.id],
      true,
    );
    process.stdout.write(
      `validate, ${tokenizer} / o200k time: ${(open / o200k).toFixed(2)}× (goal ≤ 2×); ${tokenizer} cold / warm: ${(openCold / open).toFixed(2)}×\n`,
    );
    await measureOpenCounting(small, tokenizer);
  }
  if (flags.includes("--big")) {
    const big = join(OUT, "chat-330000.jsonl");
    process.stdout.write("generating the ~500 MB file (once)…\n");
    await generate(big, 330_000);
    await measure("validate 500 MB", big, BIG_RUNS);
  }
}
