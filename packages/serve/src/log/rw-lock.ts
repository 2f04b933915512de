// Many shared holders or one exclusive holder: recording photos (shared) never races retention
// (exclusive) deleting the same photo's row and file.
export class RwLock {
  private readers = 0;
  private writer = false;
  private waiting: Array<() => void> = [];

  private wake(): void {
    const w = this.waiting;
    this.waiting = [];
    for (const f of w) f();
  }

  async shared<T>(fn: () => Promise<T>): Promise<T> {
    while (this.writer) await new Promise<void>((r) => this.waiting.push(r));
    this.readers++;
    try {
      return await fn();
    } finally {
      this.readers--;
      if (this.readers === 0) this.wake();
    }
  }

  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.writer || this.readers > 0) await new Promise<void>((r) => this.waiting.push(r));
    this.writer = true;
    try {
      return await fn();
    } finally {
      this.writer = false;
      this.wake();
    }
  }
}
