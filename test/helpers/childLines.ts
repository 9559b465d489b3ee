// A child process's stdout, line by line: the two-process tests (leadership, outbox claims) read what their
// children print this way.
import type { Readable } from "node:stream";

/** Calls `onLine` with each complete line `stdout` prints, and returns the lines so far (it grows). */
export function readLines(
  stdout: Readable | null,
  onLine: (line: string) => void = () => undefined,
): string[] {
  const lines: string[] = [];
  let buffered = "";
  stdout?.setEncoding("utf8");
  stdout?.on("data", (chunk: string) => {
    buffered += chunk;
    for (let i = buffered.indexOf("\n"); i >= 0; i = buffered.indexOf("\n")) {
      const line = buffered.slice(0, i);
      buffered = buffered.slice(i + 1);
      lines.push(line);
      onLine(line);
    }
  });
  return lines;
}
