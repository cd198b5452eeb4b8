/**
 * A seeded simulation of two TCP ends over an in-memory link that drops, duplicates, reorders and
 * delays segments, in virtual time (µs). The client is an active-open TCB; the server is a Listener and
 * the TCBs it spawns. Both applications send a random payload, read what arrives (sometimes slowly, so
 * windows close), and close in a random order. After every step the TCB invariants and the legality of
 * every state transition are checked. Every segment crosses the link as bytes (emitTcp → parseTcp with a
 * verified checksum). Replay one seed with SIM_SEED=n; SIM_SEEDS=n runs more seeds; SIM_SACK=1 (or 0) forces
 * SACK on (off) at both ends.
 */
import { emitTcp, parseTcp, type TcpRepr } from '../../src/tcp/segment.js'
import type { PseudoHeader } from '../../src/tcp/checksum.js'
import { Listener } from '../../src/tcp/listener.js'
import { LEGAL_TRANSITIONS, Tcb, type TcbStats } from '../../src/tcp/tcb.js'
import { formatEvent, type TraceEvent } from '../../src/tcp/trace.js'
import type { TcpConfig } from '../../src/tcp/types.js'
import { describe, expect, it } from 'vitest'
import { PEER_TUPLE, TUPLE, prng } from './helpers.js'

/** Parameters of one simulated connection. */
interface SimParams {
  seed: number
  /** Bytes the client sends, and the server. */
  sizeA: number
  sizeB: number
  loss: number
  dup: number
  /** Base one-way delay and extra random delay per packet (µs): jitter reorders. */
  delay: number
  jitter: number
  /** Probability per step that an application reads; chunk bound for each read. */
  readProb: number
  readChunk: number
  clientCloseAfterEof: boolean
  serverCloseAfterEof: boolean
  clientCfg: Partial<TcpConfig>
  serverCfg: Partial<TcpConfig>
  /** When set, that side's application aborts once `atByte` bytes have moved (its own sent + received). */
  abort?: { client: boolean; atByte: number }
}

/** The outcome: `error` explains the first failure; `trace` is filled when tracing was requested. */
interface SimResult {
  error: string | undefined
  now: number
  steps: number
  segments: number
  retransmits: number
  /** Counters of the client and every server TCB, summed. */
  stats: TcbStats
  trace: string[]
  /** Final SND.UNA of both ends (to see that sequence numbers wrapped). */
  clientUna: number
  serverUna: number
}

/** Fills a buffer with bytes from a seeded generator (word at a time). */
function randomPayload(n: number, seed: number): Uint8Array {
  const words = new Uint32Array(Math.ceil(n / 4))
  let x = seed ^ 0x9e3779b9 || 1
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    words[i] = x >>> 0
  }
  return new Uint8Array(words.buffer, 0, n)
}

/** A clock-driven ISN starting at `base` at time 0 (RFC 6528's 4 µs clock without the hash). */
function isnBase(base: number): (t: unknown, now: number) => number {
  const f = (_t: unknown, now: number): number => (base + Math.floor(now / 4)) >>> 0
  // Printed with the failing seed's parameters.
  f.toJSON = () => `isn(${base})`
  return f
}

const SIM_SACK = process.env.SIM_SACK === undefined ? undefined : process.env.SIM_SACK === '1'

/** Random parameters for a seed: up to `maxSize` bytes each way, up to `maxLoss` loss. */
function paramsFor(seed: number, maxSize: number, maxLoss: number, exact = false): SimParams {
  const r = prng(seed * 7919 + 13)
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]
  const cfg = (): Partial<TcpConfig> => {
    const mss = pick([536, 1000, 1460, 1460, 8960])
    const rcvBuf = pick([2048, 8192, 65536, 262144, 1 << 20])
    return {
      mss,
      windowScale: pick([false, 0, 2, 7, 14]),
      // SIM_SACK=1 or 0 forces SACK on or off at both ends (the draw still happens, so seeds stay comparable).
      sackPermitted: SIM_SACK === undefined ? r() < 0.7 : (r(), SIM_SACK),
      timestamps: r() < 0.7,
      rcvBuf,
      sndBuf: pick([4096, 65536, 262144]),
      ackDelay: pick([0, 0, 40_000, 200_000]),
      nagle: r() < 0.5,
      msl: 30_000_000,
      // Exploration at very high loss (SIM_PATIENT=1) should find bugs, not legitimate give-ups.
      ...(process.env.SIM_PATIENT ? { synRetries: 1000, maxRetries: 1000 } : {}),
      // ISNs anywhere, often just below 2^32 so that sequence numbers wrap mid-transfer; clock-driven as
      // RFC 6528's M, so a stale SYN after a reset does not meet the same ISS again.
      iss: isnBase(r() < 0.3 ? 0xffffffff - Math.floor(r() * 70_000) : Math.floor(r() * 0x100000000)),
      tsOffset: Math.floor(r() * 0x100000000),
    }
  }
  const closeFirst = r()
  return {
    seed,
    sizeA: exact ? maxSize : Math.floor(r() * r() * (maxSize + 1)),
    sizeB: r() < 0.3 ? 0 : Math.floor(r() * r() * (maxSize + 1)),
    loss: r() * maxLoss,
    dup: r() * 0.05,
    delay: 100 + Math.floor(r() * 50_000),
    jitter: Math.floor(r() * 30_000),
    readProb: r() < 0.2 ? 0.05 + r() * 0.3 : 1,
    readChunk: pick([512, 4096, 1 << 30]),
    clientCloseAfterEof: closeFirst < 0.3,
    serverCloseAfterEof: closeFirst >= 0.3 && closeFirst < 0.7,
    clientCfg: cfg(),
    serverCfg: cfg(),
  }
}

const PSEUDO_TO_SERVER: PseudoHeader = { src: TUPLE.localAddr, dst: TUPLE.remoteAddr }
const PSEUDO_TO_CLIENT: PseudoHeader = { src: TUPLE.remoteAddr, dst: TUPLE.localAddr }

interface InFlight {
  at: number
  id: number
  toServer: boolean
  seg: TcpRepr
}

/** A binary min-heap on (at, id): deterministic delivery order. */
class Heap {
  private a: InFlight[] = []
  get size(): number {
    return this.a.length
  }
  peek(): InFlight | undefined {
    return this.a[0]
  }
  push(x: InFlight): void {
    const a = this.a
    a.push(x)
    let i = a.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (less(a[p], a[i])) break
      ;[a[p], a[i]] = [a[i], a[p]]
      i = p
    }
  }
  pop(): InFlight | undefined {
    const a = this.a
    const top = a[0]
    const last = a.pop()
    if (a.length > 0 && last) {
      a[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const rr = l + 1
        let m = i
        if (l < a.length && less(a[l], a[m])) m = l
        if (rr < a.length && less(a[rr], a[m])) m = rr
        if (m === i) break
        ;[a[m], a[i]] = [a[i], a[m]]
        i = m
      }
    }
    return top
  }
}
const less = (x: InFlight, y: InFlight): boolean => x.at < y.at || (x.at === y.at && x.id < y.id)

/** Runs one connection to completion (or failure). */
function runSim(p: SimParams, traceIt = false): SimResult {
  const rand = prng(p.seed)
  const trace: string[] = []
  let now = 0
  let error: string | undefined
  const fail = (msg: string): void => {
    if (error === undefined) error = `t=${now}µs: ${msg}`
  }
  const onEvent = (who: string) => (e: TraceEvent) => {
    if (e.type === 'state') {
      const ok = LEGAL_TRANSITIONS[e.from].includes(e.to)
      if (!ok) fail(`${who}: illegal transition ${e.from} -> ${e.to} (${e.cause})`)
    }
    if (traceIt) trace.push(`${who} ${formatEvent(e)}`)
  }
  const dataA = randomPayload(p.sizeA, p.seed * 2 + 1)
  const dataB = randomPayload(p.sizeB, p.seed * 2 + 2)
  const gotA = new Uint8Array(p.sizeA) // at the server
  const gotB = new Uint8Array(p.sizeB) // at the client
  let nGotA = 0
  let nGotB = 0
  let sentA = 0
  let sentB = 0

  const client = Tcb.connect(TUPLE, 0, p.clientCfg, onEvent('C'))
  const listener = new Listener({ localPort: PEER_TUPLE.localPort, config: p.serverCfg, onEvent: onEvent('S') })
  const children: Tcb[] = []
  let server: Tcb | undefined // the first accepted connection: the one under test
  const link = new Heap()
  let ids = 0
  let segments = 0

  const wire = new Uint8Array(65536 + 60)
  const transmit = (seg: TcpRepr, toServer: boolean): void => {
    segments++
    // Every segment goes through the real codec: emitted with its checksum, parsed back and verified.
    // That proves each segment the TCB builds is encodable, and copies it off the sender's ring.
    const pseudo = toServer ? PSEUDO_TO_SERVER : PSEUDO_TO_CLIENT
    const n = emitTcp(seg, wire, 0, pseudo)
    if (rand() < p.loss) return
    const copies = rand() < p.dup ? 2 : 1
    for (let c = 0; c < copies; c++) {
      const parsed = parseTcp(wire.slice(0, n), pseudo, { requireChecksum: true })
      link.push({ at: now + p.delay + Math.floor(rand() * p.jitter), id: ids++, toServer, seg: parsed })
    }
  }
  const pump = (t: Tcb, toServer: boolean): void => {
    for (let s = t.dispatch(now), n = 0; s !== undefined; s = t.dispatch(now), n++) {
      if (n > 10_000) {
        fail('dispatch never returns undefined')
        return
      }
      transmit(s, toServer)
    }
  }
  const serverFor = (): Tcb | undefined => {
    for (let i = children.length - 1; i >= 0; i--) if (children[i].state !== 'CLOSED') return children[i]
    return undefined
  }
  let aborted = false
  const app = (): void => {
    if (p.abort && !aborted) {
      const side = p.abort.client ? client : server
      const moved = p.abort.client ? sentA + nGotB : sentB + nGotA
      if (side !== undefined && moved >= p.abort.atByte && side.state !== 'CLOSED') {
        side.abort()
        aborted = true
      }
    }
    // Client application (it goes on reading what is buffered after the connection has closed).
    {
      if (sentA < p.sizeA && client.writable > 0) sentA += client.send(dataA.subarray(sentA))
      if (rand() < p.readProb) {
        const n = client.recvInto(gotB.subarray(nGotB, Math.min(p.sizeB, nGotB + p.readChunk)))
        if (n > 0) {
          for (let i = nGotB; i < nGotB + n; i++) if (gotB[i] !== dataB[i]) return fail(`client read byte ${i} wrong`)
          nGotB += n
        }
      }
      if (client.readable > 0 && nGotB >= p.sizeB) fail('client received more than the server sent')
      const doneSending = sentA === p.sizeA
      const st = client.state
      if (doneSending && (st === 'ESTABLISHED' || st === 'CLOSE-WAIT') && (!p.clientCloseAfterEof || client.eof)) {
        client.close()
      }
    }
    // Server application.
    const acc = listener.accept()
    if (acc) {
      if (server === undefined) server = acc
      else if (acc !== server && acc.state !== 'CLOSED') fail('a second connection was accepted')
    }
    if (server !== undefined) {
      const s = server
      if (sentB < p.sizeB && s.writable > 0) sentB += s.send(dataB.subarray(sentB))
      if (rand() < p.readProb) {
        const n = s.recvInto(gotA.subarray(nGotA, Math.min(p.sizeA, nGotA + p.readChunk)))
        if (n > 0) {
          for (let i = nGotA; i < nGotA + n; i++) if (gotA[i] !== dataA[i]) return fail(`server read byte ${i} wrong`)
          nGotA += n
        }
      }
      if (s.readable > 0 && nGotA >= p.sizeA) fail('server received more than the client sent')
      const st = s.state
      if (sentB === p.sizeB && (st === 'ESTABLISHED' || st === 'CLOSE-WAIT') && (!p.serverCloseAfterEof || s.eof)) {
        s.close()
      }
    }
  }
  const check = (): void => {
    const c = client.checkInvariants()
    if (c) fail(`client invariant: ${c}`)
    for (const ch of children) {
      const v = ch.checkInvariants()
      if (v) fail(`server invariant: ${v}`)
    }
  }

  pump(client, true)
  let steps = 0
  const LIMIT_TIME = Number(process.env.SIM_TIME_LIMIT ?? 3_600_000_000) // one virtual hour
  while (error === undefined) {
    steps++
    let next = link.peek()?.at
    const consider = (t: number | undefined): void => {
      if (t !== undefined && (next === undefined || t < next)) next = t
    }
    consider(client.pollAt())
    for (const ch of children) consider(ch.pollAt())
    // A slow reader runs on its own 10 ms tick, not only when packets arrive.
    if (client.readable > 0 || (server !== undefined && server.readable > 0)) consider(now + 10_000)
    if (next === undefined) {
      // Quiet: let slow readers drain what is buffered, then stop.
      if (client.readable === 0 && (server === undefined || server.readable === 0)) break
      next = now + 1000
    }
    if (next > now) now = next
    if (now > LIMIT_TIME) {
      fail(`connection did not finish within ${LIMIT_TIME / 1e6} s of virtual time`)
      break
    }
    // Deliver every packet due now.
    while (link.size > 0 && link.peek()!.at <= now) {
      const pkt = link.pop()!
      if (pkt.toServer) {
        const s = serverFor()
        if (s) {
          s.process(now, pkt.seg)
          pump(s, false)
        } else {
          const r = listener.process(now, pkt.seg, PEER_TUPLE)
          if (r instanceof Tcb) {
            children.push(r)
            pump(r, false)
          } else if (r !== undefined) transmit(r, false)
        }
      } else {
        client.process(now, pkt.seg)
        pump(client, true)
      }
      app()
      pump(client, true)
      for (const ch of children) pump(ch, false)
      check()
    }
    app()
    pump(client, true)
    for (const ch of children) pump(ch, false)
    check()
    if (steps > 5_000_000) fail('too many steps')
  }
  if (error === undefined && p.abort) {
    // After an ABORT the aborting end is CLOSED without error; the other end was reset, finished, or —
    // when every RST was lost and it has nothing to send — sits idle in a half-open connection (RFC 9293
    // §3.5.1: only keep-alives or new data would find out).
    const aborter = p.abort.client ? client : server
    const other = p.abort.client ? server : client
    if (aborted) {
      if (aborter && (aborter.state !== 'CLOSED' || aborter.error)) fail(`aborting end: ${aborter.state} ${aborter.error?.code}`)
      if (other && other.state !== 'CLOSED' && other.pollAt() !== undefined) fail(`other end busy in ${other.state}`)
      if (other?.error && other.error.code !== 'ECONNRESET') fail(`other end: ${other.error.code}`)
    }
  } else if (error === undefined) {
    if (client.state !== 'CLOSED') fail(`client ended in ${client.state}`)
    if (client.error) fail(`client error ${client.error.code}: ${client.error.reason}`)
    if (server === undefined) fail('server never accepted')
    else if (server.error) fail(`server error ${server.error.code}: ${server.error.reason}`)
    for (const ch of children) if (ch.state !== 'CLOSED') fail(`a server TCB ended in ${ch.state}`)
    if (nGotA !== p.sizeA) fail(`server got ${nGotA} of ${p.sizeA} bytes`)
    if (nGotB !== p.sizeB) fail(`client got ${nGotB} of ${p.sizeB} bytes`)
    if (!client.eof || (server && !server.eof)) fail('an end never saw EOF')
  }
  let retransmits = client.stats.retransmits
  for (const ch of children) retransmits += ch.stats.retransmits
  const stats = { ...client.stats }
  for (const ch of children) for (const k of Object.keys(stats) as Array<keyof TcbStats>) stats[k] += ch.stats[k]
  return { error, now, steps, segments, retransmits, stats, trace, clientUna: client.sndUna, serverUna: server?.sndUna ?? 0 }
}

/** Replays a failing seed with tracing and returns a printable report (last `lines` trace lines). */
function report(p: SimParams, lines = 150): string {
  const r = runSim(p, true)
  const cfg = JSON.stringify({ ...p, clientCfg: p.clientCfg, serverCfg: p.serverCfg })
  return [
    `SIMULATION FAILED — seed ${p.seed} (replay: SIM_SEED=${p.seed} npx vitest run test/tcp/sim.test.ts)`,
    `error: ${r.error}`,
    `params: ${cfg}`,
    ...r.trace.slice(-lines),
  ].join('\n')
}

const SEEDS = Number(process.env.SIM_SEEDS ?? 10_000)
const BIG_SEEDS = Number(process.env.SIM_BIG_SEEDS ?? 40)
const MAX_LOSS = Number(process.env.SIM_MAX_LOSS ?? 0.2)
const ABORT_SEEDS = Number(process.env.SIM_ABORT_SEEDS ?? 1000)
const CUBIC_SEEDS = Number(process.env.SIM_CUBIC_SEEDS ?? 1000)
const ONE = process.env.SIM_SEED !== undefined ? Number(process.env.SIM_SEED) : undefined

function runSeeds(first: number, count: number, maxSize: number, maxLoss: number, exact = false): { segments: number; retransmits: number; virtual: number } {
  let segments = 0
  let retransmits = 0
  let virtual = 0
  for (let seed = first; seed < first + count; seed++) {
    if (ONE !== undefined && seed !== ONE) continue
    const p = paramsFor(seed, maxSize, maxLoss, exact)
    const r = runSim(p)
    if (r.error !== undefined) {
      const rep = report(p)
      console.error(rep)
      expect.fail(rep.split('\n').slice(0, 3).join('\n'))
    }
    segments += r.segments
    retransmits += r.retransmits
    virtual += r.now
  }
  return { segments, retransmits, virtual }
}

describe('seeded simulation over a lossy, duplicating, reordering link', () => {
  it(`${SEEDS} seeds: payloads up to 64 KB each way, up to 20% loss`, () => {
    const s = runSeeds(1, SEEDS, 64 * 1024, MAX_LOSS)
    if (ONE === undefined) expect(s.segments).toBeGreaterThan(SEEDS * 10)
  })

  it(`${BIG_SEEDS} seeds: 1 MB from the client (and up to 1 MB back), up to 20% loss`, () => {
    const s = runSeeds(1_000_001, BIG_SEEDS, 1 << 20, MAX_LOSS, true)
    if (ONE === undefined) expect(s.segments).toBeGreaterThan(BIG_SEEDS * 700)
  })

  it(`${ABORT_SEEDS} seeds where one application aborts mid-transfer: resets, never a stuck or illegal state`, () => {
    for (let seed = 2_000_001; seed < 2_000_001 + ABORT_SEEDS; seed++) {
      if (ONE !== undefined && seed !== ONE) continue
      const p = paramsFor(seed, 64 * 1024, MAX_LOSS)
      const r = prng(seed)
      p.abort = { client: r() < 0.5, atByte: Math.floor(r() * (p.sizeA + p.sizeB + 1)) }
      const res = runSim(p)
      if (res.error !== undefined) {
        const rep = report(p)
        console.error(rep)
        expect.fail(rep.split('\n').slice(0, 3).join('\n'))
      }
    }
  })

  it(`${CUBIC_SEEDS} seeds with CUBIC at both ends (every other seed the whole 'linux' profile): up to 64 KB each way, up to 20% loss`, () => {
    for (let seed = 3_000_001; seed < 3_000_001 + CUBIC_SEEDS; seed++) {
      if (ONE !== undefined && seed !== ONE) continue
      const p = paramsFor(seed, 64 * 1024, MAX_LOSS)
      p.clientCfg.congestionControl = 'cubic'
      p.serverCfg.congestionControl = 'cubic'
      if (seed % 2 === 0) p.clientCfg.profile = p.serverCfg.profile = 'linux'
      const res = runSim(p)
      if (res.error !== undefined) {
        const rep = report(p)
        console.error(rep)
        expect.fail(rep.split('\n').slice(0, 3).join('\n'))
      }
    }
  })

  it('ISNs just below 2^32: sequence numbers wrap mid-transfer on both ends (1 MB each way, 10% loss)', () => {
    const p = paramsFor(77, 1 << 20, 0.1, true)
    p.sizeB = 1 << 20
    p.clientCfg.iss = 0xffffffff - 5000
    p.serverCfg.iss = 0xffffffff - 100 // fixed: the final SND.UNA is then known exactly
    const r = runSim(p)
    expect(r.error).toBeUndefined()
    // Both ends moved past 2^32: their final SND.UNA is numerically small.
    expect(r.clientUna).toBe((0xffffffff - 5000 + 1 + (1 << 20) + 1) % 2 ** 32)
    expect(r.serverUna).toBe((0xffffffff - 100 + 1 + (1 << 20) + 1) % 2 ** 32)
    expect(r.retransmits).toBeGreaterThan(0)
  })

  it('a seed replays identically (determinism)', () => {
    const p = paramsFor(42, 64 * 1024, 0.2)
    const a = runSim(p)
    const b = runSim(p)
    expect(a).toEqual(b)
  })
})

/** A fixed link and configuration for the loss-recovery comparison: only `sack` differs between runs. */
function lossyTransfer(seed: number, sack: boolean, loss: number, rack = true): SimParams {
  const cfg = (iss: number): Partial<TcpConfig> => ({
    mss: 1460,
    windowScale: 7,
    sackPermitted: sack,
    rack,
    timestamps: true,
    rcvBuf: 256 * 1024,
    sndBuf: 256 * 1024,
    ackDelay: 40_000,
    nagle: true,
    msl: 1_000_000,
    iss,
    tsOffset: iss,
  })
  return {
    seed,
    sizeA: 1 << 20,
    sizeB: 0,
    loss,
    dup: 0,
    delay: 5_000,
    jitter: 1_000,
    readProb: 1,
    readChunk: 1 << 30,
    clientCloseAfterEof: false,
    serverCloseAfterEof: false,
    clientCfg: cfg(1_000_000 + seed),
    serverCfg: cfg(2_000_000 + seed),
  }
}

describe('loss recovery at 20% loss each way: 1 MB, SACK + RACK-TLP against RFC 6675 alone and NewReno', () => {
  it('on the same seeds every mode delivers every byte; SACK + RACK-TLP needs far fewer RTOs on each seed', () => {
    const seeds = [1, 2, 3, 4, 5, 6, 7, 8]
    const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0)
    const run = (sack: boolean, rack: boolean): SimResult[] =>
      seeds.map((seed) => {
        const r = runSim(lossyTransfer(seed, sack, 0.2, rack))
        expect(r.error, `seed ${seed} sack=${sack} rack=${rack}`).toBeUndefined()
        return r
      })
    const reno = run(false, true)
    const rfc6675 = run(true, false)
    const rack = run(true, true)
    const rtos = (rs: SimResult[]): number[] => rs.map((r) => r.stats.timeouts)
    for (let i = 0; i < seeds.length; i++) {
      expect(rtos(rack)[i], `seed ${seeds[i]}: RTOs with RACK-TLP vs NewReno`).toBeLessThan(rtos(reno)[i])
    }
    // Far fewer: less than half of NewReno's, and fewer than RFC 6675's DupThresh rule alone.
    expect(2 * sum(rtos(rack))).toBeLessThan(sum(rtos(reno)))
    expect(sum(rtos(rack))).toBeLessThan(sum(rtos(rfc6675)))
    expect(sum(rtos(rfc6675))).toBeLessThan(sum(rtos(reno)))
    // And the machinery did the work: probes, RACK losses, SACK recoveries; none of it without SACK.
    const total = (rs: SimResult[], k: keyof TcbStats): number => sum(rs.map((r) => r.stats[k]))
    expect(total(rack, 'tlpProbes')).toBeGreaterThan(0)
    expect(total(rack, 'rackLosses')).toBeGreaterThan(0)
    expect(total(rack, 'sackRecoveries')).toBeGreaterThan(0)
    expect(total(rfc6675, 'dupThreshLosses')).toBeGreaterThan(0)
    expect([total(reno, 'sackRecoveries'), total(reno, 'tlpProbes'), total(reno, 'rackLosses')]).toEqual([0, 0, 0])
    // Virtual time to finish follows the RTOs.
    expect(sum(rack.map((r) => r.now))).toBeLessThan(sum(reno.map((r) => r.now)))
  })
})
