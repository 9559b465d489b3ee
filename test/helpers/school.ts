// The end-to-end tests' school: a guild on the fake Discord with a teacher (Manage Server, what the teacher
// commands need by default) and two students (no permissions beyond @everyone). Every e2e file builds its
// guilds here, so a test shows only what is particular to it; the ids are the fake's (`school.teacher.id`).
import { PermissionFlagsBits } from "discord.js";
import type { FakeDiscord, FakeGuild, FakeMember, FakeUser } from "../fakes/discord/index.ts";

/** A teacher's member permissions: Manage Server, the teacher commands' default_member_permissions. */
export const TEACHER_PERMISSIONS = PermissionFlagsBits.ManageGuild;

export interface SchoolOptions {
  /** Default "Lincoln High". */
  name?: string;
  /** The guild's id; default a fresh snowflake (snowflakeOnShard puts a school on a chosen shard). */
  id?: string;
  /** Channel names; default ["general"]. */
  channels?: string[];
  /** Further roles (names) the guild has. */
  roles?: string[];
  /** A username for a new teacher (default "ms-rivera"), or a user who already teaches in another school. */
  teacher?: string | FakeUser;
  /** The two students' usernames; default "sam" and "ana". */
  students?: readonly [string, string];
  /** A role both students hold (created with the guild), e.g. "students". */
  studentRole?: string;
}

export interface School {
  guild: FakeGuild;
  teacher: FakeUser;
  students: readonly [FakeUser, FakeUser];
}

/** The second school of the isolation tests: its own teacher and students. */
export const OTHER_SCHOOL = {
  name: "Other School",
  teacher: "mr-okafor",
  students: ["bo", "kim"],
} as const satisfies SchoolOptions;

/** Adds the guild with its teacher and two students as members. */
export function addSchool(discord: FakeDiscord, options: SchoolOptions = {}): School {
  const { studentRole } = options;
  const guild = discord.addGuild({
    name: options.name ?? "Lincoln High",
    id: options.id,
    channels: options.channels ?? ["general"],
    roles: [...(options.roles ?? []), ...(studentRole ? [studentRole] : [])],
  });
  const teacher =
    typeof options.teacher === "object"
      ? options.teacher
      : discord.addUser({ username: options.teacher ?? "ms-rivera" });
  addTeacher(guild, teacher);
  const [first, second] = options.students ?? ["sam", "ana"];
  const students = [discord.addUser({ username: first }), discord.addUser({ username: second })] as const;
  for (const student of students) {
    guild.addMember(student, studentRole ? { roles: [guild.role(studentRole)] } : {});
  }
  return { guild, teacher, students };
}

/** Makes the user a teacher of the guild (one teacher may manage several schools). */
export function addTeacher(guild: FakeGuild, user: FakeUser): FakeMember {
  return guild.addMember(user, { permissions: TEACHER_PERMISSIONS });
}
