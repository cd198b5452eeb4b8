/**
 * TCP Fast Open (RFC 7413) as a policy beside the state machine, as Linux does it (net/ipv4/tcp_fastopen.c):
 * the modes of the tcp_fastopen sysctl, the server's cookie (SipHash-2-4 over the addresses, Linux's
 * __tcp_fastopen_cookie_gen_cipher), the option's layout, the client's cookie cache (data its owner keeps,
 * one entry per destination, as Linux's tcp_metrics), what a client's SYN carries (FastOpenClient) and what
 * a listener does with a SYN (fastOpenServerDecision, Linux's tcp_try_fastopen). Off unless TcpConfig.fastOpen
 * says otherwise.
 */
import { sipHash24, sipHashHigh } from './siphash.js'
import { findOption, nameOption, namedToOption, type TcpOption } from './options.js'

/** Linux's tcp_fastopen bits (include/net/tcp.h): the client sends data in its SYN (with a cookie). */
export const TFO_CLIENT_ENABLE = 0x1
/** The server accepts data in a SYN with a valid cookie (with TCP_FASTOPEN on the listener). */
export const TFO_SERVER_ENABLE = 0x2
/** The client sends data in its SYN without a cookie (and without the option). */
export const TFO_CLIENT_NO_COOKIE = 0x4
/** The server accepts data in any SYN, cookie or not. */
export const TFO_SERVER_COOKIE_NOT_REQD = 0x200
/** Every listener is a Fast Open listener (its queue the listen() backlog), without TCP_FASTOPEN. */
export const TFO_SERVER_WO_SOCKOPT1 = 0x400

/** Linux's MAX_TCP_OPTION_SPACE: the data in a SYN leaves room for 40 bytes of options (tcp_send_syn_data). */
export const SYN_DATA_OPTION_RESERVE = 40

/** Length of the cookie Linux's server makes (TCP_FASTOPEN_COOKIE_SIZE). */
export const COOKIE_SIZE = 8

/**
 * The server's cookie for a client (RFC 7413 §4.1.2), as Linux computes it: SipHash-2-4 under the 16-byte
 * key over the SYN's source then destination address (4 or 16 bytes each), the 64-bit result in
 * little-endian order.
 */
export function fastOpenCookie(key: Uint8Array, client: Uint8Array, server: Uint8Array): Uint8Array {
  const msg = new Uint8Array(client.length + server.length)
  msg.set(client, 0)
  msg.set(server, client.length)
  const lo = sipHash24(key, msg)
  const hi = sipHashHigh
  const out = new Uint8Array(COOKIE_SIZE)
  const v = new DataView(out.buffer)
  v.setUint32(0, lo, true)
  v.setUint32(4, hi, true)
  return out
}

/**
 * A key as Linux's tcp_fastopen_key sysctl and TCP_FASTOPEN_KEY take it in text: four 32-bit hex words
 * `xxxxxxxx-xxxxxxxx-xxxxxxxx-xxxxxxxx`, optionally a comma and a backup key. Each word is stored
 * little-endian (proc_tcp_fastopen_key: cpu_to_le32). Returns the primary key then the backup, or undefined.
 */
export function parseFastOpenKeys(text: string): Uint8Array[] | undefined {
  const keys: Uint8Array[] = []
  for (const part of text.trim().split(',')) {
    const words = part.split('-')
    if (words.length !== 4 || !words.every((w) => /^[0-9a-fA-F]{1,8}$/.test(w))) return undefined
    const k = new Uint8Array(16)
    const v = new DataView(k.buffer)
    words.forEach((w, i) => v.setUint32(4 * i, parseInt(w, 16), true))
    keys.push(k)
  }
  return keys.length >= 1 && keys.length <= 2 ? keys : undefined
}

/**
 * The Fast Open option as Linux lays it out (tcp_options_write, last among a SYN's options): kind 34, or
 * 254 with the 0xF989 magic (the experimental form, RFC 7413 §4.1.1's note), then the cookie (none: a
 * request), padded with NOP,NOP when its length leaves two bytes of a 32-bit word.
 */
export function fastOpenOptions(cookie: Uint8Array, exp: boolean): TcpOption[] {
  const o: TcpOption[] = [namedToOption({ kind: 'tfo', type: exp ? 254 : 34, cookie })]
  const len = (exp ? 4 : 2) + cookie.length
  if ((len & 3) === 2) o.push({ kind: 'nop' }, { kind: 'nop' })
  return o
}

/** The Fast Open option a segment carries: its cookie (empty for a request) and form, or undefined. */
export function findFastOpen(options: readonly TcpOption[]): { cookie: Uint8Array; exp: boolean } | undefined {
  for (const o of options) {
    if (o.kind !== 'unknown' || (o.type !== 34 && o.type !== 254)) continue
    const n = nameOption(o)
    if (n?.kind === 'tfo') return { cookie: n.cookie, exp: n.type === 254 }
  }
  return undefined
}

/** What a client remembers of a server (Linux's tcp_fastopen_metrics). */
export interface FastOpenCacheEntry {
  /** The server's MSS from its last SYN+ACK (0: not known). */
  mss: number
  /** The server's cookie, or undefined. */
  cookie: Uint8Array | undefined
  /** The cookie came in the experimental option: send it back the same way. */
  exp: boolean
  /**
   * Linux's try_exp: 0 asks in the RFC form; 1 after a request in that form went unanswered, the next asks
   * in the experimental form; 2 after that one did too, back to the RFC form for good.
   */
  tryExp: 0 | 1 | 2
}

/** The client's cookie cache, per server address: plain data its owner (a host, a stack) keeps. */
export class FastOpenCache {
  private readonly entries = new Map<string, FastOpenCacheEntry>()

  /** The entry for a server, or undefined. */
  get(addr: Uint8Array): FastOpenCacheEntry | undefined {
    return this.entries.get(addr.join('.'))
  }

  /** The entry for a server, made empty when there is none. */
  entry(addr: Uint8Array): FastOpenCacheEntry {
    const k = addr.join('.')
    let e = this.entries.get(k)
    if (!e) this.entries.set(k, (e = { mss: 0, cookie: undefined, exp: false, tryExp: 0 }))
    return e
  }

  /** Forgets every server (Linux's `ip tcp_metrics flush`). */
  clear(): void {
    this.entries.clear()
  }
}

/**
 * One active open's Fast Open (Linux's tcp_fastopen_request and tcp_send_syn_data): decided when it is made,
 * from the cache and the mode, and told of the SYN+ACK. `space` is how much data the SYN may carry; the
 * TCB sends with the SYN what is queued by then, up to it.
 */
export class FastOpenClient {
  /** The option of the first SYN (empty cookie: a request), or undefined for none. */
  readonly option: TcpOption[] | undefined
  /** Data the SYN may carry (0 when it asks for a cookie). */
  readonly space: number
  /** The option was sent: a cookie in the SYN+ACK is remembered (Linux's syn_fastopen). */
  readonly requested: boolean
  /** The option is in the experimental form. */
  private readonly exp: boolean
  private readonly entry: FastOpenCacheEntry

  /**
   * `mode` is the tcp_fastopen bits; `mss` the MSS the path allows (our own announced MSS). Without a
   * cookie and without TFO_CLIENT_NO_COOKIE the SYN asks for one and carries no data.
   */
  constructor(cache: FastOpenCache, server: Uint8Array, mode: number, mss: number) {
    this.entry = cache.entry(server)
    const e = this.entry
    // tcp_send_syn_data: the cached MSS bounds the data, less 40 bytes left for options.
    const clamp = e.mss > 0 ? Math.min(e.mss, mss) : mss
    const dataSpace = Math.max(clamp - SYN_DATA_OPTION_RESERVE, 0)
    if (mode & TFO_CLIENT_NO_COOKIE) {
      this.option = undefined
      this.space = dataSpace
      this.requested = false
      this.exp = false
    } else if (e.cookie) {
      this.option = fastOpenOptions(e.cookie, e.exp)
      this.space = dataSpace
      this.requested = true
      this.exp = e.exp
    } else {
      this.option = fastOpenOptions(new Uint8Array(0), e.tryExp === 1)
      this.space = 0
      this.requested = true
      this.exp = e.tryExp === 1
    }
  }

  /**
   * The SYN+ACK (Linux's tcp_rcv_fastopen_synack): its MSS is cached, and its cookie when we sent the
   * option (an unsolicited one is ignored); a request answered without a cookie, on the first SYN, tries the
   * other form next time. `mss` is the SYN+ACK's MSS (0 for none), `retransmitted` whether our SYN was sent
   * again.
   */
  onSynAck(options: readonly TcpOption[], retransmitted: boolean): void {
    const e = this.entry
    const mss = findOption(options, 'mss')
    if (mss) e.mss = mss.value
    if (!this.requested) return
    const fo = findFastOpen(options)
    if (fo && fo.cookie.length > 0) {
      e.cookie = fo.cookie.slice()
      e.exp = fo.exp
    } else if (!retransmitted && this.space === 0 && !e.cookie) {
      const next = this.exp ? 2 : 1
      if (next > e.tryExp && !e.exp) e.tryExp = next
    }
  }
}

/** What a listener does with a SYN under Fast Open (Linux's tcp_try_fastopen). */
export interface FastOpenServerDecision {
  /** Make the child at once, its SYN's data accepted (the SYN+ACK acknowledges it). */
  child: boolean
  /** The option the SYN+ACK carries (a cookie for the client), or undefined. */
  option: TcpOption[] | undefined
}

/** A listener's view of a SYN for {@link fastOpenServerDecision}. */
export interface FastOpenSyn {
  /** tcp_fastopen bits. */
  mode: number
  /** The listener takes Fast Open and its queue of Fast Open children is not full (tcp_fastopen_queue_check). */
  queueOk: boolean
  /** The keys, primary first (a valid cookie under the backup is answered with the primary's). */
  keys: readonly Uint8Array[]
  /** The SYN's source and destination addresses. */
  client: Uint8Array
  server: Uint8Array
  /** The SYN carries data. */
  synData: boolean
  /** The SYN's options. */
  options: readonly TcpOption[]
}

/**
 * Linux's tcp_try_fastopen: with server Fast Open on and room in the queue, a SYN with data or the option
 * makes a child at once when cookies are not required or its cookie is valid; a request (or an invalid
 * cookie) is answered with the client's valid cookie in the SYN+ACK. A cookie valid under the backup key
 * makes the child and is refreshed with the primary's.
 */
export function fastOpenServerDecision(s: FastOpenSyn): FastOpenServerDecision {
  const none = { child: false, option: undefined }
  const fo = findFastOpen(s.options)
  if (!(s.mode & TFO_SERVER_ENABLE) || !(s.synData || fo) || !s.queueOk) return none
  if (s.mode & TFO_SERVER_COOKIE_NOT_REQD) return { child: true, option: undefined }
  if (!fo || s.keys.length === 0) return none
  const valid = fastOpenCookie(s.keys[0]!, s.client, s.server)
  if (fo.cookie.length > 0) {
    const i = s.keys.findIndex((k) => equalBytes(fastOpenCookie(k, s.client, s.server), fo.cookie))
    if (i === 0) return { child: true, option: undefined }
    if (i > 0) return { child: true, option: fastOpenOptions(valid, fo.exp) }
  }
  return { child: false, option: fastOpenOptions(valid, fo.exp) }
}

const equalBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i])
