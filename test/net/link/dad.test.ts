/**
 * Duplicate address detection before the capture device claims an address (issue 12): the RFC 5227 ARP
 * probe and the RFC 4862 solicitation from ::, byte by byte; refusals naming who holds the address (a
 * neighbour's stack over an in-memory link, the local kernel's own addresses); and against the real
 * kernel in a lab: the peer's and the local kernel's addresses are refused, the lab-owned one is taken.
 */
import { spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { isWireError } from '../../../src/tcp/errors.js'
import { parseIp } from '../../../src/net/addr.js'
import { ipOverEthernet } from '../../../src/net/capdev.js'
import { arpAnnouncement, arpProbe, dadSolicitation, parseIpAddrShow, probeAddress, unsolicitedAdvert, type KernelAddress } from '../../../src/net/link/dad.js'
import type { Timers } from '../../../src/net/link/neighbor.js'
import { memoryPair } from '../../../src/net/memdev.js'
import { LAB_PLAN } from '../../../src/net/netns.js'
import { hex, toHex } from '../../helpers/codecLaws.js'
import { LineReader, exitOf, labChild, repoPath, requireBuilt, startTcpdump, withLab } from '../../helpers/lab.js'
import { describeRoot } from '../../helpers/root.js'

/** Virtual time: timers fire only when the test advances the clock. */
class FakeTimers implements Timers {
  now = 0
  private seq = 0
  private readonly queue = new Map<number, { at: number; fn: () => void }>()
  setTimeout(fn: () => void, ms: number): unknown {
    this.queue.set(++this.seq, { at: this.now + ms, fn })
    return this.seq
  }
  clearTimeout(h: unknown): void {
    this.queue.delete(h as number)
  }
  get pending(): number {
    return this.queue.size
  }
  advance(ms: number): void {
    const end = this.now + ms
    for (;;) {
      const due = [...this.queue.entries()].filter(([, t]) => t.at <= end).sort((x, y) => x[1].at - y[1].at)[0]
      if (due === undefined) break
      this.queue.delete(due[0])
      this.now = due[1].at
      due[1].fn()
    }
    this.now = end
  }
}

const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r))
}

const OUR_MAC = '02:74:6c:00:00:0a'
const PEER_MAC = '02:74:6c:00:00:02'
const noKernel = (): KernelAddress[] => []
const hexMac = (m: string): Uint8Array => hex(m.replaceAll(':', ''))

/** A probing end over an in-memory link, the frames it sends, and optionally a neighbour's stack owning `held`. */
function link(held?: { ipv4?: string; ipv6?: string; mac?: string }) {
  const t = new FakeTimers()
  const [ours, theirs] = memoryPair({ medium: 'ethernet' })
  const sent: string[] = []
  const send = ours.send.bind(ours)
  ours.send = (f: Uint8Array) => {
    send(f) // throws once the device is closed: then nothing went out
    sent.push(toHex(f))
  }
  if (held !== undefined) {
    const peer = ipOverEthernet(theirs, { mac: held.mac ?? PEER_MAC, ...held, timers: t, now: () => t.now })
    peer.onReceive(() => {})
  } else theirs.onReceive(() => {})
  return { t, ours, theirs, sent }
}

/** What a promise settled to, without waiting for it. */
function watch<T>(p: Promise<T>): { state: () => 'pending' | 'resolved' | 'rejected'; error: () => unknown } {
  let state: 'pending' | 'resolved' | 'rejected' = 'pending'
  let error: unknown
  p.then(
    () => (state = 'resolved'),
    (e: unknown) => {
      state = 'rejected'
      error = e
    },
  )
  return { state: () => state, error: () => error }
}

describe('duplicate address detection frames', () => {
  it('IPv4: an RFC 5227 probe, broadcast, from sender IP 0.0.0.0', () => {
    expect(toHex(arpProbe(hexMac(OUR_MAC), parseIp('198.18.0.10')))).toBe(
      toHex(
        hex(`
          ffffffffffff 02746c00000a 0806      # broadcast, from us, ARP
          0001 0800 06 04 0001                # Ethernet/IPv4, request
          02746c00000a 00000000               # sender: our MAC, 0.0.0.0 (a probe claims nothing yet)
          000000000000 c612000a               # target: unknown MAC, 198.18.0.10
          000000000000000000000000000000000000  # padding to 60 bytes
        `),
      ),
    )
  })

  it('IPv6: a neighbor solicitation from :: to the solicited-node group, hop limit 255, no link-layer option', () => {
    expect(toHex(dadSolicitation(hexMac(OUR_MAC), parseIp('2001:2::10')))).toBe(
      toHex(
        hex(`
          3333ff000010 02746c00000a 86dd                # to 33:33:ff:00:00:10, from us, IPv6
          60000000 0018 3a ff                          # payload 24, ICMPv6, hop limit 255
          00000000000000000000000000000000             # from ::
          ff0200000000000000000001ff000010             # to ff02::1:ff00:10
          87 00 5a85 00000000                          # neighbor solicitation, checksum, reserved
          20010002000000000000000000000010             # target 2001:2::10
        `),
      ),
    )
  })
})

describe('announcing a claimed address', () => {
  it('IPv4: an RFC 5227 §2.3 announcement, broadcast, sender and target IP both the address', () => {
    expect(toHex(arpAnnouncement(hexMac(OUR_MAC), parseIp('198.18.0.10')))).toBe(
      toHex(
        hex(`
          ffffffffffff 02746c00000a 0806      # broadcast, from us, ARP
          0001 0800 06 04 0001                # Ethernet/IPv4, request
          02746c00000a c612000a               # sender: our MAC, 198.18.0.10 (claimed now)
          000000000000 c612000a               # target: unknown MAC, the same address
          000000000000000000000000000000000000  # padding to 60 bytes
        `),
      ),
    )
  })

  it('IPv6: an RFC 4861 §7.2.6 unsolicited advertisement to all nodes, Override set, our MAC as the target link-layer option (as scapy builds it)', () => {
    expect(toHex(unsolicitedAdvert(hexMac(OUR_MAC), parseIp('2001:2::10')))).toBe(
      toHex(
        hex(`
          333300000001 02746c00000a 86dd                # to 33:33:00:00:00:01 (all nodes), from us, IPv6
          60000000 0020 3a ff                          # payload 32, ICMPv6, hop limit 255
          20010002000000000000000000000010             # from 2001:2::10, the address claimed
          ff020000000000000000000000000001             # to ff02::1
          88 00 a7fb 20000000                          # neighbor advertisement, checksum, flags: Override
          20010002000000000000000000000010             # target 2001:2::10
          02 01 02746c00000a                           # target link-layer address: our MAC
        `),
      ),
    )
  })
})

describe('probeAddress', () => {
  it('IPv4: nobody answers three probes a third of a second apart: the address is free', async () => {
    const { t, ours, sent } = link()
    const p = watch(probeAddress({ device: ours, mac: OUR_MAC, addr: '198.18.0.10', iface: 'tlx', kernelAddresses: noKernel, timers: t }))
    expect(sent).toEqual([toHex(arpProbe(hexMac(OUR_MAC), parseIp('198.18.0.10')))])
    t.advance(332)
    expect(sent).toHaveLength(1)
    t.advance(1)
    expect(sent).toHaveLength(2)
    t.advance(333)
    expect(sent).toHaveLength(3)
    await settle()
    expect(p.state()).toBe('pending')
    t.advance(333)
    await settle()
    expect(p.state()).toBe('resolved')
    // Claimed: announced at once, and again 2 s later (RFC 5227 ANNOUNCE_NUM 2, ANNOUNCE_INTERVAL 2 s).
    const announcement = toHex(arpAnnouncement(hexMac(OUR_MAC), parseIp('198.18.0.10')))
    expect(sent.slice(3)).toEqual([announcement])
    t.advance(1999)
    expect(sent).toHaveLength(4)
    t.advance(1)
    expect(sent.slice(3)).toEqual([announcement, announcement])
    expect(t.pending).toBe(0)
  })

  it('announces nothing with announcements: 0, and a device closed before the second announcement is left alone', async () => {
    const quiet = link()
    const q = watch(probeAddress({ device: quiet.ours, mac: OUR_MAC, addr: '198.18.0.10', kernelAddresses: noKernel, timers: quiet.t, announcements: 0 }))
    quiet.t.advance(1000)
    await settle()
    expect(q.state()).toBe('resolved')
    expect(quiet.sent).toHaveLength(3)
    expect(quiet.t.pending).toBe(0)
    const short = link()
    const p = watch(probeAddress({ device: short.ours, mac: OUR_MAC, addr: '198.18.0.10', kernelAddresses: noKernel, timers: short.t }))
    short.t.advance(1000)
    await settle()
    expect(p.state()).toBe('resolved')
    expect(short.sent).toHaveLength(4)
    short.ours.close()
    short.t.advance(2000)
    expect(short.sent).toHaveLength(4)
    expect(short.t.pending).toBe(0)
  })

  it('IPv4: a neighbour that holds the address answers the first probe, and the refusal names its MAC', async () => {
    const { t, ours, sent } = link({ ipv4: '198.18.0.10', mac: '02:74:6c:00:00:99' })
    const p = watch(probeAddress({ device: ours, mac: OUR_MAC, addr: '198.18.0.10', iface: 'tlx', kernelAddresses: noKernel, timers: t }))
    await settle()
    expect(p.state()).toBe('rejected')
    const e = p.error()
    expect(isWireError(e, 'DEV_ERR_ADDRESS_IN_USE')).toBe(true)
    expect((e as Error).message).toBe('198.18.0.10 is in use on tlx: 02:74:6c:00:00:99 answers ARP for it; pick an address no host uses')
    expect(sent).toHaveLength(1)
    expect(t.pending).toBe(0)
    // The probe is done with the device: what arrives later is not its business.
    const later: number[] = []
    ours.onReceive((f) => later.push(f.length))
    expect(later).toEqual([])
  })

  it('IPv6: a neighbour that holds the address answers the solicitation from :: (to all-nodes), and is named', async () => {
    const { t, ours, sent } = link({ ipv6: '2001:2::10', mac: '02:74:6c:00:00:99' })
    const p = watch(probeAddress({ device: ours, mac: OUR_MAC, addr: '2001:2::10', iface: 'tlx', kernelAddresses: noKernel, timers: t }))
    await settle()
    expect(p.state()).toBe('rejected')
    expect(isWireError(p.error(), 'DEV_ERR_ADDRESS_IN_USE')).toBe(true)
    expect((p.error() as Error).message).toBe('2001:2::10 is in use on tlx: 02:74:6c:00:00:99 answers neighbor solicitations for it; pick an address no host uses')
    expect(sent).toHaveLength(1)
  })

  it('IPv6: nobody answers: free after three solicitations', async () => {
    const { t, ours, sent } = link({ ipv6: '2001:2::2' })
    const p = watch(probeAddress({ device: ours, mac: OUR_MAC, addr: '2001:2::10', kernelAddresses: noKernel, timers: t }))
    t.advance(1000)
    await settle()
    expect(p.state()).toBe('resolved')
    expect(sent).toEqual([
      ...Array(3).fill(toHex(dadSolicitation(hexMac(OUR_MAC), parseIp('2001:2::10')))),
      toHex(unsolicitedAdvert(hexMac(OUR_MAC), parseIp('2001:2::10'))),
    ])
  })

  it('another host probing for the same address at the same time is a conflict too (RFC 5227 §2.1.1, RFC 4862 §5.4.3)', async () => {
    for (const addr of ['198.18.0.10', '2001:2::10']) {
      const { t, ours, theirs } = link()
      const p = watch(probeAddress({ device: ours, mac: OUR_MAC, addr, kernelAddresses: noKernel, timers: t }))
      const theirProbe = addr.includes(':') ? dadSolicitation(hexMac('02:74:6c:00:00:55'), parseIp(addr)) : arpProbe(hexMac('02:74:6c:00:00:55'), parseIp(addr))
      theirs.send(theirProbe)
      await settle()
      expect(p.state()).toBe('rejected')
      expect((p.error() as Error).message).toMatch(new RegExp(`^${addr} is in use: 02:74:6c:00:00:55 is probing for it too \\((ARP|NDP duplicate address detection)\\); pick an address no host uses$`))
    }
  })

  it('its own probe heard back, and answers about other addresses, are no conflict', async () => {
    const { t, ours, theirs } = link({ ipv4: '198.18.0.2' })
    const p = watch(probeAddress({ device: ours, mac: OUR_MAC, addr: '198.18.0.10', kernelAddresses: noKernel, timers: t }))
    theirs.send(arpProbe(hexMac(OUR_MAC), parseIp('198.18.0.10'))) // our own, looped back
    theirs.send(arpProbe(hexMac(PEER_MAC), parseIp('198.18.0.11'))) // someone else's probe, for another address
    theirs.send(hex('02746c00000a 02746c000002 0806 0001')) // not even ARP
    t.advance(1000)
    await settle()
    expect(p.state()).toBe('resolved')
  })

  it("refuses an address of the local kernel's (any interface; all of a loopback prefix) without a probe", async () => {
    const kernel = parseIpAddrShow(
      [
        '1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever',
        '1: lo    inet6 ::1/128 scope host \\       valid_lft forever preferred_lft forever',
        '2: tl1a0q4sa    inet 198.18.0.1/24 scope global tl1a0q4sa\\       valid_lft forever preferred_lft forever',
        '2: tl1a0q4sa    inet6 2001:2::1/64 scope global nodad \\       valid_lft forever preferred_lft forever',
        '2: tl1a0q4sa    inet6 fe80::74:6cff:fe00:1/64 scope link \\       valid_lft forever preferred_lft forever',
      ].join('\n'),
      [
        '1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00',
        '2: tl1a0q4sa@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT group default qlen 1000\\    link/ether 02:74:6c:00:00:01 brd ff:ff:ff:ff:ff:ff link-netns tcplab-1a0q4s-b',
      ].join('\n'),
    )
    expect(kernel).toEqual([
      { addr: '127.0.0.1', prefix: 8, dev: 'lo' },
      { addr: '::1', prefix: 128, dev: 'lo' },
      { addr: '198.18.0.1', prefix: 24, dev: 'tl1a0q4sa', mac: '02:74:6c:00:00:01' },
      { addr: '2001:2::1', prefix: 64, dev: 'tl1a0q4sa', mac: '02:74:6c:00:00:01' },
      { addr: 'fe80::74:6cff:fe00:1', prefix: 64, dev: 'tl1a0q4sa', mac: '02:74:6c:00:00:01' },
    ])
    const refusal = async (addr: string): Promise<string> => {
      const { t, ours, sent } = link()
      const e = await probeAddress({ device: ours, mac: OUR_MAC, addr, iface: 'tl1a0q4sa', kernelAddresses: () => kernel, timers: t }).catch((x: unknown) => x)
      expect(sent).toEqual([])
      expect(isWireError(e, 'DEV_ERR_ADDRESS_IN_USE')).toBe(true)
      return (e as Error).message
    }
    expect(await refusal('198.18.0.1')).toBe(
      '198.18.0.1 is in use on tl1a0q4sa: the local kernel holds it (198.18.0.1/24 on tl1a0q4sa, MAC 02:74:6c:00:00:01); pick an address no host uses',
    )
    expect(await refusal('2001:2:0::1')).toBe(
      '2001:2::1 is in use on tl1a0q4sa: the local kernel holds it (2001:2::1/64 on tl1a0q4sa, MAC 02:74:6c:00:00:01); pick an address no host uses',
    )
    expect(await refusal('127.3.4.5')).toBe('127.3.4.5 is in use on tl1a0q4sa: the local kernel holds it (127.0.0.1/8 on lo); pick an address no host uses')
    // The rest of a non-loopback prefix is not the kernel's.
    const { t, ours } = link()
    const p = watch(probeAddress({ device: ours, mac: OUR_MAC, addr: '198.18.0.10', kernelAddresses: () => kernel, timers: t }))
    t.advance(1000)
    await settle()
    expect(p.state()).toBe('resolved')
  })
})

describeRoot('duplicate address detection against the kernel in a lab (root)', () => {
  it('a neighbour that still maps the address to an earlier run\'s MAC learns the new one from the announcement, and its client gets through at once', async () => {
    requireBuilt('dist/lab/cli.js')
    await withLab(async (lab) => {
      // What an earlier tcplab run (another random MAC) leaves in side B's neighbour table.
      const stale = '02:74:6c:00:00:99'
      for (const addr of [lab.a.owned.ipv4, lab.a.owned.ipv6]) {
        await lab.exec('b', ['ip', 'neigh', 'replace', addr, 'lladdr', stale, 'dev', lab.b.iface, 'nud', 'reachable'])
      }
      for (const [family, addr] of [[4, lab.a.owned.ipv4], [6, lab.a.owned.ipv6]] as const) {
        const ln = labChild(lab, 'a', [process.execPath, repoPath('dist/lab/cli.js'), 'listen', '1935', '--via', 'pcap', '--iface', lab.a.iface, '--ip', addr, '--echo', '--count', '1'])
        const banner = await ln.out.next(/^tcplab listen: /)
        const mac = /MAC ([0-9a-f:]{17})/.exec(banner)![1]
        expect(mac).not.toBe(stale)
        await ln.out.next(/listening/)
        // One try of 3 s: the kernel's SYN and its retransmissions at 1 s and 3 s would all go to the stale
        // MAC (a reachable entry lasts 15-45 s) if the announcement had not replaced it.
        const client = await lab.exec('b', ['python3', '-c', `
import socket
c = socket.create_connection(('${addr}', 1935), timeout=3)
c.sendall('张三: '.encode())
print(c.recv(100).decode(), flush=True)
c.close()
`])
        expect(client.stdout.trim()).toBe('张三:  你好!')
        expect(await exitOf(ln.child)).toEqual({ code: 0, signal: null })
        const neigh = (await lab.exec('b', ['ip', family === 4 ? '-4' : '-6', 'neigh', 'show', addr, 'dev', lab.b.iface])).stdout
        expect(neigh).toContain(`lladdr ${mac}`)
      }
    })
  }, 30_000)

  it("openLiveDevice --via pcap refuses the peer's and the local kernel's addresses, naming their MACs, and takes the lab-owned one", async () => {
    requireBuilt('dist/lab/stack/live.js', 'dist/net/addr.js')
    const dir = mkdtempSync(join(tmpdir(), 'tcplab-dad-'))
    const file = join(dir, 'side-b.pcap')
    let dump: ChildProcess | undefined
    try {
      await withLab(async (lab) => {
        dump = await startTcpdump(lab, 'b', ['-i', lab.b.iface], file, 'arp or icmp6')
        const addrs = [lab.b.ipv4, lab.a.ipv4, lab.a.owned.ipv4, lab.b.ipv6, lab.a.ipv6, lab.a.owned.ipv6]
        const script = [
          `const { openLiveDevice } = await import(${JSON.stringify(repoPath('dist/lab/stack/live.js'))})`,
          `const { parseIp } = await import(${JSON.stringify(repoPath('dist/net/addr.js'))})`,
          `for (const addr of ${JSON.stringify(addrs)}) {`,
          '  try {',
          `    const d = await openLiveDevice({ via: 'pcap', iface: ${JSON.stringify(lab.a.iface)}, localAddr: parseIp(addr), mac: ${JSON.stringify(lab.a.owned.mac)} })`,
          '    d.device.close()',
          '    await d.release()',
          "    console.log(JSON.stringify({ type: 'probe', addr, ok: true }))",
          '  } catch (e) {',
          "    console.log(JSON.stringify({ type: 'probe', addr, ok: false, code: e.code, message: e.message }))",
          '  }',
          '}',
          "console.log(JSON.stringify({ type: 'done' }))",
        ].join('\n')
        const child = lab.spawn('a', [process.execPath, '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] })
        const out = new LineReader(child)
        const results: unknown[] = []
        for (let i = 0; i < addrs.length; i++) results.push(await out.json('probe'))
        await out.json('done')
        expect(await exitOf(child)).toEqual({ code: 0, signal: null })
        const inUse = (addr: string, who: string) => ({
          type: 'probe', addr, ok: false, code: 'DEV_ERR_ADDRESS_IN_USE', message: `${addr} is in use on ${lab.a.iface}: ${who}; pick an address no host uses`,
        })
        const kernel = (addr: string, prefix: number) => `the local kernel holds it (${addr}/${prefix} on ${lab.a.iface}, MAC ${lab.a.mac})`
        expect(results).toEqual([
          inUse(lab.b.ipv4, `${lab.b.mac} answers ARP for it`),
          inUse(lab.a.ipv4, kernel(lab.a.ipv4, LAB_PLAN.prefix4)),
          { type: 'probe', addr: lab.a.owned.ipv4, ok: true },
          inUse(lab.b.ipv6, `${lab.b.mac} answers neighbor solicitations for it`),
          inUse(lab.a.ipv6, kernel(lab.a.ipv6, LAB_PLAN.prefix6)),
          { type: 'probe', addr: lab.a.owned.ipv6, ok: true },
        ])
        dump!.kill('SIGTERM')
        expect((await exitOf(dump!)).code).toBe(0)
        // What side B saw, read by tshark: RFC 5227 probes (sender 0.0.0.0) and solicitations from ::, three
        // for each free address, none for the local kernel's, and at least one for the peer's, which it answered.
        const probes = (filter: string): number => {
          const r = spawnSync('tshark', ['-r', file, '-Y', filter], { encoding: 'utf8' })
          expect(r.status).toBe(0)
          return r.stdout.split('\n').filter((l) => l.trim() !== '').length
        }
        const arp = (addr: string): number => probes(`arp.isprobe == 1 && arp.src.hw_mac == ${lab.a.owned.mac} && arp.dst.proto_ipv4 == ${addr}`)
        const ns = (addr: string): number => probes(`icmpv6.type == 135 && ipv6.src == :: && icmpv6.nd.ns.target_address == ${addr} && !icmpv6.opt`)
        expect([arp(lab.a.owned.ipv4), arp(lab.a.ipv4), ns(lab.a.owned.ipv6), ns(lab.a.ipv6)]).toEqual([3, 0, 3, 0])
        expect(arp(lab.b.ipv4)).toBeGreaterThanOrEqual(1)
        expect(ns(lab.b.ipv6)).toBeGreaterThanOrEqual(1)
      })
    } finally {
      if (dump !== undefined && (dump as ChildProcess).exitCode === null) (dump as ChildProcess).kill('SIGKILL')
      rmSync(dir, { recursive: true, force: true })
    }
  }, 30_000)
})
