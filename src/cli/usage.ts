import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { formatUsageText, UsageService } from "../classroom/usage.ts";
import { loadConfig } from "../config.ts";
import { HostingRepository } from "../db/hosting.ts";
import { UsageRepository } from "../db/usage.ts";
import { UserError } from "../domain/errors.ts";
import { openConfiguredDatabase } from "../wire.ts";
import { type CliIo, UsageError } from "./io.ts";

const USAGE = "usage: classtune usage [--guild ID] [--days N] [--json] [--chart FILE.png]";

export async function run(args: string[], io: CliIo): Promise<number> {
  let values: {
    guild?: string | undefined;
    days?: string | undefined;
    json?: boolean;
    chart?: string | undefined;
  };
  try {
    const parsed = parseArgs({
      args,
      options: {
        guild: { type: "string" },
        days: { type: "string" },
        json: { type: "boolean", default: false },
        chart: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
    if (parsed.values.help) {
      io.stdout.write(`${USAGE}\n`);
      return 0;
    }
    values = parsed.values;
  } catch (err) {
    throw new UsageError(`${(err as Error).message}. ${USAGE}`);
  }
  const days = values.days === undefined ? 7 : Number(values.days);
  if (!Number.isInteger(days)) throw new UsageError(`--days must be a whole number. ${USAGE}`);

  const config = loadConfig(io.env);
  const database = await openConfiguredDatabase(config, { mustExist: true });
  const { store } = database;
  try {
    const repo = new UsageRepository(store);
    let guildId = values.guild;
    if (guildId === undefined) {
      const guilds = await repo.guilds();
      if (guilds.length === 0) {
        io.stdout.write("No /ask questions recorded yet.\n");
        return 0;
      }
      if (guilds.length > 1)
        throw new UsageError(`several guilds have usage; pick one with --guild: ${guilds.join(", ")}`);
      guildId = guilds[0] as string;
    }
    const summary = await new UsageService({
      usage: repo,
      hosting: new HostingRepository(store),
    }).summary(guildId, days);
    io.stdout.write(values.json ? `${JSON.stringify(summary, null, 2)}\n` : `${formatUsageText(summary)}\n`);
    if (values.chart) {
      const { renderUsageChart } = await import("../charts/charts.ts");
      try {
        await writeFile(values.chart, await renderUsageChart(summary));
      } catch (err) {
        throw new UserError(`cannot write ${values.chart}: ${(err as Error).message}`, "io");
      }
      io.stderr.write(`wrote the chart to ${values.chart}\n`);
    }
    return 0;
  } finally {
    await database.close();
  }
}
