// Which examples are held out of training and asked of the finished model, so its answers show what it
// generalised. Pure: the dataset's (question, answer) pairs in, the line positions to hold out.
//
// The rule, by how a held-out question stands to the rest (closeness is src/datasets/similarity.ts, the measure
// the sandbox answers by):
//   1. a question with a paraphrase in the training set, one that carries the same answer ("twins"): the best
//      test of generalisation, and the sandbox (answering by retrieval) answers it right;
//   2. a question with no close neighbour at all: a real model is tested on something new; the sandbox says
//      plainly that it does not know yet;
//   3. a question whose closest neighbour answers differently: only for a model that does not answer by
//      retrieval, and only to fill up. The sandbox would answer it with the wrong neighbour's answer, so it is
//      never held out there.
// Of a pair of twins the later line is held out (a rephrasing is usually the later one) and the other is kept in
// training. The choice is checked against the training set that remains; what no longer holds is put back.
import { QuestionIndex, SIMILARITY_FLOOR } from "../datasets/similarity.ts";

export interface ExamplePair {
  question: string;
  answer: string;
}

/** Pairs compared at most: the first ones of a larger file (a classroom dataset is far smaller). */
export const MAX_HELD_OUT_SCAN = 5_000;
/** Pairs that may be held out, at most (evenly spread over those compared): each costs one search of them all. */
export const MAX_HELD_OUT_CANDIDATES = 300;
/** Rounds of checking the choice against what remains before giving up on holding any out. */
const MAX_CHECK_ROUNDS = 4;

const sameAnswer = (a: string, b: string) =>
  a.trim().replace(/\s+/g, " ").toLowerCase() === b.trim().replace(/\s+/g, " ").toLowerCase();

type Standing = { kind: "twin"; twin: number } | { kind: "loner" } | { kind: "confusable" };

function standingOf(index: QuestionIndex, docs: ExamplePair[], at: number, skip: number): Standing {
  const doc = docs[at] as ExamplePair;
  const hit = index.search(doc.question, skip);
  if (!hit || hit.score < SIMILARITY_FLOOR) return { kind: "loner" };
  return sameAnswer(hit.answer, doc.answer) ? { kind: "twin", twin: hit.index } : { kind: "confusable" };
}

/** `count` evenly spread items of `list` (all of them when it is shorter). */
function spread<T>(list: T[], count: number): T[] {
  if (list.length <= count) return list;
  return Array.from({ length: count }, (_, k) => list[Math.floor(((k + 0.5) * list.length) / count)] as T);
}

/**
 * The positions (into `pairs`) to hold out: at most `count`, fewer (even none) when the dataset has too few
 * that show generalisation honestly. `undefined` marks a line with no question and answer to ask. With
 * `answersByRetrieval` (the sandbox), a question whose close neighbour answers differently is never chosen.
 */
export function chooseHeldOut(
  pairs: readonly (ExamplePair | undefined)[],
  count: number,
  { answersByRetrieval }: { answersByRetrieval: boolean },
): number[] {
  const positions: number[] = [];
  const docs: ExamplePair[] = [];
  for (let i = 0; i < pairs.length && docs.length < MAX_HELD_OUT_SCAN; i++) {
    const p = pairs[i];
    if (p === undefined) continue;
    positions.push(i);
    docs.push(p);
  }
  if (count <= 0 || docs.length === 0) return [];
  const all = new QuestionIndex(docs);
  const candidates = spread(
    docs.map((_, d) => d),
    MAX_HELD_OUT_CANDIDATES,
  );
  const standings = new Map(candidates.map((d) => [d, standingOf(all, docs, d, d)]));

  const chosen = new Set<number>();
  const kept = new Set<number>();
  for (const d of [...candidates].reverse()) {
    if (chosen.size >= count) break;
    const s = standings.get(d) as Standing;
    if (s.kind !== "twin" || kept.has(d) || chosen.has(s.twin)) continue;
    chosen.add(d);
    kept.add(s.twin);
  }
  const fill = (kind: Standing["kind"]) => {
    const free = candidates.filter((d) => standings.get(d)?.kind === kind && !chosen.has(d) && !kept.has(d));
    for (const d of spread(free, count - chosen.size)) chosen.add(d);
  };
  fill("loner");
  if (!answersByRetrieval) fill("confusable");

  // Checked against what remains: a twin must still find its own answer, a loner no close neighbour.
  for (let round = 0; round < MAX_CHECK_ROUNDS; round++) {
    const remaining = docs.map((_, d) => d).filter((d) => !chosen.has(d));
    const training = new QuestionIndex(remaining.map((d) => docs[d] as ExamplePair));
    const broken = [...chosen].filter((d) => {
      const planned = standings.get(d)?.kind;
      if (planned === "confusable") return false;
      const doc = docs[d] as ExamplePair;
      const hit = training.search(doc.question);
      const close = hit !== undefined && hit.score >= SIMILARITY_FLOOR;
      const right = close && sameAnswer(hit.answer, doc.answer);
      // A loner that found a neighbour with its own answer became a twin: still fine.
      return planned === "twin" ? !right : answersByRetrieval && close && !right;
    });
    if (broken.length === 0) return [...chosen].sort((a, b) => a - b).map((d) => positions[d] as number);
    for (const d of broken) chosen.delete(d);
  }
  return [];
}
