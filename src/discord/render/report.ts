// Renders a validation report as a Discord embed: verdict, counts, tokens, estimate, first errors, warnings.
import { EmbedBuilder } from "discord.js";
import type { ValidationReport } from "../../datasets/types.ts";
import { DiscordLimits } from "../limits.ts";

export const Colors = { ok: 0x2e7d32, problem: 0xc62828, info: 0x1565c0, warn: 0xef6c00 } as const;

const FIRST_ERRORS = 8;
const n = (x: number) => x.toLocaleString("en-US");
export const usd = (x: number) => (x < 0.01 && x > 0 ? `$${x.toFixed(4)}` : `$${x.toFixed(2)}`);

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function verdict(r: ValidationReport): string {
  const fileError = r.errors.find((e) => e.line === 0);
  if (r.examples === 0 && fileError) return `❌ Not a dataset: ${fileError.message}.`;
  if (r.fineTunable) return `✅ Ready to fine-tune: ${n(r.valid)} valid examples.`;
  if (r.invalid > 0) {
    const dropped =
      r.valid >= r.minExamples
        ? ` The ${n(r.valid)} valid lines are attached as a cleaned file you can use instead.`
        : "";
    return `❌ ${n(r.invalid)} of ${n(r.examples)} examples have problems; ${r.trainerName} would refuse this file.${dropped}`;
  }
  return `❌ Only ${n(r.valid)} valid examples: ${r.trainerName} needs at least ${n(r.minExamples)} (50–100 recommended).`;
}

export function renderReportEmbed(r: ValidationReport, title: string): EmbedBuilder {
  const embed = new EmbedBuilder()
    .setTitle(clip(title, DiscordLimits.embedTitle))
    .setColor(r.fineTunable ? Colors.ok : Colors.problem)
    .setDescription(verdict(r))
    .addFields(
      {
        name: "Checked against",
        value: `${r.model} on provider ${r.provider} (${r.providerKind}) · ${r.chatTemplate === "openai-cookbook" ? "OpenAI's counting rule" : "the model's own chat template"} · at most ${n(r.maxTokensPerExample)} tokens per example`,
        inline: false,
      },
      {
        name: "Examples",
        value: `${n(r.examples)} lines · ${n(r.valid)} valid · ${n(r.invalid)} invalid · ${r.format}`,
        inline: false,
      },
      {
        name: `Tokens (${r.encoding})`,
        value:
          r.valid > 0
            ? `${n(r.tokens.total)} in all · per example min ${n(r.tokens.min)}, mean ${n(Math.round(r.tokens.mean))}, p50 ${n(r.tokens.p50)}, p90 ${n(r.tokens.p90)}, max ${n(r.tokens.max)}`
            : "no valid examples",
        inline: false,
      },
      {
        name: "Estimated training cost",
        value: `${usd(r.estimatedCostUsd)} for ${n(r.billingTokens)} billed tokens (${r.epochs} epochs × ${r.model} at $${r.pricePerMillionTrainingTokensUsd}/1M, prices of ${r.pricesAsOf}). An estimate: the provider's bill is what counts.`,
        inline: false,
      },
    );
  if (r.errors.length > 0) {
    const lines = r.errors
      .slice(0, FIRST_ERRORS)
      .map((e) => `• ${e.line > 0 ? `line ${e.line}` : "file"}: ${e.message}`);
    const total = r.errors.length + r.errorsOmitted;
    if (total > FIRST_ERRORS) {
      const counts = Object.entries(r.errorCounts)
        .map(([code, c]) => `${code} ×${c}`)
        .join(", ");
      lines.push(`…and ${n(total - FIRST_ERRORS)} more (${counts}). The attached report lists them all.`);
    }
    embed.addFields({ name: "Errors", value: clip(lines.join("\n"), DiscordLimits.embedFieldValue) });
  }
  if (r.warnings.length > 0) {
    const counts = Object.entries(r.warningCounts).map(([code, c]) => {
      const first = r.warnings.find((w) => w.code === code);
      return `• ${first?.message ?? code}${(c ?? 0) > 1 ? ` (×${c})` : ""}`;
    });
    embed.addFields({ name: "Warnings", value: clip(counts.join("\n"), DiscordLimits.embedFieldValue) });
  }
  return embed;
}
