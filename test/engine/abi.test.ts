/**
 * The ABI check at load: ffi/sttwhisper.ts refuses a library whose
 * stt_abi_version differs from the one it is written for (or that has none),
 * with a message that says what to do. Stand-in libraries built here with g++.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import * as native from "../../ffi/sttwhisper.ts";

const FFI = path.resolve(import.meta.dir, "../../ffi/sttwhisper.ts");
let dir: string;

function buildLib(name: string, source: string): string {
  if (!Bun.which("g++")) throw new Error("g++ not found: apt-get install -y g++ (scripts/setup.sh needs it for the shim too)");
  const src = path.join(dir, `${name}.cpp`);
  const lib = path.join(dir, `lib${name}.so`);
  writeFileSync(src, source);
  const p = Bun.spawnSync(["g++", "-shared", "-fPIC", "-o", lib, src], { stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`g++ failed: ${p.stderr.toString()}`);
  return lib;
}

/** Loads the bindings against `lib` in a child process and asks for the version. */
function loadWith(lib: string): { code: number; out: string } {
  const script = `import { version } from ${JSON.stringify(FFI)}; try { console.log(version()); } catch (e) { console.error(e.code + ": " + e.message); process.exit(3); }`;
  const p = Bun.spawnSync(["bun", "-e", script], { env: { ...process.env, STT_WHISPER_LIB: lib }, stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode ?? -1, out: p.stdout.toString() + p.stderr.toString() };
}

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "stt-abi-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("shim ABI version", () => {
  test("the built library reports the ABI these bindings expect", () => {
    expect(native.abiVersion()).toBe(native.ABI_VERSION);
    expect(native.version()).toStartWith("sttwhisper ");
  });

  test("a library with another ABI version is refused at load, naming both versions and the fix", () => {
    const lib = buildLib("future", `extern "C" __attribute__((visibility("default"))) int stt_abi_version() { return 999; }\n`);
    const r = loadWith(lib);
    expect(r.code).toBe(3);
    expect(r.out).toContain("abi_mismatch");
    expect(r.out).toContain(`ABI version 999 but ffi/sttwhisper.ts expects ${native.ABI_VERSION}`);
    expect(r.out).toContain("bash native/build.sh");
  });

  test("a library without stt_abi_version (built before versioning) is refused the same way", () => {
    const lib = buildLib("old", `extern "C" __attribute__((visibility("default"))) const char* stt_version() { return "sttwhisper 1"; }\n`);
    const r = loadWith(lib);
    expect(r.code).toBe(3);
    expect(r.out).toContain("abi_mismatch");
    expect(r.out).toContain("has no stt_abi_version");
    expect(r.out).toContain("bash native/build.sh");
  });
});
