// Autocomplete for the two kinds of `model` option: the catalog's base models, which a dataset is validated and
// fine-tuned for (/dataset, /finetune), and the models /ask can use in a guild (/ask, /model, /classroom); and
// for the `provider` option of /dataset validate and /finetune start: the configured fine-tuning providers.
import type { ApplicationCommandOptionChoiceData } from "discord.js";
import type { Catalog } from "../datasets/catalog.ts";
import { isReady, SERVING_WORDS } from "../domain/serving.ts";
import type { AppContext } from "./context.ts";
import { DiscordLimits } from "./limits.ts";
import { describeProvider } from "./render/jobs.ts";

/** The catalog's fine-tunable base models matching what was typed (ids and aliases), with their training price. */
export function baseModelChoices(typed: string, catalog: Catalog): ApplicationCommandOptionChoiceData[] {
  const text = typed.trim().toLowerCase();
  return catalog.models
    .filter((m) => m.id.toLowerCase().includes(text) || m.aliases.some((a) => a.toLowerCase().includes(text)))
    .slice(0, DiscordLimits.autocompleteChoices)
    .map((m) => ({
      name: `${m.id}${m.id === catalog.defaultModel ? " (default)" : ""} · $${m.trainingPricePerMillionUsd}/1M training tokens`,
      value: m.id,
    }));
}

/**
 * The models /ask can use in this guild: its own registered models that are ready (a model still being deployed,
 * or whose deploy failed, cannot answer and is not offered) plus `unregistered` ones (default: the configured
 * /ask base model); never another guild's.
 */
export async function guildModelChoices(
  ctx: Pick<AppContext, "models" | "config">,
  guildId: string,
  typed: string,
  unregistered: readonly string[] = [ctx.config.ask.defaultModel],
): Promise<ApplicationCommandOptionChoiceData[]> {
  const text = typed.trim();
  const choices: ApplicationCommandOptionChoiceData[] = [];
  for (const m of await ctx.models.search(guildId, text, DiscordLimits.autocompleteChoices, {
    ready: true,
  })) {
    if (m.name.length > DiscordLimits.choiceValue) continue;
    choices.push({ name: m.label ? `${m.label} (${m.name})` : m.name, value: m.name });
  }
  for (const name of unregistered) {
    if (!name.toLowerCase().includes(text.toLowerCase()) || choices.some((c) => c.value === name)) continue;
    if (name.length > DiscordLimits.choiceValue) continue;
    // A channel's chosen model being deployed again (or whose deploy failed) cannot answer either.
    const registered = await ctx.models.get(guildId, name);
    if (registered && !isReady(registered.servingStatus)) continue;
    choices.push({ name: `${name} (base model)`, value: name });
  }
  return choices.slice(0, DiscordLimits.autocompleteChoices);
}

/**
 * The guild's trained models whose hosting is billed while it runs (what /model deploy and undeploy act on), with
 * their serving state: asleep, ready, deploying, …
 */
export async function hostedModelChoices(
  ctx: Pick<AppContext, "models" | "hosting">,
  guildId: string,
  typed: string,
): Promise<ApplicationCommandOptionChoiceData[]> {
  const choices: ApplicationCommandOptionChoiceData[] = [];
  for (const m of await ctx.models.search(guildId, typed.trim(), 100)) {
    if (m.jobId === null || m.name.length > DiscordLimits.choiceValue) continue;
    let billed: boolean;
    try {
      billed = ctx.hosting.termsFor(m) !== null;
    } catch {
      billed = true; // Priced nowhere: still listed, and the command says why it cannot start.
    }
    if (!billed) continue;
    const label = `${m.label ?? m.name} · ${SERVING_WORDS[m.servingStatus]}`;
    choices.push({ name: label.slice(0, DiscordLimits.choiceName), value: m.name });
    if (choices.length >= DiscordLimits.autocompleteChoices) break;
  }
  return choices;
}

/** The configured fine-tuning providers (configuration, the same in every guild: no guild's data) matching what was typed. */
export function providerChoices(
  ctx: Pick<AppContext, "providers">,
  typed: string,
): ApplicationCommandOptionChoiceData[] {
  const t = typed.trim().toLowerCase();
  return ctx.providers
    .all()
    .filter((p) => t === "" || p.name.toLowerCase().includes(t) || p.kind.includes(t))
    .slice(0, DiscordLimits.autocompleteChoices)
    .map((p) => ({ name: describeProvider(p).slice(0, DiscordLimits.choiceName), value: p.name }));
}
