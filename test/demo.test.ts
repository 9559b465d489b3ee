// `npm run demo` is a new user's first look: it must keep working end to end, all three lessons.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";

const LLAMA_FT = /ft:meta-llama\/Llama-3\.1-8B-Instruct:classtune-sandbox::\w+/;

/** The transcript from `line` on, up to the next blank line: one message of the bot, or one narrator line. */
function after(transcript: string, line: RegExp): string {
  const at = transcript.search(line);
  assert.ok(at >= 0, `the transcript has no line matching ${line}`);
  return transcript.slice(at).split("\n\n")[0] ?? "";
}

describe("npm run demo", () => {
  const result = spawnSync(process.execPath, ["scripts/run.js", "demo/classroom.ts"], {
    encoding: "utf8",
    timeout: 120_000,
  });
  const t = result.stdout;

  it("exits 0", () => {
    assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
    assert.doesNotMatch(t, /demo failed/);
  });

  it("lesson 1: fine-tunes gpt-4o-mini on the embedded sandbox and answers two questions and a follow-up with it", () => {
    assert.match(t, /Ready to fine-tune: 23 valid examples/);
    assert.match(t, /Fine-tuning job #1 \(sandbox\) succeeded/);
    const lesson1 = t.slice(0, t.indexOf("Lesson 2:"));
    assert.equal(lesson1.match(/answered by `ft:gpt-4o-mini-2024-07-18:classtune-sandbox:/g)?.length, 3);
  });

  it("lesson 1: streams an answer into the reply, and a student follows it up", () => {
    assert.match(t, /\(streamed: the reply first read "[^"]+ ▌", then grew as the answer was written\)/);
    const followUp = after(t, /\[#biology-9b\] sam: \[Follow up\] What causes the phases of the Moon\?/);
    assert.match(followUp, /it reflects sunlight/);
    assert.match(followUp.replace(/\n\s+/g, " "), /· follow-up 2 of 4/);
  });

  it("lesson 1: refuses an unkind question calmly and alerts the teachers, naming the student", () => {
    const refusal = after(t, /\[#biology-9b\] sam: \/ask question:you are so stupid/);
    assert.match(refusal, /I can't help with that one/);
    assert.doesNotMatch(refusal, /answered by/, "the model was never asked");
    const alert = after(t, /\[#teachers\] notice\n.*\n.*A question from @sam in #biology-9b was flagged/);
    assert.match(alert, /Categories: harassment 0\.92/);
  });

  it("lesson 1: the held-out test questions are rephrasings of trained ones, answered right, and the notice says how", () => {
    const notice = after(t, /@ms-rivera your model is ready\./).replace(/\n {4}│ /g, " ");
    for (const q of [
      "What makes the sky look blue during the day?",
      "How do you work out the area of a circle?",
      "Why do we get seasons on Earth?",
    ]) {
      assert.ok(notice.includes(`Q: ${q}:`), `the notice asks "${q}"`);
    }
    assert.match(notice, /Q: What makes the sky look blue during the day\?: Sunlight contains all colours/);
    assert.match(notice, /Q: How do you work out the area of a circle\?: Use A = πr²/);
    assert.match(
      notice,
      /Q: Why do we get seasons on Earth\?: Seasons happen because Earth's axis is tilted/,
    );
    assert.doesNotMatch(
      notice,
      /nothing I was trained on is close enough/,
      "every held-out question is answered",
    );
    assert.match(notice, /The sandbox's models answer by retrieval/);
  });

  it("lesson 2: validates for Llama 3.1 on the Nebius-kind provider, counted by Llama's own chat template", () => {
    const report = after(
      t,
      /\/dataset validate file:science-tutor\.jsonl provider:nebius-lab model:meta-llama/,
    );
    assert.match(report, /Ready to fine-tune: 23 valid examples/);
    assert.match(
      report.replace(/\n {4}│ /g, " "),
      /Checked against: meta-llama\/Llama-3\.1-8B-Instruct on provider nebius-lab \(nebius\) · the model's own chat template · at most 8,192 tokens per example/,
    );
    // The sample dataset through Llama 3.1's template (its default system header included) and tokenizer:
    // its first 20 lines, 3,212 (min 145, max 184), reproduced apart from classtune's code with Python jinja2
    // 3.1.6 set up as transformers' _compile_jinja_template and a from-scratch byte-level BPE over the same
    // tokenizer.json. The three rephrasings added since (lines 21-23, 494 tokens) are classtune's own count,
    // not reproduced apart.
    assert.match(report, /Tokens \(llama3\.1\): 3,706 in all · per example min 145, mean 161/);
  });

  it("lesson 2: trains the LoRA there, announces it trained and deploying, then ready, and a student asks it", () => {
    const confirmation = after(t, /\/finetune start dataset:2 provider:nebius-lab/);
    assert.match(confirmation, /Base model: meta-llama\/Llama-3\.1-8B-Instruct/);
    assert.match(confirmation, /Provider: nebius-lab/);
    assert.match(confirmation, /\[Start\]/);
    const deploying = after(t, /your model is trained; deploying it now/);
    assert.match(deploying, /Fine-tuning job #2 succeeded/);
    assert.match(deploying, LLAMA_FT);
    assert.match(deploying.replace(/\n {4}│ /g, " "), /Trained; deploying as `ct-[a-z0-9-]+` at nebius-lab/);
    const ready = after(t, /your model is ready: it can be used now/);
    assert.match(
      ready.replace(/\n {4}│ /g, " "),
      /is deployed at nebius-lab and answers as `meta-llama\/Llama-3\.1-8B-Instruct-LoRa:ct-[a-z0-9-]+`/,
    );
    assert.ok(t.indexOf("trained; deploying it now") < t.indexOf("your model is ready: it can be used now"));

    const answer = after(t, /\[#science-club\] alex: \/ask question:/);
    assert.match(answer, /answered by `ft:meta-llama\/Llama-3\.1-8B-Instruct:classtune-sandbox::\w+`/);
    assert.doesNotMatch(
      answer,
      /I don't know that yet|fallback/,
      "the Llama fine-tune answers from its training",
    );
  });

  it("lesson 3: hosting billed while it runs is priced before, started on request, shown running, stopped, and asleep after", () => {
    const flat = (text: string) => text.replace(/\n {4}│ /g, " ");
    const confirmation = flat(after(t, /\/finetune start dataset:1 provider:dedicated-lab/));
    // A sandbox under another name says it is one, like the embedded sandbox.
    assert.match(confirmation, /Start a fine-tuning job \(sandbox\)\?/);
    assert.match(confirmation, /Provider: dedicated-lab \(a sandbox: simulated, no cost, no real training\)/);
    assert.match(t, /Fine-tuning job #3 \(sandbox\) succeeded/);
    assert.match(
      confirmation,
      /hosting: \$3\.36\/h on 1x_nvidia_h100_80gb_sxm, billed while the deployment runs/,
    );
    assert.match(
      flat(after(t, /must be deployed before anyone can ask it/)),
      /run `\/model deploy model:ft:/,
    );
    const offer = flat(after(t, /ms-rivera: \/model deploy model:/));
    assert.match(offer, /Hosting price: \$3\.36\/h/);
    assert.match(offer, /Today so far: \$0\.00 of \$20\.00/);
    assert.match(offer, /\[Start \(\$3\.36\/h\)\] \[Cancel\]/);
    const ready = t.slice(t.indexOf("the endpoint starts"));
    assert.match(flat(ready), /Hosting cost: Hosting is billed while it runs, asked or not: \$3\.36\/h/);
    assert.match(
      flat(after(t, /ms-rivera: \/model list/)),
      /💳 hosted since \d\d:\d\d UTC · \d+ min · \$\d+\.\d\d so far/,
    );
    assert.match(flat(after(t, /ms-rivera: \/model undeploy/)), /the billing has stopped/);
    const asleep = flat(after(t, /question:Are you still there\?/));
    assert.match(asleep, /is asleep/);
    assert.match(asleep, /\[Wake it \(teachers\)\]/);
  });
});
