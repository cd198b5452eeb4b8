import { execFileSync, spawnSync } from 'node:child_process'
import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { main } from '../../src/lab/cli.js'
import type { Io } from '../../src/lab/command.js'
import { hex, toHex } from '../helpers/codecLaws.js'

/** Runs the CLI in-process and collects what it prints. */
async function run(argv: string[], stdin = ''): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = []
  const err: string[] = []
  const io: Io = { stdout: (l) => out.push(l), stderr: (l) => err.push(l), stdin: Readable.from([stdin]), isTTY: false }
  const code = await main(argv, io)
  return { code, out, err }
}

// The SYN a Linux client sends, crafted with the example numbers.
const SYN_ARGS = ['--src', '10.0.0.1:40000', '--dst', '10.0.0.2:80', '--flags', 'S', '--seq', '1', '--mss', '1460', '--sack-ok', '--ts', '1,0', '--nop', '--wscale', '7']
const SYN_HEX = hex(`
  45 00 00 3c   # IPv4, IHL 5, TOS 0, total length 60
  00 01 00 00   # id 1, no flags, fragment offset 0
  40 06 66 b9   # TTL 64, protocol 6 (TCP), header checksum 0x66b9 (scapy agrees)
  0a 00 00 01   # src 10.0.0.1
  0a 00 00 02   # dst 10.0.0.2
  9c 40 00 50   # src port 40000, dst port 80
  00 00 00 01   # seq 1
  00 00 00 00   # ack 0
  a0 02 ff ff   # data offset 10 (40 bytes), flags SYN, window 65535
  97 6b 00 00   # checksum 0x976b (scapy agrees), urgent 0
  02 04 05 b4   # MSS 1460
  04 02         # SACK permitted
  08 0a 00 00 00 01 00 00 00 00   # timestamps val 1 ecr 0
  01            # NOP
  03 03 07      # window scale 7
`)

describe('tcplab craft', () => {
  it('builds the Linux-style SYN byte for byte', async () => {
    const r = await run(['craft', ...SYN_ARGS])
    expect(r.code).toBe(0)
    expect(r.out).toEqual([toHex(SYN_HEX)])
  })

  it('prints the decoded packet with --json, in the documented shape', async () => {
    const r = await run(['craft', ...SYN_ARGS, '--json'])
    expect(r.code).toBe(0)
    expect(JSON.parse(r.out[0])).toEqual({
      ip: { version: 4, src: '10.0.0.1', dst: '10.0.0.2', ttl: 64, id: 1, totalLength: 60, checksumOk: true, protocol: 6,
        tos: 0, dscp: 0, ecn: 0, dontFragment: false, moreFragments: false, fragmentOffset: 0 },
      tcp: {
        srcPort: 40000, dstPort: 80, seq: 1, ack: 0, flags: 'S', dataOffset: 10, window: 65535, urgent: 0,
        checksum: 0x976b, checksumOk: true,
        options: [{ kind: 'mss', value: 1460 }, { kind: 'sackPermitted' }, { kind: 'timestamp', value: 1, echo: 0 }, { kind: 'nop' }, { kind: 'wscale', shift: 7 }],
        payload: '',
      },
    })
  })

  it('writes options in the order given, every kind, IPv6', async () => {
    const r = await run(['craft', '--src', '[2001:db8::1]:1234', '--dst', '[2001:db8::2]:443', '--flags', 'PA', '--seq', '4294967295',
      '--ack', '7', '--win', '512', '--hop-limit', '3', '--flow-label', '0x12345', '--nop', '--nop', '--sack', '1000-2000,3000-4000',
      '--ts', '5,6', '--opt', '34:0a0b', '--eol', '--payload', 'hi'])
    expect(r.code).toBe(0)
    const d = await run(['decode', '--json', r.out[0]])
    const j = JSON.parse(d.out[0])
    expect(j.ip).toEqual({ version: 6, src: '2001:db8::1', dst: '2001:db8::2', hopLimit: 3, flowLabel: 0x12345, payloadLength: 20 + 36 + 2, protocol: 6,
      trafficClass: 0, dscp: 0, ecn: 0 })
    expect(j.tcp.seq).toBe(4294967295)
    expect(j.tcp.ack).toBe(7)
    expect(j.tcp.flags).toBe('PA')
    expect(j.tcp.window).toBe(512)
    expect(j.tcp.checksumOk).toBe(true)
    expect(j.tcp.options).toEqual([
      { kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks: [[1000, 2000], [3000, 4000]] },
      { kind: 'timestamp', value: 5, echo: 6 }, { kind: 'unknown', type: 34, data: '0a0b' }, { kind: 'eol' },
    ])
    expect(j.tcp.payload).toBe('6869')
  })

  it('--bad-checksum writes a TCP checksum that does not verify', async () => {
    const r = await run(['craft', ...SYN_ARGS, '--bad-checksum', '--json'])
    const j = JSON.parse(r.out[0])
    expect(j.tcp.checksumOk).toBe(false)
    expect(j.tcp.checksum).not.toBe(0x976b)
    expect(j.ip.checksumOk).toBe(true)
  })

  it.each([
    [['--src', '10.0.0.1:1', '--dst', '[::1]:2'], /must both be IPv4 or both IPv6/],
    [['--src', '10.0.0.1:1'], /needs --src IP:PORT and --dst IP:PORT/],
    [['--src', '10.0.0.1:1', '--dst', '10.0.0.2:2', '--flags', 'SX'], /X/],
    [['--src', '10.0.0.1:1', '--dst', '10.0.0.2:2', '--seq', '4294967296'], /--seq must be an integer from 0 to 4294967295/],
    [['--src', '10.0.0.1:1', '--dst', '10.0.0.2:2', '--hop-limit', '3'], /--hop-limit is for IPv6/],
    [['--src', '10.0.0.1:1', '--dst', '10.0.0.2:2', '--sack', '1-2,3-4,5-6,7-8,9-10'], /1 to 4 blocks/],
    [['--src', '10.0.0.1:1', '--dst', '10.0.0.2:2', '--bogus'], /Unknown option '--bogus'/],
  ])('rejects %j with one line and exit 2', async (args, message) => {
    const r = await run(['craft', ...(args as string[])])
    expect(r.code).toBe(2)
    expect(r.out).toEqual([])
    expect(r.err).toHaveLength(1)
    expect(r.err[0]).toMatch(message as RegExp)
  })

  it.each([
    [['handshake', '192.0.2.1:80', '--gso']],
    [['handshake', '192.0.2.1:80', '--via', 'raw', '--gso']],
    [['listen', '7000', '--via', 'raw', '--gso']],
  ])('%j: --gso without --via pcap is a usage error (exit 2), before anything is opened', async (args) => {
    const r = await run(args as string[])
    expect(r.code).toBe(2)
    expect(r.out).toEqual([])
    expect(r.err).toEqual([expect.stringMatching(/--gso needs --via pcap$/)])
  })

  it('prints a JSON error object with --json', async () => {
    const r = await run(['craft', '--src', '10.0.0.1:1', '--dst', '10.0.0.2:99999', '--json'])
    expect(r.code).toBe(2)
    expect(JSON.parse(r.out[0])).toEqual({ error: { code: 'ERR_BAD_ARGUMENT', message: expect.any(String) } })
  })
})

describe('tcplab decode', () => {
  it('prints a tcpdump-style line', async () => {
    const r = await run(['decode', toHex(SYN_HEX)])
    expect(r.code).toBe(0)
    expect(r.out).toEqual([
      'IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [S], seq 1, win 65535, options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0',
    ])
  })

  it('reads one packet per line from stdin, reports bad lines and goes on, exits 1', async () => {
    const good = toHex(SYN_HEX)
    const r = await run(['decode', '--json'], `${good}\nzz\n\n# a comment\n${good.slice(0, 60)}\n${good}\n`)
    expect(r.code).toBe(1)
    expect(r.out).toHaveLength(4)
    expect(JSON.parse(r.out[0]).tcp.seq).toBe(1)
    expect(JSON.parse(r.out[1])).toEqual({ error: { code: 'HEX_ERR_INVALID', message: expect.any(String) } })
    expect(JSON.parse(r.out[2]).error.code).toMatch(/^IP_ERR_/)
    expect(JSON.parse(r.out[3]).tcp.seq).toBe(1)
  })

  it('decodes Ethernet frames with --link ethernet, including ARP', async () => {
    const eth = 'ffffffffffff' + '020000000001' + '0800'
    const r = await run(['decode', '--link', 'ethernet', '--json', eth + toHex(SYN_HEX)])
    const j = JSON.parse(r.out[0])
    expect(j.eth).toEqual({ src: '02:00:00:00:00:01', dst: 'ff:ff:ff:ff:ff:ff', type: 0x0800 })
    expect(j.tcp.dstPort).toBe(80)
    const arp = hex(`
      ff ff ff ff ff ff  02 00 00 00 00 01  08 06   # broadcast, from 02:..:01, ARP
      00 01 08 00 06 04 00 01                       # Ethernet/IPv4, request
      02 00 00 00 00 01  c6 12 00 01                # sender 02:..:01 198.18.0.1
      00 00 00 00 00 00  c6 12 00 02                # target ? 198.18.0.2
    `)
    const a = await run(['decode', '--link', 'ethernet', toHex(arp)])
    expect(a.out).toEqual(['02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 42: ARP, Request who-has 198.18.0.2 tell 198.18.0.1, length 28'])
  })
})

describe('the tcplab binary', () => {
  const cli = new URL('../../dist/lab/cli.js', import.meta.url).pathname

  it('answers --help for every command and never prints a stack trace on bad input', () => {
    const top = spawnSync('node', [cli, '--help'], { encoding: 'utf8' })
    expect(top.status).toBe(0)
    expect(top.stdout).toMatch(/craft/)
    const help = spawnSync('node', [cli, 'craft', '--help'], { encoding: 'utf8' })
    expect(help.stdout).toMatch(/--bad-checksum/)
    const bad = spawnSync('node', [cli, 'decode', '--json', '45'], { encoding: 'utf8' })
    expect(bad.status).toBe(1)
    expect(bad.stderr).toBe('')
    expect(JSON.parse(bad.stdout).error.code).toBe('IP_ERR_TRUNCATED')
    const piped = execFileSync('node', [cli, 'decode'], { input: toHex(SYN_HEX) + '\n', encoding: 'utf8' })
    expect(piped).toMatch(/^IP 10\.0\.0\.1\.40000 > 10\.0\.0\.2\.80: Flags \[S\]/)
  })
})
