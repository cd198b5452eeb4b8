// Malformed frames, crafted with tcplab's own codecs, injected with libpcap from one side of a lab at a
// userland listener on the other (test/hostile/garbage.test.ts). Every kind is built so that exactly one
// counter of the listener must count it; `KINDS` below names that counter. Frames go out in paced batches
// so the listener's capture buffer never overflows (a lost frame would be a wrong count, not a finding).
//   node garbage.mjs '<json>'   {iface, srcMac, dstMac, srcIp, dstIp, port, count, seed, kinds?}
// `kinds` picks which kinds to send (round robin); default every kind with an exact counter.
// Prints {type:'sent', total, byKind, expect} when done.
import { createInterface } from 'node:readline'
import { openCapDevice } from '../../dist/net/capdev.js'
import { parseIp, parseMac } from '../../dist/net/addr.js'
import { emitEthernet } from '../../dist/net/ethernet.js'
import { buildTcpPacket } from '../../dist/net/packet.js'
import { mulberry32 } from '../../dist/net/prng.js'
import { emitIpv4, ipv4Len } from '../../dist/net/ipv4.js'
import { finishChecksum, onesSum, pseudoHeaderSum } from '../../dist/tcp/checksum.js'

const o = JSON.parse(process.argv[2])
const emit = (v) => process.stdout.write(`${JSON.stringify(v)}\n`)
const src = parseIp(o.srcIp)
const dst = parseIp(o.dstIp)
const srcMac = parseMac(o.srcMac)
const dstMac = parseMac(o.dstMac)

const rnd = mulberry32(o.seed).nextU32
const randomBytes = (n) => Uint8Array.from({ length: n }, () => rnd() & 0xff)

function frame(etherType, payload, to = dstMac) {
  const repr = { dst: to, src: srcMac, etherType, payload }
  const buf = new Uint8Array(14 + payload.length)
  emitEthernet(repr, buf, 0)
  return buf
}

/** A TCP/IPv4 packet from us to the listener; low source ports so no reply ever hits the real client. */
function tcp(i, fields = {}, ip = {}, checksum = 'compute') {
  return buildTcpPacket(
    { src, dst, ttl: 64, id: i & 0xffff, ...ip },
    {
      srcPort: 1024 + (i % 1000), dstPort: o.port, seq: (i * 7919) >>> 0, ack: (i * 104729) >>> 0, flags: 0x02,
      window: 1024, urgent: 0, options: [], payload: new Uint8Array(0), ...fields,
    },
    checksum,
  )
}

/** Recomputes the TCP checksum of an IPv4 packet whose header is 20 bytes (after editing the segment). */
function fixTcpChecksum(p) {
  const seg = p.subarray(20)
  seg[16] = 0
  seg[17] = 0
  const c = finishChecksum(onesSum(seg, 0, seg.length, pseudoHeaderSum(src, dst, 6, seg.length)))
  seg[16] = c >>> 8
  seg[17] = c & 0xff
  return p
}

function ipv4(i, fields) {
  const repr = {
    src, dst, protocol: 6, ttl: 64, id: i & 0xffff, dscp: 0, ecn: 0, dontFragment: false, moreFragments: false,
    fragmentOffset: 0, options: new Uint8Array(0), payload: new Uint8Array(20), ...fields,
  }
  const buf = new Uint8Array(ipv4Len(repr))
  emitIpv4(repr, buf, 0)
  return buf
}

/** Rewrites the IPv4 header checksum after editing header bytes (so only the intended fault is present). */
function fixIpChecksum(p) {
  const ihl = (p[0] & 15) * 4
  p[10] = 0
  p[11] = 0
  const c = finishChecksum(onesSum(p, 0, Math.min(ihl, p.length)))
  p[10] = c >>> 8
  p[11] = c & 0xff
  return p
}

/** kind → [builder, the listener counter that must count it exactly once]. */
const KINDS = {
  // Stopped by the IP-over-Ethernet layer (device counters).
  'ip-short': [(i) => frame(0x0800, tcp(i).subarray(0, 10 + (i % 9))), 'device.malformed'],
  'ip-version-5': [(i) => frame(0x0800, fixIpChecksum(Object.assign(tcp(i), { 0: 0x55 }))), 'device.malformed'],
  'ip-total-beyond-frame': [(i) => frame(0x0800, (() => { const p = tcp(i); p[2] = 0x03; p[3] = 0xe8; return fixIpChecksum(p) })()), 'device.malformed'],
  'ip-total-below-header': [(i) => frame(0x0800, (() => { const p = tcp(i); p[2] = 0; p[3] = 10 + (i % 10); return fixIpChecksum(p) })()), 'device.malformed'],
  'not-our-address': [(i) => frame(0x0800, buildTcpPacket({ src, dst: parseIp('198.18.0.99') }, { srcPort: 1024 + (i % 1000), dstPort: o.port, seq: i, ack: 0, flags: 2, window: 1, urgent: 0, options: [], payload: new Uint8Array(0) })), 'device.foreign'],
  'unknown-ethertype': [(i) => frame(0x88b5, randomBytes(46 + (i % 50))), 'device.foreign'],
  // Stopped by the interface's checks (iface.drops).
  'ip-ihl-below-5': [(i) => frame(0x0800, fixIpChecksum(Object.assign(tcp(i), { 0: 0x40 + (i % 5) }))), 'iface.malformed'],
  'ip-ihl-beyond-total': [(i) => frame(0x0800, (() => { const p = tcp(i); p[0] = 0x4f; p[2] = 0; p[3] = 40; return fixIpChecksum(p) })()), 'iface.malformed'],
  'ip-bad-checksum': [(i) => frame(0x0800, (() => { const p = tcp(i); p[10] ^= 0x5a; return p })()), 'iface.ip-checksum'],
  'udp': [(i) => frame(0x0800, ipv4(i, { protocol: 17, payload: randomBytes(8 + (i % 30)) })), 'iface.not-tcp'],
  'icmp': [(i) => frame(0x0800, ipv4(i, { protocol: 1, payload: randomBytes(8) })), 'iface.not-tcp'],
  'fragment-first': [(i) => frame(0x0800, ipv4(i, { moreFragments: true, payload: tcp(i).subarray(20) })), 'iface.fragment'],
  'fragment-later': [(i) => frame(0x0800, ipv4(i, { fragmentOffset: 1 + (i % 100), payload: randomBytes(16) })), 'iface.fragment'],
  'tcp-bad-checksum': [(i) => frame(0x0800, tcp(i, { payload: randomBytes(i % 40) }, {}, 'bad')), 'iface.tcp-checksum'],
  'tcp-shorter-than-header': [(i) => frame(0x0800, ipv4(i, { payload: tcp(i).subarray(20, 20 + (i % 20)) })), 'iface.malformed'],
  'tcp-data-offset-below-5': [(i) => frame(0x0800, fixTcpChecksum(Object.assign(tcp(i), { 32: (i % 5) << 4 }))), 'iface.malformed'],
  'tcp-data-offset-beyond-segment': [(i) => frame(0x0800, fixTcpChecksum(Object.assign(tcp(i), { 32: 0xf0 }))), 'iface.malformed'],
  'tcp-option-length-0-or-1': [(i) => frame(0x0800, fixTcpChecksum(Object.assign(tcp(i, { options: [{ kind: 'mss', value: 1460 }] }), { 41: i % 2 }))), 'iface.malformed'],
  'tcp-option-overrun': [(i) => frame(0x0800, fixTcpChecksum(Object.assign(tcp(i, { options: [{ kind: 'mss', value: 1460 }] }), { 41: 5 + (i % 40) }))), 'iface.malformed'],
  'tcp-sack-bad-length': [(i) => frame(0x0800, fixTcpChecksum(Object.assign(tcp(i, { flags: 0x10, options: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks: [[1, 2]] }] }), { 43: 9 }))), 'iface.malformed'],
  'port-zero': [(i) => frame(0x0800, tcp(i, { srcPort: 0 })), 'iface.bad-port'],
  'closed-port': [(i) => frame(0x0800, tcp(i, { dstPort: o.port + 1 })), 'iface.closed-port'],
  'listen-rst': [(i) => frame(0x0800, tcp(i, { flags: 0x04 })), 'iface.listener'],
  'listen-no-flags': [(i) => frame(0x0800, tcp(i, { flags: 0x00, payload: randomBytes(i % 20) })), 'iface.listener'],
  'listen-fin-only': [(i) => frame(0x0800, tcp(i, { flags: 0x01 })), 'iface.listener'],
  'listen-stray-ack': [(i) => frame(0x0800, tcp(i, { flags: 0x10 })), 'listener.cookiesRejected'],
  // ARP the agent must ignore.
  'arp-bad-htype': [(i) => frame(0x0806, Uint8Array.of(0, 7, 8, 0, 6, 4, 0, 1, ...srcMac, ...src, 0, 0, 0, 0, 0, 0, ...dst), new Uint8Array(6).fill(255)), 'arp.ignored'],
  'arp-truncated': [(i) => frame(0x0806, Uint8Array.of(0, 1, 8, 0, 6, 4, 0, 1, ...srcMac).subarray(0, 4 + (i % 10))), 'arp.ignored'],
  // Random bytes: counted somewhere, but no single counter is exact.
  'random-ipv4': [(i) => frame(0x0800, randomBytes(1 + (rnd() % 200))), 'random'],
  'random-ethertype': [(i) => frame(rnd() & 0xffff, randomBytes(rnd() % 200)), 'random'],
}

const names = o.kinds ?? Object.keys(KINDS).filter((k) => KINDS[k][1] !== 'random')
for (const n of names) if (KINDS[n] === undefined) throw new Error(`unknown kind ${n}`)
const frames = []
const byKind = Object.fromEntries(names.map((n) => [n, 0]))
for (let i = 0; i < o.count; i++) {
  const kind = names[i % names.length]
  const f = KINDS[kind][0](i)
  // The 14-byte minimum of the capture device: pad nothing else (padding would change what is malformed).
  frames.push(f.length >= 14 ? f : frame(0x0800, new Uint8Array(0)))
  byKind[kind]++
}
const expect = {}
for (const n of names) {
  const c = KINDS[n][1]
  expect[c] = (expect[c] ?? 0) + byKind[n]
}

// With `checkpoints: k`, after each k-th of the frames: print {type:'checkpoint', sent} and wait for "go"
// on stdin (the test checks that the real client is still being served in the middle of the storm).
const lines = []
let wake
createInterface({ input: process.stdin }).on('line', (l) => {
  lines.push(l.trim())
  wake?.()
})
const nextLine = async () => {
  while (lines.length === 0) await new Promise((r) => (wake = r))
  return lines.shift()
}

const dev = openCapDevice({ iface: o.iface, mac: o.srcMac, filter: 'less 1' })
const batch = o.batch ?? 250
const every = o.checkpoints ? Math.ceil(frames.length / o.checkpoints) : Infinity
let nextCheckpoint = every
for (let i = 0; i < frames.length; i += batch) {
  for (const f of frames.slice(i, i + batch)) dev.send(f)
  await new Promise((r) => setTimeout(r, o.pauseMs ?? 3))
  if (i + batch >= nextCheckpoint && i + batch < frames.length) {
    nextCheckpoint += every
    emit({ type: 'checkpoint', sent: i + batch })
    while ((await nextLine()) !== 'go');
  }
}
const st = dev.stats()
dev.close()
process.stdin.destroy()
emit({ type: 'sent', total: frames.length, sendErrors: st.sendErrors, byKind, expect })
