import { describe, expect, it } from 'vitest'
import { ladderOf, segmentLine, flagWords, LiveRecorder, type SegmentRecord } from '../../src/lab/liverec.js'

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
