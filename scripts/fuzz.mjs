#!/usr/bin/env node
// `npm run fuzz`: every decoder tcplab runs on untrusted bytes gets random and mutated inputs (issue 7,
// item 1). The only outcomes allowed are a decoded value or a WireError with a stable code; anything else
// (a TypeError, a RangeError from a DataView, a hang) is a bug. Prints counts per decoder and outcome and
// exits 1 on any other throw or broken invariant. Imports the compiled code: run `npm run build` first.
//
//   node scripts/fuzz.mjs [--count N] [--seed S] [--only ethernet,tcp,…] [--json] [--self-test] [--full]
//
// --count     inputs per decoder (default 1,000,000)
// --seed      PRNG seed (default 1): the same seed gives the same inputs, so a failure can be replayed
// --only      a comma-separated subset of the decoders
// --json      one JSON object on stdout instead of the table
// --self-test adds a decoder that throws a TypeError on some inputs, to show that the script catches it
// --full      afterwards runs the hostile suite at full size: LAB_FULL=1 vitest run test/hostile
//
// Inputs: a quarter are random bytes (lengths biased to the sizes the decoder cares about); the rest are
// valid packets built with tcplab's own emitters (and the captures in test/fixtures) put through 1..6
// mutations: bit flips, bytes stamped with 0x00/0x01/0x7f/0x80/0xff, 16- and 32-bit length fields set to
// extremes (0, 1, the real length ±1, 0x7fff, 0xffff, 0xffffffff…), truncation, extension, insertion and
// duplication of a range. The pcap reader also gets its input in random chunks (records straddle them).
import { spawnSync } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const dist = (p) => import(join(root, 'dist', p))

let tcplab
try {
  tcplab = {
    errors: await dist('tcp/errors.js'),
    segment: await dist('tcp/segment.js'),
    options: await dist('tcp/options.js'),
    ethernet: await dist('net/ethernet.js'),
    arp: await dist('net/arp.js'),
    ipv4: await dist('net/ipv4.js'),
    ipv6: await dist('net/ipv6.js'),
    packet: await dist('net/packet.js'),
    pcap: await dist('net/pcap.js'),
    prng: await dist('net/prng.js'),
  }
} catch (e) {
  process.stderr.write(`fuzz: cannot load dist/ (${String(e?.message ?? e).split('\n')[0]}): run \`npm run build\` first\n`)
  process.exit(2)
}
const { WireError } = tcplab.errors

// ------------------------------------------------------------------------------------------ arguments

function parseArgs(argv) {
  const o = { count: 1_000_000, seed: 1, only: undefined, json: false, selfTest: false, full: false }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const val = () => {
      const v = argv[++i]
      if (v === undefined) usage(`${a} needs a value`)
      return v
    }
    if (a === '--count') o.count = Number(val())
    else if (a === '--seed') o.seed = Number(val())
    else if (a === '--only') o.only = val().split(',').filter(Boolean)
    else if (a === '--json') o.json = true
    else if (a === '--self-test') o.selfTest = true
    else if (a === '--full') o.full = true
    else if (a === '--help' || a === '-h') {
      process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1, 20).map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n')
      process.exit(0)
    } else usage(`unknown argument '${a}'`)
  }
  if (!Number.isSafeInteger(o.count) || o.count < 1) usage('--count must be a positive integer')
  if (!Number.isSafeInteger(o.seed)) usage('--seed must be an integer')
  return o
}

function usage(msg) {
  process.stderr.write(`fuzz: ${msg} (see --help)\n`)
  process.exit(2)
}

const opts = parseArgs(process.argv.slice(2))

// ------------------------------------------------------------------------------------------ randomness

/** The project's mulberry32 (dist/net/prng.js), with the draws the mutators use. */
function prng(seed) {
  const u32 = tcplab.prng.mulberry32(seed).nextU32
  return { u32, int: (n) => (u32() % n) >>> 0, chance: (p) => u32() < p * 4294967296 }
}

const EXTREME8 = [0x00, 0x01, 0x02, 0x04, 0x05, 0x0f, 0x10, 0x3f, 0x40, 0x7f, 0x80, 0xfe, 0xff]
const EXTREME16 = [0x0000, 0x0001, 0x0002, 0x0014, 0x0028, 0x003c, 0x7fff, 0x8000, 0xfffe, 0xffff]
const EXTREME32 = [0, 1, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 0x0a0d0d0a, 0x1a2b3c4d, 0x4d3c2b1a, 0xa1b2c3d4, 0xd4c3b2a1]

/**
 * One mutated copy of `seed`: 1..6 operations, length fields preferred from `fields` (byte offsets of the
 * decoder's length and type fields: [offset, width]).
 */
function mutate(r, seed, fields) {
  let b = Uint8Array.from(seed)
  const ops = 1 + r.int(6)
  for (let k = 0; k < ops; k++) {
    const op = r.int(10)
    if (b.length === 0 && op < 7) {
      b = randomBytes(r, 1 + r.int(64))
      continue
    }
    switch (op) {
      case 0:
      case 1: {
        const flips = 1 + r.int(4)
        for (let j = 0; j < flips; j++) b[r.int(b.length)] ^= 1 << r.int(8)
        break
      }
      case 2:
        b[r.int(b.length)] = EXTREME8[r.int(EXTREME8.length)]
        break
      case 3:
      case 4: {
        // A length or type field set to an extreme, or to the real length ±1.
        const f = fields.length > 0 && r.int(4) !== 0 ? fields[r.int(fields.length)] : [r.int(b.length), [1, 2, 4][r.int(3)]]
        const [at, width] = f
        if (at + width > b.length) break
        if (width === 1) b[at] = EXTREME8[r.int(EXTREME8.length)]
        else if (width === 2) {
          const v = r.int(3) === 0 ? (b.length - at + r.int(3) - 1) & 0xffff : EXTREME16[r.int(EXTREME16.length)]
          b[at] = v >>> 8
          b[at + 1] = v & 0xff
        } else {
          const v = r.int(3) === 0 ? (b.length + r.int(9) - 4) >>> 0 : EXTREME32[r.int(EXTREME32.length)]
          // Either byte order: pcap files come in both.
          if (r.int(2) === 0) b.set([v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff], at)
          else b.set([v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24], at)
        }
        break
      }
      case 5:
      case 6:
        b = b.subarray(0, r.int(b.length + 1))
        break
      case 7: {
        const extra = randomBytes(r, 1 + r.int(r.int(4) === 0 ? 600 : 24))
        const g = new Uint8Array(b.length + extra.length)
        g.set(b)
        g.set(extra, b.length)
        b = g
        break
      }
      case 8: {
        // Insert random bytes in the middle (shifts every later field).
        const at = r.int(b.length + 1)
        const extra = randomBytes(r, 1 + r.int(8))
        const g = new Uint8Array(b.length + extra.length)
        g.set(b.subarray(0, at))
        g.set(extra, at)
        g.set(b.subarray(at), at + extra.length)
        b = g
        break
      }
      default: {
        // Duplicate a range at the end (repeated options, records, blocks).
        const s = r.int(b.length)
        const e = Math.min(b.length, s + 1 + r.int(64))
        const g = new Uint8Array(b.length + (e - s))
        g.set(b)
        g.set(b.subarray(s, e), b.length)
        b = g
      }
    }
  }
  // A fresh buffer of exactly the bytes, so a decoder reading past the end meets nothing but the end.
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b : b.slice()
}

function randomBytes(r, n) {
  const b = new Uint8Array(n)
  for (let i = 0; i < n; i += 4) {
    const v = r.u32()
    b[i] = v
    if (i + 1 < n) b[i + 1] = v >>> 8
    if (i + 2 < n) b[i + 2] = v >>> 16
    if (i + 3 < n) b[i + 3] = v >>> 24
  }
  return b
}

/** Random bytes whose length is biased to the decoder's interesting sizes. */
function randomInput(r, sizes) {
  const n = r.int(3) === 0 ? r.int(sizes[sizes.length - 1] + 1) : Math.max(0, sizes[r.int(sizes.length)] + r.int(9) - 4)
  return randomBytes(r, n)
}

// ------------------------------------------------------------------------------------------ seeds

const { segment, options: optionsMod, ethernet, arp, ipv4, ipv6, packet, pcap } = tcplab
const A4 = Uint8Array.of(198, 18, 0, 1)
const B4 = Uint8Array.of(198, 18, 0, 2)
const A6 = Uint8Array.from([0x20, 0x01, 0, 2, ...new Array(11).fill(0), 1])
const B6 = Uint8Array.from([0x20, 0x01, 0, 2, ...new Array(11).fill(0), 2])
const MAC_A = Uint8Array.of(2, 0x74, 0x6c, 0, 0, 1)
const MAC_B = Uint8Array.of(2, 0x74, 0x6c, 0, 0, 2)

const TCP_OPTIONS = [
  [],
  [{ kind: 'mss', value: 1460 }, { kind: 'sackPermitted' }, { kind: 'timestamp', value: 123456, echo: 0 }, { kind: 'nop' }, { kind: 'wscale', shift: 7 }],
  [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'timestamp', value: 0xfffffff0, echo: 77 }],
  [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks: [[1000, 2000], [3000, 4000], [5000, 6000]] }],
  [{ kind: 'unknown', type: 34, data: Uint8Array.of(1, 2, 3, 4, 5, 6) }, { kind: 'eol' }],
  [{ kind: 'mss', value: 536 }, { kind: 'nop' }, { kind: 'wscale', shift: 14 }, { kind: 'nop' }, { kind: 'nop' }, { kind: 'sackPermitted' }],
]

function tcpRepr(i, payloadLen) {
  return {
    srcPort: 40000 + i,
    dstPort: 80,
    seq: (0xfffff000 + i * 977) >>> 0,
    ack: (12345 * i) >>> 0,
    flags: [0x02, 0x12, 0x10, 0x18, 0x11, 0x04, 0x14, 0x29][i % 8],
    window: 65535 - i,
    urgent: i % 3 === 0 ? 3 : 0,
    options: TCP_OPTIONS[i % TCP_OPTIONS.length],
    payload: Uint8Array.from({ length: payloadLen }, (_, k) => (k * 31 + i) & 0xff),
  }
}

/** Whole IP packets (v4 and v6) carrying TCP segments with every option shape. */
function ipTcpSeeds() {
  const out = []
  for (let i = 0; i < 12; i++) {
    const v6 = i % 2 === 1
    const ip = v6 ? { src: A6, dst: B6, hopLimit: 64, flowLabel: i * 1000 } : { src: A4, dst: B4, ttl: 64, id: i + 1, dontFragment: i % 3 === 0 }
    out.push(packet.buildTcpPacket(ip, tcpRepr(i, [0, 1, 5, 100, 1000][i % 5])))
  }
  return out
}

function tcpSeeds() {
  const out = []
  for (let i = 0; i < 12; i++) {
    const repr = tcpRepr(i, [0, 1, 7, 200][i % 4])
    const n = segment.tcpLen(repr)
    const buf = new Uint8Array(n)
    segment.emitTcp(repr, buf, 0, { src: A4, dst: B4 })
    out.push(buf)
  }
  return out
}

function optionSeeds() {
  const out = []
  for (const o of TCP_OPTIONS) {
    const n = optionsMod.optionsLen(o)
    const buf = new Uint8Array(n)
    optionsMod.emitOptions(o, buf, 0)
    out.push(buf)
  }
  out.push(Uint8Array.of(1, 1, 1, 0), Uint8Array.of(2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7))
  return out
}

function ipv4Seeds() {
  const out = ipTcpSeeds().filter((p) => p[0] >> 4 === 4)
  // IPv4 options (record route, a NOP, end of list) on UDP; ICMP; a first fragment and a later one.
  const shapes = [
    [17, Uint8Array.of(7, 7, 4, 0, 0, 0, 0, 1, 0, 0, 0, 0), {}],
    [1, new Uint8Array(0), {}],
    [6, new Uint8Array(0), { moreFragments: true }],
    [6, Uint8Array.of(1, 1, 1, 0), { fragmentOffset: 185 }],
  ]
  for (const [protocol, options, extra] of shapes) {
    const repr = { src: A4, dst: B4, protocol, ttl: 64, id: 9, dscp: 0, ecn: 0, dontFragment: false, moreFragments: false, fragmentOffset: 0, options, payload: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), ...extra }
    const buf = new Uint8Array(ipv4.ipv4Len(repr))
    ipv4.emitIpv4(repr, buf, 0)
    out.push(buf)
  }
  return out
}

function ipv6Seeds() {
  const out = ipTcpSeeds().filter((p) => p[0] >> 4 === 6)
  // Hop-by-hop (PadN) → routing (type 0, 1 address) → fragment → TCP; and ESP, no-next-header.
  const hop = Uint8Array.of(43, 0, 1, 4, 0, 0, 0, 0)
  const routing = Uint8Array.of(44, 2, 0, 0, 0, 0, 0, 0, ...B6)
  const frag = Uint8Array.of(6, 0, 0, 0, 0, 0, 0, 42)
  for (const [nextHeader, ext] of [[0, concat(hop, routing, frag)], [44, Uint8Array.of(6, 0, 0, 9, 0, 0, 0, 1)], [50, new Uint8Array(0)], [59, new Uint8Array(0)], [60, Uint8Array.of(6, 0, 1, 4, 0, 0, 0, 0)]]) {
    const repr = { src: A6, dst: B6, trafficClass: 0, flowLabel: 5, hopLimit: 64, nextHeader, extensions: ext, payload: tcpSeeds()[2] }
    const buf = new Uint8Array(ipv6.ipv6Len(repr))
    ipv6.emitIpv6(repr, buf, 0)
    out.push(buf)
  }
  return out
}

function concat(...parts) {
  const n = parts.reduce((s, p) => s + p.length, 0)
  const out = new Uint8Array(n)
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}

function arpSeeds() {
  const out = []
  for (const op of [1, 2, 3]) {
    const buf = new Uint8Array(arp.arpLen())
    arp.emitArp({ op, senderMac: MAC_A, senderIp: A4, targetMac: op === 1 ? new Uint8Array(6) : MAC_B, targetIp: B4 }, buf, 0)
    out.push(buf)
  }
  return out
}

function ethernetSeeds() {
  const out = []
  const payloads = [...ipTcpSeeds().slice(0, 4), arpSeeds()[0]]
  for (let i = 0; i < payloads.length; i++) {
    const p = payloads[i]
    const etherType = p.length === 28 ? 0x0806 : p[0] >> 4 === 6 ? 0x86dd : 0x0800
    for (const vlan of [undefined, { pcp: 3, dei: true, id: 42 }, { tpid: 0x88a8, pcp: 0, dei: false, id: 4095 }]) {
      const repr = { dst: i === 4 ? new Uint8Array(6).fill(0xff) : MAC_B, src: MAC_A, etherType, payload: p, ...(vlan ? { vlan } : {}) }
      const buf = new Uint8Array(ethernet.ethernetLen(repr))
      ethernet.emitEthernet(repr, buf, 0)
      out.push(buf)
    }
  }
  return out
}

/** Classic pcap in both byte orders and resolutions, a hand-built pcapng, and the tool-made fixtures. */
function pcapSeeds() {
  const out = []
  const frames = [...ethernetSeeds().slice(0, 3), ipTcpSeeds()[0]]
  for (const [bigEndian, nanosecond, linkType] of [[false, false, 1], [true, true, 1], [false, true, 101], [true, false, 276]]) {
    const chunks = []
    const w = new pcap.PcapWriter((c) => chunks.push(c.slice()), { linkType, bigEndian, nanosecond, snaplen: 1500 })
    for (let i = 0; i < 3; i++) w.write(frames[i], 1_700_000_000_123_456_789n + BigInt(i))
    out.push(concat(...chunks))
  }
  out.push(pcapngSeed(frames))
  const dir = join(root, 'test', 'fixtures')
  for (const f of readdirSync(dir)) if (/\.pcap(ng)?$/.test(f)) out.push(new Uint8Array(readFileSync(join(dir, f))))
  return out
}

/** SHB, IDB (if_tsresol 9, if_tsoffset), EPB, SPB, an unknown block and an ISB-like block: pcapng in LE. */
function pcapngSeed(frames) {
  const blocks = []
  const block = (type, body) => {
    const pad = (4 - (body.length % 4)) % 4
    const total = 12 + body.length + pad
    const b = new Uint8Array(total)
    const v = new DataView(b.buffer)
    v.setUint32(0, type, true)
    v.setUint32(4, total, true)
    b.set(body, 8)
    v.setUint32(total - 4, total, true)
    blocks.push(b)
  }
  const le32 = (...xs) => {
    const b = new Uint8Array(xs.length * 4)
    const v = new DataView(b.buffer)
    xs.forEach((x, i) => v.setUint32(i * 4, x >>> 0, true))
    return b
  }
  // SHB: byte-order magic, version 1.0, section length -1.
  block(0x0a0d0d0a, concat(le32(0x1a2b3c4d), Uint8Array.of(1, 0, 0, 0), le32(0xffffffff, 0xffffffff)))
  // IDB: link type 1, snaplen 65535, options if_tsresol=9 (code 9), if_tsoffset=1 (code 14), end.
  block(0x00000001, concat(Uint8Array.of(1, 0, 0, 0), le32(65535), Uint8Array.of(9, 0, 1, 0, 9, 0, 0, 0, 14, 0, 8, 0), le32(1, 0), Uint8Array.of(0, 0, 0, 0)))
  // EPB: interface 0, timestamp, caplen, origlen, data.
  block(0x00000006, concat(le32(0, 0x17, 0x2b2c3d4e, frames[0].length, frames[0].length + 10), frames[0]))
  // SPB: origlen, data.
  block(0x00000003, concat(le32(frames[1].length), frames[1]))
  // An unknown block and a name resolution block: skipped.
  block(0x00000bad, Uint8Array.of(1, 2, 3, 4, 5))
  block(0x00000004, Uint8Array.of(0, 0, 0, 0))
  return concat(...blocks)
}

// ------------------------------------------------------------------------------------------ decoders

/** A payload subarray must be a view into the input (parsing never copies payload bytes). */
function viewOf(input, part, what) {
  if (part === undefined) return undefined
  if (part.buffer !== input.buffer) return `${what} is a copy, not a view of the input`
  const start = part.byteOffset - input.byteOffset
  if (start < 0 || start + part.length > input.length) return `${what} lies outside the input`
  return undefined
}

const PSEUDO = { src: A4, dst: B4 }

/** Each decoder: name, seeds, length fields to aim at, random sizes, and the call (sync or async). */
const DECODERS = [
  {
    name: 'ethernet',
    seeds: ethernetSeeds(),
    fields: [[12, 2], [14, 2], [16, 2], [18, 1], [20, 2]],
    sizes: [0, 13, 14, 17, 18, 60, 1514],
    decode: (b) => viewOf(b, ethernet.parseEthernet(b).payload, 'Ethernet payload'),
  },
  {
    name: 'arp',
    seeds: arpSeeds(),
    fields: [[0, 2], [2, 2], [4, 1], [5, 1], [6, 2]],
    sizes: [0, 27, 28, 46],
    decode: (b) => {
      arp.parseArp(b)
    },
  },
  {
    name: 'ipv4',
    seeds: ipv4Seeds(),
    fields: [[0, 1], [2, 2], [6, 2], [9, 1], [10, 2], [20, 1], [21, 1], [32, 1]],
    sizes: [0, 19, 20, 24, 60, 64, 1500],
    decode: (b) => viewOf(b, ipv4.parseIpv4(b).payload, 'IPv4 payload'),
  },
  {
    name: 'ipv6',
    seeds: ipv6Seeds(),
    fields: [[0, 1], [4, 2], [6, 1], [40, 1], [41, 1], [42, 2], [48, 1], [49, 1], [56, 1], [57, 1], [82, 1], [83, 1]],
    sizes: [0, 39, 40, 48, 100, 1500],
    decode: (b) => viewOf(b, ipv6.parseIpv6(b).payload, 'IPv6 payload'),
  },
  {
    name: 'tcp',
    seeds: tcpSeeds(),
    fields: [[12, 1], [13, 1], [16, 2], [20, 1], [21, 1], [22, 1], [23, 1], [24, 1], [25, 1], [26, 1], [32, 1], [33, 1]],
    sizes: [0, 19, 20, 24, 40, 60, 1480],
    decode: (b) => {
      const t = segment.parseTcp(b, PSEUDO)
      const bad = viewOf(b, t.payload, 'TCP payload')
      if (bad) return bad
      for (const o of t.options) if (o.kind === 'unknown') return viewOf(b, o.data, 'unknown option data')
      return undefined
    },
  },
  {
    name: 'tcp-options',
    seeds: optionSeeds(),
    fields: [[0, 1], [1, 1], [2, 1], [3, 1], [4, 1], [5, 1], [8, 1], [9, 1], [12, 1], [13, 1]],
    sizes: [0, 1, 2, 4, 10, 20, 40, 44],
    decode: (b) => {
      for (const o of optionsMod.parseOptions(b)) if (o.kind === 'unknown') return viewOf(b, o.data, 'unknown option data')
      return undefined
    },
  },
  {
    name: 'pcap',
    seeds: pcapSeeds(),
    fields: [[0, 4], [4, 2], [4, 4], [8, 4], [12, 4], [16, 4], [20, 4], [24, 4], [28, 4], [32, 4], [36, 4], [40, 4], [44, 4], [48, 4], [52, 4], [60, 4], [64, 4], [72, 4]],
    sizes: [0, 3, 4, 23, 24, 40, 100, 600],
    async: true,
    decode: async (b, r) => {
      // Whole, or in random chunks so records and blocks straddle chunk boundaries.
      let src = b
      if (r.int(2) === 0 && b.length > 1) {
        const chunks = []
        for (let o = 0; o < b.length; ) {
          const n = 1 + r.int(Math.min(64, b.length - o))
          chunks.push(b.subarray(o, o + n))
          o += n
        }
        src = chunks
      }
      for await (const p of pcap.readCapture(src, { maxPacketBytes: 65536 })) {
        if (!(p.data instanceof Uint8Array) || p.data.length > 65536) return 'a packet larger than maxPacketBytes'
        if (typeof p.timestampNs !== 'bigint') return 'timestamp is not a bigint'
      }
      return undefined
    },
  },
  {
    // The whole receive path of a capture device: Ethernet, ARP or IP, then TCP with its checksum.
    name: 'frame',
    seeds: ethernetSeeds(),
    fields: [[12, 2], [14, 1], [16, 2], [20, 2], [23, 1], [26, 1], [46, 1], [47, 1], [54, 1]],
    sizes: [0, 14, 34, 54, 60, 1514],
    decode: (b) => {
      const d = packet.decodeEthernet(b)
      return viewOf(b, d.tcp?.payload, 'TCP payload')
    },
  },
]

if (opts.selfTest) {
  DECODERS.push({
    name: 'self-test',
    seeds: ipTcpSeeds(),
    fields: [[0, 1]],
    sizes: [0, 20],
    decode: (b) => {
      // A decoder with a bug: reads a field past a length it never checked.
      if (b.length > 0 && b[0] === 0x45 && b.length < 40) return new DataView(b.buffer, b.byteOffset, b.length).getUint32(36)
      return undefined
    },
  })
}

// ------------------------------------------------------------------------------------------ run

const selected = opts.only ? DECODERS.filter((d) => opts.only.includes(d.name)) : DECODERS
if (opts.only) {
  const unknown = opts.only.filter((n) => !DECODERS.some((d) => d.name === n))
  if (unknown.length > 0) usage(`unknown decoder(s) ${unknown.join(', ')}; known: ${DECODERS.map((d) => d.name).join(', ')}`)
}

const toHex = (b) => Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex')
const results = []
const started = performance.now()
for (const d of selected) {
  const r = prng((opts.seed * 0x9e3779b1 + fnv(d.name)) >>> 0)
  const res = { decoder: d.name, inputs: 0, random: 0, mutated: 0, decoded: 0, wireErrors: 0, codes: {}, other: 0, invariant: 0, samples: [], ms: 0 }
  const t0 = performance.now()
  for (let i = 0; i < opts.count; i++) {
    const fromSeed = d.seeds.length > 0 && r.int(4) !== 0
    const input = fromSeed ? mutate(r, d.seeds[r.int(d.seeds.length)], d.fields) : randomInput(r, d.sizes)
    if (fromSeed) res.mutated++
    else res.random++
    res.inputs++
    try {
      const bad = d.async ? await d.decode(input, r) : d.decode(input, r)
      if (typeof bad === 'string') {
        res.invariant++
        if (res.samples.length < 5) res.samples.push({ input: toHex(input), problem: bad })
      } else res.decoded++
    } catch (e) {
      if (e instanceof WireError && /^[A-Z0-9_]+$/.test(e.code)) {
        res.wireErrors++
        res.codes[e.code] = (res.codes[e.code] ?? 0) + 1
      } else {
        res.other++
        const what = e instanceof Error ? `${e.name}: ${e.message}` : String(e)
        res.codes[`other ${e?.name ?? typeof e}`] = (res.codes[`other ${e?.name ?? typeof e}`] ?? 0) + 1
        if (res.samples.length < 5) res.samples.push({ input: toHex(input), problem: what, stack: String(e?.stack ?? '').split('\n').slice(0, 4).join('\n') })
      }
    }
  }
  res.ms = Math.round(performance.now() - t0)
  results.push(res)
  if (!opts.json) printOne(res)
}

function fnv(s) {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  return h >>> 0
}

function printOne(res) {
  const n = (x) => x.toLocaleString('en-US')
  process.stdout.write(
    `${res.decoder.padEnd(12)} ${n(res.inputs).padStart(10)} inputs (${n(res.random)} random, ${n(res.mutated)} mutated): ` +
      `${n(res.decoded)} decoded, ${n(res.wireErrors)} WireError, ${n(res.other)} other, ${n(res.invariant)} broken invariant, ${(res.ms / 1000).toFixed(1)} s\n`,
  )
  const codes = Object.entries(res.codes).sort((a, b) => b[1] - a[1])
  process.stdout.write(`${''.padEnd(13)}${codes.map(([c, k]) => `${c} ${n(k)}`).join(', ')}\n`)
  for (const s of res.samples) process.stdout.write(`  FAIL ${s.problem}\n    input ${s.input}\n${s.stack ? `    ${s.stack.replace(/\n/g, '\n    ')}\n` : ''}`)
}

const failed = results.filter((x) => x.other > 0 || x.invariant > 0)
const totalMs = Math.round(performance.now() - started)
if (opts.json) {
  process.stdout.write(`${JSON.stringify({ seed: opts.seed, count: opts.count, ms: totalMs, ok: failed.length === 0, results })}\n`)
} else {
  const total = results.reduce((s, x) => s + x.inputs, 0)
  process.stdout.write(
    `${total.toLocaleString('en-US')} inputs to ${results.length} decoders in ${(totalMs / 1000).toFixed(1)} s (seed ${opts.seed}): ` +
      (failed.length === 0 ? 'every outcome was a decoded value or a WireError\n' : `FAILED in ${failed.map((x) => x.decoder).join(', ')}\n`),
  )
}
if (failed.length > 0) process.exit(1)

if (opts.full) {
  process.stdout.write('\nfull-size hostile suite: LAB_FULL=1 vitest run test/hostile\n')
  const r = spawnSync(join(root, 'node_modules', '.bin', 'vitest'), ['run', 'test/hostile'], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, LAB_FULL: '1' },
  })
  process.exit(r.status ?? 1)
}
