-- PostgreSQL twin of src/db/migrations/003_guild_settings.sql.
CREATE TABLE guild_settings (
  guild_id text PRIMARY KEY,
  notify_channel_id text,
  teacher_role_id text,
  default_model text,
  updated_at text NOT NULL
);
