/**
 * Congestion window validation as Linux does it (src/tcp/cwnd-usage.ts: tcp_cwnd_validate and
 * tcp_is_cwnd_limited), at the points packetdrill's slow-start scripts check on the kernel.
 */
import { describe, expect, it } from 'vitest'
import { CwndUsage } from '../../src/tcp/cwnd-usage.js'
import { seq, seqAdd } from '../../src/tcp/seq.js'

const ISS = seq(1000)
const at = (segs: number) => seqAdd(ISS, 1 + segs * 1000)

/** `n` segments sent one by one from SND.UNA = segment `una`, cwnd `cwnd` segments. */
function sendRun(u: CwndUsage, una: number, from: number, n: number, cwnd: number): void {
  for (let i = 1; i <= n; i++) u.onSend(at(una), at(from + i), from + i - una, from + i - una >= cwnd)
}

describe('CwndUsage', () => {
  it('5 segments out of a window of 10: slow start may not grow it (10 is not below twice 5)', () => {
    const u = new CwndUsage(at(0))
    sendRun(u, 0, 0, 5, 10)
    expect([u.isCwndLimited, u.maxPacketsOut]).toEqual([false, 5])
    expect(u.mayGrow(10, true)).toBe(false)
    expect(u.mayGrow(9, true)).toBe(true)
  })

  it('6 segments out of 10: slow start grows it (10 < 12); congestion avoidance does not', () => {
    const u = new CwndUsage(at(0))
    sendRun(u, 0, 0, 6, 10)
    expect(u.mayGrow(10, true)).toBe(true)
    expect(u.mayGrow(10, false)).toBe(false)
  })

  it('a full window at any send of the current window lets it grow until SND.UNA passes that window', () => {
    const u = new CwndUsage(at(0))
    sendRun(u, 0, 0, 10, 10)
    expect([u.isCwndLimited, u.mayGrow(20, false)]).toEqual([true, true])
    // Two segments acknowledged; the application sends one more: still in the same window of data.
    u.onSend(at(2), at(11), 9, false)
    expect(u.isCwndLimited).toBe(true)
    // SND.UNA reaches the end of that window: the next send starts a new one, with what it sees.
    u.onSend(at(11), at(12), 1, false)
    expect([u.isCwndLimited, u.maxPacketsOut, u.mayGrow(20, false)]).toEqual([false, 1, false])
  })
})
