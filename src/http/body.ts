/**
 * Reads a request body up to `maxBytes`, whether or not it declares a
 * Content-Length (a chunked upload declares nothing, so the header alone
 * cannot be trusted to bound memory). Returns null as soon as the body is
 * larger; the rest is not read.
 */
export async function readBodyCapped(req: Request, maxBytes: number): Promise<Uint8Array<ArrayBuffer> | null> {
  const declared = Number(req.headers.get("content-length") ?? NaN);
  if (declared > maxBytes) return null;
  if (!req.body) return new Uint8Array(0);
  const reader = req.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => {});
      return null;
    }
    parts.push(value);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** At most `running` jobs at once; up to `waiting` more queue for a slot, beyond that callers are told no. */
export class JobSlots {
  private busy = 0;
  private readonly queue: (() => void)[] = [];

  constructor(
    private readonly running: number,
    private readonly waiting: number,
  ) {}

  /** Resolves with the function that frees the slot, or null when the line is full. */
  async acquire(): Promise<(() => void) | null> {
    if (this.busy >= this.running) {
      if (this.queue.length >= this.waiting) return null;
      await new Promise<void>((r) => this.queue.push(r));
    } else this.busy++;
    // A woken waiter inherits the slot of the job that finished, so busy is unchanged.
    let freed = false;
    return () => {
      if (freed) return;
      freed = true;
      const next = this.queue.shift();
      if (next) next();
      else this.busy--;
    };
  }
}
