// `classtune sample [--out FILE]`: writes a correct 23-example Q&A dataset (20 questions, 3 asked again in other words) to stdout or FILE.
import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { SAMPLE_QA, sampleDatasetJsonl } from "../datasets/sample.ts";
import { UserError } from "../domain/errors.ts";
import { type CliIo, UsageError } from "./io.ts";

const USAGE = "usage: classtune sample [--out FILE]";

export async function run(args: string[], io: CliIo): Promise<number> {
  let out: string | undefined;
  try {
    const { values } = parseArgs({
      args,
      options: { out: { type: "string" }, help: { type: "boolean", short: "h", default: false } },
    });
    if (values.help) {
      io.stdout.write(`${USAGE}\n`);
      return 0;
    }
    out = values.out;
  } catch (err) {
    throw new UsageError(`${(err as Error).message}. ${USAGE}`);
  }
  const jsonl = sampleDatasetJsonl();
  if (out === undefined) {
    io.stdout.write(jsonl);
    return 0;
  }
  try {
    await writeFile(out, jsonl);
  } catch (err) {
    throw new UserError(`cannot write ${out}: ${(err as Error).message}`, "io");
  }
  io.stderr.write(`wrote ${SAMPLE_QA.length} examples to ${out}\n`);
  return 0;
}
