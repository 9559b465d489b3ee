import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  EDIT_INTERVAL_MS,
  type FinalPayload,
  type StreamClock,
  type StreamReplyIO,
  type StreamReplyResult,
  streamReply,
  WRITING_MARKER,
} from "../../src/discord/streamReply.ts";
import { isWellFormed } from "../helpers/text.ts";

/** Lets every pending promise continuation run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A clock that moves only when the test says so. */
class FakeClock implements StreamClock {
  private t = 0;
  private timers: { at: number; resolve: () => void }[] = [];
  now = () => this.t;
  sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      this.timers.push({ at: this.t + ms, resolve });
    });

  private async fireNext(until: number): Promise<boolean> {
    await settle();
    const next = this.timers.filter((x) => x.at <= until).sort((a, b) => a.at - b.at)[0];
    if (!next) return false;
    this.timers = this.timers.filter((x) => x !== next);
    this.t = Math.max(this.t, next.at);
    next.resolve();
    await settle();
    return true;
  }

  async advanceTo(at: number): Promise<void> {
    while (await this.fireNext(at));
    this.t = Math.max(this.t, at);
    await settle();
  }

  /** Moves time on, timer by timer, until `p` settles. */
  async runUntil<T>(p: Promise<T>): Promise<T> {
    let done = false;
    p.then(
      () => {
        done = true;
      },
      () => {
        done = true;
      },
    );
    while (!done) {
      if (!(await this.fireNext(Number.POSITIVE_INFINITY)) && !done) {
        await settle();
        if (!done) throw new Error("stuck: nothing scheduled and finish() has not returned");
      }
    }
    return p;
  }
}

interface Call {
  op: "edit" | "post";
  index: number;
  content: string;
  final: FinalPayload<string> | undefined;
  at: number;
}

/** Discord as the reply sees it: message 0 exists (the deferred reply); follow-ups are posted. */
class FakeDiscord implements StreamReplyIO<string> {
  readonly calls: Call[] = [];
  readonly shown: string[] = ["(thinking…)"];
  inFlight = 0;
  maxInFlight = 0;
  constructor(
    private readonly clock: FakeClock,
    private readonly latencyMs = 0,
    private readonly fail: (call: Call) => boolean = () => false,
  ) {}

  private async call(call: Call): Promise<void> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    this.calls.push(call);
    try {
      if (this.latencyMs > 0) await this.clock.sleep(this.latencyMs);
      if (this.fail(call)) throw new Error(`Discord 503 on ${call.op} ${call.index}`);
      if (call.op === "post") {
        assert.equal(call.index, this.shown.length, "posts come in index order");
        this.shown.push(call.content);
      } else {
        assert.ok(call.index < this.shown.length, "a message is posted before it is edited");
        this.shown[call.index] = call.content;
      }
    } finally {
      this.inFlight--;
    }
  }
  edit(index: number, content: string, final?: FinalPayload<string>) {
    return this.call({ op: "edit", index, content, final, at: this.clock.now() });
  }
  post(index: number, content: string, final?: FinalPayload<string>) {
    return this.call({ op: "post", index, content, final, at: this.clock.now() });
  }
}

const FOOTER = "-# answered by `tutor-model`";
const COMPONENTS = "feedback-row";

/** Streams `deltas` (one every `everyMs`), then finishes with their join; returns what Discord saw. */
async function run(
  deltas: string[],
  {
    everyMs = 100,
    latencyMs = 0,
    fail,
    body,
    note,
    pauseMs = 0,
    firstWriteDelayMs = 0,
  }: {
    everyMs?: number;
    latencyMs?: number;
    fail?: (c: Call) => boolean;
    body?: string;
    note?: string;
    /** Time between the last delta and finish(). */
    pauseMs?: number;
    firstWriteDelayMs?: number;
  } = {},
) {
  const clock = new FakeClock();
  const discord = new FakeDiscord(clock, latencyMs, fail);
  const reply = streamReply<string>({ io: discord, clock, firstWriteDelayMs });
  for (const [n, delta] of deltas.entries()) {
    await clock.advanceTo(n * everyMs);
    reply.append(delta);
  }
  await clock.advanceTo(deltas.length * everyMs + pauseMs);
  const final = {
    body: body ?? deltas.join(""),
    footer: FOOTER,
    components: COMPONENTS,
    ...(note ? { note } : {}),
  };
  const result: StreamReplyResult = await clock.runUntil(reply.finish(final));
  return { discord, result, clock };
}

/** Cuts `text` into deltas of 1 to `max` characters (never inside a surrogate pair), from a seeded RNG. */
function chunk(text: string, max: number, rand: () => number): string[] {
  const points = [...text];
  const out: string[] = [];
  for (let i = 0; i < points.length; ) {
    const n = 1 + Math.floor(rand() * max);
    out.push(points.slice(i, i + n).join(""));
    i += n;
  }
  return out;
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** A streamed content without the marker and a temporary closing fence. */
function stripLive(content: string): string {
  let s = content.endsWith(WRITING_MARKER) ? content.slice(0, -WRITING_MARKER.length) : content;
  if (fences(s) % 2 === 0 && /\n(```|~~~)$/.test(s) && fences(s.slice(0, -4)) % 2 === 1) s = s.slice(0, -4);
  return s;
}
const fences = (s: string) => s.split("\n").filter((l) => /^\s*(```|~~~)/.test(l)).length;
const OVERFLOW_LINE = /\n\n-# still writing;.*$/;
const noSpace = (s: string) => s.replace(/\s+/g, "");
const withoutTrailer = (s: string) => (s.endsWith(FOOTER) ? s.slice(0, -FOOTER.length) : s);

const sentence = (n: number) => `Sentence ${n} explains how plants turn light into sugar. `;
const prose = (sentences: number) => Array.from({ length: sentences }, (_, n) => sentence(n)).join("");

describe("streamReply while text arrives", () => {
  it("edits a message at most once per interval and coalesces the deltas in between", async () => {
    // 100 deltas, one every 100 ms: ten seconds of writing into one message.
    const deltas = Array.from({ length: 100 }, (_, n) => `w${n} `);
    const { discord } = await run(deltas);
    const edits = discord.calls.filter((c) => c.op === "edit" && c.index === 0);
    assert.ok(edits.length >= 5, `the message is edited as it grows (${edits.length} edits)`);
    assert.ok(edits.length <= Math.ceil(10_000 / EDIT_INTERVAL_MS) + 2, `${edits.length} edits in 10 s`);
    for (let n = 1; n < edits.length; n++) {
      const gap = (edits[n] as Call).at - (edits[n - 1] as Call).at;
      assert.ok(gap >= EDIT_INTERVAL_MS, `edits ${gap} ms apart`);
    }
    assert.equal(discord.shown[0], `${deltas.join("").trim()}\n\n${FOOTER}`, "the final text is sent");
  });

  it("shows the newest text, not each delta, after waiting out the throttle", async () => {
    const words = ["one ", "two ", "three ", "four ", "five ", "six ", "seven ", "eight "];
    const { discord } = await run(words, { everyMs: 200 }); // at 0, 200, …, 1400 ms
    const contents = discord.calls.map((c) => `${c.at}: ${c.content}`);
    assert.deepEqual(contents, [
      `0: one${WRITING_MARKER}`,
      `1200: one two three four five six${WRITING_MARKER}`, // the timer due at 1200 fires before that delta
      `2400: one two three four five six seven eight\n\n${FOOTER}`,
    ]);
  });

  it("marks the message being written, and the final content has no marker", async () => {
    const { discord, result } = await run(["Photosynthesis ", "happens in ", "chloroplasts."]);
    const streamed = discord.calls.slice(0, -1);
    assert.ok(streamed.length > 0);
    for (const c of streamed) assert.ok(c.content.endsWith(WRITING_MARKER), c.content);
    assert.deepEqual(result.messages, [`Photosynthesis happens in chloroplasts.\n\n${FOOTER}`]);
    assert.ok(!(result.messages[0] ?? "").includes(WRITING_MARKER.trim()));
    assert.equal(result.delivered, true);
  });

  it("never has two calls in flight, and posts each message before editing it", async () => {
    const deltas = chunk(prose(90), 40, rng(7)); // ~5,000 characters: several messages
    const { discord, result } = await run(deltas, { latencyMs: 700 });
    assert.equal(discord.maxInFlight, 1);
    assert.ok(result.messages.length >= 3, `${result.messages.length} messages`);
    assert.equal(result.attachment, undefined);
    assert.deepEqual(discord.shown, result.messages, "Discord shows the final contents");
    // A message once finished is never edited again: no edit of message i after message i+1 was posted.
    for (const [n, call] of discord.calls.entries()) {
      if (call.op !== "post") continue;
      const later = discord.calls.slice(n + 1).filter((c) => c.index < call.index);
      assert.deepEqual(later, [], `message ${call.index - 1} edited after message ${call.index} was posted`);
    }
  });

  it("only ever grows a message while streaming prose (markers aside)", async () => {
    for (const seed of [1, 2, 3]) {
      const rand = rng(seed);
      const text = Array.from(
        { length: 12 },
        (_, p) => prose(4 + Math.floor(rand() * 10)) + (p % 3 ? "\n" : "\n\n"),
      ).join("");
      const { discord } = await run(chunk(text, 30, rand), { latencyMs: 50 });
      const byMessage = new Map<number, string[]>();
      for (const c of discord.calls)
        byMessage.set(c.index, [...(byMessage.get(c.index) ?? []), stripLive(c.content)]);
      for (const [index, contents] of byMessage) {
        for (let n = 1; n < contents.length; n++) {
          const before = withoutTrailer(contents[n - 1] as string).trimEnd();
          assert.ok(
            withoutTrailer(contents[n] as string).startsWith(before),
            `seed ${seed}, message ${index} shrank:\n${before.slice(-80)}\n→ ${(contents[n] as string).slice(-80)}`,
          );
        }
      }
    }
  });

  it("shows an open code block with a temporary closing fence", async () => {
    const { discord } = await run(["Try this:\n\n```python\n", "print('hi')\n", "x = 1\n", "```\nDone."], {
      everyMs: 1500,
    });
    const live = discord.calls.find(
      (c) => c.content.includes("print('hi')") && c.content.endsWith(WRITING_MARKER),
    );
    assert.ok(live);
    assert.equal(live.content, `Try this:\n\n\`\`\`python\nprint('hi')\n\`\`\`${WRITING_MARKER}`);
    assert.equal(
      discord.shown[0],
      `Try this:\n\n\`\`\`python\nprint('hi')\nx = 1\n\`\`\`\nDone.\n\n${FOOTER}`,
    );
  });
});

describe("streamReply across messages", () => {
  it("breaks before a code block that outgrows the message, never inside it", async () => {
    const intro = prose(22); // ~1,250 characters
    const code = `\`\`\`js\n${"console.log('step');\n".repeat(35)}\`\`\``; // ~750 characters
    const text = `${intro}\n${code}\n\nThat is all.`;
    const { discord, result } = await run(chunk(text, 25, rng(3)));
    assert.equal(result.attachment, undefined);
    assert.equal(result.messages.length, 2);
    assert.equal(result.messages[0], intro.trim(), "the first message ends before the block");
    assert.ok(result.messages[1]?.startsWith("```js\n"), "the block starts the next message");
    assert.ok(
      discord.calls.some((c) => c.index === 0 && c.content.includes("```js")),
      "while it fitted, the block was shown in the first message",
    );
  });

  it("cuts a run with no spaces between graphemes, never inside an emoji", async () => {
    const graphemes = new Intl.Segmenter(undefined, { granularity: "grapheme" });
    const family = "👨‍👩‍👧‍👦";
    for (let lead = 1700; lead <= 1760; lead += 3) {
      const text = "a".repeat(lead) + family.repeat(60);
      const { result } = await run(chunk(text, 90, rng(lead)));
      assert.equal(result.attachment, undefined);
      assert.ok(result.messages.length >= 2, `${lead}`);
      const parts = [...result.messages.slice(0, -1), withoutTrailer(result.messages.at(-1) ?? "").trimEnd()];
      assert.equal(parts.join(""), text, `${lead}: the parts are the text`);
      const starts = new Set([...graphemes.segment(text)].map((g) => g.index));
      let at = 0;
      for (const p of parts) {
        assert.ok(starts.has(at), `${lead}: a message starts inside a grapheme, at ${at}`);
        at += p.length;
      }
    }
  });

  it("puts the footer and the components on the last message only", async () => {
    const { discord, result } = await run(chunk(prose(80), 50, rng(11)));
    assert.ok(result.messages.length >= 2);
    const last = result.messages.length - 1;
    for (const [i, m] of result.messages.entries())
      assert.equal(m.includes(FOOTER), i === last, `message ${i}`);
    const withPayload = discord.calls.filter((c) => c.final !== undefined);
    assert.equal(withPayload.length, 1);
    assert.equal(withPayload[0]?.index, last);
    assert.equal(withPayload[0]?.final?.components, COMPONENTS);
    assert.equal(withPayload[0]?.final?.attachment, undefined);
  });

  it("puts the note after the answer, with the footer", async () => {
    const note = "(the answer was cut off: the provider stopped mid-way)";
    const { result } = await run(["The cell wall is made of", " cellulose and"], { note });
    assert.deepEqual(result.messages, [`The cell wall is made of cellulose and\n\n${note}\n${FOOTER}`]);
  });

  it("attaches the whole answer when one code block is longer than a message", async () => {
    const code = `\`\`\`python\n${"total = total + price * quantity\n".repeat(90)}\`\`\``; // ~3,000 characters
    const text = `${prose(20)}\n\n${code}\n\nRun it with python3.`;
    const { discord, result } = await run(chunk(text, 60, rng(5)));
    assert.equal(result.attachment?.reason, "code-block");
    assert.equal(result.attachment?.content, text, "the file holds the whole answer");
    assert.match(result.attachment?.name ?? "", /\.txt$/);
    const last = discord.calls.at(-1);
    assert.equal(last?.final?.attachment?.content, text, "the file goes with the last message's final write");
    assert.equal(last?.final?.components, COMPONENTS);
    assert.match(result.messages.at(-1) ?? "", /attached as a file[\s\S]*answered by/);
    for (const m of result.messages) assert.equal(fences(m) % 2, 0, "no message holds half a code block");
  });

  it("stops at five messages and attaches the whole answer", async () => {
    const text = prose(300); // ~17,000 characters
    const { result } = await run(chunk(text, 200, rng(9)));
    assert.equal(result.messages.length, 5);
    assert.equal(result.attachment?.reason, "too-many-messages");
    assert.equal(result.attachment?.content, text);
    for (const m of result.messages) assert.ok(m.length <= 2000);
  });

  it("takes the final body as the truth: what was not streamed is added", async () => {
    const { result } = await run(["Mitochondria make "], { body: "Mitochondria make ATP." });
    assert.deepEqual(result.messages, [`Mitochondria make ATP.\n\n${FOOTER}`]);
  });

  it("puts the footer on the message before when the answer ends right after a break", async () => {
    const text = `${prose(22)}\n\n`; // ~1,250 characters: the paragraph break ends the message
    const { discord, result } = await run(chunk(text, 30, rng(8)), { body: text.trimEnd(), pauseMs: 3000 });
    assert.equal(
      result.attachment,
      undefined,
      "a body trimmed of the streamed whitespace is the same answer",
    );
    assert.ok(
      discord.calls.some((c) => c.index === 0 && c.content === text.trim()),
      "the message was finished at the break while streaming",
    );
    assert.deepEqual(result.messages, [`${text.trim()}\n\n${FOOTER}`]);
    assert.deepEqual(discord.shown, result.messages);
  });

  it("attaches the final body when it differs from a message already finished", async () => {
    const text = prose(60);
    const body = `Rewritten. ${text}`;
    const { result } = await run(chunk(text, 80, rng(2)), { body });
    assert.ok(result.messages.length >= 2);
    assert.equal(result.attachment?.reason, "diverged");
    assert.equal(result.attachment?.content, body);
  });
});

describe("streamReply when Discord fails", () => {
  it("keeps appending when edits fail, and reports the failures from finish", async () => {
    const clock = new FakeClock();
    const discord = new FakeDiscord(clock, 0, () => true);
    const reply = streamReply<string>({ io: discord, clock });
    for (let n = 0; n < 30; n++) {
      await clock.advanceTo(n * 500);
      assert.doesNotThrow(() => reply.append(`part ${n}. `));
    }
    const body = Array.from({ length: 30 }, (_, n) => `part ${n}. `).join("");
    const result = await clock.runUntil(reply.finish({ body, footer: FOOTER, components: COMPONENTS }));
    assert.equal(result.delivered, false);
    assert.ok(result.failures.length > 0);
    assert.match(String(result.failures[0]?.error), /503/);
    const finals = result.failures.filter((f) => f.final);
    assert.equal(finals.length, 2, "the final edit is tried, then retried once");
    assert.ok(result.messages[0]?.includes("part 29."), "the final text is still in the result");
  });

  it("retries a failed final edit once, after the throttle, and delivers it", async () => {
    let failedOnce = false;
    const fail = (c: Call) => {
      if (c.final === undefined || failedOnce) return false;
      failedOnce = true;
      return true;
    };
    const { discord, result } = await run(["An atom ", "has a nucleus."], { fail });
    assert.equal(result.delivered, true);
    assert.equal(result.failures.length, 1);
    const finals = discord.calls.filter((c) => c.final);
    assert.equal(finals.length, 2);
    assert.ok((finals[1] as Call).at - (finals[0] as Call).at >= EDIT_INTERVAL_MS);
    assert.equal(discord.shown[0], `An atom has a nucleus.\n\n${FOOTER}`);
  });

  it("does not post a later message while an earlier one could not be posted", async () => {
    const deltas = chunk(prose(70), 50, rng(4));
    const streamEnd = deltas.length * 100;
    // Posting message 1 fails until the stream ends: message 2 waits, and finish() delivers both.
    const fail = (c: Call) => c.op === "post" && c.index === 1 && c.at < streamEnd;
    const { discord, result } = await run(deltas, { fail });
    assert.ok(result.failures.some((f) => f.op === "post" && f.index === 1 && !f.final));
    const posts = discord.calls
      .filter((c) => c.op === "post")
      .map((c) => `${c.index}${c.at < streamEnd ? "!" : ""}`);
    assert.equal(posts.filter((p) => p === "2!").length, 0, "message 2 is not posted before message 1");
    assert.deepEqual(discord.shown, result.messages);
    assert.equal(result.delivered, true);
  });
});

describe("streamReply on random answers", () => {
  const WORDS = [
    "the",
    "cell",
    "divides,",
    "then",
    "grows.",
    "Why?",
    "because",
    "energy…",
    "👍🏽",
    "🇫🇷",
    "👨‍👩‍👧‍👦",
    "é",
  ];
  function randomAnswer(rand: () => number): string {
    const parts: string[] = [];
    const n = 2 + Math.floor(rand() * 14);
    for (let p = 0; p < n; p++) {
      const r = rand();
      if (r < 0.2) {
        const lines = 1 + Math.floor(rand() * (rand() < 0.15 ? 150 : 25));
        parts.push(`\`\`\`${rand() < 0.5 ? "py" : ""}\n${"x = compute(x)  # step\n".repeat(lines)}\`\`\``);
      } else if (r < 0.27) {
        parts.push("a".repeat(50 + Math.floor(rand() * 2500))); // a word longer than a message
      } else {
        const words = 5 + Math.floor(rand() * 300);
        parts.push(Array.from({ length: words }, () => WORDS[Math.floor(rand() * WORDS.length)]).join(" "));
      }
    }
    return parts.join(rand() < 0.5 ? "\n\n" : "\n");
  }

  it("keeps every message within 2,000 characters, code blocks whole, and the answer intact", async () => {
    for (let seed = 1; seed <= 100; seed++) {
      const rand = rng(seed);
      const text = randomAnswer(rand);
      const { discord, result } = await run(chunk(text, 1 + Math.floor(rand() * 120), rand), {
        everyMs: 50 + Math.floor(rand() * 400),
        latencyMs: Math.floor(rand() * 300),
      });
      const what = `seed ${seed}`;
      assert.equal(discord.maxInFlight, 1, what);
      for (const c of discord.calls) {
        assert.ok(c.content.length <= 2000, `${what}: a ${c.op} of ${c.content.length} characters`);
        assert.ok(c.content.length > 0, `${what}: an empty ${c.op}`);
        assert.ok(isWellFormed(c.content), `${what}: a lone surrogate`);
        // While streaming, a message shows only text of the answer, in order.
        if (c.final === undefined && !c.content.includes("attached as a file")) {
          const shown = noSpace(stripLive(c.content).replace(OVERFLOW_LINE, ""));
          assert.ok(noSpace(text).includes(shown), `${what}: shows what is not in the answer:\n${c.content}`);
        }
      }
      assert.deepEqual(discord.shown, result.messages, what);
      const last = result.messages.length - 1;
      assert.ok(result.messages.length <= 5, what);
      for (const [i, m] of result.messages.entries()) {
        assert.equal(m.endsWith(FOOTER), i === last, `${what}: footer on message ${i}`);
        assert.equal(fences(m) % 2, 0, `${what}: message ${i} breaks inside a code block`);
      }
      assert.equal(discord.calls.filter((c) => c.final).length, 1, what);
      if (result.attachment) {
        assert.equal(result.attachment.content, text, what);
      } else {
        const joined = result.messages.map(withoutTrailer).join("\n");
        assert.equal(noSpace(joined), noSpace(text), `${what}: the messages joined are the answer`);
      }
    }
  });
});

describe("the final write of a short answer", () => {
  it("comes at once when the message was written only once (two writes: the text, then the footer)", async () => {
    const { discord } = await run(["A short answer."], { everyMs: 10 });
    assert.deepEqual(
      discord.calls.map((c) => [c.op, c.index, c.at]),
      [
        ["edit", 0, 0],
        ["edit", 0, 10],
      ],
      "no wait for the throttle: the footer and buttons follow the text",
    );
    assert.equal(discord.calls[1]?.final?.components, COMPONENTS);
  });

  it("waits out the interval once the message was written twice", async () => {
    const deltas = Array.from({ length: 14 }, (_, i) => `Word ${i}. `);
    const { discord } = await run(deltas, { everyMs: 100 });
    const writes = discord.calls.filter((c) => c.index === 0);
    assert.ok(writes.length >= 3, `${writes.length} writes`);
    for (let i = 1; i < writes.length; i++) {
      const gap = (writes[i]?.at ?? 0) - (writes[i - 1]?.at ?? 0);
      assert.ok(gap >= EDIT_INTERVAL_MS, `write ${i} came ${gap} ms after the one before`);
    }
  });
});

describe("the first write's delay", () => {
  it("writes an answer that is finished within the delay once, when it is finished", async () => {
    const { discord } = await run(["A short ", "answer."], { everyMs: 20, firstWriteDelayMs: 200 });
    assert.deepEqual(
      discord.calls.map((c) => [c.op, c.index, c.at, c.final !== undefined]),
      [["edit", 0, 40, true]],
      "one write, at finish (40 ms), not at the end of the delay",
    );
  });

  it("shows a longer answer's first text after the delay, then streams as usual", async () => {
    const deltas = Array.from({ length: 30 }, (_, i) => `Word ${i}. `);
    const { discord } = await run(deltas, { everyMs: 100, firstWriteDelayMs: 200 });
    assert.equal(discord.calls[0]?.at, 200, "the first text waits the delay from the first delta");
    assert.ok(discord.calls.length >= 3);
  });
});

describe("streamReply given up", () => {
  it("abandon waits for the write in flight, starts none after it, and counts the messages written", async () => {
    const clock = new FakeClock();
    const discord = new FakeDiscord(clock, 50);
    const reply = streamReply<string>({ io: discord, clock });
    reply.append("The first sentence of an answer. ");
    await clock.advanceTo(10); // the first write is in flight
    assert.equal(discord.inFlight, 1);
    reply.append("More text that must never be shown.");
    const written = await clock.runUntil(reply.abandon());
    assert.equal(written, 1);
    await clock.advanceTo(10 * EDIT_INTERVAL_MS);
    assert.equal(discord.calls.length, 1, "nothing written after abandon");
    assert.ok(!discord.shown.some((m) => m.includes("never")));
    assert.throws(() => reply.append("late"), /after finish/);
  });

  it("abandon before anything was written counts none (the deferred reply is left to the caller)", async () => {
    const clock = new FakeClock();
    const discord = new FakeDiscord(clock);
    const reply = streamReply<string>({ io: discord, clock, firstWriteDelayMs: 200 });
    reply.append("Soon.");
    assert.equal(await clock.runUntil(reply.abandon()), 0);
    await clock.advanceTo(1000);
    assert.deepEqual(discord.calls, []);
  });
});
