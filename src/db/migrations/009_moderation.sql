-- Moderation of /ask (issue 12). One row per check: a question before it reaches the model or the cache, an
-- answer before it is posted. answer_id links a verdict to the answer it concerns; it is NULL for a question
-- that was never answered (flagged, or refused while moderation was down under MODERATION_FAIL=closed), whose
-- text is kept in flagged_text for the teachers' review (no answers row holds it).
-- outcome: 'passed' | 'flagged' | 'unavailable' (the moderator could not judge). provider/model: who judged
-- ("openai", "sandbox", "guard:<chat provider>"). categories: JSON [{"category","score"}] of the categories that
-- decided a flag, highest first; top_category/top_score: the highest-scoring category, flagged or not.
CREATE TABLE moderation_verdicts (
  id INTEGER PRIMARY KEY,
  guild_id TEXT NOT NULL,
  channel_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  answer_id INTEGER REFERENCES answers (id) ON DELETE CASCADE,
  target TEXT NOT NULL CHECK (target IN ('question', 'answer')),
  outcome TEXT NOT NULL CHECK (outcome IN ('passed', 'flagged', 'unavailable')),
  provider TEXT NOT NULL,
  model TEXT,
  categories TEXT NOT NULL DEFAULT '[]',
  top_category TEXT,
  top_score REAL,
  severe INTEGER NOT NULL DEFAULT 0,
  error TEXT,
  flagged_text TEXT,
  created_at TEXT NOT NULL
);
CREATE INDEX moderation_verdicts_guild_time ON moderation_verdicts (guild_id, created_at);
CREATE INDEX moderation_verdicts_answer ON moderation_verdicts (answer_id) WHERE answer_id IS NOT NULL;

-- Each answer's moderation, as the export and the votes read it: 'passed'; 'flagged' (withheld from the
-- student, kept for the teachers: never exported unless a teacher corrects it); 'unchecked' (moderation off,
-- or down under MODERATION_FAIL=open). Answers from before this migration were never checked.
ALTER TABLE answers ADD COLUMN moderation TEXT NOT NULL DEFAULT 'unchecked'
  CHECK (moderation IN ('passed', 'flagged', 'unchecked'));

-- A guild's tightening of moderation (`/config safety`, server admins): these categories (JSON array of
-- classtune category names; NULL or [] = every category) are flagged from this score (0..1) even where the
-- provider did not flag them. NULL threshold: the provider's own decision only. A guild can never loosen it.
ALTER TABLE guild_settings ADD COLUMN safety_categories TEXT;
ALTER TABLE guild_settings ADD COLUMN safety_threshold REAL CHECK (safety_threshold > 0 AND safety_threshold <= 1);
