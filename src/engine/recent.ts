/** The last `size` values of a measurement (a ring), with a summary for stats. */
export class Recent {
  private readonly values: number[] = [];
  private next = 0;
  constructor(private readonly size: number) {}

  add(v: number): void {
    if (this.values.length < this.size) this.values.push(v);
    else this.values[this.next] = v;
    this.next = (this.next + 1) % this.size;
  }

  /** Oldest first. */
  list(): number[] {
    return this.values.length < this.size ? [...this.values] : [...this.values.slice(this.next), ...this.values.slice(0, this.next)];
  }

  summary(): { count: number; mean: number; p50: number; p99: number; max: number } {
    const n = this.values.length;
    if (n === 0) return { count: 0, mean: 0, p50: 0, p99: 0, max: 0 };
    const s = [...this.values].sort((a, b) => a - b);
    const q = (p: number) => s[Math.min(n - 1, Math.floor(p * (n - 1) + 0.5))]!;
    return { count: n, mean: s.reduce((a, b) => a + b, 0) / n, p50: q(0.5), p99: q(0.99), max: s[n - 1]! };
  }
}
