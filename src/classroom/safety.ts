// `/config safety`: what moderates this server's /ask, and a server admin's tightening of it: chosen categories
// (or all) are flagged from a lower score than the provider's own. Stored in guild_settings; read by the
// moderation step (classroom/moderation.ts decide) on every check. A guild can only tighten, never loosen.

import type { GuildSettings, GuildSettingsRepository } from "../db/guildSettings.ts";
import type { ModerationRepository, ReviewStatus, VerdictRow } from "../db/moderation.ts";

export type { ReviewStatus };

import { UserError } from "../domain/errors.ts";
import {
  isModerationCategory,
  MODERATION_CATEGORIES,
  type ModerationCategory,
  type ModerationFailPolicy,
  SEVERE_CATEGORIES,
} from "../domain/moderation.ts";
import type { Moderator } from "../providers/moderation.ts";
import { type GuildModerationPolicy, policyOf } from "./moderation.ts";

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
      /** The alerts' verdicts, for the teachers' Reviewed / False alarm and Show context. */
      verdicts?: ModerationRepository | undefined;
      now?: (() => Date) | undefined;
    },
  ) {}

  /**
   * A teacher's word on an alert: reviewed, or a false alarm. The first word stands; `changed` is false when the
   * alert was already reviewed (the verdict says by whom). Another guild's verdict id finds nothing.
   */
  async reviewAlert(
    guildId: string,
    verdictId: number,
    status: ReviewStatus,
    by: string,
  ): Promise<{ verdict: VerdictRow; changed: boolean }> {
    const changed =
      (await this.deps.verdicts?.review(guildId, verdictId, status, by, this.deps.now?.() ?? new Date())) ??
      false;
    return { verdict: await this.alertVerdict(guildId, verdictId), changed };
  }

  /** A flagged verdict of this guild (an alert's), or a not-found UserError. */
  async alertVerdict(guildId: string, verdictId: number): Promise<VerdictRow> {
    const v = await this.deps.verdicts?.get(guildId, verdictId);
    if (v?.outcome !== "flagged")
      throw new UserError("That alert was not found in this server.", "not_found");
    return v;
  }

  /**
   * The guild's tightening, as the moderation step applies it; undefined when it set none. From `settings` when the
   * caller already read them (one /ask question reads them once), else read now.
   */
  async policyFor(guildId: string, settings?: GuildSettings): Promise<GuildModerationPolicy | undefined> {
    return policyOf(settings ?? (await this.deps.guildSettings.get(guildId)));
  }

  async show(guildId: string): Promise<SafetyView> {
    const s = await this.deps.guildSettings.get(guildId);
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
  async tighten(guildId: string, change: SafetyChange): Promise<SafetyView> {
    if (this.deps.moderator.kind === "off") {
      throw new UserError(
        "Moderation is off on this bot (MODERATION_PROVIDER=off), so there is nothing to tighten. Ask whoever runs classtune to turn it on.",
        "moderation_off",
      );
    }
    const current = await this.deps.guildSettings.get(guildId);
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
    await this.deps.guildSettings.update(guildId, {
      safetyThreshold: threshold,
      safetyCategories: categories,
    });
    return this.show(guildId);
  }

  /** Where this guild's severe alerts also go, and the role they ping; both unset until a server admin sets them. */
  async routeFor(guildId: string): Promise<{ channelId: string | null; roleId: string | null }> {
    const s = await this.deps.guildSettings.get(guildId);
    return { channelId: s.safetyChannelId, roleId: s.safetyRoleId };
  }

  /** Sets (or with null clears) the safety channel; the caller checked the server admin and the channel's guild. */
  async setChannel(guildId: string, channelId: string | null): Promise<void> {
    await this.deps.guildSettings.update(guildId, { safetyChannelId: channelId });
  }

  /** Sets (or with null clears) the safety role; never @everyone (the caller checked the server admin). */
  async setRole(guildId: string, roleId: string | null): Promise<void> {
    if (roleId === guildId) {
      throw new UserError(
        "@everyone cannot be the safety role: pick a role held only by the adults who must hear of severe alerts.",
        "everyone_role",
      );
    }
    await this.deps.guildSettings.update(guildId, { safetyRoleId: roleId });
  }

  /** Back to the provider's own decisions. */
  async reset(guildId: string): Promise<SafetyView> {
    await this.deps.guildSettings.update(guildId, { safetyThreshold: null, safetyCategories: [] });
    return this.show(guildId);
  }
}
