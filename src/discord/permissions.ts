// Server-side permission check: Manage Server, or the guild's configured teacher role.
// Discord's default member permissions are only a first filter an admin can widen; this always holds.
import { PermissionFlagsBits, type PermissionsBitField } from "discord.js";

export interface MemberLike {
  permissions: Readonly<PermissionsBitField> | null;
  roleIds: readonly string[];
}

export function isTeacher(member: MemberLike, teacherRoleId: string | null): boolean {
  if (member.permissions?.has(PermissionFlagsBits.ManageGuild)) return true;
  return teacherRoleId !== null && member.roleIds.includes(teacherRoleId);
}

/** Role ids of the interaction's member, whether discord.js gave a GuildMember or the raw API member. */
export function memberRoleIds(member: unknown): string[] {
  if (!member || typeof member !== "object" || !("roles" in member)) return [];
  const roles = (member as { roles: unknown }).roles;
  if (Array.isArray(roles)) return roles.filter((r): r is string => typeof r === "string");
  const cache = (roles as { cache?: Map<string, unknown> }).cache;
  return cache ? [...cache.keys()] : [];
}
