/**
 * Linux's GSO packets as the 'linux' profile models them (src/tcp/tso.ts): tcp_tso_autosize's segment count at
 * known points, and which segment of a burst carries the PSH __tcp_transmit_skb puts on a multi-segment packet.
 */
import { describe, expect, it } from 'vitest'
import { GsoPacket, linuxTsoSegs } from '../../src/tcp/tso.js'

const base = { mss: 1000, cwndSegs: 10, packetsOut: 0, ssthreshSegs: Infinity }

describe('linuxTsoSegs (tcp_tso_autosize)', () => {
  it('a 100 ms path: ~1 ms of 200 % of 10 segments per 100 ms is 195 bytes, so the minimum of 2', () => {
    expect(linuxTsoSegs({ ...base, srtt: 100_000, minRtt: 100_000 })).toBe(2)
  })

  it('a 1 ms path: 20 MB/s gives 19531 bytes per 1/1024 s, plus half the 64 KiB GSO maximum (min RTT >> 9 = 1)', () => {
    expect(linuxTsoSegs({ ...base, srtt: 1000, minRtt: 1000 })).toBe(Math.floor((19531 + 32768) / 1000))
  })

  it('below 512 µs of minimum RTT, or before any sample, the whole 64 KiB', () => {
    expect(linuxTsoSegs({ ...base, srtt: 300, minRtt: 300 })).toBe(65)
    expect(linuxTsoSegs({ ...base, srtt: undefined, minRtt: undefined })).toBe(65)
    expect(linuxTsoSegs({ ...base, mss: 1448, srtt: undefined, minRtt: undefined })).toBe(45)
  })

  it('120 % once cwnd reaches half of ssthresh, and the flight counts when it is larger than cwnd', () => {
    const ss = linuxTsoSegs({ ...base, cwndSegs: 100, srtt: 10_000, minRtt: 100_000 }) // 200 %: 20 MB/s
    const ca = linuxTsoSegs({ ...base, cwndSegs: 100, ssthreshSegs: 150, srtt: 10_000, minRtt: 100_000 }) // 120 %
    expect([ss, ca]).toEqual([19, 11])
    expect(linuxTsoSegs({ ...base, cwndSegs: 50, packetsOut: 100, srtt: 10_000, minRtt: 100_000 })).toBe(19)
  })
})

describe('GsoPacket', () => {
  it('pushes the last segment of each packet of two or more; a packet of one gets nothing', () => {
    const g = new GsoPacket()
    // A burst of 5 with packets of 2: 2 | 2 | 1.
    const flags = [true, true, true, true, false].map((more, i) => g.add(100, 2, more, false) && i)
    expect(flags).toEqual([false, 1, false, 3, false])
  })

  it('a segment pushed for another reason ends its packet; a new instant or a reset starts a new burst', () => {
    const g = new GsoPacket()
    expect([g.add(1, 4, true, false), g.add(1, 4, true, true), g.add(1, 4, true, false)]).toEqual([false, true, false])
    expect(g.add(2, 4, false, false)).toBe(false) // a new instant: this segment is a packet of one
    expect(g.add(3, 4, true, false)).toBe(false)
    g.reset()
    expect(g.add(3, 4, false, false)).toBe(false)
  })
})
