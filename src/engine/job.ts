/** Plain data shared by the batch pool and its interim lane. */

/** What an executor reports for one request of a batch. */
export type Outcome<Res> = { ok: true; value: Res } | { ok: false; error: Error };

/** Runs one batch; resolves with one outcome per request, in order. */
export type Executor<Req, Res> = (batch: Req[]) => Promise<Array<Outcome<Res>>>;

/** One request in the pool, with the promise it settles. */
export interface Job<Req, Res> {
  req: Req;
  /** Stream the request belongs to (results of one stream settle in order). */
  key: string;
  interim: boolean;
  /** performance.now() at submission. */
  enqueuedAt: number;
  resolve: (v: Res) => void;
  reject: (e: Error) => void;
  /** Set when its batch finished; a final settles only once those before it did. */
  outcome?: Outcome<Res>;
}

export class SupersededError extends Error {
  readonly code = "superseded";
  constructor() {
    super("a newer interim request for this stream replaced this one");
    this.name = "SupersededError";
  }
}

export class PoolClosedError extends Error {
  readonly code = "engine_closed";
  constructor() {
    super("engine is closed");
    this.name = "PoolClosedError";
  }
}
