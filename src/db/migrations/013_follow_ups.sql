-- Follow-up questions: an answer may continue an earlier one of the same student in the same channel (its parent),
-- and `turn` is its place in that conversation (1 = a new question; the repository sets parent's turn + 1).
-- ON DELETE CASCADE: a follow-up means nothing without the turns before it ("and the second one?"), so deleting a
-- turn (a student's /privacy delete, the retention sweep, a server's deletion) deletes the turns that continue it;
-- no chain is ever left pointing at a missing row, and every row with turn > 1 has its parent.
ALTER TABLE answers ADD COLUMN parent_id INTEGER REFERENCES answers (id) ON DELETE CASCADE;
ALTER TABLE answers ADD COLUMN turn INTEGER NOT NULL DEFAULT 1 CHECK (turn >= 1);
-- The cascade finds a deleted answer's follow-ups by parent_id (without this index every delete scans answers).
CREATE INDEX answers_parent ON answers (parent_id) WHERE parent_id IS NOT NULL;
