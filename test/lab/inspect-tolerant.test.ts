/** Issue 15: inspect's frame decoder keeps a segment whose TCP option is malformed, and says which option. */
import { describe, expect, it } from 'vitest'
import { decodeSegment, newSegmentInfo } from '../../src/lab/inspect/decode.js'
import { hex } from '../helpers/codecLaws.js'

const LINKTYPE_RAW = 101
const BAD_OPT = hex(`
  45 00 00 30  00 01 00 00  40 06 66 c5  # IPv4, total 48, id 1, TTL 64, TCP, header checksum
  0a 00 00 01  0a 00 00 02               # 10.0.0.1 > 10.0.0.2
  00 01 00 02  00 00 00 00  00 00 00 00  # ports 1 > 2, seq 0, ack 0
  70 02 20 00  4b 1a 00 00               # doff 7, SYN, window 8192, checksum, urgent 0
  02 04 05 b4  01 01  08 02  00 00       # MSS 1460, NOP NOP, timestamps with length 2, padding
`)

describe('inspect decodeSegment with a malformed option', () => {
  it.each([false, true])('cut %s: a segment with the options before it and the one it stopped at', (cut) => {
    const seg = newSegmentInfo()
    expect(decodeSegment(LINKTYPE_RAW, BAD_OPT, cut, seg)).toBe('tcp')
    expect(seg.options).toEqual([{ kind: 'mss', value: 1460 }, { kind: 'nop' }, { kind: 'nop' }])
    expect(seg.optionError).toMatchObject({ kind: 'malformed', code: 'TCP_ERR_BAD_OPTION_LENGTH', type: 8, offset: 26, length: 2 })
    expect(seg.checksum).toBe(cut ? 'unchecked' : 'ok')
  })

  it('a good segment afterwards clears the error', () => {
    const seg = newSegmentInfo()
    decodeSegment(LINKTYPE_RAW, BAD_OPT, false, seg)
    const good = BAD_OPT.slice()
    good.set([0x01, 0x01, 0x01, 0x00], 44) // NOP NOP NOP EOL instead of the bad option
    good.set([0x00, 0x00], 36) // checksum not checked below (cut)
    expect(decodeSegment(LINKTYPE_RAW, good, true, seg)).toBe('tcp')
    expect(seg.optionError).toBeUndefined()
  })
})
