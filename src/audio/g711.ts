/**
 * G.711 (ITU-T) μ-law and A-law bytes → float samples in [-1, 1], 8 kHz as
 * sent (telephony clients of the OpenAI Realtime and Deepgram doors). Each
 * byte is one sample; the 256 values are expanded once into a table.
 */

export type G711Law = "mulaw" | "alaw";

const BIAS = 0x84;

function muLawToPcm16(byte: number): number {
  const u = ~byte & 0xff;
  const exponent = (u >> 4) & 0x07;
  const mantissa = u & 0x0f;
  const magnitude = (((mantissa << 3) + BIAS) << exponent) - BIAS;
  return (u & 0x80 ? -magnitude : magnitude) | 0; // | 0: no -0
}

function aLawToPcm16(byte: number): number {
  const a = byte ^ 0x55;
  const exponent = (a >> 4) & 0x07;
  const mantissa = a & 0x0f;
  const magnitude = exponent === 0 ? (mantissa << 4) + 8 : ((mantissa << 4) + 0x108) << (exponent - 1);
  // The sign bit set means positive in A-law (the opposite of μ-law).
  return a & 0x80 ? magnitude : -magnitude;
}

function table(decode: (b: number) => number): Float32Array {
  const t = new Float32Array(256);
  for (let b = 0; b < 256; b++) t[b] = decode(b) / 32768;
  return t;
}

const TABLES: Record<G711Law, Float32Array> = { mulaw: table(muLawToPcm16), alaw: table(aLawToPcm16) };

export function decodeG711(bytes: Uint8Array, law: G711Law): Float32Array {
  const t = TABLES[law];
  const out = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = t[bytes[i]!]!;
  return out;
}

/** The 16-bit value a byte stands for (tests compare with the ITU tables). */
export function g711Sample(byte: number, law: G711Law): number {
  return law === "mulaw" ? muLawToPcm16(byte) : aLawToPcm16(byte);
}
