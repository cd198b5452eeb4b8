/**
 * A tiny seeded PRNG (mulberry32) for deterministic fault injection and simulations: the same seed
 * always gives the same stream on every platform. Not for anything secret (ISNs use src/tcp's generator).
 */

/** A seeded stream of uniform numbers. */
export interface Prng {
  /** Next 32-bit unsigned integer. */
  nextU32(): number
  /** Next float in [0, 1). */
  next(): number
  /** Next integer in [0, n). */
  int(n: number): number
}

/** mulberry32 by Tommy Ettinger (public domain): 32-bit state, period 2^32, passes gjrand's tests at this size. */
export function mulberry32(seed: number): Prng {
  let s = seed >>> 0
  const nextU32 = (): number => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (t ^ (t >>> 14)) >>> 0
  }
  const next = (): number => nextU32() / 4294967296
  return { nextU32, next, int: (n: number) => Math.floor(next() * n) }
}

/** `n` bytes of mulberry32(seed), each 32-bit draw little-endian: test payloads two processes can agree on. */
export function prngBytes(seed: number, n: number): Uint8Array {
  const r = mulberry32(seed)
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i += 4) {
    const v = r.nextU32()
    out[i] = v & 0xff
    if (i + 1 < n) out[i + 1] = (v >>> 8) & 0xff
    if (i + 2 < n) out[i + 2] = (v >>> 16) & 0xff
    if (i + 3 < n) out[i + 3] = v >>> 24
  }
  return out
}

/** Derives an independent seed for a named sub-stream (FNV-1a of the name mixed into the seed). */
export function subSeed(seed: number, name: string): number {
  let h = 0x811c9dc5 ^ (seed >>> 0)
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193)
  return mulberry32(h >>> 0).nextU32()
}
