import type { EngineRequest, EngineResult, SpeechEngine } from "../../src/engine/types.ts";

/**
 * A stand-in engine for protocol and segmentation tests only: it reports what
 * it was given (utterance length) so delivery can be checked without a model.
 * It lives under test/ and cannot be selected from the config file.
 */
export class RecordingEngine implements SpeechEngine {
  readonly requests: EngineRequest[] = [];
  readonly info = { modelPath: "(test)", device: "cpu" as const, computeType: "none", multilingual: false, nMels: 80, workers: 1 };
  delayMs = 5;

  async transcribe(req: EngineRequest): Promise<EngineResult> {
    this.requests.push(req);
    await Bun.sleep(this.delayMs);
    const seconds = req.audio.length / 16000;
    return {
      text: `utterance of ${seconds.toFixed(2)} seconds`,
      tokens: [],
      avgLogprob: -0.1,
      noSpeechProb: 0.01,
      language: "en",
      languageProbability: 1,
      engineMs: this.delayMs,
      batchSize: 1,
    };
  }

  textOf(tokens: readonly number[]): string {
    return tokens.map((t) => ` w${t}`).join("");
  }

  async close(): Promise<void> {}
}
