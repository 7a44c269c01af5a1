// Bounded polling for state that has no event of its own (relay counters). Polls every few
// milliseconds and fails with the label and the last observed value instead of hanging.

/** Resolves once `read()` returns `expected`; rejects after `timeoutMs` with what it last saw. */
export async function waitForValue<T>(read: () => T, expected: T, label: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (value === expected) return;
    if (Date.now() >= deadline) {
      throw new Error(`${label}: expected ${String(expected)}, still ${String(value)} after ${timeoutMs} ms`);
    }
    await new Promise<void>((resolve) => setTimeout(resolve, 5));
  }
}

/** Resolves with the first non-undefined value of `read()`; rejects after `timeoutMs`. */
export async function waitForDefined<T>(read: () => T | undefined, label: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) throw new Error(`${label}: nothing after ${timeoutMs} ms`);
    await new Promise<void>((resolve) => setTimeout(resolve, 5));
  }
}
