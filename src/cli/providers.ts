// `classtune providers [--json]`: every configured fine-tuning provider and the base models its catalog
// fine-tunes (data/catalogs/<kind>.json with MODELS_FILE and PRICES_FILE applied). No provider is called.
// With --json, stdout holds exactly one JSON document (a contract other tools read; keys are only added):
//   { providers: [{ name, kind, default, models: [{ id, tokenizer, maxTokensPerExample,
//                   trainingPricePerMillionUsd, methods, serving, … }] }] }
// Exit 0, or 2 for a usage or configuration error.
import { parseArgs } from "node:util";
import { loadConfig } from "../config.ts";
import {
  type Catalog,
  type CatalogSet,
  loadConfiguredCatalogs,
  type ModelInfo,
} from "../datasets/catalog.ts";
import { type CliIo, UsageError } from "./io.ts";

const USAGE = "usage: classtune providers [--json]";

function parse(args: string[]): { help: boolean; json: boolean } {
  try {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}". ${USAGE}`);
    return { help: values.help, json: values.json };
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`${(err as Error).message}. ${USAGE}`);
  }
}

function modelJson(m: ModelInfo) {
  return {
    id: m.id,
    tokenizer: m.tokenizer,
    maxTokensPerExample: m.maxTokensPerExample,
    trainingPricePerMillionUsd: m.trainingPricePerMillionUsd,
    methods: m.methods,
    serving: m.serving,
    aliases: m.aliases,
    chatTemplate: m.chatTemplate,
    minExamples: m.minExamples,
    defaultEpochs: m.defaultEpochs,
    priceSource: m.priceSource,
    priceAsOf: m.priceAsOf,
  };
}

/** The JSON document of `providers --json`. */
export function providersJson(catalogs: CatalogSet) {
  return {
    providers: catalogs.catalogs.map((c: Catalog) => ({
      name: c.provider,
      kind: c.kind,
      default: c.provider === catalogs.defaultProvider,
      defaultModel: c.defaultModel,
      about: c.about,
      models: c.models.map(modelJson),
    })),
  };
}

const SERVING: Record<ModelInfo["serving"], string> = {
  immediate: "ready at once",
  deploy: "per token after a deploy",
  dedicated: "dedicated deployment",
};

function formatProviders(catalogs: CatalogSet): string {
  const out: string[] = [];
  for (const c of catalogs.catalogs) {
    const isDefault = c.provider === catalogs.defaultProvider;
    out.push(`${c.provider} (${c.kind}${isDefault ? ", default" : ""}): ${c.models.length} base model(s)`);
    for (const m of c.models) {
      const flags = [
        m.tokenizer,
        `≤ ${m.maxTokensPerExample.toLocaleString("en-US")} tokens/example`,
        `min ${m.minExamples}`,
        m.methods.join("+"),
        `$${m.trainingPricePerMillionUsd}/1M training tokens (${m.priceAsOf}${m.priceSource.startsWith("unconfirmed") ? ", unconfirmed" : ""})`,
        SERVING[m.serving],
      ];
      out.push(`  ${m.id}${m.id === c.defaultModel ? " (default)" : ""}: ${flags.join(" · ")}`);
    }
    out.push("");
  }
  out.push(
    "Prices are estimates from dated catalogs: the provider's bill is what counts (--json gives each source).",
  );
  return `${out.join("\n")}\n`;
}

export async function run(args: string[], io: CliIo): Promise<number> {
  const opts = parse(args);
  if (opts.help) {
    io.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const catalogs = loadConfiguredCatalogs(loadConfig(io.env));
  io.stdout.write(
    opts.json ? `${JSON.stringify(providersJson(catalogs), null, 2)}\n` : formatProviders(catalogs),
  );
  return 0;
}
