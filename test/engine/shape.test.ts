/** The automatic engine shape (workers × threads) from the core count and device. */
import { expect, test } from "bun:test";
import { engineShape, MAX_AUTO_CPU_WORKERS } from "../../src/engine/shape.ts";

test("automatic on CPU: one single-thread worker per core, up to 4; past that the cores become threads", () => {
  expect(engineShape({ workers: 0, threads: 0, cuda: false, cores: 1 })).toEqual({ workers: 1, threads: 1 });
  expect(engineShape({ workers: 0, threads: 0, cuda: false, cores: 2 })).toEqual({ workers: 2, threads: 1 });
  expect(engineShape({ workers: 0, threads: 0, cuda: false, cores: 4 })).toEqual({ workers: 4, threads: 1 });
  expect(engineShape({ workers: 0, threads: 0, cuda: false, cores: 16 })).toEqual({ workers: MAX_AUTO_CPU_WORKERS, threads: 4 });
  expect(engineShape({ workers: 0, threads: 0, cuda: false, cores: 6 })).toEqual({ workers: 4, threads: 1 });
});

test("automatic on CUDA: one worker; configured figures are kept as given", () => {
  expect(engineShape({ workers: 0, threads: 0, cuda: true, cores: 16 })).toEqual({ workers: 1, threads: 16 });
  expect(engineShape({ workers: 3, threads: 0, cuda: false, cores: 12 })).toEqual({ workers: 3, threads: 4 });
  expect(engineShape({ workers: 1, threads: 2, cuda: false, cores: 2 })).toEqual({ workers: 1, threads: 2 });
  // Threads given, workers automatic: as many workers as the threads leave cores for.
  expect(engineShape({ workers: 0, threads: 2, cuda: false, cores: 8 })).toEqual({ workers: 4, threads: 2 });
  expect(engineShape({ workers: 0, threads: 4, cuda: false, cores: 2 })).toEqual({ workers: 1, threads: 4 });
});
