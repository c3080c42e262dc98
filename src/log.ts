/** Line-oriented logger; `once` keeps bad clients from flooding the log. */
export interface Logger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** Logs a warning the first time `key` is seen; later calls are counted, not printed. */
  once(key: string, msg: string, fields?: Record<string, unknown>): void;
  forget(prefix: string): void;
}

export function createLogger(enabled: boolean, sink: (line: string) => void = (l) => console.log(l)): Logger {
  const seen = new Set<string>();
  const write = (level: string, msg: string, fields?: Record<string, unknown>) => {
    if (!enabled && level !== "error") return;
    const extra = fields ? " " + JSON.stringify(fields) : "";
    sink(`${new Date().toISOString()} ${level} ${msg}${extra}`);
  };
  return {
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
    once(key, m, f) {
      if (seen.has(key)) return;
      seen.add(key);
      write("warn", m, f);
    },
    forget(prefix) {
      for (const k of seen) if (k.startsWith(prefix)) seen.delete(k);
    },
  };
}
