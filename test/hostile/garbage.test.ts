/**
 * Issue 7, item 2: garbage from the wire. A userland listener on the capture device (its own address and
 * MAC in side A of a lab) serves a real kernel client (Node's net in side B, echo round after echo round)
 * while side B bombards it with malformed frames: first kinds crafted with tcplab's own codecs, each built
 * so that exactly one counter must count it; then random frames; then packets crafted by scapy. The
 * listener must keep serving during and after the storm, count every bad packet in a counter (device,
 * ARP agent, interface drops by reason, listener) and never print a stack trace.
 *
 * Bounded: 20,000 frames of ours (LAB_FULL=1: 200,000), 4,000 random, 1,800 from scapy.
 */
import { existsSync } from 'node:fs'
import { expect } from 'vitest'
import { exitOf, hostileChild, type LabChild, labChild, requireBuilt, withLab } from '../helpers/lab.js'
import { describeRoot, itRoot } from '../helpers/root.js'

const FULL = process.env.LAB_FULL === '1'
const PORT = 7000
const EXACT_FRAMES = FULL ? 200_000 : 20_000
const RANDOM_FRAMES = FULL ? 40_000 : 4_000
const PY = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3'



type Stats = {
  iface: { packetsIn: number; drops: Record<string, number>; resetsSent: number }
  device: Record<string, number>
  eth: Record<string, number>
  arp: Record<string, number>
  listener: Record<string, number>
}

/** The counter named `key` ("device.malformed", "iface.tcp-checksum", "listener.cookiesRejected"…). */
function counter(s: Stats, key: string): number {
  const [where, name] = key.split('.')
  if (where === 'iface') return s.iface.drops[name]
  return (s as unknown as Record<string, Record<string, number>>)[where][name]
}

/** Every counter that can count a bad packet, summed. */
function badTotal(s: Stats): number {
  const drops = Object.values(s.iface.drops).reduce((a, b) => a + b, 0)
  return s.device.dropped + s.arp.ignored + drops + s.listener.cookiesRejected + s.listener.synsReceived
}

/** Scapy's malformed packets: each kind names the one counter that must count it. */
const SCAPY = String.raw`
import json, sys
from scapy.all import Ether, IP, TCP, UDP, ARP, Raw, fragment, fuzz, sendp, conf
conf.verb = 0
o = json.loads(sys.argv[1])
eth = Ether(src=o['srcMac'], dst=o['dstMac'])
ip = dict(src=o['srcIp'], dst=o['dstIp'])
P = o['port']
n = o['each']
def sp(i):
    return 1024 + i % 1000
kinds = {
  'ip-ihl-2': (lambda i: eth/IP(ihl=2, **ip)/TCP(sport=sp(i), dport=P), 'iface.malformed'),
  'ip-len-10': (lambda i: eth/IP(len=10, **ip)/TCP(sport=sp(i), dport=P), 'device.malformed'),
  'ip-len-4000': (lambda i: eth/IP(len=4000, **ip)/TCP(sport=sp(i), dport=P), 'device.malformed'),
  'ip-bad-checksum': (lambda i: eth/IP(chksum=0x1234 + i, id=i, **ip)/TCP(sport=sp(i), dport=P), 'iface.ip-checksum'),
  'tcp-bad-checksum': (lambda i: eth/IP(**ip)/TCP(sport=sp(i), dport=P, chksum=0xbeef ^ i), 'iface.tcp-checksum'),
  'tcp-dataofs-15': (lambda i: eth/IP(**ip)/TCP(sport=sp(i), dport=P, dataofs=15), 'iface.malformed'),
  'tcp-dataofs-2': (lambda i: eth/IP(**ip)/TCP(sport=sp(i), dport=P, dataofs=2), 'iface.malformed'),
  'tcp-mss-length-3': (lambda i: eth/IP(**ip)/TCP(sport=sp(i), dport=P, options=[(2, b'\x05')]), 'iface.malformed'),
  'ip-more-fragments': (lambda i: eth/IP(flags='MF', **ip)/TCP(sport=sp(i), dport=P), 'iface.fragment'),
  'udp': (lambda i: eth/IP(**ip)/UDP(sport=sp(i), dport=P)/Raw(b'x' * (i % 30)), 'iface.not-tcp'),
  'tcp-sport-0': (lambda i: eth/IP(**ip)/TCP(sport=0, dport=P), 'iface.bad-port'),
  'rst-to-listener': (lambda i: eth/IP(**ip)/TCP(sport=sp(i), dport=P, flags='R', seq=i), 'iface.listener'),
  'xmas-to-listener': (lambda i: eth/IP(**ip)/TCP(sport=sp(i), dport=P, flags='FPU', seq=i), 'iface.listener'),
  'arp-hwtype-99': (lambda i: Ether(src=o['srcMac'], dst='ff:ff:ff:ff:ff:ff')/ARP(hwtype=99, psrc=o['srcIp'], pdst=o['dstIp']), 'arp.ignored'),
}
pkts = []
expect = {}
for name, (build, key) in kinds.items():
    for i in range(n):
        pkts.append(build(i))
    expect[key] = expect.get(key, 0) + n
# More fragments: a 200-byte segment cut into 5 pieces (the first with MF, the others at offsets > 0).
frags = fragment(IP(**ip)/TCP(sport=1999, dport=P)/Raw(b'y' * 200), fragsize=48)
for f in frags[:5]:
    for i in range(n // 5):
        pkts.append(eth/f)
expect['iface.fragment'] += 5 * (n // 5)
sendp(pkts, iface=o['iface'])
print(json.dumps({'type': 'sent', 'total': len(pkts), 'expect': expect}), flush=True)
fz = [eth/fuzz(IP(**ip)/TCP(dport=P)) for _ in range(o['fuzz'])]
sendp(fz, iface=o['iface'])
print(json.dumps({'type': 'fuzzed', 'total': len(fz)}), flush=True)
`

describeRoot('garbage from the wire (root, namespace lab)', () => {
  itRoot('a userland listener keeps serving a kernel client through malformed frames and counts each one', async () => {
    requireBuilt('dist/lab/stack/iface.js', 'dist/net/capdev.js', 'dist/net/packet.js')
    await withLab(async (lab) => {
      const me = { iface: lab.a.iface, mac: lab.a.owned.mac, local: lab.a.owned.ipv4 }
      const listener = hostileChild(lab, 'a', 'stack.mjs', { via: 'pcap', ...me, port: PORT, backlog: 16, synCookies: true, app: 'echo', timeoutMs: 170_000 })
      await listener.out.json('ready')
      const stats = async (): Promise<Stats> => {
        listener.send('stats')
        return listener.out.json<Stats>('stats')
      }

      const client = hostileChild(lab, 'b', 'kpeer.mjs', { mode: 'echo-loop', host: me.local, port: PORT, text: 'still there? 你好', timeoutMs: 170_000 })
      await client.out.json('connected')
      const rounds = async (): Promise<number> => {
        client.send('count')
        const c = await client.out.json<{ rounds: number; errors: number }>('count')
        expect(c.errors).toBe(0)
        return c.rounds
      }
      /** Waits until the kernel client completed `n` more echo rounds (a stalled listener times the test out). */
      const served = async (n: number): Promise<number> => {
        const start = await rounds()
        for (let i = 0; i < 6000; i++) {
          const r = await rounds()
          if (r >= start + n) return r
          await new Promise((res) => setTimeout(res, 5))
        }
        throw new Error(`the kernel client got no ${n} echoes in 30 s (stuck at ${await rounds()})`)
      }
      await served(20)

      const sender = { iface: lab.b.iface, srcMac: lab.b.mac, dstMac: me.mac, srcIp: lab.b.ipv4, dstIp: me.local, port: PORT }

      /**
       * At each checkpoint of a garbage child: wait until the listener has counted every frame sent so far
       * (so no more than one checkpoint's worth is ever queued in its capture buffer: nothing is lost to
       * an overflow however slow the machine), and until the kernel client got 10 more echoes.
       */
      const pace = async (g: LabChild, checkpoints: number, base: Stats): Promise<void> => {
        for (let k = 0; k < checkpoints - 1; k++) {
          const { sent } = await g.out.json<{ sent: number }>('checkpoint')
          for (let i = 0; badTotal(await stats()) - badTotal(base) < sent; i++) {
            if (i > 10_000) throw new Error(`the listener counted ${badTotal(await stats()) - badTotal(base)} of ${sent} frames sent`)
            await new Promise((res) => setTimeout(res, 2))
          }
          await served(10)
          g.send('go')
        }
      }

      // 1. Our kinds, each with an exact counter; the client must be served at every checkpoint.
      const s0 = await stats()
      const CHECKPOINTS = EXACT_FRAMES / 1000
      const g = hostileChild(lab, 'b', 'garbage.mjs', { ...sender, count: EXACT_FRAMES, seed: 7, checkpoints: CHECKPOINTS })
      await pace(g, CHECKPOINTS, s0)
      const sent = await g.out.json<{ total: number; sendErrors: number; expect: Record<string, number>; byKind: Record<string, number> }>('sent')
      expect(await exitOf(g.child)).toEqual({ code: 0, signal: null })
      expect(sent.total).toBe(EXACT_FRAMES)
      expect(sent.sendErrors).toBe(0)
      await served(20)
      const s1 = await stats()
      expect(s1.eth.dropped, 'frames lost before the listener saw them').toBe(0)
      const got: Record<string, number> = {}
      for (const key of Object.keys(sent.expect)) got[key] = counter(s1, key) - counter(s0, key)
      // The kernel's own IPv6 multicast (MLD, ND) may land in device.foreign too: a little slack there.
      expect(got['device.foreign'] - sent.expect['device.foreign']).toBeGreaterThanOrEqual(0)
      expect(got['device.foreign'] - sent.expect['device.foreign']).toBeLessThanOrEqual(20)
      expect({ ...got, 'device.foreign': 0 }).toEqual({ ...sent.expect, 'device.foreign': 0 })
      // Closed-port SYNs were answered with RST, the stray ACKs too (a cookie that is not ours).
      expect(s1.iface.resetsSent - s0.iface.resetsSent).toBe(sent.expect['iface.closed-port'] + sent.expect['listener.cookiesRejected'])

      // 2. Random frames: every one of them lands in some counter.
      const r = hostileChild(lab, 'b', 'garbage.mjs', { ...sender, count: RANDOM_FRAMES, seed: 11, kinds: ['random-ipv4', 'random-ethertype'], checkpoints: RANDOM_FRAMES / 1000 })
      await pace(r, RANDOM_FRAMES / 1000, s1)
      await r.out.json('sent')
      expect(await exitOf(r.child)).toEqual({ code: 0, signal: null })
      await served(20)
      const s2 = await stats()
      expect(badTotal(s2) - badTotal(s1)).toBeGreaterThanOrEqual(RANDOM_FRAMES)
      expect(badTotal(s2) - badTotal(s1)).toBeLessThanOrEqual(RANDOM_FRAMES + 20)

      // 3. Scapy's malformed packets (exact counters), then scapy's fuzz() of IP/TCP.
      const each = 100
      const py = labChild(lab, 'b', [PY, '-c', SCAPY, JSON.stringify({ ...sender, each, fuzz: 1000 })])
      const scapySent = await py.out.json<{ total: number; expect: Record<string, number> }>('sent')
      await served(10)
      const s3 = await stats()
      const gotScapy: Record<string, number> = {}
      for (const key of Object.keys(scapySent.expect)) gotScapy[key] = counter(s3, key) - counter(s2, key)
      expect(gotScapy).toEqual(scapySent.expect)
      const fuzzed = await py.out.json<{ total: number }>('fuzzed')
      expect(await exitOf(py.child)).toEqual({ code: 0, signal: null })
      await served(20)
      const s4 = await stats()
      // fuzz() may make a valid SYN now and then (the listener answers it), so count what reached it at all.
      expect(s4.eth.received - s3.eth.received).toBeGreaterThanOrEqual(fuzzed.total)

      // After the storm: the long-lived connection still echoes, and a new one opens and echoes.
      await served(50)
      const fresh = hostileChild(lab, 'b', 'kpeer.mjs', { mode: 'connect-echo', host: me.local, port: PORT, text: 'a new connection after the storm' })
      expect(await fresh.out.json('result')).toMatchObject({ ok: true, got: 'a new connection after the storm' })
      client.send('stop')
      const res = await client.out.json<{ rounds: number; errors: string[] }>('result')
      expect(res.errors).toEqual([])
      expect(res.rounds).toBeGreaterThan(200)

      listener.send('done')
      await listener.out.json('end')
      expect(await exitOf(listener.child)).toEqual({ code: 0, signal: null })
      // Counted, never thrown: nothing at all on stderr, no fatal line.
      expect(listener.out.errors).toBe('')
      const total = sent.total + RANDOM_FRAMES + scapySent.total + fuzzed.total
      console.log(
        `[issue7] garbage: ${total} bad frames (${sent.total} ours in ${Object.keys(sent.byKind).length} kinds, ${RANDOM_FRAMES} random, ` +
          `${scapySent.total} scapy, ${fuzzed.total} scapy fuzz); echo rounds served meanwhile ${res.rounds}; ` +
          `counters ${JSON.stringify({ device: s4.device, arp: s4.arp, drops: s4.iface.drops, listener: s4.listener })}`,
      )
    })
  }, 180_000)
})
