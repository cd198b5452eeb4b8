/**
 * Inbound ICMP error lines: type and code names as packetdrill spells them, the exact bytes of the error
 * (outer header, ICMP header with its MTU, the echoed header and 8 TCP bytes), and the engine's mapping of the
 * echoed segment to the live connection's ports and sequence numbers.
 */
import { describe, expect, it } from 'vitest'
import { buildIcmpError, icmpTypeCode } from '../../src/script/icmp.js'
import { parseIpv4 } from '../../src/net/ipv4.js'
import { parseIpv6 } from '../../src/net/ipv6.js'
import { parseIp } from '../../src/net/addr.js'
import { internetChecksum, onesSum, pseudoHeaderSum, finishChecksum } from '../../src/tcp/checksum.js'
import { parseScript } from '../../src/script/parser.js'
import { runScript } from '../../src/script/engine.js'
import { FakeTarget, seg } from './fake-target.js'

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

describe('icmpTypeCode', () => {
  it("takes packetdrill's names per IP version, digits as they are, and no code as 0", () => {
    expect(icmpTypeCode(false, 'unreachable', 'frag_needed')).toEqual({ type: 3, code: 4 })
    expect(icmpTypeCode(false, 'unreachable', 'port_unreachable')).toEqual({ type: 3, code: 3 })
    expect(icmpTypeCode(false, 'unreachable', undefined)).toEqual({ type: 3, code: 0 })
    expect(icmpTypeCode(false, 'time_exceeded', '1')).toEqual({ type: 11, code: 1 })
    expect(icmpTypeCode(true, 'packet_too_big', undefined)).toEqual({ type: 2, code: 0 })
    expect(icmpTypeCode(true, 'unreachable', 'port_unreachable')).toEqual({ type: 1, code: 4 })
    expect(icmpTypeCode(true, 'unreachable', 'admin_prohibited')).toEqual({ type: 1, code: 1 })
    expect(icmpTypeCode(false, 'packet_too_big', undefined)).toEqual({ error: "unknown ICMP type 'packet_too_big'" })
    expect(icmpTypeCode(false, 'unreachable', 'CODE')).toEqual({ error: "unknown ICMP code 'CODE' for type 'unreachable'" })
  })
})

describe('buildIcmpError', () => {
  const local4 = parseIp('198.18.0.1')
  const remote4 = parseIp('198.19.2.1')

  it('IPv4 fragmentation needed: exact ICMP bytes, valid checksums, the echoed header states the original length', () => {
    const b = buildIcmpError({ v6: false, remote: remote4, local: local4, type: 3, code: 4, mtu: 1200, localPort: 8080, remotePort: 40000, seq: 0xdeadbeef, payloadLen: 1460 })
    const ip = parseIpv4(b, { requireChecksum: true })
    expect([ip.protocol, hex(ip.src), hex(ip.dst), ip.ttl]).toEqual([1, hex(remote4), hex(local4), 64])
    const icmp = ip.payload
    expect(icmp.length).toBe(8 + 20 + 8)
    expect(internetChecksum(icmp)).toBe(0)
    expect(hex(icmp.subarray(0, 2))).toBe('0304') // type 3, code 4
    expect(hex(icmp.subarray(4, 8))).toBe('000004b0') // unused, next-hop MTU 1200
    const inner = icmp.subarray(8, 28)
    expect(hex(inner.subarray(0, 4))).toBe('450005dc') // version 4, IHL 5, total length 20 + 20 + 1460
    expect([inner[9], hex(inner.subarray(12, 16)), hex(inner.subarray(16, 20))]).toEqual([6, hex(local4), hex(remote4)])
    expect(internetChecksum(inner)).toBe(0)
    expect(hex(icmp.subarray(28, 36))).toBe('1f909c40deadbeef') // ports 8080 → 40000, seq
  })

  it('IPv6 packet too big: a 32-bit MTU, the pseudo-header checksum, the echoed payload length', () => {
    const local6 = parseIp('2001:2::1')
    const remote6 = parseIp('2001:2:0:2::1')
    const b = buildIcmpError({ v6: true, remote: remote6, local: local6, type: 2, code: 0, mtu: 1280, localPort: 8080, remotePort: 40001, seq: 7, payloadLen: 100, ttl: 9 })
    const ip = parseIpv6(b)
    expect([ip.nextHeader, hex(ip.src), hex(ip.dst), ip.hopLimit]).toEqual([58, hex(remote6), hex(local6), 9])
    const icmp = ip.payload
    expect(icmp.length).toBe(8 + 40 + 8)
    expect(finishChecksum(onesSum(icmp, 0, icmp.length, pseudoHeaderSum(remote6, local6, 58, icmp.length)))).toBe(0)
    expect(hex(icmp.subarray(0, 8)).replace(/^(....)..../, '$1xxxx')).toBe('0200xxxx00000500')
    const inner = icmp.subarray(8, 48)
    expect([inner[0]! >> 4, (inner[4]! << 8) | inner[5]!, inner[6]]).toEqual([6, 20 + 100, 6])
    expect(hex(icmp.subarray(48, 56))).toBe('1f909c4100000007')
  })
})

describe('the engine', () => {
  it("echoes the live connection: the stack's ports and the script's sequence number plus the live ISN", async () => {
    const ISN = 3_000_000_000
    const t = new FakeTarget((c) => (c.name === 'socket' ? { ret: 7 } : c.name === 'connect' ? { ret: -1, errno: 'EINPROGRESS' } : { ret: 0 }))
    t.send(0, seg({ flags: 'S', seq: ISN, sport: 50123, dport: 8080 }))
    const v = await runScript(
      parseScript('0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)\n+0 > S 0:0(0)\n+.01 < icmp unreachable frag_needed mtu 576 [0:0(0)]\n', { file: 't.pkt' }),
      t,
    )
    expect(v.text).toEqual([])
    expect(v.result).toBe('pass')
    const icmp = parseIpv4(t.injected[0]!.bytes).payload
    expect(hex(icmp.subarray(0, 2))).toBe('0304')
    expect(hex(icmp.subarray(6, 8))).toBe('0240')
    expect(hex(icmp.subarray(28, 36))).toBe('c3cb1f90' + ISN.toString(16))
    expect(t.injected[0]!.time - t.start).toBe(10_000)
    expect(v.events.at(-1)).toMatchObject({ kind: 'icmp', line: 4, packet: '< icmp unreachable frag_needed mtu 576 [0:0(0)]' })
  })

  it('an ICMP line with no connection, an unknown code, or an outbound one: error / unsupported, never a crash', async () => {
    const none = await runScript(parseScript('0 < icmp unreachable\n', { file: 't.pkt' }), new FakeTarget())
    expect([none.result, none.message]).toEqual(['error', 'no matching socket for script packet'])
    const out = await runScript(parseScript('0 > icmp unreachable port_unreachable [udp (10)]\n', { file: 't.pkt' }), new FakeTarget())
    expect([out.result, out.message]).toEqual(['unsupported', 'outbound icmp packet lines are not supported yet'])
    const t = new FakeTarget((c) => (c.name === 'socket' ? { ret: 7 } : c.name === 'connect' ? { ret: -1, errno: 'EINPROGRESS' } : { ret: 0 }))
    t.send(0, seg({ flags: 'S', seq: 1, sport: 50123, dport: 8080 }))
    const bad = await runScript(parseScript('0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 connect(3, ..., ...) = -1 EINPROGRESS (x)\n+0 > S 0:0(0)\n+0 < icmp unreachable CODE\n', { file: 't.pkt' }), t)
    expect([bad.result, bad.line, bad.message]).toEqual(['error', 4, "unknown ICMP code 'CODE' for type 'unreachable'"])
  })
})
