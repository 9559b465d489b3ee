// How billed hosting reads in Discord: the confirmation of `/model deploy`, a model's hosting line in `/model
// list`, the reply to `/model undeploy`, the lines of the ready and stopped notices. One place for the words.
import { EmbedBuilder } from "discord.js";
import type { HostingNote, HostingStoppedPayload } from "../../domain/notices.ts";
import type { HostingOffer, HostingState, StopOutcome } from "../../finetuning/hosting.ts";
import { Colors, usd } from "./report.ts";

/** 45 → "45 min", 135 → "2 h 15 min". */
export function duration(minutes: number): string {
  if (!Number.isFinite(minutes)) return "without limit";
  const m = Math.max(0, Math.round(minutes));
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  const rest = m % 60;
  return rest === 0 ? `${h} h` : `${h} h ${rest} min`;
}

const perHour = (usdPerHour: number) => `${usd(usdPerHour)}/h`;

/** The rules every billed deployment runs under, in one sentence. */
export function hostingRules(n: Pick<HostingNote, "idleMinutes" | "dailyBudgetUsd">): string {
  return `classtune stops it after ${duration(n.idleMinutes)} without a question, and stops all of this server's hosting once today's hosting reaches ${usd(n.dailyBudgetUsd)} (UTC day).`;
}

/** The ready notice's hosting line. */
export function hostingNoteLine(n: HostingNote): string {
  const hardware = n.hardware ? ` (${n.hardware.slice(0, 60)})` : "";
  return `Hosting is billed while it runs, asked or not: ${perHour(n.usdPerHour)}${hardware}. ${hostingRules(n)} Stop it sooner with \`/model undeploy\`.`;
}

/** The confirmation before a billed deployment starts. */
export function renderHostingOffer(o: HostingOffer): EmbedBuilder {
  const p = o.terms.price;
  const asleep = o.model.servingStatus === "asleep";
  return new EmbedBuilder()
    .setTitle(`${asleep ? "Wake" : "Start hosting for"} ${o.model.label ?? o.model.name}?`)
    .setColor(Colors.warn)
    .setDescription(
      `${o.terms.provider} serves this model on a deployment of its own, billed for as long as it runs, even when nobody asks it anything. Press **Start** to deploy it (it takes a few minutes), or **Cancel**.`,
    )
    .addFields(
      { name: "Hosting price", value: `${perHour(p.usdPerHour)} on ${p.hardware}`, inline: true },
      {
        name: "Today so far",
        value: `${usd(o.spentTodayUsd)} of ${usd(o.dailyBudgetUsd)} (HOSTING_DAILY_BUDGET_USD)`,
        inline: true,
      },
      {
        name: "It can run today",
        value: `${duration(o.minutesLeftToday)} before the budget stops it`,
        inline: true,
      },
      { name: "Stops by itself", value: hostingRules(o), inline: false },
      {
        name: "Price source",
        value: `${p.source} (as of ${p.asOf}). An estimate: the provider's bill is what counts.`.slice(
          0,
          1024,
        ),
        inline: false,
      },
    );
}

/** A model's hosting in `/model list`: running since, minutes and cost so far, the idle stop. */
export function hostingLine(s: HostingState): string {
  const since = s.session.startedAt.slice(11, 16);
  const cost = `${duration(s.minutes)} · ${usd(s.costUsd)} so far at ${perHour(s.session.usdPerHour)}`;
  if (s.stopping) return `🛑 stopping (asked at ${s.session.stopRequestedAt?.slice(11, 16)} UTC) · ${cost}`;
  const idle =
    s.idleStopAt === null
      ? "starting"
      : `stops at ${s.idleStopAt.toISOString().slice(11, 16)} UTC if nobody asks it anything`;
  return `💳 hosted since ${since} UTC · ${cost} · ${idle}`;
}

/** The reply to `/model undeploy`. */
export function renderStopOutcome(o: StopOutcome): string {
  const spent = `It ran ${duration(o.minutes)}: ${usd(o.costUsd)} at ${perHour(o.session.usdPerHour)}.`;
  return o.confirmed
    ? `Stopped \`${o.model.name}\`: ${o.session.provider} deleted its deployment, so the billing has stopped. ${spent} The model is asleep; \`/model deploy model:${o.model.name}\` wakes it.`
    : `\`${o.model.name}\` is asleep (no question reaches it), but ${o.session.provider} has not confirmed the deployment's deletion yet${o.error ? `: ${o.error}` : ""}. classtune asks again every minute and tells the teachers if it keeps failing. ${spent}`;
}

const REASONS: Record<HostingStoppedPayload["reason"], string> = {
  idle: "nobody asked it anything",
  budget: "today's hosting budget was reached",
  teacher: "a teacher stopped it",
  failed: "its deploy failed",
  gone: "its deployment vanished",
};

/** The same notice in a line (when Discord refuses the embed), every text cut by `short`. */
export function hostingStoppedShort(p: HostingStoppedPayload, short: (text: string) => string): string {
  const model = short(p.label ?? p.model);
  if (p.stopError) {
    return `Hosting of ${model} may still be billed: ${short(p.provider)} has not confirmed its deletion. Check its dashboard.`;
  }
  return `Hosting of ${model} stopped (${REASONS[p.reason] ?? short(p.reason)}): it ran ${duration(p.minutes)}, ${usd(p.costUsd)}. Wake it with /model deploy.`;
}

/** The teachers' notice when classtune stopped hosting on its own, or cannot get a stop confirmed. */
export function hostingStoppedText(p: HostingStoppedPayload): { title: string; description: string } {
  const model = p.label ?? p.model;
  const ran = `It ran ${duration(p.minutes)}: ${usd(p.costUsd)} at ${perHour(p.usdPerHour)}. This server's hosting today: ${usd(p.spentTodayUsd)} of ${usd(p.dailyBudgetUsd)}.`;
  if (p.stopError) {
    return {
      title: `Hosting of ${model} may still be billed`,
      description: `classtune asked ${p.provider} to delete deployment \`${p.deploymentName}\` several times and it has not confirmed: ${p.stopError}\nCheck ${p.provider}'s dashboard and delete it there if it still runs; classtune keeps trying every minute. ${ran}`,
    };
  }
  const why =
    p.reason === "idle" ? `${REASONS.idle} for ${duration(p.idleMinutes)}` : (REASONS[p.reason] ?? p.reason);
  return {
    title: `Hosting of ${model} stopped`,
    description: `classtune stopped \`${p.model}\` at ${p.provider} because ${why}, so it is no longer billed. ${ran}\nThe model is asleep: students who ask it are told so, and a teacher wakes it with \`/model deploy model:${p.model}\`.`,
  };
}
