/**
 * TCB test helpers in smoltcp's style: fixtures per state, `send` (a segment from the simulated peer),
 * `expectSent` (a partial match: undefined fields are "don't care", as gVisor's packetimpact writes them)
 * and `expectNothing`. The TCB under test is "local"; the test plays the remote end by hand.
 */
import { expect } from 'vitest'
import { seq, seqAdd, type Seq } from '../../src/tcp/seq.js'
import { TcpFlags, type TcpRepr } from '../../src/tcp/segment.js'
import type { TcpOption } from '../../src/tcp/options.js'
import { mulberry32 } from '../../src/net/prng.js'
import { Tcb } from '../../src/tcp/tcb.js'
import { formatEvent, segmentSummary, type TraceEvent } from '../../src/tcp/trace.js'
import type { FourTuple, TcpConfig, TcpState } from '../../src/tcp/types.js'

/** Flag bits by name, for terse segment literals. */
export const { FIN, SYN, RST, PSH, ACK, URG } = TcpFlags

/** Our port and the peer's. */
export const LOCAL_PORT = 49152
export const REMOTE_PORT = 80
/** j and k of the seed's handshake: our ISN and the peer's. */
export const LOCAL_ISS = seq(1_000)
export const REMOTE_ISS = seq(5_000)
/** The window the simulated peer advertises unless a test says otherwise. */
export const REMOTE_WIN = 64_240

/** The 4-tuple seen from the TCB under test (IPv4). */
export const TUPLE: FourTuple = {
  localAddr: new Uint8Array([192, 0, 2, 1]),
  localPort: LOCAL_PORT,
  remoteAddr: new Uint8Array([192, 0, 2, 2]),
  remotePort: REMOTE_PORT,
}

/** The same tuple from the peer's side. */
export const PEER_TUPLE: FourTuple = {
  localAddr: TUPLE.remoteAddr,
  localPort: REMOTE_PORT,
  remoteAddr: TUPLE.localAddr,
  remotePort: LOCAL_PORT,
}

/**
 * The base config of state tests: no options (so windows and segments are plain numbers), immediate
 * ACKs, a fixed ISS and timestamp offset, MSS 1460, 64 KiB buffers. Option tests switch options back on.
 */
export const PLAIN: Partial<TcpConfig> = {
  iss: LOCAL_ISS,
  tsOffset: 0,
  windowScale: false,
  sackPermitted: false,
  timestamps: false,
  ackDelay: 0,
  rcvBuf: 64 * 1024,
  sndBuf: 64 * 1024,
  msl: 1_000_000,
}

/** Our advertised window with PLAIN (64 KiB buffer, capped to the 16-bit field). */
export const LOCAL_WIN = 0xffff

/** A peer segment with defaults: ports swapped, ACK flag, window REMOTE_WIN, no options, no payload. */
export function seg(partial: Partial<Omit<TcpRepr, 'payload'>> & { payload?: Uint8Array | string }): TcpRepr {
  const payload =
    typeof partial.payload === 'string' ? new TextEncoder().encode(partial.payload) : (partial.payload ?? new Uint8Array(0))
  return {
    srcPort: REMOTE_PORT,
    dstPort: LOCAL_PORT,
    seq: seq(0),
    ack: seq(0),
    flags: ACK,
    window: REMOTE_WIN,
    urgent: 0,
    options: [],
    ...partial,
    payload,
  }
}

/** Feeds one peer segment to the TCB at time `now` (µs). */
export function send(tcb: Tcb, partial: Parameters<typeof seg>[0], now = 0): void {
  tcb.process(now, seg(partial))
}

/** What `expectSent` compares; every field is optional. Payload may be given as a string. */
export type Expect = Partial<Omit<TcpRepr, 'payload'>> & { payload?: Uint8Array | string }

/** Dispatches one segment and checks the fields given in `want` (exact flags, seq, ack, window, options…). */
export function expectSent(tcb: Tcb, want: Expect, now = 0): TcpRepr {
  const got = tcb.dispatch(now)
  expect(got, `expected a segment like ${JSON.stringify(describe(want))}, got nothing`).toBeDefined()
  const g = got!
  const w = want
  if (w.srcPort !== undefined) expect(g.srcPort, 'srcPort').toBe(w.srcPort)
  if (w.dstPort !== undefined) expect(g.dstPort, 'dstPort').toBe(w.dstPort)
  if (w.flags !== undefined) expect(flagNames(g.flags), `flags of ${segmentSummary(g)}`).toBe(flagNames(w.flags))
  if (w.seq !== undefined) expect(g.seq, `seq of ${segmentSummary(g)}`).toBe(w.seq)
  if (w.ack !== undefined) expect(g.ack, `ack of ${segmentSummary(g)}`).toBe(w.ack)
  if (w.window !== undefined) expect(g.window, `window of ${segmentSummary(g)}`).toBe(w.window)
  if (w.urgent !== undefined) expect(g.urgent, 'urgent').toBe(w.urgent)
  if (w.options !== undefined) expect(g.options, `options of ${segmentSummary(g)}`).toEqual(w.options)
  if (w.payload !== undefined) {
    const p = typeof w.payload === 'string' ? new TextEncoder().encode(w.payload) : w.payload
    expect(Buffer.from(g.payload).toString('hex'), 'payload').toBe(Buffer.from(p).toString('hex'))
  }
  return g
}

/** Checks that the TCB has nothing to send at `now`. */
export function expectNothing(tcb: Tcb, now = 0): void {
  const got = tcb.dispatch(now)
  expect(got === undefined ? undefined : segmentSummary(got), 'expected no segment').toBeUndefined()
}

/** Drains everything the TCB would send now. */
export function drain(tcb: Tcb, now = 0): TcpRepr[] {
  const out: TcpRepr[] = []
  for (let s = tcb.dispatch(now); s !== undefined; s = tcb.dispatch(now)) out.push(s)
  return out
}

/** Flag bits as a sorted name list, so failures read "ACK,FIN" rather than 17. */
export function flagNames(f: number): string {
  const names: string[] = []
  for (const [k, v] of Object.entries(TcpFlags)) if (f & v) names.push(k)
  return names.join(',')
}

function describe(w: Expect): Record<string, unknown> {
  const d: Record<string, unknown> = { ...w }
  if (w.flags !== undefined) d.flags = flagNames(w.flags)
  if (w.payload !== undefined) d.payload = typeof w.payload === 'string' ? w.payload : `${w.payload.length} bytes`
  return d
}

/** Our sequence number after `n` octets of data past the SYN. */
export const L = (n: number): Seq => seqAdd(LOCAL_ISS, 1 + n)
/** The peer's sequence number after `n` octets of data past its SYN. */
export const R = (n: number): Seq => seqAdd(REMOTE_ISS, 1 + n)

/** Records trace events for a TCB (and prints them when asked). */
export function recorder(tcb: Tcb): TraceEvent[] {
  const events: TraceEvent[] = []
  tcb.onEvent = (e) => events.push(e)
  return events
}

/** The trace as printable lines. */
export function traceLines(events: TraceEvent[]): string[] {
  return events.map(formatEvent)
}

/** The MSS option alone (the peer's SYN in plain tests). */
export const MSS_1460: TcpOption[] = [{ kind: 'mss', value: 1460 }]

// ---------------------------------------------------------------- fixtures, one per state

/** SYN-SENT: connected, our SYN (seq j) already sent. */
export function tcbSynSent(cfg: Partial<TcpConfig> = {}): Tcb {
  const t = Tcb.connect(TUPLE, 0, { ...PLAIN, ...cfg })
  const s = t.dispatch(0)
  expect(s && s.flags).toBe(SYN)
  return t
}

/** SYN-RECEIVED (passive): the peer's SYN (seq k) arrived, our SYN+ACK already sent. */
export function tcbSynReceived(cfg: Partial<TcpConfig> = {}): Tcb {
  const t = Tcb.fromSyn(TUPLE, 0, seg({ seq: REMOTE_ISS, flags: SYN, options: MSS_1460 }), { ...PLAIN, ...cfg })
  const s = t.dispatch(0)
  expect(s && s.flags).toBe(SYN | ACK)
  return t
}

/** ESTABLISHED via active open: SYN, SYN+ACK, ACK done; nothing pending. */
export function tcbEstablished(cfg: Partial<TcpConfig> = {}): Tcb {
  const t = tcbSynSent(cfg)
  send(t, { seq: REMOTE_ISS, ack: L(0), flags: SYN | ACK, options: MSS_1460 })
  const a = t.dispatch(0)
  expect(a && a.flags).toBe(ACK)
  expect(t.state).toBe('ESTABLISHED')
  return t
}

/** CLOSE on `t`: its FIN goes out at once and the TCB is in `state`. */
function closeSendingFin(t: Tcb, state: TcpState): Tcb {
  t.close()
  const f = t.dispatch(0)
  expect(f && f.flags).toBe(FIN | ACK)
  expect(t.state).toBe(state)
  return t
}

/** FIN-WAIT-1: ESTABLISHED, CLOSE called, our FIN (seq L(0)) sent and not yet acknowledged. */
export function tcbFinWait1(cfg: Partial<TcpConfig> = {}): Tcb {
  return closeSendingFin(tcbEstablished(cfg), 'FIN-WAIT-1')
}

/** FIN-WAIT-2: our FIN acknowledged. */
export function tcbFinWait2(cfg: Partial<TcpConfig> = {}): Tcb {
  const t = tcbFinWait1(cfg)
  send(t, { seq: R(0), ack: L(1) })
  expect(t.state).toBe('FIN-WAIT-2')
  expect(t.dispatch(0)).toBeUndefined()
  return t
}

/** CLOSE-WAIT: the peer's FIN (seq R(0)) arrived and was acknowledged. */
export function tcbCloseWait(cfg: Partial<TcpConfig> = {}): Tcb {
  const t = tcbEstablished(cfg)
  send(t, { seq: R(0), ack: L(0), flags: FIN | ACK })
  const a = t.dispatch(0)
  expect(a && a.ack).toBe(R(1))
  expect(t.state).toBe('CLOSE-WAIT')
  return t
}

/** LAST-ACK: CLOSE-WAIT, CLOSE called, our FIN sent. */
export function tcbLastAck(cfg: Partial<TcpConfig> = {}): Tcb {
  return closeSendingFin(tcbCloseWait(cfg), 'LAST-ACK')
}

/** CLOSING: both FINs crossed (simultaneous close); ours not yet acknowledged. */
export function tcbClosing(cfg: Partial<TcpConfig> = {}): Tcb {
  const t = tcbFinWait1(cfg)
  send(t, { seq: R(0), ack: L(0), flags: FIN | ACK })
  expect(t.state).toBe('CLOSING')
  const a = t.dispatch(0)
  expect(a && a.ack).toBe(R(1))
  return t
}

/** TIME-WAIT: our FIN acknowledged, the peer's FIN received and acknowledged at t=0. */
export function tcbTimeWait(cfg: Partial<TcpConfig> = {}): Tcb {
  const t = tcbFinWait2(cfg)
  send(t, { seq: R(0), ack: L(1), flags: FIN | ACK })
  expect(t.state).toBe('TIME-WAIT')
  const a = t.dispatch(0)
  expect(a && a.ack).toBe(R(1))
  return t
}

/** A deterministic stream of floats in [0, 1) for tests and the simulation (src/net/prng.ts's mulberry32). */
export function prng(seed: number): () => number {
  return mulberry32(seed).next
}
