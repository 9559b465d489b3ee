// The sandbox's notion of time. Training advances lazily from `now()` on each request, so a test
// freezes the clock and calls `advance(ms)` instead of sleeping; the default follows real time.
export interface SandboxClock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Moves this clock forward (tests; on the real-time clock it adds an offset). */
  advance(ms: number): void;
}

/** Real time, plus whatever `advance` added. */
export function realClock(): SandboxClock {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    advance(ms) {
      offset += ms;
    },
  };
}

export interface ManualClock extends SandboxClock {
  set(ms: number): void;
}

/** A frozen clock that moves only when told to: deterministic tests. */
export function manualClock(startMs = Date.parse("2026-01-05T09:00:00Z")): ManualClock {
  let now = startMs;
  return {
    now: () => now,
    advance(ms) {
      now += ms;
    },
    set(ms) {
      now = ms;
    },
  };
}
