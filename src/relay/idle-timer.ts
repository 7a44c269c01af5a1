/**
 * Fires once nothing has happened for a while. It reads the time of the last activity when it
 * wakes up instead of being reset on every message, so the data path only stores a timestamp.
 */
export class IdleTimer {
  private timer: NodeJS.Timeout | undefined;

  /** (Re)starts the countdown: `onIdle` runs when `lastActivity()` is at least `ms` old. */
  start(ms: number, lastActivity: () => number, onIdle: () => void): void {
    this.stop();
    const check = (): void => {
      const idle = Date.now() - lastActivity();
      if (idle >= ms) {
        this.timer = undefined;
        onIdle();
      } else {
        this.timer = setTimeout(check, ms - idle);
      }
    };
    this.timer = setTimeout(check, ms);
  }

  stop(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }
}
