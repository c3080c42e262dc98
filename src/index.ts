export { createSttServer, type SttServer, type SttServerOptions } from "./server.ts";
export { loadConfig, resolveConfig, ConfigError, DEFAULT_CONFIG_PATH } from "./config/load.ts";
export { ConfigSchema, type Config } from "./config/schema.ts";
export type { OnTranscription, TranscriptionDetails } from "./delivery/delivery.ts";
export type { SpeechEngine, EngineRequest, EngineResult, EngineInfo } from "./engine/types.ts";
export * from "./transport/schemas.ts";
