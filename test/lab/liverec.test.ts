import { EventEmitter } from 'node:events'
import { describe, expect, it } from 'vitest'
import { ladderOf, segmentJson, segmentLine, flagWords, LiveRecorder, RECORDER_LIMITS, type SegmentRecord } from '../../src/lab/liverec.js'
import { VirtualClock } from '../../src/lab/stack/clock.js'
import { Interface, type PacketEvent } from '../../src/lab/stack/iface.js'
import type { Device } from '../../src/net/device.js'
import { memoryPair } from '../../src/net/memdev.js'
import { wireStampTap } from '../../src/net/wirestamp.js'
import { runVirtual } from '../helpers/virtual.js'
import { parseIp } from '../../src/net/addr.js'
import { buildTcpPacket } from '../../src/net/packet.js'
import type { Seq } from '../../src/tcp/seq.js'
import { parseFlags } from '../../src/tcp/segment.js'

const J = 1000
const K = 5000
const base = { window: 502, options: [], local: '198.18.0.1:40000', remote: '198.18.0.2:1935' }
const rec = (dir: 'in' | 'out', timeUs: number, flags: string, seq: number, ack: number, len: number, state: SegmentRecord['state']): SegmentRecord =>
  ({ ...base, dir, timeUs, flags, seq, ack, len, state })

// The seed exchange from our (active) side, with our states as the TCB reported them.
const SEED: SegmentRecord[] = [
  rec('out', 0, 'S', J, 0, 0, 'SYN-SENT'),
  rec('in', 100, 'SA', K, J + 1, 0, 'ESTABLISHED'),
  rec('out', 100, 'A', J + 1, K + 1, 0, 'ESTABLISHED'),
  rec('out', 100, 'PA', J + 1, K + 1, 8, 'ESTABLISHED'),
  rec('in', 200, 'PA', K + 1, J + 9, 16, 'ESTABLISHED'),
  rec('out', 300, 'FA', J + 9, K + 17, 0, 'FIN-WAIT-1'),
  rec('in', 400, 'FA', K + 17, J + 10, 0, 'TIME-WAIT'),
  rec('out', 400, 'A', J + 10, K + 18, 0, 'TIME-WAIT'),
]

describe('live ladders', () => {
  it('carry our states from the TCB and infer the peer\'s, row by row', () => {
    const ex = ladderOf(SEED, { left: 'tcplab', right: 'peer' }, 't', 'o')
    expect(ex.left).toEqual({ label: 'tcplab', endpoint: '198.18.0.1:40000', isn: J })
    expect(ex.right).toEqual({ label: 'peer', endpoint: '198.18.0.2:1935', isn: K })
    expect(ex.rows.map((r) => [r.from, r.flags, r.leftState, r.rightState])).toEqual([
      ['left', 'S', 'SYN-SENT', 'SYN-RECEIVED'],
      ['right', 'SA', 'ESTABLISHED', 'SYN-RECEIVED'],
      ['left', 'A', 'ESTABLISHED', 'ESTABLISHED'],
      ['left', 'PA', 'ESTABLISHED', 'ESTABLISHED'],
      ['right', 'PA', 'ESTABLISHED', 'ESTABLISHED'],
      ['left', 'FA', 'FIN-WAIT-1', 'CLOSE-WAIT'],
      ['right', 'FA', 'TIME-WAIT', 'LAST-ACK'],
      ['left', 'A', 'TIME-WAIT', 'CLOSED'],
    ])
    expect(LiveRecorder.handshakeRtt(SEED)).toBe(100)
  })

  it('print one line per segment with direction, words for flags, numbers and our state', () => {
    expect(segmentLine(SEED[1])).toBe('   +0.100 ms ← SYN+ACK  seq=5000 ack=1001 len=0 win=502  ESTABLISHED')
    expect(segmentLine({ ...SEED[0], options: [{ kind: 'mss', value: 1460 }, { kind: 'nop' }, { kind: 'wscale', shift: 7 }] })).toBe(
      '   +0.000 ms → SYN      seq=1000 ack=0 len=0 win=502 [mss 1460, wscale 7]  SYN-SENT',
    )
    expect(flagWords('FSRPAUEC')).toBe('SYN+FIN+RST+PSH+ACK+URG+ECE+CWR')
    expect(flagWords('')).toBe('none')
  })
})

/** An interface stand-in: the recorder only listens to 'packet' and 'trace' and reads `now`. */
class FakeIface extends EventEmitter {
  now = 0
  connections(): [] {
    return []
  }
}

const US = parseIp('198.18.0.1')
const PEER = parseIp('198.18.0.2')

/** Emits one segment of connection `port` (the peer's port), `dir` as seen by us. */
function packet(iface: FakeIface, port: number, dir: 'in' | 'out', flags: string, seq: number, len = 0): void {
  const tcp = {
    srcPort: dir === 'out' ? 1935 : port,
    dstPort: dir === 'out' ? port : 1935,
    seq: seq as Seq,
    ack: 0 as Seq,
    flags: parseFlags(flags),
    window: 512,
    urgent: 0,
    options: [],
    payload: new Uint8Array(len),
  }
  const ip = dir === 'out' ? { src: US, dst: PEER } : { src: PEER, dst: US }
  iface.now += 10
  iface.emit('packet', { dir, bytes: new Uint8Array(0), decoded: { ip, tcp }, tcp, now: iface.now, conn: undefined, drop: undefined } as unknown as PacketEvent)
}

/** Sends `n` segments on connection `port`: SYN, SYN+ACK, then data both ways (seq = index). */
function connection(iface: FakeIface, port: number, n: number): void {
  for (let i = 0; i < n; i++) {
    const flags = i === 0 ? 'S' : i === 1 ? 'SA' : 'PA'
    packet(iface, port, i % 2 === 0 ? 'in' : 'out', flags, i, i < 2 ? 0 : 100)
  }
}

const ends = (port: number): [string, string] => ['198.18.0.1:1935', `198.18.0.2:${port}`]

describe('LiveRecorder limits', () => {
  it('default: the first 64 and the last 16 segments of a connection, and a count of those between', () => {
    expect(RECORDER_LIMITS).toEqual({ head: 64, tail: 16, connections: 256, states: 4096 })
    const iface = new FakeIface()
    const lines: SegmentRecord[] = []
    const rec = new LiveRecorder(iface as unknown as Interface, (r) => lines.push(r))
    connection(iface, 40000, 10_000)
    // every segment still reaches the callback (the live lines) …
    expect(lines.map((r) => r.seq)).toEqual(Array.from({ length: 10_000 }, (_, i) => i))
    // … but 80 are kept: 0..63 and 9984..9999, the first after the gap saying how many it skipped
    const segs = rec.of(...ends(40000))
    expect(segs.map((s) => s.seq)).toEqual([...Array.from({ length: 64 }, (_, i) => i), ...Array.from({ length: 16 }, (_, i) => 9984 + i)])
    expect(segs.filter((s) => s.omittedBefore !== undefined).map((s) => [s.seq, s.omittedBefore])).toEqual([[9984, 9920]])
    expect(rec.omittedOf(...ends(40000))).toBe(9920)
    expect(rec.omitted).toBe(9920)
    expect(rec.total).toBe(10_000)
    expect(segmentJson(segs[64]).omittedBefore).toBe(9920)
    expect(segmentJson(segs[63])).not.toHaveProperty('omittedBefore')
    expect(segs[0].flags).toBe('S')
    // the ladder shows the gap on the row after it
    const ladder = ladderOf(segs, { left: 'us', right: 'them' })
    expect(ladder.rows).toHaveLength(80)
    expect(ladder.rows[64].notes).toEqual(['9920 segments before this one not kept'])
    expect(ladder.rows.filter((r) => r.notes).length).toBe(1)
    // the record itself is not marked: of() hands out a marked copy
    expect(lines[9984].seq).toBe(9984)
    expect(lines[9984].omittedBefore).toBeUndefined()
    expect(segs[64]).toEqual({ ...lines[9984], omittedBefore: 9920 })
    rec.stop()
  })

  it('keeps everything of a short connection, exactly at the limit too', () => {
    const iface = new FakeIface()
    const rec = new LiveRecorder(iface as unknown as Interface)
    connection(iface, 40001, 80)
    connection(iface, 40002, 81)
    expect(rec.of(...ends(40001)).map((s) => s.seq)).toEqual(Array.from({ length: 80 }, (_, i) => i))
    expect(rec.omittedOf(...ends(40001))).toBe(0)
    expect(rec.of(...ends(40001)).some((s) => s.omittedBefore !== undefined)).toBe(false)
    const b = rec.of(...ends(40002))
    expect(b.map((s) => s.seq)).toEqual([...Array.from({ length: 64 }, (_, i) => i), ...Array.from({ length: 16 }, (_, i) => 65 + i)])
    expect(b[64].omittedBefore).toBe(1)
    expect(rec.omitted).toBe(1)
    // `segments` is every kept segment, in the order they passed
    expect(rec.segments).toHaveLength(160)
    expect(rec.segments[79].seq).toBe(79)
    expect(rec.segments[80].remote).toBe('198.18.0.2:40002')
    rec.stop()
  })

  it('custom limits: head only; past the connection cap the quietest connection goes; forget() frees a place', () => {
    const iface = new FakeIface()
    const rec = new LiveRecorder(iface as unknown as Interface, undefined, { head: 3, tail: 0, connections: 2 })
    connection(iface, 1, 10)
    connection(iface, 2, 5)
    expect(rec.of(...ends(1)).map((s) => s.seq)).toEqual([0, 1, 2])
    expect(rec.of(...ends(1)).some((s) => s.omittedBefore !== undefined)).toBe(false) // no segment after the gap
    expect(rec.omittedOf(...ends(1))).toBe(7)
    expect(rec.of(...ends(2)).map((s) => s.seq)).toEqual([0, 1, 2])
    expect(rec.omitted).toBe(7 + 2)
    // connection 1 speaks again: now 2 is the quietest, and a third connection pushes it out
    packet(iface, 1, 'in', 'A', 10)
    connection(iface, 3, 4)
    expect(rec.of(...ends(2))).toEqual([])
    expect(rec.omittedOf(...ends(2))).toBe(0)
    expect(rec.of(...ends(1)).map((s) => s.seq)).toEqual([0, 1, 2])
    expect(rec.omittedOf(...ends(1))).toBe(8)
    expect(rec.of(...ends(3)).map((s) => s.seq)).toEqual([0, 1, 2])
    // 8 + 1 of connection 1, all 5 of the pushed-out connection 2, 1 of connection 3
    expect(rec.omitted).toBe(8 + 5 + 1)
    expect(rec.total).toBe(10 + 5 + 1 + 4)
    // a reported connection is forgotten: its place is free, nobody is pushed out
    rec.forget(...ends(1))
    expect(rec.of(...ends(1))).toEqual([])
    connection(iface, 4, 2)
    expect(rec.of(...ends(4)).map((s) => s.flags)).toEqual(['S', 'SA'])
    expect(rec.of(...ends(3)).map((s) => s.seq)).toEqual([0, 1, 2])
    expect(rec.omitted).toBe(5 + 1)
    rec.stop()
  })

  it('keeps at most `states` transitions and counts the rest', () => {
    const iface = new FakeIface()
    const rec = new LiveRecorder(iface as unknown as Interface, undefined, { states: 2 })
    for (const [from, to] of [['LISTEN', 'SYN-RECEIVED'], ['SYN-RECEIVED', 'ESTABLISHED'], ['ESTABLISHED', 'CLOSE-WAIT']]) {
      iface.emit('trace', { type: 'state', now: 5, from, to, cause: 'test' }, undefined)
    }
    expect(rec.states.map((s) => s.to)).toEqual(['SYN-RECEIVED', 'ESTABLISHED'])
    expect(rec.statesOmitted).toBe(1)
    // stop() ends the segments, not the transitions (handshake reports the close that follows it)
    rec.stop()
    expect(iface.listenerCount('packet')).toBe(0)
    connection(iface, 5, 3)
    expect(rec.total).toBe(0)
    iface.emit('trace', { type: 'state', now: 6, from: 'CLOSE-WAIT', to: 'LAST-ACK', cause: 'test' }, undefined)
    expect(rec.statesOmitted).toBe(2)
  })
})

describe('the handshake RTT', () => {
  const syn = (t: number, wire?: number): SegmentRecord => ({ ...rec('out', t, 'S', J, 0, 0, 'SYN-SENT'), ...(wire !== undefined ? { wireUs: wire } : {}) })
  const synAck = (t: number, state: SegmentRecord['state'], extra: Partial<SegmentRecord> = {}): SegmentRecord => ({ ...rec('in', t, 'SA', K, J + 1, 0, state), ...extra })

  it('runs from the last SYN sent before the SYN+ACK that was accepted, by wire times when both have them', () => {
    // retransmitted SYNs carry one seq: the answer is timed from the latest one before it
    expect(LiveRecorder.handshakeRtt([syn(0), syn(1_000_000), synAck(1_000_300, 'ESTABLISHED')])).toBe(300)
    expect(LiveRecorder.handshakeRtt([syn(0, 2_000), syn(1_000_000, 1_004_000), synAck(1_000_300, 'ESTABLISHED', { wireUs: 1_004_040 })])).toBe(40)
    // a SYN+ACK dropped (bad checksum) or refused by the TCB (still SYN-SENT) is not the answer
    const dropped = synAck(400_000, 'SYN-SENT', { drop: 'tcp-checksum', wireUs: 400_000 })
    const refused = synAck(500_000, 'SYN-SENT', { ack: J + 7 })
    expect(LiveRecorder.handshakeRtt([syn(0, 10), dropped, refused, syn(1_000_000, 1_000_010), synAck(1_000_500, 'ESTABLISHED', { wireUs: 1_000_060 })])).toBe(50)
    // none accepted: no RTT at all
    expect(LiveRecorder.handshakeRtt([syn(0, 10), dropped, syn(1_000_000, 1_000_010), { ...dropped, timeUs: 1_000_400 }])).toBeUndefined()
    expect(LiveRecorder.handshakeRtt([syn(0), refused])).toBeUndefined()
    expect(LiveRecorder.handshakeRtt([synAck(10, 'ESTABLISHED')])).toBeUndefined()
    // wire times for one and not the other: the interface's times for both
    expect(LiveRecorder.handshakeRtt([syn(0), synAck(700, 'ESTABLISHED', { wireUs: 65 })])).toBe(700)
    expect(segmentJson({ ...SEED[0], wireUs: 12 })).toMatchObject({ timeUs: 0, wireUs: 12 })
    expect(segmentJson(SEED[0])).not.toHaveProperty('wireUs')
  })

  it('takes wire times from the device: stamps of segments sent late (as after ARP) and received, matched to their records', async () => {
    const vc = new VirtualClock(1_000_000)
    const [da, db] = memoryPair({ delivery: 'microtask' })
    // the device stamps 7 µs after the interface's clock reads, and sends 5 ms after the interface asked
    const wire = wireStampTap(da, () => vc.now + 7)
    const held: Device = {
      medium: 'ip',
      mtu: wire.mtu,
      send: (p) => {
        const copy = p.slice()
        vc.setTimer(() => wire.send(copy), vc.now + 5000)
      },
      onReceive: (h) => wire.onReceive(h),
      close: () => wire.close(),
    }
    const a = new Interface({ device: held, addrs: ['198.18.0.1'], clock: vc.clock, scheduler: vc })
    const b = new Interface({ device: db, addrs: ['198.18.0.2'], clock: vc.clock, scheduler: vc })
    try {
      const recorder = new LiveRecorder(a, undefined, {}, wire)
      const start = a.now
      b.listen(1935, { onConnection: () => {} })
      a.connect({ remoteAddr: '198.18.0.2', remotePort: 1935, localPort: 40000 })
      await runVirtual(vc, () => a.stats.packetsIn + b.stats.packetsIn, 50_000)
      recorder.stop()
      const segs = recorder.segments
      expect(segs.map((s) => [s.dir, s.flags, s.timeUs - start, s.wireUs! - start])).toEqual([
        ['out', 'S', 1_000_000, 1_005_007],
        ['in', 'SA', 1_005_000, 1_005_007],
        ['out', 'A', 1_005_000, 1_010_007],
      ])
      expect(LiveRecorder.handshakeRtt(segs)).toBe(0)
    } finally {
      a.close()
      b.close()
    }
  })
})

describe('LiveRecorder: a segment dropped for a malformed option is still shown (issue 15)', () => {
  it('the options before the bad one, then [bad opt]; in JSON a malformed entry and a warning', () => {
    const [ours, theirs] = memoryPair({ delivery: 'sync' })
    const iface = new Interface({ device: ours, addrs: ['198.18.0.1'], clock: () => 0 })
    const lines: string[] = []
    const rec = new LiveRecorder(iface, (r) => lines.push(segmentLine(r)))
    // A SYN whose timestamp option says length 3 (RFC 7323 §3.2: it is 10): the stack cannot trust the header.
    const syn = buildTcpPacket(
      { src: parseIp('198.18.0.2'), dst: parseIp('198.18.0.1') },
      {
        srcPort: 40000, dstPort: 1935, seq: 7 as Seq, ack: 0 as Seq, flags: parseFlags('S'), window: 64240, urgent: 0,
        options: [{ kind: 'mss', value: 1460 }, { kind: 'nop' }, { kind: 'nop' }, { kind: 'unknown', type: 8, data: Uint8Array.of(1) }, { kind: 'nop' }, { kind: 'nop' }, { kind: 'nop' }],
        payload: new Uint8Array(0),
      },
    )
    theirs.send(syn)
    expect(iface.stats.drops.malformed).toBe(1)
    expect(lines).toEqual(['   +0.000 ms ← SYN      seq=7 ack=0 len=0 win=64240 [mss 1460, [bad opt]]  (dropped: malformed)'])
    const [r] = rec.of('198.18.0.1:1935', '198.18.0.2:40000')
    const j = segmentJson(r)
    expect(j.options).toEqual([{ kind: 'mss', value: 1460 }, { kind: 'nop' }, { kind: 'nop' }, { kind: 'malformed', code: r.optionError!.code }])
    expect(j.warnings).toEqual([r.optionError])
    expect(r.optionError!.code).toMatch(/^TCP_ERR_/)
    expect(j.drop).toBe('malformed')
    rec.stop()
    iface.close()
  })
})
