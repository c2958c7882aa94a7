/** Redraws a text block on change, at most every `minIntervalMs`; in place on a TTY, appended otherwise. */
export class LiveView {
  private timer: NodeJS.Timeout | undefined;
  private last = 0;
  private note = '';
  private lastText = '';

  constructor(
    private readonly render: () => string,
    private readonly minIntervalMs = process.stdout.isTTY ? 100 : 1_000,
    private readonly out: NodeJS.WriteStream = process.stdout,
  ) {}

  invalidate(note?: string): void {
    if (note !== undefined) this.note = note;
    if (this.timer) return;
    const wait = Math.max(0, this.last + this.minIntervalMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.draw();
    }, wait);
  }

  draw(): void {
    this.last = Date.now();
    const text = `${this.render()}${this.note ? `\n${this.note}` : ''}`;
    if (this.out.isTTY) this.out.write(`\x1b[H\x1b[2J${text}\n`);
    else if (text !== this.lastText) this.out.write(`${text}\n\n`);
    this.lastText = text;
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
