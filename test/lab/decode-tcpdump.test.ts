/**
 * Issue 15, "Decode like tcpdump": craft flags and decode output round-trip for every IPv4/IPv6 field,
 * tolerant TCP options in text and JSON, named options, hex dumps as input, and tcpdump as the oracle.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { DecodeInput } from '../../src/lab/commands/decode.js'

const cli = new URL('../../dist/lab/cli.js', import.meta.url).pathname
const run = (args: string[], input?: string): { code: number; out: string[] } => {
  const r = spawnSync('node', [cli, ...args], { input, encoding: 'utf8' })
  return { code: r.status ?? -1, out: r.stdout.split('\n').filter((l) => l !== '') }
}
const craft = (...args: string[]): string => {
  const r = run(['craft', ...args])
  expect(r.code).toBe(0)
  return r.out[0]
}
const V4 = ['--src', '10.0.0.1:1', '--dst', '10.0.0.2:2']
const V6 = ['--src', '[2001:db8::1]:1', '--dst', '[2001:db8::2]:2']

/** A SYN whose timestamps option has length 2: MSS, NOP, NOP, then the bad option. */
const BAD_OPT_HEX =
  '45000030000100004006' + '66c5' + '0a000001' + '0a000002' + // IPv4, total 48, TCP, 10.0.0.1 > 10.0.0.2
  '00010002' + '00000000' + '00000000' + '7002' + '2000' + '4b1a' + '0000' + // ports 1 > 2, doff 7, SYN, win 8192
  '020405b4' + '0101' + '0802' + '0000' // MSS 1460, NOP NOP, TS len 2, padding

describe('IP fields: craft and decode round-trip', () => {
  it('IPv4: DF/MF, DSCP+ECN, options NOP, RR, TS and unknown, as tcpdump -v prints them', () => {
    const h = craft(...V4, '--df', '--mf', '--dscp', '46', '--ecn', 'ce', '--id', '7', '--ip-opt', 'nop', '--ip-opt', 'rr:2', '--ip-opt', 'ts:2', '--ip-opt', '153:aabb')
    const j = JSON.parse(run(['decode', '--json', h]).out[0])
    expect(j.ip).toMatchObject({ tos: 0xbb, dscp: 46, ecn: 3, dontFragment: true, moreFragments: true, fragmentOffset: 0, id: 7 })
    expect(j.ip.options).toEqual([
      { kind: 'nop' },
      { kind: 'rr', type: 7, pointer: 4, route: ['0.0.0.0', '0.0.0.0'] },
      { kind: 'timestamp', type: 68, pointer: 5, overflow: 0, flag: 0, entries: [{ time: 0 }, { time: 0 }] },
      { kind: 'unknown', type: 153, data: 'aabb' },
    ])
    expect(run(['decode', '-v', h]).out).toEqual([
      'IP (tos 0xbb,CE, ttl 64, id 7, offset 0, flags [+, DF], proto TCP (6), length 68, options (NOP,RR 0.0.0.0 0.0.0.0,timestamp TS{TSONLY ^ 0@ 0@},unknown 153)) 10.0.0.1 > 10.0.0.2: frag (offset 0, MF), proto 6, length 20',
    ])
  })

  it('IPv6: traffic class and extension headers (HBH, DSTOPT, RT6, frag) as tcpdump -v prints them', () => {
    const h = craft(...V6, '--dscp', '10', '--ecn', 'ect0', '--flow-label', '0x12345', '--ext', 'hbh', '--ext', 'dst', '--ext', 'rt:2001:db8::3', '--ext', 'frag:5')
    const j = JSON.parse(run(['decode', '--json', h]).out[0])
    expect(j.ip).toMatchObject({ trafficClass: 0x2a, dscp: 10, ecn: 2, flowLabel: 0x12345 })
    expect(j.ip.extensions).toEqual([
      { kind: 'hopByHop', nextHeader: 60, options: '010400000000' },
      { kind: 'destination', nextHeader: 43, options: '010400000000' },
      { kind: 'routing', nextHeader: 44, routingType: 0, segmentsLeft: 1, addresses: ['2001:db8::3'] },
      { kind: 'fragment', nextHeader: 6, offset: 0, moreFragments: false, id: 5 },
    ])
    // The checksum covers the routing header's final destination (RFC 8200 §8.1).
    expect(j.tcp.checksumOk).toBe(true)
    expect(run(['decode', '-v', h]).out).toEqual([
      'IP6 (class 0x2a, flowlabel 0x12345, hlim 64, next-header Options (0) payload length: 68) 2001:db8::1 > 2001:db8::2: HBH (padn) DSTOPT (padn) RT6 (len=2, type=0 [Deprecated], segleft=1, rsv=0x0, [0]2001:db8::3) frag (0x00000005:0|20) 1 > 2: Flags [S], cksum 0x546a (correct), seq 0, win 65535, length 0',
    ])
  })

  it('named TCP options: craft flags and decode fields', () => {
    const h = craft(...V4, '--tfo', '01020304', '--uto', '30m', '--ao', '1,2,aabbccdd', '--mptcp', '0:1:0102', '--edo', '20,40')
    expect(run(['decode', h]).out).toEqual([
      'IP 10.0.0.1.1 > 10.0.0.2.2: Flags [S], seq 0, win 65535, options [tfo cookie 01020304,uto 30 min,tcp-ao keyid 1 rnextkeyid 2 mac 0xaabbccdd,mptcp 5 capable,edo hdr 20 seg 40,eol], length 0',
    ])
    const j = JSON.parse(run(['decode', '--json', h]).out[0])
    expect(j.tcp.options).toEqual([
      { kind: 'tfo', type: 34, cookie: '01020304' },
      { kind: 'uto', type: 28, minutes: true, timeout: 30 },
      { kind: 'tcpAo', type: 29, keyId: 1, rNextKeyId: 2, mac: 'aabbccdd' },
      { kind: 'mptcp', type: 30, subtype: 0, subtypeName: 'capable', flags: 1, data: '0102' },
      { kind: 'edo', type: 253, headerLength: 20, segmentLength: 40 },
      { kind: 'eol' },
    ])
    const k = JSON.parse(run(['decode', '--json', craft(...V4, '--exp-tfo', 'req', '--md5', '000102030405060708090a0b0c0d0e0f')]).out[0])
    expect(k.tcp.options.slice(0, 2)).toEqual([{ kind: 'tfo', type: 254, cookie: '' }, { kind: 'md5', type: 19, digest: '000102030405060708090a0b0c0d0e0f' }])
  })
})

describe('tolerant TCP options', () => {
  it('text: what could be read, then [bad opt], as tcpdump', () => {
    const r = run(['decode', BAD_OPT_HEX])
    expect(r.code).toBe(0)
    expect(r.out).toEqual(['IP 10.0.0.1.1 > 10.0.0.2.2: Flags [S], seq 0, win 8192, options [mss 1460,nop,nop,TS[bad opt]], length 0'])
  })

  it('JSON: the list ends with the malformed entry and the packet carries warnings', () => {
    const j = JSON.parse(run(['decode', '--json', BAD_OPT_HEX]).out[0])
    const message = 'timestamps option at segment offset 26: length 2, expected 10'
    expect(j.tcp.options).toEqual([
      { kind: 'mss', value: 1460 }, { kind: 'nop' }, { kind: 'nop' },
      { kind: 'malformed', code: 'TCP_ERR_BAD_OPTION_LENGTH', type: 8, offset: 26, length: 2, message },
    ])
    expect(j.warnings).toEqual([{ code: 'TCP_ERR_BAD_OPTION_LENGTH', message }])
    expect(j.tcp.checksumOk).toBe(true)
  })
})

describe('hex dumps as input', () => {
  const SYN = craft(...V4, '--mss', '1460', '--payload', 'hello, world')
  const expected = run(['decode', SYN]).out
  const groups = (h: string): string[] => h.match(/.{1,4}/g)!
  const rows = (h: string, per: number): string[][] => {
    const g = groups(h)
    const out: string[][] = []
    for (let i = 0; i < g.length; i += per) out.push(g.slice(i, i + per))
    return out
  }
  const tcpdumpX = (h: string): string =>
    'IP 10.0.0.1.1 > 10.0.0.2.2: Flags [S], seq 0:12, win 65535, length 12\n' +
    rows(h, 8).map((r, i) => `\t0x${(i * 16).toString(16).padStart(4, '0')}:  ${r.join(' ')}`).join('\n') + '\n'
  const xxd = (h: string): string =>
    rows(h, 8).map((r, i) => `${(i * 16).toString(16).padStart(8, '0')}: ${r.join(' ').padEnd(39)}  ${'.'.repeat(r.join('').length / 2)}`).join('\n') + '\n'

  it('tcpdump -x (two packets, summary lines skipped)', () => {
    expect(run(['decode'], tcpdumpX(SYN) + tcpdumpX(SYN)).out).toEqual([...expected, ...expected])
  })
  it('xxd, with its ASCII column', () => {
    expect(run(['decode'], xxd(SYN)).out).toEqual(expected)
  })
  it('tcpdump -xx of an Ethernet frame with --link ethernet', () => {
    const frame = '020000000002' + '020000000001' + '0800' + SYN
    const r = run(['decode', '--link', 'ethernet'], tcpdumpX(frame))
    expect(r.out).toEqual(['02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype IPv4 (0x0800), length 70: ' + expected[0]])
  })
  it('a dump line out of order is one error, and decoding goes on', () => {
    const d = new DecodeInput()
    const items = [...d.push('\t0x0000:  4500 0034'), ...d.push('\t0x0020:  0000'), ...d.push(SYN), ...d.end()]
    expect(items.map((i) => ('error' in i ? i.error.code : 'text' in i ? 'text' : 'bytes'))).toEqual(['HEX_ERR_INVALID', 'text'])
  })

  it('reads what tcpdump -x and -xx print for a pcap (the oracle)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tcplab-dec-'))
    const pcap = join(dir, 'p.pcap')
    const pkt = Buffer.from(SYN, 'hex')
    const hdr = Buffer.alloc(24)
    hdr.writeUInt32LE(0xa1b2c3d4, 0); hdr.writeUInt16LE(2, 4); hdr.writeUInt16LE(4, 6); hdr.writeUInt32LE(65535, 16); hdr.writeUInt32LE(101, 20) // LINKTYPE_RAW
    const rec = Buffer.alloc(16)
    rec.writeUInt32LE(pkt.length, 8); rec.writeUInt32LE(pkt.length, 12)
    writeFileSync(pcap, Buffer.concat([hdr, rec, pkt]))
    for (const flag of ['-x', '-xx', '-X']) {
      const dump = execFileSync('tcpdump', ['-n', flag, '-r', pcap], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      expect(run(['decode'], dump).out).toEqual(expected)
    }
    const v = execFileSync('tcpdump', ['-n', '-v', '-r', pcap], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
    // tcpdump -v's lines after its timestamp are ours with -v.
    expect(run(['decode', '-v', SYN]).out.join('\n')).toBe(v.replace(/^\S+ /, '').trimEnd())
  })
})
