// `classtune ask [--model M] [--json] "question"`: the seed tutorial's EducationalAssistant in the
// terminal. Default model: the newest ready model fine-tuned from the terminal, else the default base model. A
// model trained here is asked at the provider that trained it, by the id it is served as (a Nebius or Azure
// deployment's name); any other at the default provider.
import { parseArgs } from "node:util";
import { notReadyReason } from "../classroom/routing.ts";
import { DEFAULT_MODEL } from "../datasets/catalog.ts";
import { ModelRepository } from "../db/models.ts";
import { UserError } from "../domain/errors.ts";
import { isReady } from "../domain/serving.ts";
import { askAssistant } from "../finetuning/serving.ts";
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
    if (values.model !== undefined && values.model.trim() === "") {
      throw new UsageError(
        `--model needs a model's name (leave it out to ask the newest ready model). ${USAGE}`,
      );
    }
    parsed = { model: values.model?.trim(), json: values.json, question };
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`${(err as Error).message}. ${USAGE}`);
  }
  const ctx = await openJobContext(io);
  try {
    const models = new ModelRepository(ctx.store);
    const model =
      parsed.model ?? (await models.list(CLI_GUILD, 1, { ready: true }))[0]?.name ?? DEFAULT_MODEL;
    const registered = await models.get(CLI_GUILD, model);
    if (registered && !isReady(registered.servingStatus)) {
      throw new UserError(
        `${model} cannot answer yet: ${notReadyReason(registered.servingStatus, null)}${registered.servingError ? ` (${registered.servingError})` : ""}.`,
        "model_not_ready",
      );
    }
    const servedAs = registered?.servedAs ?? model;
    const at = registered ? ctx.providers.require(registered.provider) : ctx.providers.default;
    const provider = at.jobs;
    if (!provider) {
      throw new UserError(
        `${model} is at provider "${at.name}" (${at.kind}), which the terminal cannot ask yet; use /ask in Discord.`,
        "not_yet_supported",
      );
    }
    let reply: Awaited<ReturnType<typeof provider.chat>>;
    try {
      reply = await askAssistant(provider, servedAs, parsed.question);
    } catch (err) {
      throw providerUserError(`ask ${model}`, err);
    }
    if (parsed.json) {
      io.stdout.write(
        `${JSON.stringify({ question: parsed.question, model: reply.model, servedAs, provider: at.name, answer: reply.text, usage: reply.usage }, null, 2)}\n`,
      );
    } else {
      io.stdout.write(`${reply.text}\n\n— ${reply.model} (${at.name}, ${reply.usage.totalTokens} tokens)\n`);
    }
    return 0;
  } finally {
    await ctx.close();
  }
};
