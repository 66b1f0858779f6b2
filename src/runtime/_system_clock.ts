/**
 * The real clock, the same on Deno, Bun and Node: they all provide the web timer and `performance` globals.
 * Timers keep the process alive, as in the runtimes themselves: long-lived owners (a node, an engine) clear
 * theirs on close, which is what lets a process end cleanly.
 */
import type { Clock, TimerHandle } from "./types.ts";

/** `Clock.sleep` on any clock's timers: resolves after `ms`, rejects with the signal's reason on abort. */
export function sleepOn(
  clock: Pick<Clock, "setTimeout" | "clearTimeout">,
  ms: number,
  signal?: AbortSignal,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clock.clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Node, Bun and Deno 2 all have `setImmediate`; a runtime without it (a browser) gets a microtask. */
const immediate: (fn: () => void) => void =
  typeof (globalThis as { setImmediate?: unknown }).setImmediate === "function"
    ? (fn) => void (globalThis as unknown as { setImmediate(fn: () => void): unknown }).setImmediate(fn)
    : (fn) => queueMicrotask(fn);

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimeout(fn, ms) {
    return globalThis.setTimeout(fn, ms) as unknown as TimerHandle;
  },
  clearTimeout(handle) {
    globalThis.clearTimeout(handle as unknown as number);
  },
  setInterval(fn, ms) {
    return globalThis.setInterval(fn, ms) as unknown as TimerHandle;
  },
  clearInterval(handle) {
    globalThis.clearInterval(handle as unknown as number);
  },
  sleep(ms, signal) {
    return sleepOn(systemClock, ms, signal);
  },
  defer: immediate,
};
