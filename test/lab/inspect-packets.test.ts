/**
 * `tcplab inspect FILE --packets / --summary / --filter EXPR` (issue 15): the filter language against
 * tshark's display filters on the committed lab captures (the same frames must match), relative seq/ack
 * and connection numbers against tshark's, exact lines and JSON, one-line errors with the column, and a
 * scapy-written capture of 300 refused SYNs that --summary prints in 301 lines.
 */
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { COMMANDS, main } from '../../src/lab/cli.js'
import type { Io } from '../../src/lab/command.js'
import { inspectCommand } from '../../src/lab/commands/inspect.js'
import { compileFilter, inspect, newSegmentInfo } from '../../src/lab/inspect/index.js'
import { parseIp } from '../../src/net/addr.js'
import { isWireError } from '../../src/tcp/errors.js'
import { TcpFlags } from '../../src/tcp/segment.js'

const FIXTURES = new URL('../fixtures/inspect/', import.meta.url).pathname
const ETH = path.join(FIXTURES, 'lab-eth.pcap')
const SLL2 = path.join(FIXTURES, 'lab-any-sll2.pcap')

async function cli(argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  if (!COMMANDS.some((c) => c.name === 'inspect')) COMMANDS.push(inspectCommand)
  const out: string[] = []
  const err: string[] = []
  const io: Io = { stdout: (l) => out.push(l), stderr: (l) => err.push(l), stdin: Readable.from([]), isTTY: false }
  const code = await main(['inspect', ...argv], io)
  return { code, out, err }
}

const hasTshark = spawnSync('tshark', ['--version']).error === undefined
/** A python with scapy: $SCAPY_PYTHON, or python3 on the PATH, or Debian's (a pyenv shim may hide it). */
const PYTHON = [process.env.SCAPY_PYTHON, 'python3', '/usr/bin/python3'].find((p) => p !== undefined && spawnSync(p, ['-c', 'import scapy']).status === 0)
const hasScapy = PYTHON !== undefined
const needTools = process.env.LAB_REQUIRE_ROOT === '1'

/** Frame numbers of TCP packets tshark's display filter selects. */
function tsharkFrames(file: string, display: string): number[] {
  const r = spawnSync('tshark', ['-r', file, '-Y', `tcp && (${display})`, '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`tshark: ${r.stderr}`)
  return r.stdout.trim().split('\n').filter((s) => s !== '').map(Number)
}

/** Frame numbers our --filter selects, from --packets --json. */
async function ourFrames(file: string, expr: string): Promise<number[]> {
  const r = await cli([file, '--packets', '--json', '--filter', expr])
  expect(r.code).toBe(0)
  return r.out.map((l) => JSON.parse(l)).filter((j) => j.frame !== undefined).map((j) => j.frame)
}

describe('compileFilter', () => {
  const seg = (over: Partial<ReturnType<typeof newSegmentInfo>>): ReturnType<typeof newSegmentInfo> => ({
    ...newSegmentInfo(),
    family: 4,
    src: parseIp('198.18.0.1'),
    dst: parseIp('198.18.0.2'),
    srcPort: 40000,
    dstPort: 1935,
    ...over,
  })
  const SYN = seg({ flags: TcpFlags.SYN })
  const SYNACK = seg({ flags: TcpFlags.SYN | TcpFlags.ACK, src: parseIp('198.18.0.2'), dst: parseIp('198.18.0.1'), srcPort: 1935, dstPort: 40000 })
  const RST = seg({ flags: TcpFlags.RST | TcpFlags.ACK, srcPort: 40001 })
  const V6 = seg({ family: 6, src: parseIp('2001:2::1'), dst: parseIp('2001:2::2'), flags: TcpFlags.ACK | TcpFlags.PSH })
  const all = { SYN, SYNACK, RST, V6 }
  const which = (expr: string, conn = 3): string[] => {
    const f = compileFilter(expr)
    return Object.entries(all).filter(([, s]) => f({ seg: s, connection: s === RST ? 7 : conn })).map(([k]) => k)
  }

  it('matches hosts, nets, ports, directions, flags, connections and families', () => {
    expect(which('host 198.18.0.2 and port 1935')).toEqual(['SYN', 'SYNACK', 'RST'])
    expect(which('src host 198.18.0.2')).toEqual(['SYNACK'])
    expect(which('dst port 1935')).toEqual(['SYN', 'RST', 'V6'])
    expect(which('net 198.18.0.0/30')).toEqual(['SYN', 'SYNACK', 'RST'])
    expect(which('net 2001:2::/64')).toEqual(['V6'])
    expect(which('syn')).toEqual(['SYN', 'SYNACK'])
    expect(which('syn and not ack')).toEqual(['SYN'])
    expect(which('! ack || rst')).toEqual(['SYN', 'RST'])
    expect(which('rst or psh')).toEqual(['RST', 'V6'])
    expect(which('conn 7')).toEqual(['RST'])
    expect(which('conn 3-6')).toEqual(['SYN', 'SYNACK', 'V6'])
    expect(which('ip6')).toEqual(['V6'])
    expect(which('ip and tcp')).toEqual(['SYN', 'SYNACK', 'RST'])
    expect(which('tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn')).toEqual(['SYN'])
    expect(which('tcp[13] & 0x04 != 0')).toEqual(['RST'])
    expect(which('tcp[flags] & syn')).toEqual(['SYN', 'SYNACK'])
    // and binds tighter than or; parentheses change it
    expect(which('rst or syn and src port 1935')).toEqual(['SYNACK', 'RST'])
    expect(which('(rst or syn) and dst port 1935')).toEqual(['SYN', 'RST'])
    expect(which('NOT (HOST 198.18.0.1)')).toEqual(['V6'])
  })

  it('names the column of the first problem in one line', () => {
    const msg = (expr: string): string => {
      try {
        compileFilter(expr)
      } catch (e) {
        expect(isWireError(e, 'ERR_BAD_ARGUMENT')).toBe(true)
        return (e as Error).message
      }
      throw new Error(`'${expr}' compiled`)
    }
    expect(msg('host 198.18.0.2 and prot 1935')).toBe(
      "bad --filter expression at column 21: unknown primitive 'prot' (host, net, port, conn, syn, ack, fin, rst, psh, urg, ece, cwr, ip, ip6, tcp[tcpflags]) (in 'host 198.18.0.2 and prot 1935'; see 'tcplab inspect --help')",
    )
    expect(msg('port 99999')).toMatch(/^bad --filter expression at column 6: expected a port number \(0-65535\) after 'port', got '99999' /)
    expect(msg('(syn or rst')).toMatch(/^bad --filter expression at column 12: expected '\)', got the end of the expression /)
    expect(msg('host 300.1.1.1')).toMatch(/^bad --filter expression at column 6: expected an IPv4 or IPv6 address after 'host', got '300.1.1.1' /)
    expect(msg('syn rst')).toMatch(/^bad --filter expression at column 5: expected 'and', 'or' or the end, got 'rst' /)
    expect(msg('conn 0')).toMatch(/^bad --filter expression at column 6: expected a connection number/)
    expect(msg('syn $ rst')).toMatch(/^bad --filter expression at column 5: unexpected character '\$' /)
    expect(msg('   ')).toMatch(/^bad --filter expression at column 1: the expression is empty /)
    expect(msg('tcp[window] & 1')).toMatch(/^bad --filter expression at column 5: expected tcpflags inside/)
    expect(msg('src syn')).toMatch(/^bad --filter expression at column 5: expected host, net or port after 'src', got 'syn' /)
    for (const m of ['port 80 and', 'net 10.0.0.0/33', 'not', '()', 'tcp[tcpflags] &']) expect(msg(m)).not.toContain('\n')
  })
})

describe('tcplab inspect FILE --packets', () => {
  it('prints decode-style lines with frame, time, connection and relative seq/ack', async () => {
    const r = await cli([ETH, '--packets'])
    expect(r.code).toBe(0)
    expect(r.err).toEqual([])
    expect(r.out.slice(0, 4)).toEqual([
      '    1 0.000000 #1 IP 198.18.0.1.33942 > 198.18.0.2.8080: Flags [S], seq 0, win 64240, options [mss 1460,sackOK,TS val 4038980924 ecr 0,nop,wscale 10], length 0',
      '    2 0.000030 #1 IP 198.18.0.2.8080 > 198.18.0.1.33942: Flags [S.], seq 0, ack 1, win 65160, options [mss 1460,sackOK,TS val 1016059935 ecr 4038980924,nop,wscale 10], length 0',
      '    3 0.000048 #1 IP 198.18.0.1.33942 > 198.18.0.2.8080: Flags [.], seq 1, ack 1, win 63, options [nop,nop,TS val 4038980924 ecr 1016059935], length 0',
      '    4 0.002244 #1 IP 198.18.0.1.33942 > 198.18.0.2.8080: Flags [P.], seq 1:13, ack 1, win 63, options [nop,nop,TS val 4038980927 ecr 1016059935], length 12',
    ])
    // 105 TCP packets, then the summary line (no connection reports with --packets alone)
    expect(r.out.length).toBe(106)
    expect(r.out[105]).toBe('11 TCP connections in 106 packets (105 TCP, skipped 1 not TCP)')
    // The refused connection: the RST's own sequence space starts at 1, as Wireshark numbers a missed SYN.
    expect(r.out.filter((l) => / #6 /.test(l))).toEqual([
      '   51 0.376508 #6 IP 198.18.0.1.37802 > 198.18.0.2.8081: Flags [S], seq 0, win 64240, options [mss 1460,sackOK,TS val 1530391805 ecr 0,nop,wscale 10], length 0',
      '   52 0.376540 #6 IP 198.18.0.2.8081 > 198.18.0.1.37802: Flags [R.], seq 1, ack 1, win 0, length 0',
    ])
    const abs = await cli([ETH, '--packets', '--absolute', '--filter', 'conn 6'])
    expect(abs.out[1]).toBe('   52 0.376540 #6 IP 198.18.0.2.8081 > 198.18.0.1.37802: Flags [R.], seq 0, ack 3009403009, win 0, length 0')
  })

  it('--json prints one object per packet per line, then the summary', async () => {
    const r = await cli([ETH, '--packets', '--json', '--filter', 'conn 6'])
    expect(r.code).toBe(0)
    expect(r.out.map((l) => JSON.parse(l))).toEqual([
      {
        frame: 51, timeUs: 376508, connection: 6, family: 4, src: '198.18.0.1', srcPort: 37802, dst: '198.18.0.2', dstPort: 8081,
        flags: 'S', seq: 0, ack: null, seqRaw: 3009403008, ackRaw: null, len: 0, window: 64240,
        options: [{ kind: 'mss', value: 1460 }, { kind: 'sackPermitted' }, { kind: 'timestamp', value: 1530391805, echo: 0 }, { kind: 'nop' }, { kind: 'wscale', shift: 10 }],
        checksum: 'ok', ipChecksumOk: true,
      },
      {
        frame: 52, timeUs: 376540, connection: 6, family: 4, src: '198.18.0.2', srcPort: 8081, dst: '198.18.0.1', dstPort: 37802,
        flags: 'RA', seq: 1, ack: 1, seqRaw: 0, ackRaw: 3009403009, len: 0, window: 0, options: [], checksum: 'ok', ipChecksumOk: true,
      },
      {
        summary: {
          connections: 11, packets: 106, tcpPackets: 105, skipped: { notIp: 0, notTcp: 1, fragments: 0, malformed: 0 }, unsupportedLinkTypes: {},
          maxTracked: 11, maxConnections: 20000, evicted: 0, complete: true, matchedPackets: 2, matchedConnections: 1,
        },
      },
    ])
  })

  it.skipIf(!hasTshark && !needTools)('relative seq/ack, lengths and connection numbers are the ones tshark reads (also mid-stream)', async () => {
    expect(hasTshark, 'LAB_REQUIRE_ROOT=1 needs tshark').toBe(true)
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcplab-packets-'))
    try {
      // A capture that starts inside connection #1 (its SYN, SYN+ACK and first ACK cut off).
      const mid = path.join(dir, 'mid.pcap')
      expect(spawnSync('tshark', ['-r', ETH, '-Y', 'frame.number > 4', '-F', 'pcap', '-w', mid]).status).toBe(0)
      for (const file of [ETH, SLL2, mid]) {
        const t = spawnSync('tshark', ['-r', file, '-Y', 'tcp', '-T', 'fields', '-e', 'frame.number', '-e', 'tcp.stream', '-e', 'tcp.seq', '-e', 'tcp.ack', '-e', 'tcp.len', '-e', 'tcp.flags.ack'], { encoding: 'utf8' })
        const theirs = t.stdout.trim().split('\n').map((l) => l.split('\t').map(Number)).map(([f, s, q, a, n, hasAck]) => [f, s + 1, q, hasAck ? a : null, n])
        const r = await cli([file, '--packets', '--json'])
        const ours = r.out.map((l) => JSON.parse(l)).filter((j) => j.frame !== undefined).map((j) => [j.frame, j.connection, j.seq, j.ack, j.len])
        expect(ours, file).toEqual(theirs)
        expect(ours.length).toBeGreaterThan(90)
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('tcplab inspect FILE --filter EXPR', () => {
  // Each of our expressions and the Wireshark display filter that must select the same frames.
  const PAIRS: Array<[string, string]> = [
    ['host 198.18.0.2 and port 8081', 'ip.addr == 198.18.0.2 && tcp.port == 8081'],
    ['syn', 'tcp.flags.syn == 1'],
    ['tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn', 'tcp.flags.syn == 1 && tcp.flags.ack == 0'],
    ['rst or fin', 'tcp.flags.reset == 1 || tcp.flags.fin == 1'],
    ['conn 3-4 and psh', '(tcp.stream == 2 || tcp.stream == 3) && tcp.flags.push == 1'],
    ['ip6 and not ack', 'ipv6 && tcp.flags.ack == 0'],
    ['src host 198.18.0.1 and dst port 8080 and (psh or fin)', 'ip.src == 198.18.0.1 && tcp.dstport == 8080 && (tcp.flags.push == 1 || tcp.flags.fin == 1)'],
    ['net 2001:2::/64 and src port 8080', 'ipv6.addr == 2001:2::/64 && tcp.srcport == 8080'],
    ['! (port 8080)', '!(tcp.port == 8080)'],
  ]
  it.skipIf(!hasTshark && !needTools)('selects the frames tshark -Y selects', async () => {
    for (const [ours, theirs] of PAIRS) {
      const want = tsharkFrames(ETH, theirs)
      expect(want.length, theirs).toBeGreaterThan(0)
      expect(await ourFrames(ETH, ours), ours).toEqual(want)
    }
  })

  it('reports only connections with a matching packet, whole and with their own numbers', async () => {
    const r = await cli([ETH, '--filter', 'rst'])
    expect(r.code).toBe(0)
    const heads = r.out.filter((l) => l.startsWith('#'))
    expect(heads.map((l) => l.split('  ')[0])).toEqual(['#6', '#7'])
    expect(r.out).toContain('  packets        8 (client→server 5, server→client 3) over 3.007 ms, from 2026-11-24T06:42:46.189Z')
    expect(r.out.at(-1)).toBe('11 TCP connections in 106 packets (105 TCP, skipped 1 not TCP); the filter matched 2 packets in 2 connections')
    const none = await cli([ETH, '--summary', '--filter', 'port 9'])
    expect(none.out).toEqual(['11 TCP connections in 106 packets (105 TCP, skipped 1 not TCP); the filter matched 0 packets in 0 connections'])
  })

  it('ladders the chosen connection only when the filter keeps it', async () => {
    const ok = await cli([ETH, '--filter', 'conn 6', '--ladder', '--connection', '6', '--summary'])
    expect(ok.code).toBe(0)
    expect(ok.out.join('\n')).toContain('\noutcome: refused (RST from server in answer to the SYN)\n')
    const bad = await cli([ETH, '--filter', 'conn 6', '--ladder', '--connection', '2'])
    expect(bad.code).toBe(2)
    expect(bad.err).toEqual(['tcplab inspect: connection #2 has no packet the --filter matches'])
  })

  it('a bad expression: one line with the column, exit 2; a JSON error with --json', async () => {
    const r = await cli([ETH, '--packets', '--filter', 'port 8080 and sin'])
    expect(r.code).toBe(2)
    expect(r.out).toEqual([])
    expect(r.err).toEqual([
      "tcplab inspect: bad --filter expression at column 15: unknown primitive 'sin' (host, net, port, conn, syn, ack, fin, rst, psh, urg, ece, cwr, ip, ip6, tcp[tcpflags]) (in 'port 8080 and sin'; see 'tcplab inspect --help')",
    ])
    const j = await cli([ETH, '--json', '--filter', 'host'])
    expect(j.code).toBe(2)
    expect(j.out.map((l) => JSON.parse(l))).toEqual([
      { error: { code: 'ERR_BAD_ARGUMENT', message: "bad --filter expression at column 5: expected an IPv4 or IPv6 address after 'host', got the end of the expression (in 'host'; see 'tcplab inspect --help')" } },
    ])
    const count = await cli([ETH, '--count', '3'])
    expect([count.code, count.err]).toEqual([2, ['tcplab inspect: --count is for live inspection with --iface']])
    const live = await cli(['--iface', 'lo', '--packets'])
    expect([live.code, live.err]).toEqual([2, ['tcplab inspect: --packets is for capture files, not --iface']])
  })

  it('--help documents the language', async () => {
    const r = await cli(['--help'])
    const help = r.out.join('\n')
    for (const s of ["'host 198.18.0.2 and port 1935'", "'conn 3'", "'tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn'", 'not/!, and/&&, or/||', '--packets', '--summary', '--max-rows N', '--time-scale PX']) {
      expect(help).toContain(s)
    }
  })
})

describe('tcplab inspect FILE --summary', () => {
  it('prints one line per connection and the summary line', async () => {
    const r = await cli([ETH, '--summary'])
    expect(r.code).toBe(0)
    expect(r.out.length).toBe(12)
    expect(r.out[0]).toBe('#1  198.18.0.1:33942 → 198.18.0.2:8080  IPv4  closed with FIN both ways (client closed first)  RTT 0.030 ms  10 packets  12/12 bytes  over 3.545 ms')
    expect(r.out[5]).toBe('#6  198.18.0.1:37802 → 198.18.0.2:8081  IPv4  refused (RST from server in answer to the SYN)  2 packets  0/0 bytes  over 0.032 ms')
    expect(r.out[7]).toBe('#8  [2001:2::1]:41678 → [2001:2::2]:8080  IPv6  closed with FIN both ways (client closed first)  RTT 0.036 ms  10 packets  12/12 bytes  over 3.033 ms')
    expect(r.out[10]).toMatch(/^#11 .*  1 anomaly$/)
    expect(r.out[11]).toBe('11 TCP connections in 106 packets (105 TCP, skipped 1 not TCP)')
  })

  describe.skipIf(!hasScapy && !needTools)('300 refused SYNs written by scapy', () => {
    let dir: string
    let file: string
    beforeAll(() => {
      expect(hasScapy, 'LAB_REQUIRE_ROOT=1 needs python3 with scapy').toBe(true)
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcplab-refused-'))
      file = path.join(dir, 'refused.pcap')
      const py = [
        'import sys',
        'from scapy.all import IP, TCP, wrpcap',
        'pkts = []',
        'for i in range(300):',
        "    s = IP(src='192.0.2.1', dst='198.51.100.2') / TCP(sport=40000 + i, dport=1935, flags='S', seq=1000 * i)",
        '    s.time = 1700000000 + i * 0.01',
        "    r = IP(src='198.51.100.2', dst='192.0.2.1') / TCP(sport=1935, dport=40000 + i, flags='RA', seq=0, ack=1000 * i + 1)",
        '    r.time = 1700000000 + i * 0.01 + 0.0001',
        '    pkts += [s, r]',
        'wrpcap(sys.argv[1], pkts)',
      ].join('\n')
      const r = spawnSync(PYTHON!, ['-c', py, file], { encoding: 'utf8' })
      if (r.status !== 0) throw new Error(r.stderr)
    })
    afterAll(() => {
      if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true })
    })

    it('--summary prints 300 lines and the summary line, not thousands', async () => {
      const r = await cli([file, '--summary'])
      expect(r.code).toBe(0)
      expect(r.out.length).toBe(301)
      expect(r.out[0]).toBe('#1  192.0.2.1:40000 → 198.51.100.2:1935  IPv4  refused (RST from server in answer to the SYN)  2 packets  0/0 bytes  over 0.100 ms')
      expect(r.out[299]).toBe('#300  192.0.2.1:40299 → 198.51.100.2:1935  IPv4  refused (RST from server in answer to the SYN)  2 packets  0/0 bytes  over 0.100 ms')
      expect(r.out[300]).toBe('300 TCP connections in 600 packets (600 TCP)')
      const full = await cli([file])
      expect(full.out.length).toBeGreaterThan(3000) // what --summary saves
      const j = await cli([file, '--summary', '--json', '--filter', 'conn 300'])
      expect(j.out.length).toBe(2)
      expect(JSON.parse(j.out[0])).toMatchObject({ index: 300, handshake: 'refused', ended: 'refused' })
    })
  })
})

describe('inspect() with a filter', () => {
  it('hands onPacket only matching packets and counts them', async () => {
    const frames: number[] = []
    const insp = inspect(ETH, { filter: compileFilter('ip6 and syn'), onPacket: (p) => frames.push(p.frame) })
    const reports = []
    for await (const r of insp) reports.push(r.index)
    expect(reports).toEqual([8])
    expect(frames).toEqual([61, 62]) // tshark -Y 'ipv6 && tcp.flags.syn == 1' says the same
    expect(insp.summary()).toMatchObject({ connections: 11, matchedPackets: 2, matchedConnections: 1 })
  })
})
