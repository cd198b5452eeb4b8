/**
 * Wire stamps: the TCP fields read in place from IP packets and Ethernet frames (behind VLAN tags), nothing
 * for what is not a whole TCP segment, and the tap's timing: after send returns, before the hand-over.
 */
import { describe, expect, it } from 'vitest'
import { parseIp } from '../../src/net/addr.js'
import { memoryPair } from '../../src/net/memdev.js'
import { emitTcpPacket } from '../../src/net/packet.js'
import { tcpStampOf, wireStampTap, type WireStamp } from '../../src/net/wirestamp.js'
import type { Seq } from '../../src/tcp/seq.js'
import { TcpFlags, type TcpRepr } from '../../src/tcp/segment.js'

const seg: TcpRepr = {
  srcPort: 40000,
  dstPort: 1935,
  seq: 0xfffffff0 as Seq,
  ack: 0x01020304 as Seq,
  flags: TcpFlags.PSH | TcpFlags.ACK,
  window: 512,
  urgent: 0,
  options: [{ kind: 'timestamp', value: 1, echo: 2 }],
  payload: new Uint8Array(5),
}
const fields = { srcPort: 40000, dstPort: 1935, seq: 0xfffffff0, ack: 0x01020304, flags: 0x18, len: 5 }

function ip(v: 4 | 6): Uint8Array {
  const buf = new Uint8Array(200)
  const n = emitTcpPacket(v === 4 ? { src: parseIp('198.18.0.1'), dst: parseIp('198.18.0.2') } : { src: parseIp('2001:2::1'), dst: parseIp('2001:2::2') }, seg, buf, 0)
  return buf.subarray(0, n)
}

/** The packet behind an Ethernet header (dst, src, then `tags` 802.1Q tags and the EtherType). */
function frame(p: Uint8Array, etherType: number, tags = 0): Uint8Array {
  const head = [...new Array(12).fill(2)]
  for (let i = 0; i < tags; i++) head.push(0x81, 0x00, 0x00, 0x05)
  head.push(etherType >> 8, etherType & 0xff)
  return Uint8Array.from([...head, ...p])
}

describe('tcpStampOf', () => {
  it('reads ports, numbers, flags and payload length from IPv4 and IPv6, bare or in (tagged) frames', () => {
    expect(tcpStampOf(ip(4), 'ip', 'out', 9)).toEqual({ dir: 'out', atUs: 9, ...fields })
    expect(tcpStampOf(ip(6), 'ip', 'in', 9)).toEqual({ dir: 'in', atUs: 9, ...fields })
    expect(tcpStampOf(frame(ip(4), 0x0800), 'ethernet', 'in', 1)).toEqual({ dir: 'in', atUs: 1, ...fields })
    expect(tcpStampOf(frame(ip(6), 0x86dd, 2), 'ethernet', 'in', 1)).toEqual({ dir: 'in', atUs: 1, ...fields })
    // Ethernet padding after a short packet is not payload
    expect(tcpStampOf(Uint8Array.from([...frame(ip(4), 0x0800), 0, 0, 0]), 'ethernet', 'in', 1)?.len).toBe(5)
  })

  it('stamps nothing that is not a whole TCP segment', () => {
    expect(tcpStampOf(frame(new Uint8Array(28), 0x0806), 'ethernet', 'in', 0)).toBeUndefined() // ARP
    const frag = ip(4).slice()
    frag[6] = 0x20 // more fragments
    expect(tcpStampOf(frag, 'ip', 'in', 0)).toBeUndefined()
    const udp = ip(4).slice()
    udp[9] = 17
    expect(tcpStampOf(udp, 'ip', 'in', 0)).toBeUndefined()
    expect(tcpStampOf(ip(4).subarray(0, 30), 'ip', 'in', 0)).toBeUndefined() // cut short
    expect(tcpStampOf(new Uint8Array(10), 'ethernet', 'in', 0)).toBeUndefined()
  })
})

describe('wireStampTap', () => {
  it('stamps a send once it returned and a receive before the handler runs, only while someone listens', () => {
    let t = 100
    const [a, b] = memoryPair({ delivery: 'sync' })
    const tap = wireStampTap(a, () => t++)
    const stamps: WireStamp[] = []
    const order: string[] = []
    tap.onReceive(() => order.push(`handler at ${t}`))
    tap.send(ip(4)) // nobody listens: no stamp, no clock read
    expect(t).toBe(100)
    const off = tap.onStamp((s) => {
      stamps.push(s)
      order.push(`stamp ${s.dir} ${s.atUs}`)
    })
    b.onReceive(() => order.push('peer got it'))
    tap.send(ip(4))
    b.send(ip(6))
    expect(order).toEqual(['peer got it', 'stamp out 100', 'stamp in 101', 'handler at 102'])
    off()
    tap.send(ip(4))
    expect(stamps).toHaveLength(2)
    tap.close()
  })
})
