-- Whether the student was shown the model's answer, or a message in its place (moderation flagged it, or could not
-- check it under MODERATION_FAIL=closed). `moderation` alone cannot tell the second case ("unchecked" is also an
-- answer shown under MODERATION_FAIL=open), and a withheld answer must never be followed up: the model would be
-- sent, as context, words nobody checked or that were flagged.
ALTER TABLE answers ADD COLUMN withheld INTEGER NOT NULL DEFAULT 0 CHECK (withheld IN (0, 1));
UPDATE answers SET withheld = 1 WHERE moderation = 'flagged';
