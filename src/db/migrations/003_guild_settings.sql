-- Per-guild settings: where notices go, which role counts as teacher, and the guild's default /ask model.
CREATE TABLE guild_settings (
  guild_id TEXT PRIMARY KEY,
  notify_channel_id TEXT,
  teacher_role_id TEXT,
  default_model TEXT,
  updated_at TEXT NOT NULL
);
