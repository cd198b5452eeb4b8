/**
 * Initial sequence numbers per RFC 6528 (now RFC 9293 §3.4.1): ISN = M + F(localip, localport, remoteip,
 * remoteport, secretkey), where M is a clock that ticks every 4 µs and F is a keyed pseudorandom function.
 * F here is SipHash-2-4 keyed with the first 128 bits of the secret over the 4-tuple, as Linux does (RFC
 * 6528 suggests MD5; any PRF that cannot be computed from outside the host satisfies MUST-9). SipHash
 * allocates nothing, where a SHA-256 hash object per connection showed up in the handshake benchmark.
 * The same keyed hash, with a different domain byte, gives the per-connection timestamp offset (as Linux's secure_tcp_ts_off) and SYN cookies.
 *
 * Pure given its inputs. The only impurity in src/tcp is {@link defaultSecret}: when a caller does not
 * inject a key, one random 32-byte key is drawn once per process, as a kernel draws net_secret at boot.
 */
import { randomBytes } from 'node:crypto'
import { sipHash24 } from './siphash.js'
import { seq, type Seq } from './seq.js'
import type { FourTuple } from './types.js'

/** Domain-separation bytes so the ISN, timestamp offset and SYN cookie hashes never coincide. */
export const HashDomain = { ISN: 1, TS_OFFSET: 2, SYN_COOKIE: 3 } as const

let processSecret: Uint8Array | undefined

/** A random 32-byte key drawn once per process, for callers that inject none (tests always inject one). */
export function defaultSecret(): Uint8Array {
  processSecret ??= new Uint8Array(randomBytes(32))
  return processSecret
}

const scratch = new Uint8Array(10 + 16 + 16)

/**
 * 32 bits of SipHash-2-4(secret[0..16), domain ‖ 0 ‖ localPort ‖ remotePort ‖ extra ‖ localAddr ‖
 * remoteAddr): the keyed PRF F of RFC 6528 §3, with an extra 32-bit input for SYN cookies' counter.
 */
export function keyedHash32(secret: Uint8Array, domain: number, tuple: FourTuple, extra = 0): number {
  const m = scratch
  m[0] = domain
  m[1] = 0
  m[2] = tuple.localPort >>> 8
  m[3] = tuple.localPort & 0xff
  m[4] = tuple.remotePort >>> 8
  m[5] = tuple.remotePort & 0xff
  m[6] = (extra >>> 24) & 0xff
  m[7] = (extra >>> 16) & 0xff
  m[8] = (extra >>> 8) & 0xff
  m[9] = extra & 0xff
  m.set(tuple.localAddr, 10)
  m.set(tuple.remoteAddr, 10 + tuple.localAddr.length)
  return sipHash24(secret, m, 10 + tuple.localAddr.length + tuple.remoteAddr.length)
}

/** RFC 6528's M: a 32-bit counter that ticks once every 4 µs (`now` is in µs). */
export function isnClock(now: number): number {
  return Math.floor(now / 4) % 0x1_0000_0000
}

/** RFC 6528 §3: ISN = M + F(4-tuple, secret). */
export function isnFor(secret: Uint8Array, tuple: FourTuple, now: number): Seq {
  return seq(isnClock(now) + keyedHash32(secret, HashDomain.ISN, tuple))
}

/** An ISN function bound to one secret key, the shape `TcpConfig.iss` accepts. */
export function createIsnGenerator(secret: Uint8Array): (tuple: FourTuple, now: number) => Seq {
  if (secret.length < 16) throw new RangeError('RFC 6528 key should be at least 128 bits')
  const key = new Uint8Array(secret)
  return (tuple, now) => isnFor(key, tuple, now)
}

/** A per-connection timestamp offset (RFC 7323 §5.4 allows a random offset; Linux uses a keyed hash). */
export function tsOffsetFor(secret: Uint8Array, tuple: FourTuple): number {
  return keyedHash32(secret, HashDomain.TS_OFFSET, tuple)
}
