// `classtune ask [--model M] [--json] "question"`: the seed tutorial's EducationalAssistant in the
// terminal. Default model: the newest model fine-tuned from the terminal, else the default base model.
import { parseArgs } from "node:util";
import { DEFAULT_MODEL } from "../datasets/catalog.ts";
import { ModelRepository } from "../db/models.ts";
import { askAssistant } from "../finetuning/poller.ts";
import { providerUserError } from "../providers/errors.ts";
import { type CliCommand, UsageError } from "./io.ts";
import { CLI_GUILD, openJobContext } from "./jobs.ts";

const USAGE = 'usage: classtune ask [--model MODEL] [--json] "question"';

export const run: CliCommand = async (args, io) => {
  let parsed: { model: string | undefined; json: boolean; question: string };
  try {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        model: { type: "string" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
    if (values.help) {
      io.stdout.write(`${USAGE}\n`);
      return 0;
    }
    const question = positionals.join(" ").trim();
    if (question === "") throw new UsageError(`no question given. ${USAGE}`);
    parsed = { model: values.model, json: values.json, question };
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`${(err as Error).message}. ${USAGE}`);
  }
  const ctx = await openJobContext(io);
  try {
    const model = parsed.model ?? new ModelRepository(ctx.db).list(CLI_GUILD, 1)[0]?.name ?? DEFAULT_MODEL;
    let reply: Awaited<ReturnType<typeof ctx.provider.chat>>;
    try {
      reply = await askAssistant(ctx.provider, model, parsed.question);
    } catch (err) {
      throw providerUserError(`ask ${model}`, err);
    }
    if (parsed.json) {
      io.stdout.write(
        `${JSON.stringify({ question: parsed.question, model: reply.model, provider: ctx.provider.name, answer: reply.text, usage: reply.usage }, null, 2)}\n`,
      );
    } else {
      io.stdout.write(
        `${reply.text}\n\n— ${reply.model} (${ctx.provider.name}, ${reply.usage.totalTokens} tokens)\n`,
      );
    }
    return 0;
  } finally {
    await ctx.close();
  }
};
