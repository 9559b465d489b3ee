// The model_unavailable notice: the teachers hear once per guild, model and UTC day that a model /ask uses
// is gone (the ask service decides when; this writes the notice the next drain posts).
import type { ModelRepository } from "../db/models.ts";
import type { OutboxRepository } from "../db/outbox.ts";
import { noticeKey } from "../domain/notices.ts";

/** "the provider no longer serves it" → "The provider no longer serves it." */
function sentence(text: string): string {
  const t = text.trim();
  return `${t.charAt(0).toUpperCase()}${t.slice(1)}${/[.!?]$/.test(t) ? "" : "."}`;
}

export async function enqueueModelUnavailable(
  deps: { outbox: OutboxRepository; models: ModelRepository; now?: () => Date },
  guildId: string,
  model: string,
  info: { reason: string; fallbackModel: string | null | undefined },
): Promise<void> {
  const registered = await deps.models.get(guildId, model);
  const now = deps.now?.() ?? new Date();
  await deps.outbox.enqueue(
    {
      guildId,
      channelId: null,
      kind: "model_unavailable",
      payload: {
        model,
        provider: registered?.provider ?? "unknown",
        shutdownDate: registered?.shutdownDate ?? null,
        reason: `${sentence(info.reason)}${info.fallbackModel ? ` Students are answered by ${info.fallbackModel} meanwhile.` : " Students get no answer until a teacher picks another model."}`,
        // A deployment (Azure, Nebius) can vanish on its own: the job that trained the model can deploy it again.
        redeployJobId:
          registered?.jobId != null && registered.deploymentName !== null ? registered.jobId : null,
      },
      dedupeKey: noticeKey.modelUnavailable(guildId, model, now),
    },
    now,
  );
}
