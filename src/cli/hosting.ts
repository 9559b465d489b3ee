// `classtune hosting [--stop MODEL] [--json]`: the terminal's hosting billed while it runs (Together, Fireworks,
// Azure Standard, the sandbox's imitation): first the sweep the bot runs every tick (idle and over-budget
// deployments stopped, unconfirmed stops retried), then what still runs, since when, its minutes and cost so far.
// `--stop MODEL` deletes that model's deployment (the billing stops; the model sleeps until deployed again).
import { parseArgs } from "node:util";
import type { HostingState, HostingSweepCounts, StopOutcome } from "../finetuning/hosting.ts";
import { type CliCommand, UsageError } from "./io.ts";
import { CLI_GUILD, CLI_USER, openJobContext } from "./jobs.ts";

const USAGE = "usage: classtune hosting [--stop MODEL] [--json]";

/** One running hosting as `--json` prints it. */
export interface HostingLine {
  model: string;
  provider: string;
  deploymentName: string;
  hardware: string | null;
  usdPerHour: number;
  startedAt: string;
  minutes: number;
  costUsd: number;
  /** When the idle stop comes if nobody asks it anything; null while it starts. */
  idleStopAt: string | null;
  stopping: boolean;
}

export interface HostingResult {
  sweep: HostingSweepCounts;
  stopped: {
    model: string;
    confirmed: boolean;
    minutes: number;
    costUsd: number;
    error: string | null;
  } | null;
  running: HostingLine[];
}

const line = (s: HostingState): HostingLine => ({
  model: s.session.modelName,
  provider: s.session.provider,
  deploymentName: s.session.deploymentName,
  hardware: s.session.hardware,
  usdPerHour: s.session.usdPerHour,
  startedAt: s.session.startedAt,
  minutes: s.minutes,
  costUsd: s.costUsd,
  idleStopAt: s.idleStopAt?.toISOString() ?? null,
  stopping: s.stopping,
});

function text(r: HostingResult): string {
  const out: string[] = [];
  if (r.stopped) {
    out.push(
      r.stopped.confirmed
        ? `Stopped ${r.stopped.model}: its deployment is deleted, the billing has stopped (it ran ${r.stopped.minutes} min, $${r.stopped.costUsd.toFixed(2)}).`
        : `${r.stopped.model} is asleep, but its provider has not confirmed the deletion yet${r.stopped.error ? `: ${r.stopped.error}` : ""}. Run classtune hosting again to retry.`,
    );
  }
  if (r.sweep.idleStopped + r.sweep.budgetStopped > 0) {
    out.push(
      `Stopped ${r.sweep.idleStopped} idle and ${r.sweep.budgetStopped} over-budget deployment(s) just now.`,
    );
  }
  if (r.running.length === 0) out.push("No hosting billed while it runs.");
  for (const h of r.running) {
    const when = h.stopping
      ? "stopping"
      : h.idleStopAt
        ? `idle stop at ${h.idleStopAt.slice(11, 16)} UTC`
        : "starting";
    out.push(
      `${h.model} (${h.provider}, ${h.hardware ?? "?"}): since ${h.startedAt.slice(0, 16).replace("T", " ")} UTC, ${h.minutes} min, $${h.costUsd.toFixed(2)} at $${h.usdPerHour.toFixed(2)}/h, ${when}`,
    );
  }
  return `${out.join("\n")}\n`;
}

const summary = (o: StopOutcome): HostingResult["stopped"] => ({
  model: o.model.name,
  confirmed: o.confirmed,
  minutes: o.minutes,
  costUsd: o.costUsd,
  error: o.error,
});

export const run: CliCommand = async (args, io) => {
  let values: { stop?: string | undefined; json?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args,
      options: {
        stop: { type: "string" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
  } catch (err) {
    throw new UsageError(`${(err as Error).message}. ${USAGE}`);
  }
  if (values.help) {
    io.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (values.stop !== undefined && values.stop.trim() === "") {
    throw new UsageError(`--stop needs a model's name. ${USAGE}`);
  }
  const ctx = await openJobContext(io);
  try {
    const stopped = values.stop ? summary(await ctx.hosting.stop(CLI_GUILD, values.stop, CLI_USER)) : null;
    const sweep = await ctx.hosting.sweep();
    const result: HostingResult = {
      sweep,
      stopped,
      running: (await ctx.hosting.running(CLI_GUILD)).map(line),
    };
    io.stdout.write(values.json ? `${JSON.stringify(result, null, 2)}\n` : text(result));
    return 0;
  } finally {
    await ctx.close();
  }
};
