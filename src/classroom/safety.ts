// `/config safety`: what moderates this server's /ask, and a server admin's tightening of it: chosen categories
// (or all) are flagged from a lower score than the provider's own. Stored in guild_settings; read by the
// moderation step (classroom/moderation.ts decide) on every check. A guild can only tighten, never loosen.
import type { GuildSettingsRepository } from "../db/guildSettings.ts";
import { UserError } from "../domain/errors.ts";
import {
  isModerationCategory,
  MODERATION_CATEGORIES,
  type ModerationCategory,
  type ModerationFailPolicy,
  SEVERE_CATEGORIES,
} from "../domain/moderation.ts";
import type { Moderator } from "../providers/moderation.ts";
import type { GuildModerationPolicy } from "./moderation.ts";

export interface SafetyView {
  /** The moderator and its model ("sandbox (omni-moderation-latest)"), or "off". */
  moderator: string;
  enabled: boolean;
  fail: ModerationFailPolicy;
  /** The guild's tightening: categories (empty: all) and the score they flag from; null: none. */
  threshold: number | null;
  categories: ModerationCategory[];
  /** The one severe list, for the admin to read. */
  severe: ModerationCategory[];
}

export interface SafetyChange {
  /** Comma- or space-separated category names; "all" or empty: every category. */
  categories?: string | undefined;
  /** 0 < threshold ≤ 1. */
  threshold?: number | undefined;
}

/** "violence, self-harm/intent" → the categories; a name classtune does not know is a UserError naming them all. */
export function parseCategories(text: string): ModerationCategory[] {
  const names = text
    .split(/[\s,]+/)
    .map((n) => n.trim().toLowerCase())
    .filter((n) => n !== "");
  if (names.length === 0 || (names.length === 1 && names[0] === "all")) return [];
  const unknown = names.filter((n) => !isModerationCategory(n));
  if (unknown.length > 0) {
    throw new UserError(
      `Unknown moderation categor${unknown.length === 1 ? "y" : "ies"}: ${unknown.map((n) => `"${n.slice(0, 40)}"`).join(", ")}. Choose from: ${MODERATION_CATEGORIES.join(", ")} (or "all").`,
      "unknown_category",
    );
  }
  return [...new Set(names as ModerationCategory[])];
}

export class SafetySettings {
  constructor(
    private readonly deps: {
      guildSettings: GuildSettingsRepository;
      moderator: Moderator;
      fail: ModerationFailPolicy;
    },
  ) {}

  /** The guild's tightening, as the moderation step applies it; undefined when it set none. */
  policyFor(guildId: string): GuildModerationPolicy | undefined {
    const s = this.deps.guildSettings.get(guildId);
    return s.safetyThreshold === null
      ? undefined
      : { categories: s.safetyCategories, threshold: s.safetyThreshold };
  }

  show(guildId: string): SafetyView {
    const s = this.deps.guildSettings.get(guildId);
    return {
      moderator: this.deps.moderator.describe,
      enabled: this.deps.moderator.kind !== "off",
      fail: this.deps.fail,
      threshold: s.safetyThreshold,
      categories: s.safetyCategories.filter(isModerationCategory),
      severe: [...SEVERE_CATEGORIES],
    };
  }

  /** Sets the tightening (the caller checked the server admin). */
  tighten(guildId: string, change: SafetyChange): SafetyView {
    if (this.deps.moderator.kind === "off") {
      throw new UserError(
        "Moderation is off on this bot (MODERATION_PROVIDER=off), so there is nothing to tighten. Ask whoever runs classtune to turn it on.",
        "moderation_off",
      );
    }
    const current = this.deps.guildSettings.get(guildId);
    const threshold = change.threshold ?? current.safetyThreshold;
    if (threshold === null) {
      throw new UserError(
        "Give a threshold too: the score (above 0, at most 1) from which the categories are flagged, e.g. 0.3.",
        "threshold_missing",
      );
    }
    if (!Number.isFinite(threshold) || threshold <= 0 || threshold > 1) {
      throw new UserError("The threshold is a score above 0 and at most 1, e.g. 0.3.", "bad_threshold");
    }
    const categories =
      change.categories === undefined ? current.safetyCategories : parseCategories(change.categories);
    this.deps.guildSettings.update(guildId, { safetyThreshold: threshold, safetyCategories: categories });
    return this.show(guildId);
  }

  /** Back to the provider's own decisions. */
  reset(guildId: string): SafetyView {
    this.deps.guildSettings.update(guildId, { safetyThreshold: null, safetyCategories: [] });
    return this.show(guildId);
  }
}
