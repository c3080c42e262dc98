import { existsSync } from "node:fs";
import { SmartTurnDetector, type TurnDetector } from "./detector.ts";

/**
 * The process's one Smart Turn detector, loaded when the first stream asks
 * for turn_detection "model" (a server whose streams never do pays nothing).
 */
export function lazySmartTurn(modelPath: string): TurnDetector & { readonly available: boolean } {
  let loading: Promise<SmartTurnDetector> | null = null;
  const get = () => (loading ??= SmartTurnDetector.load({ modelPath }));
  return {
    get available() {
      return existsSync(modelPath);
    },
    score: (clientId, audio) => get().then((d) => d.score(clientId, audio)),
    close: async () => {
      if (loading) await (await loading.catch(() => null))?.close();
    },
  };
}
