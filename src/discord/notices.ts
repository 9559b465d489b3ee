// Posts the poller's outbox notices to Discord: the guild's notice channel (or the job's, or the bot's
// default), mentions only the requester, and keeps one card per job: the job_created card is edited in place
// with progress (a text progress bar and the latest loss; the poller throttles the edits) and with the job's
// final state. Endings are their own message: success with the model's name, tokens, duration, the test
// answers, how to use it and a PNG of the loss curve; failure with the provider's words; cancelled. Where the
// provider deploys before a model answers, success says "trained; deploying" (or the manual step to take), and a
// later notice says the model is ready (with the test answers) or that the deploy failed and how to retry; the
// card follows the serving state too.
// `nonce` + `enforce_nonce` make a repeated post (a crash right after sending) one message. Every text is
// bounded and never blank, so Discord accepts the embed; should it still refuse a notice for its shape
// (400 50035), the notice is sent again as short plain text (minimalNotice) rather than retried until parked.
import {
  type APIActionRowComponent,
  type APIButtonComponent,
  ButtonStyle,
  type Client,
  ComponentType,
  DiscordAPIError,
  EmbedBuilder,
  RESTJSONErrorCodes,
  type RESTPostAPIChannelMessageJSONBody,
  Routes,
} from "discord.js";
import { renderLossChart } from "../charts/charts.ts";
import type { GuildSettingsRepository } from "../db/guildSettings.ts";
import type { JobMetricsRepository, JobProgress, MetricPoint } from "../db/jobs.ts";
import type { OutboxRepository } from "../db/outbox.ts";
import type { JobStatus } from "../domain/jobs.ts";
import type {
  JobCreatedPayload,
  JobNoticeBase,
  JobProgressPayload,
  ModerationFlaggedPayload,
  OutboxNotice,
  ServingNote,
  TestAnswer,
} from "../domain/notices.ts";
import { isSandboxNotice, noticeKey, SANDBOX_ANSWERS_BY_RETRIEVAL } from "../domain/notices.ts";
import type { ServingStatus } from "../domain/serving.ts";
import type { Logger } from "../logger.ts";
import { silentLogger } from "../logger.ts";
import type { NoticeSender } from "../notices/notifier.ts";
import { guildOfChannel } from "./channels.ts";
import { DiscordLimits } from "./limits.ts";
import { neutraliseMarkdown } from "./markdown.ts";
import { hostingNoteLine, hostingStoppedShort, hostingStoppedText } from "./render/hosting.ts";
import { Colors, usd } from "./render/report.ts";

export class NoChannelError extends Error {
  constructor(guildId: string) {
    super(`guild ${guildId} has no notice channel yet (/config notifications); the notice waits`);
  }
}

export class ForeignChannelError extends Error {
  constructor(guildId: string, channelId: string) {
    super(
      `channel ${channelId} is not in guild ${guildId}: its notices are not posted there (/config notifications)`,
    );
  }
}

export const LOSS_CHART_NAME = "loss.png";
const SANDBOX_FOOTER = "Sandbox: simulated fine-tuning (no cost, no real training).";
const TEST_ANSWER_CHARS = 700;
const EXPECTED_CHARS = 250;
const QUESTION_CHARS = 200;
/** A name in a sentence (model, dataset, provider id): longer than any real one, short enough that the sentence survives. */
const NAME_CHARS = 300;
/** Someone else's words (the provider's error, why a model is gone): the guidance after them must fit too. */
const MESSAGE_CHARS = 3000;
const EMPTY_ANSWER = "(empty answer)";

const STATUS_TEXT: Record<JobStatus, string> = {
  validating_files: "🔎 The provider is checking the training file.",
  queued: "⏳ Queued at the provider.",
  running: "🏃 Training.",
  paused: "⏸️ Paused at the provider.",
  succeeded: "✅ Finished: the model is ready (see the notice below).",
  failed: "❌ Failed (see the notice below).",
  cancelled: "🚫 Cancelled.",
};

/** A succeeded job's card line, by where its model's serving step stands. */
function servingText(status: ServingStatus, jobId: number): string {
  switch (status) {
    case "ready":
      return STATUS_TEXT.succeeded;
    case "deploying":
      return "✅ Trained. 🚀 Deploying at the provider: the model can be asked once its deployment is ready.";
    case "failed":
      return `✅ Trained. ❌ The deploy failed (see the notice below): retry with \`/finetune deploy job:${jobId}\`.`;
    case "manual":
      return "✅ Trained. ⏳ Waiting for a manual deploy (see the notice below for the step to run).";
    case "asleep":
      return "✅ Trained. 💤 Asleep: its hosting is stopped until a teacher wakes it with `/model deploy`.";
  }
}

/** What the card's success line reads from: the notice's serving note (absent before migration 007: ready). */
const servingOf = (note: ServingNote | undefined): ServingStatus => note?.status ?? "ready";

function jobTitle(p: Pick<JobNoticeBase, "jobId" | "provider" | "sandbox">): string {
  const sandbox = isSandboxNotice(p) ? " (sandbox)" : "";
  return `Fine-tuning job #${p.jobId}${sandbox}`;
}

function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - 1;
  // Never cut a character of two UTF-16 units in half.
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return `${text.slice(0, end)}…`;
}

const name = (text: string) => clip(text, NAME_CHARS);

/** Discord trims an embed field's name and value and refuses one left blank. */
const orElse = (text: string, placeholder: string) => (text.trim() === "" ? placeholder : text);

/** The sandbox's footer; where test answers are shown, with how its models answer (by retrieval). */
function withSandboxFooter(
  embed: EmbedBuilder,
  p: { provider: string; sandbox?: boolean | undefined },
  { answers = false }: { answers?: boolean } = {},
): EmbedBuilder {
  if (!isSandboxNotice(p)) return embed;
  return embed.setFooter({
    text: answers ? `${SANDBOX_FOOTER} ${SANDBOX_ANSWERS_BY_RETRIEVAL}` : SANDBOX_FOOTER,
  });
}

export function progressBar(fraction: number, width = 20): string {
  const f = Number.isFinite(fraction) ? Math.max(0, Math.min(1, fraction)) : 0;
  const filled = Math.round(f * width);
  return `\`${"█".repeat(filled)}${"░".repeat(width - filled)}\` ${Math.round(f * 100)}%`;
}

/** "`█████░░░` 40% step 8/20 · loss 0.912", or undefined before the first step. */
export function progressLine(progress: JobProgress | null, status?: JobStatus): string | undefined {
  if (!progress || progress.totalSteps <= 0) return undefined;
  // A finished job may have reported its last step before the final poll: it is complete all the same.
  const step = status === "succeeded" ? progress.totalSteps : progress.step;
  const loss = progress.loss === null ? "" : ` · loss ${progress.loss.toFixed(3)}`;
  return `${progressBar(step / progress.totalSteps)} step ${step}/${progress.totalSteps}${loss}`;
}

/** The job's one card: what was started (created payload) and where it stands now. */
export function renderJobCard(
  created: JobCreatedPayload | undefined,
  state: {
    base: JobNoticeBase;
    status: JobStatus;
    progress: JobProgress | null;
    /** A succeeded job's serving step; unset: ready. */
    serving?: ServingStatus | undefined;
  },
): EmbedBuilder {
  const p = state.base;
  const lines = [
    `Training **${name(p.baseModel)}** on dataset #${p.datasetId} (${name(p.datasetName)}) for <@${p.requesterId}>.`,
    state.status === "succeeded" ? servingText(state.serving ?? "ready", p.jobId) : STATUS_TEXT[state.status],
    progressLine(state.progress, state.status),
  ].filter((l): l is string => l !== undefined);
  const embed = new EmbedBuilder()
    .setTitle(jobTitle(p))
    .setColor(
      state.status === "succeeded"
        ? Colors.ok
        : state.status === "failed"
          ? Colors.problem
          : state.status === "cancelled"
            ? Colors.warn
            : Colors.info,
    )
    .setDescription(clip(lines.join("\n"), DiscordLimits.embedDescription));
  if (created) {
    embed.addFields(
      { name: "Examples", value: String(created.examples), inline: true },
      { name: "Epochs", value: String(created.nEpochs), inline: true },
      {
        name: "Estimated cost",
        value: created.estimatedCostUsd === null ? "unknown" : `${usd(created.estimatedCostUsd)} (estimate)`,
        inline: true,
      },
    );
    if (created.method === "dpo") {
      embed.addFields({ name: "Method", value: "DPO (preference)", inline: true });
    }
  }
  embed.addFields({
    name: "Provider job",
    value: `${name(orElse(p.remoteId, "unknown"))} (${name(orElse(p.provider, "unknown"))})`,
    inline: false,
  });
  return withSandboxFooter(embed, p);
}

/**
 * The message body for a notice: pure, so it is tested without Discord. A progress notice renders the whole
 * card when the created payload is given (it edits that card).
 */
export function renderNotice(
  notice: OutboxNotice,
  options: { created?: JobCreatedPayload | undefined; lossChart?: boolean } = {},
): RESTPostAPIChannelMessageJSONBody {
  let embed = new EmbedBuilder();
  let content: string | undefined;
  let mention: string | undefined;
  let pingRole: string | undefined;
  let components: APIActionRowComponent<APIButtonComponent>[] | undefined;
  switch (notice.kind) {
    case "job_created": {
      const p = notice.payload;
      mention = p.requesterId;
      content = `<@${p.requesterId}> your fine-tuning job has started.`;
      embed = renderJobCard(p, { base: p, status: "queued", progress: null });
      break;
    }
    case "job_progress": {
      const p: JobProgressPayload = notice.payload;
      embed = renderJobCard(options.created, { base: p, status: p.status, progress: p.progress });
      break;
    }
    case "job_succeeded": {
      const p = notice.payload;
      const serving = servingOf(p.serving);
      mention = p.requesterId;
      content =
        serving === "ready"
          ? `<@${p.requesterId}> your model is ready.`
          : serving === "manual"
            ? `<@${p.requesterId}> your model is trained; it must be deployed before anyone can ask it (see below).`
            : `<@${p.requesterId}> your model is trained; deploying it now. You will hear when it can be used.`;
      const deploying =
        serving === "deploying"
          ? `\nTrained; deploying${p.serving?.deploymentName ? ` as \`${name(p.serving.deploymentName)}\`` : ""} at ${name(p.provider)}. It cannot be asked until the deployment is ready: another notice follows.`
          : "";
      const manual =
        serving === "manual" && p.serving?.instructions
          ? `\n${clip(p.serving.instructions, MESSAGE_CHARS)}`
          : "";
      embed
        .setTitle(`${jobTitle(p)} succeeded`)
        .setColor(Colors.ok)
        .setDescription(
          clip(
            `Fine-tuned model: \`${name(p.fineTunedModel)}\` (from ${name(p.baseModel)}, dataset #${p.datasetId} ${name(p.datasetName)}).${deploying}${manual}`,
            DiscordLimits.embedDescription,
          ),
        )
        .addFields(
          {
            name: "Trained tokens",
            value: p.trainedTokens === null ? "unknown" : p.trainedTokens.toLocaleString("en-US"),
            inline: true,
          },
          {
            name: "Duration",
            value: p.durationMs === null ? "unknown" : formatDuration(p.durationMs),
            inline: true,
          },
        );
      addTestAnswers(embed, p.testAnswers);
      if (serving === "ready") addUseIt(embed, p.fineTunedModel);
      addCaveat(embed, p.serving?.caveat ?? null);
      if (options.lossChart) embed.setImage(`attachment://${LOSS_CHART_NAME}`);
      withSandboxFooter(embed, p, { answers: p.testAnswers.length > 0 });
      break;
    }
    case "model_ready": {
      const p = notice.payload;
      mention = p.requesterId;
      content = `<@${p.requesterId}> your model is ready: it can be used now.`;
      embed
        .setTitle(`${jobTitle(p)}: model ready`)
        .setColor(Colors.ok)
        .setDescription(
          clip(
            `\`${name(p.fineTunedModel)}\` is deployed at ${name(p.provider)}${p.servedAs !== p.fineTunedModel ? ` and answers as \`${name(p.servedAs)}\`` : ""}.`,
            DiscordLimits.embedDescription,
          ),
        );
      addTestAnswers(embed, p.testAnswers);
      addUseIt(embed, p.fineTunedModel);
      if (p.hosting) {
        embed.addFields({
          name: "Hosting cost",
          value: clip(hostingNoteLine(p.hosting), DiscordLimits.embedFieldValue),
        });
      }
      addCaveat(embed, p.caveat);
      withSandboxFooter(embed, p, { answers: p.testAnswers.length > 0 });
      break;
    }
    case "model_deploy_failed": {
      const p = notice.payload;
      mention = p.requesterId;
      content = `<@${p.requesterId}> deploying your model failed.`;
      embed
        .setTitle(`${jobTitle(p)}: deploy failed`)
        .setColor(Colors.problem)
        .setDescription(
          clip(
            `Deploying \`${name(p.fineTunedModel)}\`${p.deploymentName ? ` as \`${name(p.deploymentName)}\`` : ""} at ${name(p.provider)} failed. The provider said: ${clip(orElse(p.errorMessage, "nothing"), MESSAGE_CHARS)}\nThe model is trained: retry the deploy with \`/finetune deploy job:${p.jobId}\`.`,
            DiscordLimits.embedDescription,
          ),
        );
      withSandboxFooter(embed, p);
      break;
    }
    case "job_failed": {
      const p = notice.payload;
      mention = p.requesterId;
      content = `<@${p.requesterId}> your fine-tuning job failed.`;
      embed
        .setTitle(`${jobTitle(p)} failed`)
        .setColor(Colors.problem)
        .setDescription(
          clip(
            `The provider said: ${clip(orElse(p.errorMessage, "nothing"), MESSAGE_CHARS)}${p.errorCode ? ` (${name(p.errorCode)})` : ""}\nFix the dataset (\`/dataset validate\`) and start again with \`/finetune start\`.`,
            DiscordLimits.embedDescription,
          ),
        );
      withSandboxFooter(embed, p);
      break;
    }
    case "job_cancelled": {
      const p = notice.payload;
      mention = p.requesterId;
      content = `<@${p.requesterId}> your fine-tuning job was cancelled.`;
      embed
        .setTitle(`${jobTitle(p)} cancelled`)
        .setColor(Colors.warn)
        .setDescription(
          `Training **${name(p.baseModel)}** on dataset #${p.datasetId} (${name(p.datasetName)}) was stopped.`,
        );
      withSandboxFooter(embed, p);
      break;
    }
    case "hosting_stopped": {
      const text = hostingStoppedText(notice.payload);
      embed
        .setTitle(clip(text.title, DiscordLimits.embedTitle))
        .setColor(notice.payload.stopError ? Colors.problem : Colors.info)
        .setDescription(clip(text.description, DiscordLimits.embedDescription));
      withSandboxFooter(embed, notice.payload);
      break;
    }
    case "model_unavailable": {
      const p = notice.payload;
      embed
        .setTitle("A model students use is unavailable")
        .setColor(Colors.warn)
        .setDescription(
          clip(
            `\`${name(p.model)}\` (${name(p.provider)}) ${clip(p.reason, MESSAGE_CHARS)}${p.shutdownDate ? ` Shutdown date: ${name(p.shutdownDate)}.` : ""}${p.redeployJobId ? `\nIf its deployment was deleted, deploy it again with \`/finetune deploy job:${p.redeployJobId}\`.` : ""}\nSet a fallback with \`/classroom setup\` or choose another model with \`/model use\`.`,
            DiscordLimits.embedDescription,
          ),
        );
      break;
    }
    case "moderation_flagged": {
      const p = notice.payload;
      // Names the student and the channel as mentions that ping nobody; only the safety role, when the server set
      // one, is pinged on a severe alert (allowed_mentions below).
      content = `${p.pingRoleId ? `<@&${p.pingRoleId}> ` : ""}${moderationAlertLine(p)}`;
      pingRole = p.pingRoleId ?? undefined;
      components = [safetyAlertButtons(p.verdictId)];
      embed
        .setTitle(moderationAlertTitle(p))
        .setColor(p.severe ? Colors.problem : Colors.warn)
        .setDescription(
          clip(
            `${p.target === "question" ? "The question was not sent to the model" : "The answer was not shown; the student saw a neutral message instead"}${p.studentSaw === "help" ? ", and the student was shown where to find help" : ""}.${p.answer !== null ? ` The answer is attached (${FLAGGED_ANSWER_FILE}) for review.` : ""}`,
            DiscordLimits.embedDescription,
          ),
        )
        .addFields(
          { name: "Categories", value: clip(categoryList(p), DiscordLimits.embedFieldValue) },
          {
            name: "Checked by",
            value: clip(`${orElse(p.provider, "unknown")} (${orElse(p.model, "unknown")})`, NAME_CHARS),
            inline: true,
          },
          {
            name: "Question",
            // Behind a spoiler, as plain text: the teacher chooses to read it.
            value: `||${clip(neutraliseMarkdown(orElse(p.question.replace(/\s+/g, " "), "(empty)")), FLAGGED_TEXT_CHARS)}||`,
          },
        );
      break;
    }
    case "moderation_unavailable": {
      const p = notice.payload;
      embed
        .setTitle("Moderation is unavailable")
        .setColor(Colors.warn)
        .setDescription(
          clip(
            `The moderation provider (${name(orElse(p.provider, "unknown"))}) could not check /ask today (${name(orElse(p.error, "error"))}). ${p.policy === "closed" ? 'Students\' questions are refused with "try again shortly" until it is back (MODERATION_FAIL=closed).' : "Students are being answered without moderation until it is back (MODERATION_FAIL=open)."}`,
            DiscordLimits.embedDescription,
          ),
        );
      break;
    }
  }
  return {
    ...(content ? { content } : {}),
    embeds: [embed.toJSON()],
    ...(components ? { components } : {}),
    allowed_mentions: {
      parse: [],
      users: mention ? [mention] : [],
      // The safety role on a severe alert, when a server admin set one: the only role classtune ever pings.
      ...(pingRole ? { roles: [pingRole] } : {}),
    },
  };
}

/** The custom ids of a moderation alert's buttons: `safety:<reviewed|false|context>:<verdict id>`. */
export const SAFETY_ALERT_PREFIX = "safety";

/** Reviewed, False alarm and Show context under an alert (teachers; the handler checks again). */
function safetyAlertButtons(verdictId: number): APIActionRowComponent<APIButtonComponent> {
  const button = (
    action: string,
    label: string,
    style: ButtonStyle.Primary | ButtonStyle.Secondary | ButtonStyle.Success,
  ): APIButtonComponent => ({
    type: ComponentType.Button,
    custom_id: `${SAFETY_ALERT_PREFIX}:${action}:${verdictId}`,
    label,
    style,
  });
  return {
    type: ComponentType.ActionRow,
    components: [
      button("reviewed", "Reviewed", ButtonStyle.Success),
      button("false", "False alarm", ButtonStyle.Secondary),
      button("context", "Show context", ButtonStyle.Primary),
    ],
  };
}

/**
 * The notice as short plain text, no embed: what is sent when Discord refuses the full notice for its shape
 * (400 50035), so the news still arrives instead of the notice being retried until it is parked.
 */
export function minimalNotice(notice: OutboxNotice): RESTPostAPIChannelMessageJSONBody {
  const short = (text: string) => clip(text, 100);
  let content: string;
  let mention: string | undefined;
  switch (notice.kind) {
    case "job_created":
    case "job_succeeded":
    case "job_failed":
    case "job_cancelled": {
      const p = notice.payload;
      mention = p.requesterId;
      const job = `fine-tuning job #${p.jobId}${isSandboxNotice(p) ? " (sandbox)" : ""}`;
      content =
        notice.kind === "job_created"
          ? `<@${p.requesterId}> your ${job} has started.`
          : notice.kind === "job_succeeded"
            ? servingOf(notice.payload.serving) === "ready"
              ? `<@${p.requesterId}> your model is ready: \`${name(notice.payload.fineTunedModel)}\` (${job}). Use it with \`/model use\`.`
              : `<@${p.requesterId}> your model is trained: \`${name(notice.payload.fineTunedModel)}\` (${job}); it must be deployed before it can be used.`
            : notice.kind === "job_failed"
              ? `<@${p.requesterId}> your ${job} failed: ${short(notice.payload.errorMessage)}`
              : `<@${p.requesterId}> your ${job} was cancelled.`;
      break;
    }
    case "model_ready":
    case "model_deploy_failed": {
      const p = notice.payload;
      mention = p.requesterId;
      content =
        notice.kind === "model_ready"
          ? `<@${p.requesterId}> your model is ready: \`${name(p.fineTunedModel)}\` (fine-tuning job #${p.jobId}). Use it with \`/model use\`.`
          : `<@${p.requesterId}> deploying the model of fine-tuning job #${p.jobId} failed: ${short(notice.payload.errorMessage)} Retry with \`/finetune deploy job:${p.jobId}\`.`;
      break;
    }
    case "job_progress": {
      const p = notice.payload;
      const line = progressLine(p.progress, p.status);
      content = `Fine-tuning job #${p.jobId}: ${STATUS_TEXT[p.status]}${line ? ` ${line}` : ""}`;
      break;
    }
    case "hosting_stopped":
      content = hostingStoppedShort(notice.payload, short);
      break;
    case "model_unavailable":
      content = `A model students use is unavailable: \`${short(notice.payload.model)}\`. Set a fallback with \`/classroom setup\` or choose another model with \`/model use\`.`;
      break;
    case "moderation_flagged":
      content = `${moderationAlertLine(notice.payload)} Categories: ${short(categoryList(notice.payload))}.`;
      break;
    case "moderation_unavailable":
      content = `Moderation is unavailable (${short(notice.payload.error)}): ${notice.payload.policy === "closed" ? "questions are refused until it is back" : "questions are answered without moderation until it is back"}.`;
      break;
  }
  return {
    content: clip(content, DiscordLimits.messageContent),
    embeds: [],
    allowed_mentions: { parse: [], users: mention ? [mention] : [] },
  };
}

export const FLAGGED_ANSWER_FILE = "flagged-answer.txt";
/** The flagged question shown (behind a spoiler) in the alert; the whole text is in the attachment or the row. */
const FLAGGED_TEXT_CHARS = 900;

function moderationAlertTitle(p: ModerationFlaggedPayload): string {
  const what = p.target === "question" ? "A question was flagged" : "An answer was withheld";
  return p.severe ? `🚨 Safety alert: ${what.toLowerCase()}` : `🚩 ${what}`;
}

/** "A question from <@u> in <#c> was flagged.": mentions that render as names and, with no allowed mentions, ping nobody. */
function moderationAlertLine(p: ModerationFlaggedPayload): string {
  return p.target === "question"
    ? `🚩 A question from <@${p.userId}> in <#${p.channelId}> was flagged by moderation.`
    : `🚩 An answer to <@${p.userId}> in <#${p.channelId}> was withheld by moderation.`;
}

/** "self-harm/intent 0.99, self-harm 0.98" (a guard model's named categories score 1). */
function categoryList(p: ModerationFlaggedPayload): string {
  if (p.categories.length === 0) return "unspecified";
  return p.categories.map((c) => `${c.category} ${c.score.toFixed(2)}`).join(", ");
}

/** The flagged answer in full, attached for review (never shown in the channel as text). */
export function flaggedAnswerFile(
  p: ModerationFlaggedPayload,
): { name: string; data: Buffer; contentType: string } | undefined {
  if (p.answer === null) return undefined;
  const text = `Question:\n${p.question}\n\nAnswer (withheld from the student):\n${p.answer}\n`;
  return {
    name: FLAGGED_ANSWER_FILE,
    data: Buffer.from(text, "utf8"),
    contentType: "text/plain; charset=utf-8",
  };
}

/** The first test answers, a field each: the model's answer and, when held out, the dataset's. */
function addTestAnswers(embed: EmbedBuilder, answers: readonly TestAnswer[]): void {
  for (const t of answers.slice(0, 3)) {
    // An empty answer is an answer (a tool-calling model's `content: null` reads as ""): say so.
    const answer =
      t.answer === null
        ? `(no answer: ${orElse(t.error ?? "", "unknown error")})`
        : orElse(t.answer, EMPTY_ANSWER);
    const expected =
      t.expected && t.expected.trim() !== ""
        ? `\n*Dataset's answer:* ${clip(t.expected, EXPECTED_CHARS)}`
        : "";
    embed.addFields({
      name: clip(`Q: ${orElse(t.question, "(empty question)")}`, QUESTION_CHARS),
      value: clip(`${clip(answer, TEST_ANSWER_CHARS)}${expected}`, DiscordLimits.embedFieldValue),
    });
  }
}

function addUseIt(embed: EmbedBuilder, model: string): void {
  embed.addFields({
    name: "Use it",
    value: clip(
      `\`/model use model:${name(model)}\` makes it the default in a channel (or the whole server); students then ask with \`/ask\`.`,
      DiscordLimits.embedFieldValue,
    ),
  });
}

/** The provider's warning about its deployments (Azure deletes them on its own). */
function addCaveat(embed: EmbedBuilder, caveat: string | null): void {
  if (caveat && caveat.trim() !== "") {
    embed.addFields({ name: "Note", value: clip(caveat, DiscordLimits.embedFieldValue) });
  }
}

function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m ${s % 60}s` : `${Math.floor(m / 60)}h ${m % 60}m`;
}

/** The card's last word on progress: the throttled progress notice, brought up to the last stored step. */
function latestProgress(known: JobProgress | null, points: MetricPoint[]): JobProgress | null {
  const last = points.at(-1);
  if (!last || (known && last.step < known.step)) return known;
  return {
    step: last.step,
    totalSteps: Math.max(known?.totalSteps ?? 0, last.step),
    loss: last.trainLoss ?? known?.loss ?? null,
  };
}

export interface NoticeSenderDeps {
  client: Client;
  guildSettings: GuildSettingsRepository;
  defaultChannelId: string | undefined;
  /** Finds a job's created card (its message id) so progress and the ending edit it. */
  outbox?: OutboxRepository | undefined;
  /** The job's loss points, for the success notice's chart. */
  metrics?: JobMetricsRepository | undefined;
  logger?: Logger | undefined;
}

/** Discord refuses the body itself (a limit, a blank field): sending it again cannot help. */
const isRefusedShape = (err: unknown) =>
  err instanceof DiscordAPIError && err.code === RESTJSONErrorCodes.InvalidFormBodyOrContentType;

/** renderNotice could not build the notice (a payload it did not expect): as good as refused for its shape. */
class NoticeShapeError extends Error {
  constructor(kind: string, cause: unknown) {
    super(`notice ${kind} could not be rendered`, { cause });
  }
}

function rendered(
  notice: OutboxNotice,
  options?: Parameters<typeof renderNotice>[1],
): RESTPostAPIChannelMessageJSONBody {
  try {
    return renderNotice(notice, options);
  } catch (err) {
    throw new NoticeShapeError(notice.kind, err);
  }
}

const isGone = (err: unknown) =>
  err instanceof DiscordAPIError &&
  (err.code === RESTJSONErrorCodes.UnknownMessage || err.code === RESTJSONErrorCodes.UnknownChannel);

export function createDiscordNoticeSender(deps: NoticeSenderDeps): NoticeSender {
  const logger = deps.logger ?? silentLogger;

  const createdCard = async (guildId: string, jobId: number) => {
    const row = await deps.outbox?.getByKey(guildId, noticeKey.jobCreated(jobId));
    return row && { payload: row.payload as JobCreatedPayload, messageId: row.messageId };
  };

  const post = async (
    channelId: string,
    notice: OutboxNotice,
    body: RESTPostAPIChannelMessageJSONBody,
    files?: { name: string; data: Buffer; contentType: string }[],
  ) => {
    const full = {
      ...body,
      nonce: notice.nonce,
      enforce_nonce: true,
      ...(files ? { attachments: files.map((f, id) => ({ id, filename: f.name })) } : {}),
    };
    const posted = (await deps.client.rest.post(Routes.channelMessages(channelId), {
      body: full,
      ...(files ? { files } : {}),
    })) as { id: string };
    return posted.id;
  };

  /** Edits a message; false when it is gone (deleted, or the guild moved its notice channel). */
  const edit = async (channelId: string, messageId: string, body: RESTPostAPIChannelMessageJSONBody) => {
    try {
      await deps.client.rest.patch(Routes.channelMessage(channelId, messageId), { body });
      return true;
    } catch (err) {
      if (isGone(err)) return false;
      throw err;
    }
  };

  const lossChart = async (guildId: string, jobId: number): Promise<Buffer | undefined> => {
    const points = (await deps.metrics?.list(guildId, jobId)) ?? [];
    if (!points.some((p) => p.trainLoss !== null)) return undefined;
    try {
      return await renderLossChart(
        points.map((p) => ({ step: p.step, loss: p.trainLoss, validLoss: p.validLoss })),
        `Training loss, job #${jobId}`,
      );
    } catch (err) {
      logger.warn({ err, jobId }, "loss chart not rendered; the notice goes without it");
      return undefined;
    }
  };

  /** NOTIFY_CHANNEL_ID, only for the guild that channel belongs to: never another guild's notices there. */
  const defaultChannelFor = async (guildId: string): Promise<string | undefined> => {
    const id = deps.defaultChannelId;
    return id && (await guildOfChannel(deps.client, id)) === guildId ? id : undefined;
  };

  /**
   * Where the notice goes: its own channel or the guild's notice channel, which must be in the notice's guild
   * (a stored id of another guild's channel is refused, not posted to), else the default channel.
   */
  const channelFor = async (notice: OutboxNotice): Promise<string> => {
    const chosen = notice.channelId ?? (await deps.guildSettings.get(notice.guildId)).notifyChannelId;
    if (chosen) {
      const owner = await guildOfChannel(deps.client, chosen);
      // Unknown or hidden: the post itself fails with Discord's own reason.
      if (owner !== undefined && owner !== notice.guildId)
        throw new ForeignChannelError(notice.guildId, chosen);
      return chosen;
    }
    const fallback = await defaultChannelFor(notice.guildId);
    if (!fallback) throw new NoChannelError(notice.guildId);
    return fallback;
  };

  /** The notice as designed: the card edited in place, the ending with its chart. */
  const deliver = async (channelId: string, notice: OutboxNotice): Promise<{ messageId: string }> => {
    if (notice.kind === "job_progress") {
      const card = await createdCard(notice.guildId, notice.payload.jobId);
      const body = rendered(notice, { created: card?.payload });
      const target = notice.messageId ?? card?.messageId;
      if (target && (await edit(channelId, target, body))) return { messageId: target };
      return { messageId: await post(channelId, notice, body) };
    }
    if (notice.messageId) {
      const { content: _content, ...quiet } = rendered(notice);
      if (await edit(channelId, notice.messageId, quiet)) return { messageId: notice.messageId };
      return { messageId: await post(channelId, notice, rendered(notice)) };
    }
    if (notice.kind === "moderation_flagged") {
      const file = flaggedAnswerFile(notice.payload);
      return { messageId: await post(channelId, notice, rendered(notice), file ? [file] : undefined) };
    }
    if (notice.kind === "job_succeeded") {
      const png = await lossChart(notice.guildId, notice.payload.jobId);
      const body = rendered(notice, { lossChart: png !== undefined });
      const files = png ? [{ name: LOSS_CHART_NAME, data: png, contentType: "image/png" }] : undefined;
      return { messageId: await post(channelId, notice, body, files) };
    }
    return { messageId: await post(channelId, notice, rendered(notice)) };
  };

  /** The notice as short text (minimalNotice), in the message it would have edited or as a new one. */
  const deliverMinimal = async (channelId: string, notice: OutboxNotice): Promise<{ messageId: string }> => {
    const body = minimalNotice(notice);
    const target =
      notice.messageId ??
      (notice.kind === "job_progress"
        ? (await createdCard(notice.guildId, notice.payload.jobId))?.messageId
        : undefined);
    const quiet = { ...body, allowed_mentions: { parse: [], users: [] } };
    if (target && (await edit(channelId, target, quiet))) return { messageId: target };
    // The refused post created no message, so its nonce is still free.
    return { messageId: await post(channelId, notice, body) };
  };

  /** The job's card shows the final state too; best effort (the ending notice is what counts). */
  const finishCard = async (channelId: string, notice: OutboxNotice) => {
    if (
      notice.kind === "job_progress" ||
      notice.kind === "job_created" ||
      notice.kind === "model_unavailable" ||
      notice.kind === "hosting_stopped" ||
      notice.kind === "moderation_flagged" ||
      notice.kind === "moderation_unavailable"
    )
      return;
    const p = notice.payload;
    try {
      const card = await createdCard(notice.guildId, p.jobId);
      if (!card?.messageId) return;
      const known = await deps.outbox?.payloadOf(
        notice.guildId,
        noticeKey.jobProgress(p.jobId),
        "job_progress",
      );
      const status: JobStatus =
        notice.kind === "job_failed" ? "failed" : notice.kind === "job_cancelled" ? "cancelled" : "succeeded";
      const serving: ServingStatus =
        notice.kind === "job_succeeded"
          ? servingOf(notice.payload.serving)
          : notice.kind === "model_deploy_failed"
            ? "failed"
            : "ready";
      const embed = renderJobCard(card.payload, {
        base: p,
        status,
        serving,
        progress: latestProgress(
          known?.progress ?? null,
          (await deps.metrics?.list(notice.guildId, p.jobId)) ?? [],
        ),
      });
      await edit(channelId, card.messageId, {
        embeds: [embed.toJSON()],
        allowed_mentions: { parse: [], users: [] },
      });
    } catch (err) {
      logger.warn({ err, jobId: p.jobId }, "job card not updated");
    }
  };

  return {
    async send(notice) {
      const channelId = await channelFor(notice);

      let sent: { messageId: string };
      try {
        sent = await deliver(channelId, notice);
      } catch (err) {
        if (!(err instanceof NoticeShapeError) && !isRefusedShape(err)) throw err;
        // Retrying the same body would be refused the same way, ten times, then parked: send the news plainly.
        logger.warn(
          { err, noticeId: notice.id, kind: notice.kind },
          "notice refused for its shape; sent as plain text",
        );
        sent = await deliverMinimal(channelId, notice);
      }
      await finishCard(channelId, notice);
      return sent;
    },
  };
}
