// `classtune validate FILE [--provider NAME] [--model MODEL] [--json] [--out CLEANED.jsonl]`: checks a
// fine-tuning dataset against a configured provider's rules and catalog (default: the default provider; no job
// adapter is needed, so a Together-kind provider's models can be checked before its adapter lands).
// Exit 0 fine-tunable, 1 the dataset has problems, 2 usage or I/O error (an unknown provider or model names
// the choices). With --json, stdout holds exactly one JSON document, the ValidationReport (a contract other
// tools read).
import { stat } from "node:fs/promises";
import { parseArgs } from "node:util";
import { loadConfig } from "../config.ts";
import { loadConfiguredCatalogs } from "../datasets/catalog.ts";
import type { ValidationReport } from "../datasets/types.ts";
import { validateFile } from "../datasets/validator.ts";
import { useCacheDir } from "../tokenizers/tableFile.ts";
import { type CliIo, UsageError } from "./io.ts";

const USAGE =
  "usage: classtune validate FILE [--provider NAME] [--model MODEL] [--json] [--out CLEANED.jsonl]";
const FIRST_ERRORS = 10;
const FIRST_WARNINGS = 5;
/** Files above this size get a progress bar on a terminal. */
const PROGRESS_MIN_BYTES = 4 * 1024 * 1024;

function parse(args: string[]) {
  try {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        provider: { type: "string" },
        model: { type: "string" },
        json: { type: "boolean", default: false },
        out: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
    if (values.help) return { help: true as const };
    if (positionals.length !== 1) {
      throw new UsageError(
        positionals.length === 0 ? `no FILE given. ${USAGE}` : `one FILE at a time. ${USAGE}`,
      );
    }
    return {
      help: false as const,
      file: positionals[0] as string,
      provider: values.provider,
      model: values.model,
      json: values.json,
      out: values.out,
    };
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`${(err as Error).message}. ${USAGE}`);
  }
}

const n = (x: number) => x.toLocaleString("en-US");
const usd = (x: number) => (x > 0 && x < 0.01 ? `$${x.toFixed(4)}` : `$${x.toFixed(2)}`);

function megabytes(bytes: number): string {
  return bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KB` : `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** The readable report: verdict, counts, first errors and counts per code, warnings, tokens, estimate. */
export function formatReport(r: ValidationReport, file: string, cleanedPath?: string): string {
  const out: string[] = [];
  const counting = r.chatTemplate === "openai-cookbook" ? "OpenAI's counting rule" : "its own chat template";
  out.push(
    `${file}: ${r.format} dataset, ${megabytes(r.bytes)}, checked for ${r.model} on provider ${r.provider} (${r.providerKind}; ${r.tokenizer} tokens, ${counting}; at most ${n(r.maxTokensPerExample)} per example)`,
  );
  out.push(`  ${n(r.examples)} examples: ${n(r.valid)} valid, ${n(r.invalid)} invalid`);
  const errorTotal = Object.values(r.errorCounts).reduce((a, b) => a + (b ?? 0), 0);
  if (errorTotal > 0) {
    out.push("", `Errors (${n(errorTotal)}):`);
    for (const e of r.errors.slice(0, FIRST_ERRORS)) {
      out.push(`  ${e.line > 0 ? `line ${e.line}` : "file"}: [${e.code}] ${e.message}`);
    }
    if (errorTotal > FIRST_ERRORS)
      out.push(`  … and ${n(errorTotal - FIRST_ERRORS)} more (--json lists them)`);
    const counts = Object.entries(r.errorCounts).map(([code, count]) => `${code} ${n(count ?? 0)}`);
    out.push(`  per code: ${counts.join(", ")}`);
  }
  const warningTotal = Object.values(r.warningCounts).reduce((a, b) => a + (b ?? 0), 0);
  if (warningTotal > 0) {
    out.push("", `Warnings (${n(warningTotal)}):`);
    const counts = Object.entries(r.warningCounts).map(([code, count]) => `${code} ${n(count ?? 0)}`);
    out.push(`  per code: ${counts.join(", ")}`);
    for (const w of r.warnings.slice(0, FIRST_WARNINGS)) {
      out.push(`  ${w.line !== undefined ? `line ${w.line}` : "file"}: [${w.code}] ${w.message}`);
    }
  }
  out.push("");
  if (r.valid > 0) {
    const t = r.tokens;
    out.push(
      `Tokens per valid example: total ${n(t.total)}, min ${n(t.min)}, max ${n(t.max)}, mean ${n(Math.round(t.mean))}, p50 ${n(t.p50)}, p90 ${n(t.p90)}`,
    );
    out.push(
      `Training estimate: ${r.epochs} epochs × ${n(r.billingTokens / r.epochs)} tokens = ${n(r.billingTokens)} billed tokens ≈ ${usd(r.estimatedCostUsd)} (estimated at $${r.pricePerMillionTrainingTokensUsd}/1M, prices as of ${r.pricesAsOf})`,
    );
  }
  if (cleanedPath) out.push(`Cleaned file with the ${n(r.valid)} valid lines: ${cleanedPath}`);
  if (r.fineTunable) out.push(`Result: ready to fine-tune (${n(r.valid)} valid examples).`);
  else if (r.invalid > 0 || errorTotal > 0) {
    out.push(
      `Result: NOT fine-tunable: fix the errors above${r.invalid > 0 && !cleanedPath ? " (or use --out to keep only the valid lines)" : ""}.`,
    );
  } else {
    out.push(
      `Result: NOT fine-tunable: ${r.trainerName} needs at least ${n(r.minExamples)} valid example(s) for ${r.model} (50–100 recommended).`,
    );
  }
  return `${out.join("\n")}\n`;
}

/** A one-line progress bar redrawn on stderr, at most every 100 ms. */
function progressBar(stderr: NodeJS.WritableStream) {
  let last = 0;
  return {
    update(done: number, total: number) {
      const now = Date.now();
      if (now - last < 100 && done < total) return;
      last = now;
      const width = 30;
      const fraction = total > 0 ? Math.min(1, done / total) : 1;
      const filled = Math.round(fraction * width);
      stderr.write(
        `\r[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${Math.round(fraction * 100)}% ${megabytes(done)}`,
      );
    },
    clear() {
      stderr.write("\r\x1b[K");
    },
  };
}

export async function run(args: string[], io: CliIo): Promise<number> {
  const opts = parse(args);
  if (opts.help) {
    io.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const config = loadConfig(io.env);
  useCacheDir(config.cacheDir);
  const catalog = loadConfiguredCatalogs(config).catalogFor(opts.provider);
  const stderrTty = (io.stderr as { isTTY?: boolean }).isTTY === true;
  let bar: ReturnType<typeof progressBar> | undefined;
  if (!opts.json && stderrTty) {
    const size = await stat(opts.file).then(
      (s) => s.size,
      () => 0,
    );
    if (size > PROGRESS_MIN_BYTES) bar = progressBar(io.stderr);
  }
  let report: ValidationReport;
  try {
    report = await validateFile(opts.file, {
      catalog,
      ...(opts.model !== undefined ? { model: opts.model } : {}),
      ...(opts.out !== undefined ? { cleanedOutPath: opts.out } : {}),
      ...(bar ? { onProgress: bar.update } : {}),
    });
  } finally {
    bar?.clear();
  }
  io.stdout.write(
    opts.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report, opts.file, opts.out),
  );
  return report.fineTunable ? 0 : 1;
}
