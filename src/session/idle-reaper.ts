import type { SessionManager } from "./manager.ts";

/**
 * Ends sessions that received no audio for `idleSeconds` (a client that went
 * quiet without cleaning up would otherwise hold its buffer, VAD state and a
 * max_sessions slot until it disconnects). Release flushes open speech, so
 * nothing already said is lost. Returns the function that stops the timer.
 */
export function startIdleReaper(sessions: SessionManager, idleSeconds: number, onReap: (clientId: string, ownerSocketId: string) => void): () => void {
  const idleMs = idleSeconds * 1000;
  const timer = setInterval(() => {
    const now = Date.now();
    for (const s of [...sessions.all()]) {
      if (now - s.lastAudioAt < idleMs) continue;
      onReap(s.clientId, s.ownerSocketId);
      void sessions.release(s.clientId);
    }
  }, Math.min(5000, Math.max(100, idleMs / 4)));
  timer.unref?.();
  return () => clearInterval(timer);
}
