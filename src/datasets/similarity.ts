// How close two questions are, lexically: cosine over TF-IDF vectors of words and character trigrams, question
// words such as "what is the difference between" left out. The sandbox's fine-tuned models answer by it
// (src/sandbox/chat.ts), and the held-out test questions are chosen by it (src/finetuning/heldOut.ts), so the two
// agree on what counts as a close paraphrase.

/** From this cosine similarity on, two questions are close: the sandbox answers one with the other's answer. */
export const SIMILARITY_FLOOR = 0.35;

type SparseVector = Map<string, number>;

/** Question words that say nothing about the topic: "what is the difference between" matches too much. */
const STOP_WORDS = new Set(
  "a an and are as at be between by can difference do does for from how i in is it its me of on or please s so tell that the their there this to what whats when where which who why with you your".split(
    " ",
  ),
);

function features(text: string): Map<string, number> {
  const tf = new Map<string, number>();
  const norm = text.toLowerCase().normalize("NFKC");
  const all = norm.match(/[\p{L}\p{N}]+/gu) ?? [];
  const content = all.filter((w) => !STOP_WORDS.has(w));
  const words = content.length > 0 ? content : all;
  for (const w of words) tf.set(`w:${w}`, (tf.get(`w:${w}`) ?? 0) + 1);
  const squeezed = ` ${words.join(" ")} `;
  for (let i = 0; i + 3 <= squeezed.length; i++) {
    const g = `c:${squeezed.slice(i, i + 3)}`;
    tf.set(g, (tf.get(g) ?? 0) + 1);
  }
  return tf;
}

export interface RetrievalHit {
  answer: string;
  question: string;
  /** Its position among the index's pairs. */
  index: number;
  score: number;
}

/** TF-IDF vectors of (question, answer) pairs' questions with an inverted index. */
export class QuestionIndex {
  private readonly postings = new Map<string, Array<[number, number]>>();
  private readonly idf = new Map<string, number>();
  protected readonly docs: Array<{ question: string; answer: string }>;

  constructor(pairs: Array<{ question: string; answer: string }>) {
    this.docs = pairs;
    const tfs = pairs.map((p) => features(p.question));
    const df = new Map<string, number>();
    for (const tf of tfs) for (const term of tf.keys()) df.set(term, (df.get(term) ?? 0) + 1);
    const n = Math.max(1, pairs.length);
    for (const [term, count] of df) this.idf.set(term, Math.log(1 + n / count));
    tfs.forEach((tf, doc) => {
      const vec = this.weigh(tf);
      for (const [term, w] of vec) {
        let list = this.postings.get(term);
        if (!list) {
          list = [];
          this.postings.set(term, list);
        }
        list.push([doc, w]);
      }
    });
  }

  get size(): number {
    return this.docs.length;
  }

  private weigh(tf: Map<string, number>): SparseVector {
    const vec: SparseVector = new Map();
    let sq = 0;
    const unseen = Math.log(1 + Math.max(1, this.docs.length));
    for (const [term, count] of tf) {
      const w = (1 + Math.log(count)) * (this.idf.get(term) ?? unseen);
      vec.set(term, w);
      sq += w * w;
    }
    const len = Math.sqrt(sq) || 1;
    for (const [term, w] of vec) vec.set(term, w / len);
    return vec;
  }

  /** The closest question (never the pair at index `skip`), or undefined when there is none at all. */
  search(question: string, skip = -1): RetrievalHit | undefined {
    const q = this.weigh(features(question));
    const scores = new Float64Array(this.docs.length);
    for (const [term, w] of q) {
      const list = this.postings.get(term);
      if (!list) continue;
      for (const [doc, dw] of list) scores[doc] = (scores[doc] ?? 0) + w * dw;
    }
    let best = -1;
    let bestScore = 0;
    for (let i = 0; i < scores.length; i++) {
      if (i === skip) continue;
      const s = scores[i] ?? 0;
      if (s > bestScore) {
        best = i;
        bestScore = s;
      }
    }
    const doc = this.docs[best];
    return doc && { ...doc, index: best, score: bestScore };
  }
}
