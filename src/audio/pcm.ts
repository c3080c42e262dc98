/**
 * Wire audio → samples. The protocol carries little-endian int16 PCM, 16 kHz
 * mono; Socket.IO hands binary over as a Buffer whatever the client sent
 * (ArrayBuffer, Uint8Array, Int16Array, Python bytes).
 */

const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

export type PcmResult = { ok: true; samples: Float32Array } | { ok: false; code: string; message: string };

export function isBinary(value: unknown): value is ArrayBuffer | ArrayBufferView {
  return value instanceof ArrayBuffer || ArrayBuffer.isView(value);
}

/** Decodes one chunk; a malformed chunk is refused whole rather than guessed at. */
export function decodePcm16(value: unknown, maxSamples: number): PcmResult {
  if (!isBinary(value)) {
    return { ok: false, code: "invalid_audio", message: `audioData must be binary PCM16 (got ${describe(value)})` };
  }
  const bytes =
    value instanceof ArrayBuffer ? new Uint8Array(value) : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (bytes.byteLength === 0) return { ok: false, code: "empty_audio", message: "audioData is empty" };
  if (bytes.byteLength % 2 !== 0) {
    return { ok: false, code: "odd_byte_length", message: `PCM16 needs an even byte count (got ${bytes.byteLength})` };
  }
  const n = bytes.byteLength / 2;
  if (n > maxSamples) {
    return { ok: false, code: "chunk_too_long", message: `chunk has ${n} samples, limit is ${maxSamples}` };
  }
  const out = new Float32Array(n);
  if (bytes.byteOffset % 2 === 0 && LITTLE_ENDIAN) {
    // Read the wire bytes in place as int16: the conversion is the only copy.
    const pcm = new Int16Array(bytes.buffer, bytes.byteOffset, n);
    for (let i = 0; i < n; i++) out[i] = pcm[i]! / 32768;
  } else {
    // DataView is alignment-safe: a Buffer slice may start at an odd offset.
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < n; i++) out[i] = view.getInt16(i * 2, true) / 32768;
  }
  return { ok: true, samples: out };
}

export function floatToPcm16(samples: Float32Array): Int16Array {
  const out = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]!));
    out[i] = s < 0 ? Math.round(s * 32768) : Math.round(s * 32767);
  }
  return out;
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}
