// `classtune cancel ID`: cancels one of the terminal's fine-tuning jobs.
import { type CliCommand, UsageError } from "./io.ts";
import { CLI_GUILD, openJobContext, parseJobId } from "./jobs.ts";

const USAGE = "usage: classtune cancel ID";

export const run: CliCommand = async (args, io) => {
  if (args.includes("--help") || args.includes("-h")) {
    io.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (args.length !== 1) throw new UsageError(`expected exactly one job ID. ${USAGE}`);
  const id = parseJobId(args[0], USAGE);
  const ctx = await openJobContext(io);
  try {
    const job = await ctx.jobs.cancel(CLI_GUILD, id);
    io.stdout.write(
      job.status === "cancelled"
        ? `Job #${job.id} (${job.remoteId}) is cancelled.\n`
        : `Asked ${job.provider} to cancel job #${job.id} (${job.remoteId}); it is ${job.status} for now — classtune jobs shows when it ends.\n`,
    );
    return 0;
  } finally {
    await ctx.close();
  }
};
