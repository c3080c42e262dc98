import { describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import { ConfigError, ENVIRONMENT, loadConfig, resolveConfig } from "../../src/config/load.ts";

describe("configuration", () => {
  test("defaults keep the original server's keys and values", () => {
    const { config } = resolveConfig({});
    expect(config.port).toBe(2700);
    expect(config.host).toBe("0.0.0.0");
    expect(config.sample_rate).toBe(16000);
    expect(config.model_path).toBe("models/tiny.en");
    for (const k of ["model_path", "port", "host", "silence_duration", "min_speech_duration", "vad_threshold", "processing_interval", "max_workers", "sample_rate", "enable_logging"]) {
      expect(config).toHaveProperty(k);
    }
    expect(config.limits.max_payload_bytes).toBeGreaterThan(0);
  });

  test("a wrong type names the key and what was expected", () => {
    expect(() => resolveConfig({ port: "2700" })).toThrow(/"port".*(integer|number)/i);
    expect(() => resolveConfig({ vad_threshold: 1.5 })).toThrow(/"vad_threshold"/);
    expect(() => resolveConfig({ limits: { max_sessions: 0 } })).toThrow(/"limits.max_sessions"/);
    expect(() => resolveConfig({ device: "tpu" })).toThrow(/"device"/);
    expect(() => resolveConfig({ sample_rate: 8000 })).toThrow(/"sample_rate"/);
    expect(() => resolveConfig([])).toThrow(ConfigError);
  });

  test("an unknown key is a warning, not an error", () => {
    const { config, notes } = resolveConfig({ modle_path: "x", port: 1234 });
    expect(config.port).toBe(1234);
    expect(notes.join("\n")).toContain('unknown configuration key "modle_path"');
    expect(config).not.toHaveProperty("modle_path");
  });

  test("file path from --config, then STT_CONFIG; a missing default file means defaults", async () => {
    const dir = `/tmp/stt-config-${process.pid}`;
    await Bun.write(`${dir}/a.json`, JSON.stringify({ port: 1111 }));
    await Bun.write(`${dir}/b.json`, JSON.stringify({ port: 2222 }));
    await Bun.write(`${dir}/bad.json`, "{ not json");
    expect((await loadConfig(["--config", `${dir}/a.json`], { STT_CONFIG: `${dir}/b.json` })).config.port).toBe(1111);
    expect((await loadConfig([`--config=${dir}/a.json`], {})).config.port).toBe(1111);
    expect((await loadConfig([], { STT_CONFIG: `${dir}/b.json` })).config.port).toBe(2222);
    await expect(loadConfig(["--config", `${dir}/missing.json`], {})).rejects.toThrow(/not found/);
    await expect(loadConfig(["--config", `${dir}/bad.json`], {})).rejects.toThrow(/not valid JSON/);
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const r = await loadConfig([], {});
      expect(r.config.port).toBe(2700);
      expect(r.notes[0]).toMatch(/no configuration file .*using defaults/);
    } finally {
      process.chdir(cwd);
    }
  });

  test("the CLI refuses to start on a bad config, naming the key", async () => {
    const file = `/tmp/stt-config-${process.pid}/cli-bad.json`;
    await Bun.write(file, JSON.stringify({ silence_duration: "long" }));
    const p = Bun.spawn(["bun", "run", "src/cli.ts", "--config", file], { stdout: "pipe", stderr: "pipe" });
    const code = await p.exited;
    const out = (await new Response(p.stdout).text()) + (await new Response(p.stderr).text());
    expect(code).toBe(2);
    expect(out).toContain('"silence_duration"');
  });

  test("every environment variable the code reads is declared, with a description", async () => {
    const names = new Set<string>();
    for (const dir of ["src", "ffi"]) {
      for await (const file of new Bun.Glob("**/*.ts").scan(resolve(import.meta.dir, "../..", dir))) {
        const text = await Bun.file(resolve(import.meta.dir, "../..", dir, file)).text();
        for (const m of text.matchAll(/\b(?:process\.env|Bun\.env|env)(?:\.([A-Z][A-Z0-9_]*)|\[["']([A-Z][A-Z0-9_]*)["']\])/g)) names.add(m[1] ?? m[2]!);
      }
    }
    expect(names.size).toBeGreaterThan(3);
    expect([...names].filter((n) => (ENVIRONMENT[n]?.length ?? 0) < 20)).toEqual([]);
  });
});
