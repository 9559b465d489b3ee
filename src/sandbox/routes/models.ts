// The Models API: the base models the sandbox fine-tunes, plus its fine-tuned models (deletable).
import { BASE_MODELS, resolveBaseModel } from "../catalog.ts";
import type { Handler, RequestContext, Route, SandboxState } from "../context.ts";
import { modelNotFound, SandboxApiError } from "../errors.ts";
import { baseModelView, fineTunedModelView } from "../views.ts";

export function modelRoutes(s: SandboxState): Route[] {
  const { store, advanceDue, fineTuned, indexes } = s;

  const listModels: Handler = ({ now }) => {
    advanceDue(now);
    return {
      object: "list",
      data: [...BASE_MODELS.map(baseModelView), ...store.fineTunedModels().map(fineTunedModelView)],
    };
  };

  const modelParam = (ctx: RequestContext): string => {
    const raw = ctx.params[0] ?? "";
    try {
      return decodeURIComponent(raw);
    } catch {
      throw modelNotFound(raw);
    }
  };

  const retrieveModel: Handler = (ctx) => {
    const id = modelParam(ctx);
    const base = resolveBaseModel(id);
    if (base) return { ...baseModelView(base), id };
    const job = fineTuned(id, ctx.now);
    if (!job) throw modelNotFound(id);
    return fineTunedModelView(job);
  };

  const deleteModel: Handler = (ctx) => {
    const id = modelParam(ctx);
    if (resolveBaseModel(id)) {
      throw new SandboxApiError(
        403,
        `You cannot delete the base model ${id}: only fine-tuned models you own can be deleted.`,
        {
          param: "model",
        },
      );
    }
    if (!fineTuned(id, ctx.now) || !store.markModelDeleted(id)) throw modelNotFound(id);
    indexes.forget(id);
    return { id, object: "model", deleted: true };
  };

  return [
    { method: "GET", pattern: /^\/models$/, name: "GET /models", handler: listModels },
    { method: "GET", pattern: /^\/models\/(.+)$/, name: "GET /models/:id", handler: retrieveModel },
    { method: "DELETE", pattern: /^\/models\/(.+)$/, name: "DELETE /models/:id", handler: deleteModel },
  ];
}
