import { describe, expect, test } from "bun:test";
import { resolveConfig } from "../../src/config/load.ts";
import { policyOf, segmenterTurnOptions } from "../../src/turns/settings.ts";

describe("turn settings in the config", () => {
  test("defaults: silence detection, so a stream that asks for nothing segments as before", () => {
    const { config } = resolveConfig({});
    expect(config.turn.detection).toBe("silence");
    expect(config.turn.eot_threshold).toBe(0.7);
    expect(config.turn.eager_eot_threshold).toBeNull();
    expect(segmenterTurnOptions(config.turn, config.silence_duration)).toEqual({ silenceDuration: config.silence_duration, pauseDuration: 0 });
  });

  test("model mode: pause signal at min_pause, fallback close at eot_timeout", () => {
    const { config } = resolveConfig({ turn: { detection: "model", min_pause: 0.25, eot_timeout: 3, eager_eot_threshold: 0.5 } });
    expect(segmenterTurnOptions(config.turn, config.silence_duration)).toEqual({ silenceDuration: 3, pauseDuration: 0.25 });
    expect(policyOf(config.turn)).toEqual({ eotThreshold: 0.7, eagerThreshold: 0.5 });
  });

  test("bad values name the key", () => {
    expect(() => resolveConfig({ turn: { eot_threshold: 1.2 } })).toThrow(/"turn.eot_threshold"/);
    expect(() => resolveConfig({ turn: { eot_threshold: 0 } })).toThrow(/"turn.eot_threshold"/);
    expect(() => resolveConfig({ turn: { detection: "semantic" } })).toThrow(/"turn.detection"/);
    expect(() => resolveConfig({ turn: { eager_eot_threshold: "high" } })).toThrow(/"turn.eager_eot_threshold"/);
    expect(() => resolveConfig({ turn: { eot_threshold: 0.6, eager_eot_threshold: 0.8 } })).toThrow(/"turn".*must not be above eot_threshold/);
    expect(() => resolveConfig({ turn: { min_pause: 1, eot_timeout: 0.5 } })).toThrow(/"turn".*min_pause.*shorter than eot_timeout/);
    expect(() => resolveConfig({ turn: { min_pausee: 1 } })).toThrow(/"turn/);
  });
});
