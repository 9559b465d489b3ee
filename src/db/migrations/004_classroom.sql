-- Classroom Q&A (issue 5). All rows are scoped by guild.
-- channel_settings: a channel's /ask model. is_class = 1 makes it a class channel (public answers, its own
-- system prompt, fallback model, temperature, max tokens); is_class = 0 is a plain `/model use … channel`.
CREATE TABLE channel_settings (
  guild_id TEXT NOT NULL,
  channel_id TEXT NOT NULL,
  model TEXT NOT NULL,
  system_prompt TEXT NOT NULL DEFAULT 'You are a helpful educational assistant.',
  fallback_model TEXT,
  temperature REAL NOT NULL DEFAULT 0.7,
  max_tokens INTEGER NOT NULL DEFAULT 500,
  is_class INTEGER NOT NULL DEFAULT 0,
  updated_by TEXT,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (guild_id, channel_id)
);

-- One row per /ask that reached a model or the cache: the spend cap and /usage read it.
CREATE TABLE ask_usage (
  id INTEGER PRIMARY KEY,
  guild_id TEXT NOT NULL,
  channel_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  model TEXT NOT NULL,
  provider TEXT NOT NULL,
  prompt_tokens INTEGER NOT NULL DEFAULT 0,
  completion_tokens INTEGER NOT NULL DEFAULT 0,
  latency_ms INTEGER NOT NULL DEFAULT 0,
  cost_usd REAL NOT NULL DEFAULT 0,
  cache_hit INTEGER NOT NULL DEFAULT 0,
  error TEXT,
  created_at TEXT NOT NULL
);
CREATE INDEX ask_usage_guild_time ON ask_usage (guild_id, created_at);

-- Every answer given, so students can vote on it and teachers can correct it; the export reads it.
CREATE TABLE answers (
  id INTEGER PRIMARY KEY,
  guild_id TEXT NOT NULL,
  channel_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  question TEXT NOT NULL,
  answer TEXT NOT NULL,
  model TEXT NOT NULL,
  system_prompt TEXT NOT NULL,
  public INTEGER NOT NULL,
  corrected_answer TEXT,
  corrected_by TEXT,
  corrected_at TEXT,
  created_at TEXT NOT NULL
);
CREATE INDEX answers_guild_time ON answers (guild_id, created_at);

-- One vote per person per answer (+1 or -1); voting again replaces the vote.
CREATE TABLE answer_votes (
  answer_id INTEGER NOT NULL REFERENCES answers (id) ON DELETE CASCADE,
  guild_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  value INTEGER NOT NULL CHECK (value IN (-1, 1)),
  created_at TEXT NOT NULL,
  PRIMARY KEY (answer_id, user_id)
);
CREATE INDEX answer_votes_guild ON answer_votes (guild_id, answer_id);
