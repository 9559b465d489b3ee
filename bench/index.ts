// `npm run bench [-- NAME ...] [--flags]`: runs the listed benchmarks (all by default), each a bench/<name>.ts
// exporting `main(args)`. Flags (e.g. --big, --tokenizer=llama3.1) are passed to every benchmark that runs.

type Bench = { main: (args: string[]) => Promise<void> };

const BENCHES: Record<string, () => Promise<Bench>> = {
  validate: () => import("./validate.ts"),
  poller: () => import("./poller.ts"),
  ask: () => import("./ask.ts"),
  "ask-core": () => import("./ask-core.ts"),
  store: () => import("./store.ts"),
};

// `--flag value` is read as `--flag=value` when the value is not a benchmark's name.
const args: string[] = [];
for (const a of process.argv.slice(2)) {
  const prev = args[args.length - 1];
  if (!a.startsWith("--") && !(a in BENCHES) && prev?.startsWith("--") && !prev.includes("=")) {
    args[args.length - 1] = `${prev}=${a}`;
  } else args.push(a);
}
const names = args.filter((a) => !a.startsWith("--"));
const flags = args.filter((a) => a.startsWith("--"));
const unknown = names.filter((n) => !(n in BENCHES));
if (unknown.length > 0) {
  process.stderr.write(
    `unknown benchmark(s) ${unknown.join(", ")}; known: ${Object.keys(BENCHES).join(", ")}\n`,
  );
  process.exit(2);
}
for (const name of names.length > 0 ? names : Object.keys(BENCHES)) {
  process.stdout.write(`\n== bench ${name} ==\n`);
  const load = BENCHES[name];
  if (load) await (await load()).main(flags);
}
