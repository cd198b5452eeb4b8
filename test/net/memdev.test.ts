import { describe, expect, it } from 'vitest'
import { isWireError } from '../../src/tcp/errors.js'
import { faultInjector, memoryPair, pcapTap, tracer, type FaultEvent, type FaultOptions } from '../../src/net/memdev.js'
import { LINKTYPE_RAW, PcapWriter, readCapture } from '../../src/net/pcap.js'
import { mulberry32, subSeed } from '../../src/net/prng.js'
import { codeOf, toHex } from '../helpers/codecLaws.js'


describe('mulberry32', () => {
  it('matches the reference implementation (seed 1 gives 0.6270739405881613 first)', () => {
    const r = mulberry32(1)
    expect([r.nextU32(), r.nextU32(), r.nextU32()]).toEqual([2693262067, 11749833, 2265367787])
    expect(mulberry32(1).next()).toBe(0.6270739405881613)
  })

  it('is deterministic per seed and stays in range', () => {
    const a = mulberry32(99)
    const b = mulberry32(99)
    for (let i = 0; i < 1000; i++) {
      const x = a.int(7)
      expect(x).toBe(b.int(7))
      expect(x >= 0 && x < 7).toBe(true)
    }
    expect(subSeed(5, 'out')).toBe(subSeed(5, 'out'))
    expect(subSeed(5, 'out')).not.toBe(subSeed(5, 'in'))
    expect(subSeed(5, 'out')).not.toBe(subSeed(6, 'out'))
  })
})

describe('memoryPair', () => {
  it('delivers copies in order, in one microtask', async () => {
    const [a, b] = memoryPair()
    const got: string[] = []
    b.onReceive((p) => got.push(toHex(p)))
    const buf = new Uint8Array([1, 2, 3])
    a.send(buf)
    buf[0] = 9 // the sender reuses its buffer at once
    a.send(buf)
    expect(got).toEqual([])
    expect(b.pending()).toBe(2)
    await Promise.resolve()
    expect(got).toEqual(['010203', '090203'])
    expect(a.stats()).toEqual({ sent: 2, received: 0, dropped: 0, sendErrors: 0 })
    expect(b.stats()).toEqual({ sent: 0, received: 2, dropped: 0, sendErrors: 0 })
  })

  it('in manual mode delivers on flush only, and a reply sent while flushing waits for the next flush', () => {
    const [a, b] = memoryPair({ delivery: 'manual' })
    const atA: number[] = []
    const atB: number[] = []
    a.onReceive((p) => {
      atA.push(p[0])
      a.send(new Uint8Array([p[0] + 1]))
    })
    b.onReceive((p) => {
      atB.push(p[0])
      b.send(new Uint8Array([p[0] + 1]))
    })
    a.send(new Uint8Array([0]))
    expect(b.flush()).toBe(1)
    expect(a.flush()).toBe(1)
    expect(a.flush()).toBe(0)
    expect(b.flush()).toBe(1)
    expect([atA, atB]).toEqual([[1], [0, 2]])
    expect(a.pending()).toBe(1)
  })

  it('in sync mode delivers before send returns', () => {
    const [a, b] = memoryPair({ delivery: 'sync' })
    const got: number[] = []
    b.onReceive((p) => got.push(p.length))
    a.send(new Uint8Array(5))
    expect(got).toEqual([5])
  })

  it('counts packets with no handler as dropped, refuses oversize and closed sends, loses packets to a closed peer', () => {
    const [a, b] = memoryPair({ delivery: 'sync', mtu: 100 })
    a.send(new Uint8Array(100))
    expect(b.stats().dropped).toBe(1)
    expect(codeOf(() => a.send(new Uint8Array(101)))).toBe('ERR_BAD_ARGUMENT')
    expect(a.stats().sendErrors).toBe(1)
    b.close()
    a.send(new Uint8Array(1))
    expect(a.stats().sent).toBe(2)
    expect(codeOf(() => b.send(new Uint8Array(1)))).toBe('DEV_ERR_CLOSED')
    const [e1] = memoryPair({ medium: 'ethernet', mtu: 100 })
    expect(codeOf(() => e1.send(new Uint8Array(114)))).toBe('no error')
    expect(codeOf(() => e1.send(new Uint8Array(115)))).toBe('ERR_BAD_ARGUMENT')
    expect(codeOf(() => memoryPair({ mtu: 20 }))).toBe('ERR_BAD_ARGUMENT')
  })
})

/** Sends packets 0..n-1 (first byte = index) through a fault injector to a sync pair; returns what arrived. */
function through(opts: Omit<FaultOptions, 'onFault'>, n = 16) {
  const [a, b] = memoryPair({ delivery: 'sync' })
  const events: FaultEvent[] = []
  const f = faultInjector(a, { ...opts, onFault: (e) => events.push(e) })
  const got: Uint8Array[] = []
  b.onReceive((p) => got.push(p))
  for (let i = 0; i < n; i++) f.send(new Uint8Array([i, 0, 0, 0]))
  f.releaseHeld()
  return { got, order: got.map((p) => p[0]), events, stats: f.faults() }
}

describe('faultInjector', () => {
  it('drops exactly the packets its seed picks', () => {
    const r = through({ seed: 42, drop: 0.25 })
    expect(r.order).toEqual([0, 1, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14])
    expect(r.events).toEqual([2, 10, 15].map((index) => ({ dir: 'out', index, action: 'drop' })))
    expect(r.stats).toEqual({ passed: 13, dropped: 3, duplicated: 0, reordered: 0, corrupted: 0 })
  })

  it('decides each packet from the seed and its index only: a higher drop rate drops a superset', () => {
    const low = new Set(through({ seed: 42, drop: 0.25 }, 200).events.map((e) => e.index))
    const high = new Set(through({ seed: 42, drop: 0.5, duplicate: 0.3, corrupt: 0.2 }, 200).events.filter((e) => e.action === 'drop').map((e) => e.index))
    for (const i of low) expect(high.has(i)).toBe(true)
    expect(high.size).toBeGreaterThan(low.size)
    expect(through({ seed: 43, drop: 0.25 }).order).not.toEqual(through({ seed: 42, drop: 0.25 }).order)
  })

  it('duplicates, reorders and corrupts exactly as seeded', () => {
    expect(through({ seed: 42, duplicate: 0.25 }).order).toEqual([0, 1, 2, 2, 3, 4, 4, 5, 6, 7, 8, 9, 9, 10, 11, 12, 13, 13, 14, 15])
    // A held packet goes out right after the next one.
    expect(through({ seed: 42, reorder: 0.25 }).order).toEqual([0, 2, 1, 4, 3, 5, 6, 7, 8, 9, 10, 12, 11, 14, 13, 15])
    const c = through({ seed: 42, corrupt: 0.25 })
    expect(c.events).toEqual([{ dir: 'out', index: 10, action: 'corrupt', bit: 16 }])
    expect(toHex(c.got[10])).toBe('0a008000') // bit 16: the most significant bit of byte 2
    expect(c.got.filter((p) => p[2] !== 0).length).toBe(1)
    const all = through({ seed: 7, drop: 0.1, duplicate: 0.1, reorder: 0.1, corrupt: 0.1 }, 20)
    expect(all.order).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 15, 14, 16, 18, 17, 19])
    expect(all.stats).toEqual({ passed: 18, dropped: 2, duplicated: 0, reordered: 2, corrupted: 0 })
  })

  it('passes everything at probability 0 and nothing at drop 1', () => {
    expect(through({ seed: 1 }).order).toEqual([...Array(16).keys()])
    expect(through({ seed: 1, drop: 1 }).order).toEqual([])
    expect(codeOf(() => faultInjector(memoryPair()[0], { seed: 1, drop: 1.5 }))).toBe('ERR_BAD_ARGUMENT')
  })

  it('copies a held sent packet, so the sender may reuse its buffer', () => {
    const [a, b] = memoryPair({ delivery: 'sync' })
    const f = faultInjector(a, { seed: 42, reorder: 1 })
    const got: string[] = []
    b.onReceive((p) => got.push(toHex(p)))
    const buf = new Uint8Array([1])
    f.send(buf)
    buf[0] = 2
    f.send(buf)
    expect(got).toEqual(['02', '01'])
  })

  it('releases a held packet at the end of the turn when no other follows', async () => {
    const [a, b] = memoryPair({ delivery: 'sync' })
    const f = faultInjector(a, { seed: 42, reorder: 1 })
    const got: number[] = []
    b.onReceive((p) => got.push(p[0]))
    f.send(new Uint8Array([5]))
    expect(got).toEqual([])
    await Promise.resolve()
    expect(got).toEqual([5])
  })

  it('keeps the two directions independent: received faults do not depend on how much was sent', () => {
    const run = (sends: number): number[] => {
      const [a, b] = memoryPair({ delivery: 'sync' })
      const f = faultInjector(a, { seed: 3, drop: 0.3, direction: 'both' })
      const got: number[] = []
      f.onReceive((p) => got.push(p[0]))
      for (let i = 0; i < 12; i++) {
        for (let j = 0; j < sends; j++) f.send(new Uint8Array([0]))
        b.send(new Uint8Array([i]))
      }
      return got
    }
    expect(run(0)).toEqual(run(3))
    expect(run(0).length).toBeLessThan(12)
    // direction 'out' leaves received packets alone.
    const [a, b] = memoryPair({ delivery: 'sync' })
    const f = faultInjector(a, { seed: 3, drop: 1, direction: 'out' })
    const got: number[] = []
    f.onReceive((p) => got.push(p[0]))
    b.send(new Uint8Array([7]))
    expect(got).toEqual([7])
  })

  it('delays through the given scheduler, with seeded jitter', () => {
    const [a, b] = memoryPair({ delivery: 'sync' })
    const scheduled: { fn: () => void; ms: number }[] = []
    const f = faultInjector(a, { seed: 9, delay: { ms: 10, jitter: 5, schedule: (fn, ms) => scheduled.push({ fn, ms }) } })
    const got: number[] = []
    b.onReceive((p) => got.push(p[0]))
    f.send(new Uint8Array([1]))
    f.send(new Uint8Array([2]))
    expect(got).toEqual([])
    expect(scheduled.length).toBe(2)
    for (const s of scheduled) expect(s.ms >= 10 && s.ms < 15).toBe(true)
    const jitter = mulberry32(subSeed(9, 'out-delay'))
    expect(scheduled.map((s) => s.ms)).toEqual([10 + 5 * jitter.next(), 10 + 5 * jitter.next()])
    scheduled[1].fn()
    scheduled[0].fn()
    expect(got).toEqual([2, 1])
  })
})

describe('tracer and pcapTap', () => {
  it('records every packet out (before it goes down) and in, with the clock', async () => {
    const [a, b] = memoryPair()
    let t = 100n
    const rec: string[] = []
    const ta = tracer(a, () => t++, (dir, p, ts) => rec.push(`${dir} ${toHex(p)} ${ts}`))
    const got: string[] = []
    ta.onReceive((p) => got.push(toHex(p)))
    ta.send(new Uint8Array([0xaa]))
    b.send(new Uint8Array([0xbb]))
    await Promise.resolve()
    expect(rec).toEqual(['out aa 100', 'in bb 101'])
    expect(got).toEqual(['bb'])
    expect(ta.medium).toBe('ip')
    expect(ta.stats?.()).toEqual(a.stats())
    ta.close()
    expect(isWireError((() => { try { a.send(new Uint8Array(1)) } catch (e) { return e } })(), 'DEV_ERR_CLOSED')).toBe(true)
  })

  it('writes every packet both ways to a pcap that reads back byte for byte', async () => {
    const [a, b] = memoryPair()
    const chunks: Uint8Array[] = []
    const writer = new PcapWriter((c) => chunks.push(c.slice()), { linkType: LINKTYPE_RAW, nanosecond: true })
    let t = 1_700_000_000_000_000_000n
    const tap = pcapTap(a, writer, () => (t += 1000n))
    tap.onReceive(() => {})
    const out = new Uint8Array([0x45, 0, 0, 20, 1, 2, 3, 4])
    tap.send(out)
    b.send(new Uint8Array([0x60, 9, 9]))
    await Promise.resolve()
    const packets: { ts: bigint; hex: string }[] = []
    const total = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0))
    let off = 0
    for (const c of chunks) {
      total.set(c, off)
      off += c.length
    }
    for await (const p of readCapture(total)) packets.push({ ts: p.timestampNs, hex: toHex(p.data) })
    expect(packets).toEqual([
      { ts: 1_700_000_000_000_001_000n, hex: '4500001401020304' },
      { ts: 1_700_000_000_000_002_000n, hex: '600909' },
    ])
  })
})
