/**
 * SipHash-2-4 (Aumasson and Bernstein, 2012), the keyed PRF Linux uses for ISNs and SYN cookies: 64-bit
 * lanes held as 32-bit halves in module state, so a call allocates nothing. Used for RFC 6528's F.
 */

// v0..v3 as (high, low) 32-bit halves
let v0h = 0, v0l = 0, v1h = 0, v1l = 0, v2h = 0, v2l = 0, v3h = 0, v3l = 0

function add(ah: number, al: number, bh: number, bl: number): void {
  const l = (al >>> 0) + (bl >>> 0)
  addH = (ah + bh + (l > 0xffffffff ? 1 : 0)) >>> 0
  addL = l >>> 0
}
let addH = 0, addL = 0

function sipRound(): void {
  let h: number, l: number
  add(v0h, v0l, v1h, v1l); v0h = addH; v0l = addL
  h = ((v1h << 13) | (v1l >>> 19)) >>> 0; l = ((v1l << 13) | (v1h >>> 19)) >>> 0
  v1h = (h ^ v0h) >>> 0; v1l = (l ^ v0l) >>> 0
  h = v0h; v0h = v0l; v0l = h // rotl 32
  add(v2h, v2l, v3h, v3l); v2h = addH; v2l = addL
  h = ((v3h << 16) | (v3l >>> 16)) >>> 0; l = ((v3l << 16) | (v3h >>> 16)) >>> 0
  v3h = (h ^ v2h) >>> 0; v3l = (l ^ v2l) >>> 0
  add(v0h, v0l, v3h, v3l); v0h = addH; v0l = addL
  h = ((v3h << 21) | (v3l >>> 11)) >>> 0; l = ((v3l << 21) | (v3h >>> 11)) >>> 0
  v3h = (h ^ v0h) >>> 0; v3l = (l ^ v0l) >>> 0
  add(v2h, v2l, v1h, v1l); v2h = addH; v2l = addL
  h = ((v1h << 17) | (v1l >>> 15)) >>> 0; l = ((v1l << 17) | (v1h >>> 15)) >>> 0
  v1h = (h ^ v2h) >>> 0; v1l = (l ^ v2l) >>> 0
  h = v2h; v2h = v2l; v2l = h // rotl 32
}

const le32 = (b: Uint8Array, o: number): number => (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0

/** The high 32 bits of the last {@link sipHash24} result (the low 32 bits are its return value). */
export let sipHashHigh = 0

/** SipHash-2-4 of `msg[0, len)` under the first 16 bytes of `key`; returns the low 32 bits of the 64-bit tag. */
export function sipHash24(key: Uint8Array, msg: Uint8Array, len = msg.length): number {
  const k0l = le32(key, 0), k0h = le32(key, 4), k1l = le32(key, 8), k1h = le32(key, 12)
  v0h = (k0h ^ 0x736f6d65) >>> 0; v0l = (k0l ^ 0x70736575) >>> 0
  v1h = (k1h ^ 0x646f7261) >>> 0; v1l = (k1l ^ 0x6e646f6d) >>> 0
  v2h = (k0h ^ 0x6c796765) >>> 0; v2l = (k0l ^ 0x6e657261) >>> 0
  v3h = (k1h ^ 0x74656462) >>> 0; v3l = (k1l ^ 0x79746573) >>> 0
  const end = len - (len % 8)
  for (let o = 0; o < end; o += 8) {
    const ml = le32(msg, o), mh = le32(msg, o + 4)
    v3l = (v3l ^ ml) >>> 0; v3h = (v3h ^ mh) >>> 0
    sipRound(); sipRound()
    v0l = (v0l ^ ml) >>> 0; v0h = (v0h ^ mh) >>> 0
  }
  // the last block: the remaining bytes, and len mod 256 in the top byte
  let bl = 0
  let bh = (len & 0xff) << 24
  for (let i = 0; i < len - end; i++) {
    if (i < 4) bl |= msg[end + i] << (8 * i)
    else bh |= msg[end + i] << (8 * (i - 4))
  }
  bl >>>= 0
  bh >>>= 0
  v3l = (v3l ^ bl) >>> 0; v3h = (v3h ^ bh) >>> 0
  sipRound(); sipRound()
  v0l = (v0l ^ bl) >>> 0; v0h = (v0h ^ bh) >>> 0
  v2l = (v2l ^ 0xff) >>> 0
  sipRound(); sipRound(); sipRound(); sipRound()
  sipHashHigh = (v0h ^ v1h ^ v2h ^ v3h) >>> 0
  return (v0l ^ v1l ^ v2l ^ v3l) >>> 0
}
