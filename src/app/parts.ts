import type { Capacity } from "../capacity/capacity.ts";
import type { RedisCluster } from "../cluster/redis.ts";
import type { Delivery } from "../delivery/delivery.ts";
import type { SpeechEngine } from "../engine/types.ts";
import type { EngineWatch } from "../metrics/engine-watch.ts";
import type { SessionManager } from "../session/manager.ts";
import type { SileroVad } from "../vad/silero.ts";

/** What start() builds, in order; null until built (metrics and health read them at any time). */
export interface Parts {
  vad: SileroVad | null;
  engine: SpeechEngine | null;
  watch: EngineWatch | null;
  delivery: Delivery | null;
  capacity: Capacity | null;
  sessions: SessionManager | null;
  cluster: RedisCluster | null;
}

export function noParts(): Parts {
  return { vad: null, engine: null, watch: null, delivery: null, capacity: null, sessions: null, cluster: null };
}
