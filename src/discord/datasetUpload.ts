// A teacher's dataset attachment, from a slash command to a stored, validated dataset: the model option is
// checked first, then the download (allowed hosts and size cap, checked before any request), then
// storeDataset (validation in worker threads, off the event loop). Shared by /dataset and /finetune.
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { Attachment } from "discord.js";
import { downloadAttachment } from "../datasets/attachments.ts";
import type { Catalog, CatalogSet } from "../datasets/catalog.ts";
import { resolveModel } from "../datasets/catalog.ts";
import type { StoreResult } from "../datasets/store.ts";
import { makeUploadDir } from "../datasets/tempFiles.ts";
import type { AppContext } from "./context.ts";

/** The catalog's model id for a `model` option (ids and aliases); a UserError naming the known ones otherwise. */
export function modelOption(value: string | null, catalog: Catalog): string | undefined {
  if (value === null || value.trim() === "") return undefined;
  return resolveModel(value, catalog).id;
}

/** The catalog a command's `provider` option names (default: the default provider's); unknown: a UserError naming each. */
export function providerCatalog(value: string | null, catalogs: CatalogSet): Catalog {
  return catalogs.catalogFor(value ?? undefined);
}

/** A file name safe to reuse for the files we attach back (no path, no markup). */
export function fileStem(name: string): string {
  const stem = name
    .replace(/\.[^.]*$/, "")
    .replace(/[^\w.-]+/g, "_")
    .slice(0, 60);
  return stem === "" ? "dataset" : stem;
}

/**
 * Downloads the attachment to a private temp dir, validates and stores it for the guild (row null, with the
 * reason, for a file that is no dataset: binary or empty); the temp dir always goes.
 */
export async function storeAttachment(
  ctx: AppContext,
  input: {
    guildId: string;
    uploaderId: string;
    attachment: Attachment;
    model: string | undefined;
    /** The fine-tuning provider whose rules apply; default the default provider. */
    provider?: string | undefined;
  },
): Promise<StoreResult> {
  const { attachment } = input;
  const dir = await makeUploadDir();
  try {
    const path = join(dir, "upload.jsonl");
    await downloadAttachment(
      { url: attachment.url, size: attachment.size, name: attachment.name },
      {
        allowedHosts: ctx.config.discord.attachmentHosts,
        maxBytes: ctx.config.discord.maxAttachmentBytes,
      },
      path,
      { fetch: ctx.fetch },
    );
    return await ctx.storeDataset({
      guildId: input.guildId,
      uploaderId: input.uploaderId,
      fileName: attachment.name,
      sourcePath: path,
      provider: input.provider,
      model: input.model ?? ctx.catalogs.catalogFor(input.provider).defaultModel,
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
