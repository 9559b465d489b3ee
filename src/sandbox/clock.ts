// The sandbox's notion of time. Training advances lazily from `now()` on each request, so a test
// freezes the clock and calls `advance(ms)` instead of sleeping; the default follows real time.
export interface SandboxClock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Moves this clock forward (tests; on the real-time clock it adds an offset). */
  advance(ms: number): void;
  /**
   * Resolves once `ms` of this clock's time have passed (stream pacing), or at once when `signal` aborts; an
   * aborted wait leaves no timer behind.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Real time, plus whatever `advance` added. */
export function realClock(): SandboxClock {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    advance(ms) {
      offset += ms;
    },
    sleep(ms, signal) {
      return new Promise((resolve) => {
        if (signal?.aborted) return resolve();
        const done = () => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", done);
          resolve();
        };
        const timer = setTimeout(done, ms);
        signal?.addEventListener("abort", done, { once: true });
      });
    },
  };
}

export interface ManualClock extends SandboxClock {
  set(ms: number): void;
  /** How many `sleep`s are waiting on this clock (a test's check that an abandoned stream left none behind). */
  sleeping(): number;
}

/** A frozen clock that moves only when told to: deterministic tests. A `sleep` ends when `advance`/`set` passes it. */
export function manualClock(startMs = Date.parse("2026-01-05T09:00:00Z")): ManualClock {
  let now = startMs;
  const sleepers = new Set<{ due: number; wake: () => void }>();
  const wakeDue = () => {
    for (const s of sleepers) if (s.due <= now) s.wake();
  };
  return {
    now: () => now,
    advance(ms) {
      now += ms;
      wakeDue();
    },
    set(ms) {
      now = ms;
      wakeDue();
    },
    sleeping: () => sleepers.size,
    sleep(ms, signal) {
      return new Promise((resolve) => {
        if (ms <= 0 || signal?.aborted) return resolve();
        const sleeper = {
          due: now + ms,
          wake: () => {
            sleepers.delete(sleeper);
            signal?.removeEventListener("abort", sleeper.wake);
            resolve();
          },
        };
        sleepers.add(sleeper);
        signal?.addEventListener("abort", sleeper.wake, { once: true });
      });
    },
  };
}
