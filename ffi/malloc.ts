/**
 * glibc malloc tuning for the engine's native memory, through bun:ffi.
 *
 * Why: CTranslate2 allocates large short-lived buffers per batch (the
 * encoder's attention scores alone are ~54 MB per utterance for tiny, more
 * for larger models). With glibc's defaults the mmap threshold grows after the
 * first such buffer is freed, later ones come from the heap, and freed space
 * stays in per-thread arenas: an idle server kept 300–370 MB after load bursts.
 *
 * The earlier fix (a fixed 1 MiB mmap threshold) kept idle RSS flat but mapped,
 * faulted in 4 KiB pages and unmapped every large buffer on every call: ~40 %
 * of the engine's CPU went to the kernel. Raising the threshold does not help
 * enough: glibc caps it at 32 MiB and the largest buffers (attention scores of
 * a batch: 430 MB for 8 utterances on tiny) are above it; preloading jemalloc
 * or mimalloc does not help either (both hand such blocks straight back).
 * So the policy below never maps a block of its own (M_MMAP_MAX 0: large
 * blocks come from the heap and are reused by the next call), never trims
 * while the engine works (a high M_TRIM_THRESHOLD), and gives the free memory
 * back with malloc_trim(0) once the whole engine has been idle for
 * `trimAfterIdleMs` (`trimWhenIdle`, done by a worker; see
 * src/engine/worker.ts). Measured side by side in
 * docs/benchmarks.md ("Engine memory").
 *
 * Operators who set MALLOC_MMAP_THRESHOLD_, MALLOC_MMAP_MAX_,
 * MALLOC_TRIM_THRESHOLD_ or MALLOC_ARENA_MAX themselves keep their values; on
 * a libc without mallopt (musl) this is a no-op.
 */
import { dlopen, FFIType } from "bun:ffi";

/** glibc <malloc.h> parameter numbers. */
const M_TRIM_THRESHOLD = -1;
const M_MMAP_THRESHOLD = -3;
const M_MMAP_MAX = -4;
const M_ARENA_MAX = -8;

export interface MallocTuning {
  /** Larger allocations are mmap'd (and unmapped on free). */
  mmapThresholdBytes: number;
  /** Most blocks mmap'd at once; 0 = none (every block from the heap). */
  mmapMax: number;
  /** Free space at a heap's top kept before free() gives it back. */
  trimThresholdBytes: number;
  arenaMax: number;
  /** Workers call malloc_trim(0) when the engine has nothing more for them. */
  trimWhenIdle: boolean;
  /**
   * ...after the engine stayed idle this long (ms). Live traffic leaves the
   * engine idle for a moment between most calls; trimming in each such gap
   * makes the next call fault the same pages in again.
   */
  trimAfterIdleMs: number;
}

export const DEFAULT_MALLOC_TUNING: MallocTuning = {
  mmapThresholdBytes: 32 << 20,
  mmapMax: 0,
  trimThresholdBytes: 1 << 30,
  arenaMax: 2,
  trimWhenIdle: true,
  trimAfterIdleMs: 2000,
};

/** The default with the trim at the first idle moment (the policy before trimAfterIdleMs), for the benchmark. */
export const TRIM_AT_ONCE_TUNING: MallocTuning = { ...DEFAULT_MALLOC_TUNING, trimAfterIdleMs: 0 };

/** The earlier policy, kept for the side-by-side benchmark. */
export const SMALL_MMAP_TUNING: MallocTuning = {
  mmapThresholdBytes: 1 << 20,
  mmapMax: 65536, // glibc's default
  trimThresholdBytes: 128 << 10, // glibc's default
  arenaMax: 2,
  trimWhenIdle: false,
  trimAfterIdleMs: 0,
};

/** What tuneNativeMalloc set in this process (mallopt is process-wide; set once). */
const applied = new Map<"tuning", Partial<MallocTuning>>();

function libc() {
  return dlopen("libc.so.6", {
    mallopt: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    malloc_trim: { args: [FFIType.u64], returns: FFIType.i32 },
  });
}

/**
 * Applies the tuning once per process, before the engine's threads start.
 * Returns what was set (empty when the environment or the libc decided otherwise).
 */
export function tuneNativeMalloc(t: MallocTuning = DEFAULT_MALLOC_TUNING): Partial<MallocTuning> {
  const env = process.env;
  const done = applied.get("tuning");
  if (done) return done;
  const set: Partial<MallocTuning> = {};
  applied.set("tuning", set);
  if (process.platform !== "linux") return set;
  let lib;
  try {
    lib = libc();
  } catch {
    return set; // not glibc
  }
  try {
    const opt = lib.symbols.mallopt;
    if (env.MALLOC_MMAP_THRESHOLD_ === undefined && opt(M_MMAP_THRESHOLD, t.mmapThresholdBytes) === 1) set.mmapThresholdBytes = t.mmapThresholdBytes;
    if (env.MALLOC_MMAP_MAX_ === undefined && opt(M_MMAP_MAX, t.mmapMax) === 1) set.mmapMax = t.mmapMax;
    if (env.MALLOC_TRIM_THRESHOLD_ === undefined && opt(M_TRIM_THRESHOLD, t.trimThresholdBytes) === 1) set.trimThresholdBytes = t.trimThresholdBytes;
    if (env.MALLOC_ARENA_MAX === undefined && opt(M_ARENA_MAX, t.arenaMax) === 1) set.arenaMax = t.arenaMax;
    set.trimWhenIdle = t.trimWhenIdle;
    set.trimAfterIdleMs = t.trimAfterIdleMs;
  } finally {
    lib.close();
  }
  return set;
}

/**
 * Returns a function that gives free native heap memory back to the OS
 * (glibc malloc_trim(0): every arena), or null where there is no glibc.
 * The returned function reports whether anything was released.
 */
export function heapTrimmer(): ((/* nothing */) => boolean) | null {
  if (process.platform !== "linux") return null;
  try {
    const lib = libc();
    return () => lib.symbols.malloc_trim(0) === 1;
  } catch {
    return null;
  }
}
