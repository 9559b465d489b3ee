import { copyFile } from "node:fs/promises";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { EXPORT_FORMATS, type ExportFormat, FeedbackService } from "../classroom/feedback.ts";
import { loadConfig } from "../config.ts";
import { loadConfiguredCatalogs, takesMessageWeight } from "../datasets/catalog.ts";
import { storeDataset } from "../datasets/store.ts";
import { AnswerRepository } from "../db/answers.ts";
import { UserError } from "../domain/errors.ts";
import { openConfiguredDatabase } from "../wire.ts";
import { type CliCommand, UsageError } from "./io.ts";
import { CLI_USER } from "./jobs.ts";

const USAGE =
  "usage: classtune export --guild ID [--format supervised|preference] [--min-score N] [--since YYYY-MM-DD] [--out FILE] [--json]";

interface Options {
  guild: string;
  format: ExportFormat;
  minScore: number | undefined;
  since: string | undefined;
  out: string | undefined;
  json: boolean;
}

function parse(args: string[]): Options | "help" {
  let values: Record<string, string | boolean | undefined>;
  try {
    const parsed = parseArgs({
      args,
      options: {
        guild: { type: "string" },
        format: { type: "string" },
        "min-score": { type: "string" },
        since: { type: "string" },
        out: { type: "string" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
    values = parsed.values;
  } catch (err) {
    throw new UsageError(`${(err as Error).message}. ${USAGE}`);
  }
  if (values.help) return "help";
  const guild = typeof values.guild === "string" ? values.guild.trim() : "";
  if (guild === "") throw new UsageError(`--guild is required (the server's id). ${USAGE}`);
  const format = (values.format ?? "supervised") as ExportFormat;
  if (!EXPORT_FORMATS.includes(format)) {
    throw new UsageError(`--format must be ${EXPORT_FORMATS.join(" or ")}, got "${String(values.format)}"`);
  }
  const rawScore = values["min-score"];
  const minScore = typeof rawScore === "string" ? Number(rawScore) : undefined;
  if (minScore !== undefined && (!Number.isInteger(minScore) || minScore < 1)) {
    throw new UsageError(`--min-score must be a whole number of at least 1, got "${String(rawScore)}"`);
  }
  return {
    guild,
    format,
    minScore,
    since: typeof values.since === "string" ? values.since : undefined,
    out: typeof values.out === "string" ? values.out : undefined,
    json: values.json === true,
  };
}

export const run: CliCommand = async (args, io) => {
  const opts = parse(args);
  if (opts === "help") {
    io.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const config = loadConfig(io.env);
  const catalogs = loadConfiguredCatalogs(config);
  const database = await openConfiguredDatabase(config, { mustExist: true });
  const { store } = database;
  try {
    const feedback = new FeedbackService({
      answers: new AnswerRepository(store),
      storeDataset: (a) =>
        storeDataset({ ...a, store, dataDir: config.dataDir, catalog: catalogs.catalogFor(a.provider) }),
      defaultModel: catalogs.default.defaultModel,
      acceptsWeight: (model) => takesMessageWeight(model, catalogs.default),
    });
    let result: Awaited<ReturnType<FeedbackService["exportDataset"]>>;
    try {
      result = await feedback.exportDataset({
        guildId: opts.guild,
        requesterId: CLI_USER,
        format: opts.format,
        minScore: opts.minScore,
        since: opts.since,
      });
    } catch (err) {
      if (!(err instanceof UserError && err.code === "nothing_to_export")) throw err;
      io.stderr.write(`classtune export: ${err.message}\n`);
      return 1;
    }
    const { row, report } = result;
    if (opts.out !== undefined) {
      try {
        await copyFile(row.storedPath, resolve(opts.out));
      } catch (err) {
        throw new UserError(`cannot write ${opts.out}: ${(err as Error).message}`, "io");
      }
    }
    if (opts.json) {
      const summary = {
        format: result.format,
        guildId: opts.guild,
        datasetId: row.id,
        fileName: row.fileName,
        examples: result.examples,
        fromCorrections: result.fromCorrections,
        fromVotes: result.fromVotes,
        multiTurn: result.multiTurn,
        out: opts.out === undefined ? null : resolve(opts.out),
        report,
      };
      io.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
      return 0;
    }
    const what =
      result.format === "preference"
        ? `${result.examples} preference pair(s) for DPO (${result.fromCorrections} from teachers' corrections, ${result.fromVotes} from the class's votes)`
        : `${result.examples} example(s) (${result.fromCorrections} corrected by a teacher, ${result.fromVotes} rated by the class${result.multiTurn > 0 ? `; ${result.multiTurn} of them follow-up conversations` : ""})`;
    io.stdout.write(
      `Exported ${what} from guild ${opts.guild}: dataset #${row.id} (${row.fileName}), ${report.valid} valid, ${report.invalid} invalid, ${report.fineTunable ? "fine-tunable" : `not fine-tunable yet (at least ${report.minExamples} examples needed)`} for ${report.model}.\n`,
    );
    if (opts.out !== undefined) io.stdout.write(`Wrote ${resolve(opts.out)}\n`);
    return 0;
  } finally {
    await database.close();
  }
};
