import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  LINKTYPE_ETHERNET,
  LINKTYPE_IPV4,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_LINUX_SLL2,
  LINKTYPE_NULL,
  LINKTYPE_RAW,
  LINKTYPE_IPV6,
  PcapWriter,
  readCapture,
  readCaptureFile,
  type CaptureSource,
  type PcapWriterOptions,
  type ReadCaptureOptions,
} from '../../src/net/pcap.js'
import { WireError, isWireError } from '../../src/tcp/errors.js'
import { fuzzInputs, hex, poisoned, POISON, refChecksum, toHex } from '../helpers/codecLaws.js'

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures')
const fixture = (name: string) => new Uint8Array(fs.readFileSync(path.join(FIXTURES, name)))

// ---- helpers ----

interface Got {
  linkType: number
  timestampNs: bigint
  data: string
  originalLength: number
  interfaceId: number
}

/** Reads everything, copying each packet (data is only valid until the next iteration); keeps the error. */
async function collect(source: CaptureSource, opts?: ReadCaptureOptions): Promise<{ packets: Got[]; error: unknown }> {
  const packets: Got[] = []
  try {
    for await (const p of readCapture(source, opts)) packets.push({ ...p, data: toHex(p.data) })
  } catch (error) {
    return { packets, error }
  }
  return { packets, error: undefined }
}

async function collectOk(source: CaptureSource, opts?: ReadCaptureOptions): Promise<Got[]> {
  const { packets, error } = await collect(source, opts)
  if (error !== undefined) throw error
  return packets
}

async function expectCode(source: CaptureSource, code: string, opts?: ReadCaptureOptions): Promise<Got[]> {
  const { packets, error } = await collect(source, opts)
  expect(error).toBeInstanceOf(WireError)
  expect((error as WireError).code).toBe(code)
  return packets
}

/** Separate copies of `bytes` cut into pieces whose sizes cycle through `sizes`, as a stream would deliver them. */
async function* chunked(bytes: Uint8Array, sizes: number[]): AsyncGenerator<Uint8Array> {
  for (let i = 0, k = 0; i < bytes.length; k++) {
    const n = sizes[k % sizes.length]
    yield bytes.slice(i, i + n)
    i += n
  }
}

/** Runs a PcapWriter into memory; each chunk is copied (the writer reuses its record header). */
function writePcap(opts: PcapWriterOptions, packets: { data: Uint8Array; ts: bigint; orig?: number }[]): Uint8Array {
  const parts: Uint8Array[] = []
  const w = new PcapWriter((c) => parts.push(c.slice()), opts)
  for (const p of packets) w.write(p.data, p.ts, p.orig)
  return new Uint8Array(Buffer.concat(parts))
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts))
}

// ---- hand-built packets (raw bytes, no other modules) ----


/** IPv4 + 20-byte TCP header, no payload; the TCP checksum is left 0 (tcpdump -nn and tshark don't need it). */
function ipTcp(src: number[], dst: number[], sport: number, dport: number, seq: number, ack: number, flags: number): Uint8Array {
  const b = new Uint8Array(40)
  b.set([0x45, 0x00, 0x00, 40, 0x00, 0x01, 0x40, 0x00, 64, 6, 0, 0], 0) // v4 IHL5, len 40, id 1, DF, TTL 64, TCP
  b.set(src, 12)
  b.set(dst, 16)
  const c = refChecksum(b, 0, 20)
  b[10] = c >>> 8
  b[11] = c & 0xff
  const t = new DataView(b.buffer, 20)
  t.setUint16(0, sport)
  t.setUint16(2, dport)
  t.setUint32(4, seq)
  t.setUint32(8, ack)
  t.setUint8(12, 5 << 4) // data offset 5 words
  t.setUint8(13, flags)
  t.setUint16(14, 65535) // window
  return b
}

const CLIENT = [192, 0, 2, 1]
const SERVER = [198, 51, 100, 2]
const SYN = ipTcp(CLIENT, SERVER, 40000, 80, 1000, 0, 0x02)
const SYNACK = ipTcp(SERVER, CLIENT, 80, 40000, 5000, 1001, 0x12)
const ETH_HEADER = hex(`
  02 00 00 00 00 02   # dst MAC
  02 00 00 00 00 01   # src MAC
  08 00               # EtherType IPv4
`)
const eth = (ip: Uint8Array) => concat(ETH_HEADER, ip)
const T0 = 1_700_000_000_123_456_789n

// ---- fixtures ----

/** What PcapWriter must write for two small Ethernet packets, µs, little-endian, snaplen 65535. */
const PCAP_LE_US = `
  d4 c3 b2 a1   # magic a1b2c3d4 (µs), little-endian
  02 00 04 00   # version 2.4
  00 00 00 00   # thiszone
  00 00 00 00   # sigfigs
  ff ff 00 00   # snaplen 65535
  01 00 00 00   # LINKTYPE_ETHERNET
  # record 1
  00 f1 53 65   # ts_sec 1700000000
  40 e2 01 00   # ts_usec 123456 (…789 ns truncated)
  04 00 00 00   # captured length 4
  3c 00 00 00   # original length 60
  00 11 22 33   # data
  # record 2
  01 f1 53 65   # ts_sec 1700000001
  00 00 00 00   # ts_usec 0 (999 ns truncated)
  00 00 00 00   # captured length 0
  00 00 00 00   # original length 0
`

/** The same packets, nanosecond magic, big-endian. */
const PCAP_BE_NS = `
  a1 b2 3c 4d   # magic a1b23c4d (ns), big-endian
  00 02 00 04   # version 2.4
  00 00 00 00   # thiszone
  00 00 00 00   # sigfigs
  00 00 ff ff   # snaplen 65535
  00 00 00 65   # LINKTYPE_RAW
  # record 1
  65 53 f1 00   # ts_sec 1700000000
  07 5b cd 15   # ts_nsec 123456789
  00 00 00 04   # captured length 4
  00 00 00 3c   # original length 60
  00 11 22 33   # data
  # record 2
  65 53 f1 01   # ts_sec 1700000001
  00 00 03 e7   # ts_nsec 999
  00 00 00 00   # captured length 0
  00 00 00 00   # original length 0
`

/**
 * A hand-built pcapng: a little-endian section with two interfaces (raw IP at 2^-3 s + 10 s offset,
 * Ethernet at picoseconds), EPB, EPB with options, SPB, an unknown block and an obsolete PB; then a
 * big-endian section whose one interface (Ethernet, default µs) restarts interface numbering.
 * Each entry: [annotated hex, packets in the block].
 */
const NG_BLOCKS: [string, number][] = [
  [`0a 0d 0d 0a   # SHB
    1c 00 00 00   # total length 28
    4d 3c 2b 1a   # byte-order magic: little-endian
    01 00 00 00   # version 1.0
    ff ff ff ff ff ff ff ff   # section length unknown
    1c 00 00 00   # trailing length`, 0],
  [`01 00 00 00   # IDB (interface 0)
    2c 00 00 00   # total length 44
    65 00 00 00   # LINKTYPE_RAW, reserved
    06 00 00 00   # snaplen 6
    09 00 01 00 83 00 00 00   # if_tsresol 0x83: 2^-3 s units
    0e 00 08 00 0a 00 00 00 00 00 00 00   # if_tsoffset +10 s
    00 00 00 00   # opt_endofopt
    2c 00 00 00`, 0],
  [`01 00 00 00   # IDB (interface 1)
    1c 00 00 00   # total length 28
    01 00 00 00   # LINKTYPE_ETHERNET, reserved
    ff ff 00 00   # snaplen 65535
    09 00 01 00 0c 00 00 00   # if_tsresol 12: picoseconds (no opt_endofopt: it is optional)
    1c 00 00 00`, 0],
  [`06 00 00 00   # EPB
    28 00 00 00   # total length 40
    00 00 00 00   # interface 0
    00 00 00 00   # timestamp high
    0b 00 00 00   # timestamp low: 11 × 1/8 s = 1.375 s
    05 00 00 00   # captured length 5
    3c 00 00 00   # original length 60
    01 02 03 04 05 00 00 00   # data + padding
    28 00 00 00`, 1],
  [`06 00 00 00   # EPB
    30 00 00 00   # total length 48
    01 00 00 00   # interface 1
    01 00 00 00   # timestamp high
    e8 03 00 00   # timestamp low: 2^32 + 1000 ps
    04 00 00 00   # captured length 4
    04 00 00 00   # original length 4
    aa bb cc dd   # data
    01 00 03 00 61 62 63 00   # opt_comment "abc"
    00 00 00 00   # opt_endofopt
    30 00 00 00`, 1],
  [`03 00 00 00   # SPB (interface 0)
    18 00 00 00   # total length 24
    08 00 00 00   # original length 8, cut to the snaplen 6
    11 22 33 44 55 66 00 00   # data + padding
    18 00 00 00`, 1],
  [`ad 0b 00 00   # unknown block type 0xbad: skipped
    10 00 00 00   # total length 16
    de ad be ef
    10 00 00 00`, 0],
  [`02 00 00 00   # obsolete Packet Block
    24 00 00 00   # total length 36
    01 00 00 00   # interface 1, drops count 0
    00 00 00 00   # timestamp high
    d0 07 00 00   # timestamp low: 2000 ps
    03 00 00 00   # captured length 3
    03 00 00 00   # original length 3
    c0 ff ee 00   # data + padding
    24 00 00 00`, 1],
  [`0a 0d 0d 0a   # SHB, second section
    00 00 00 1c   # total length 28 (big-endian)
    1a 2b 3c 4d   # byte-order magic: big-endian
    00 01 00 00   # version 1.0
    ff ff ff ff ff ff ff ff
    00 00 00 1c`, 0],
  [`00 00 00 01   # IDB (interface 0 of this section)
    00 00 00 14   # total length 20
    00 01 00 00   # LINKTYPE_ETHERNET
    00 00 00 00   # snaplen: no limit
    00 00 00 14`, 0],
  [`00 00 00 06   # EPB
    00 00 00 24   # total length 36
    00 00 00 00   # interface 0
    00 06 0a 24   # timestamp high
    18 20 22 40   # timestamp low: 1700000000123456 µs (default resolution)
    00 00 00 02   # captured length 2
    00 00 00 02   # original length 2
    be ef 00 00   # data + padding
    00 00 00 24`, 1],
]
const NG = concat(...NG_BLOCKS.map(([h]) => hex(h)))
const NG_PACKETS: Got[] = [
  { linkType: LINKTYPE_RAW, timestampNs: 11_375_000_000n, data: '0102030405', originalLength: 60, interfaceId: 0 },
  { linkType: LINKTYPE_ETHERNET, timestampNs: 4_294_968n, data: 'aabbccdd', originalLength: 4, interfaceId: 1 },
  { linkType: LINKTYPE_RAW, timestampNs: 0n, data: '112233445566', originalLength: 8, interfaceId: 0 },
  { linkType: LINKTYPE_ETHERNET, timestampNs: 2n, data: 'c0ffee', originalLength: 3, interfaceId: 1 },
  { linkType: LINKTYPE_ETHERNET, timestampNs: 1_700_000_000_123_456_000n, data: 'beef', originalLength: 2, interfaceId: 0 },
]

/** Byte offsets where a record or block ends, and how many packets are complete there. */
function ngBoundaries(): Map<number, number> {
  const m = new Map<number, number>()
  let off = 0
  let pkts = 0
  for (const [h, n] of NG_BLOCKS) {
    off += hex(h).length
    pkts += n
    m.set(off, pkts)
  }
  return m
}

/** Walks a little-endian single-byte-order pcapng (as dumpcap writes) for block ends. */
function leBlockBoundaries(b: Uint8Array): Map<number, number> {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength)
  const m = new Map<number, number>()
  let pkts = 0
  for (let off = 0; off < b.length; ) {
    const type = v.getUint32(off, true)
    off += v.getUint32(off + 4, true)
    if (type === 6) pkts++
    m.set(off, pkts)
  }
  return m
}

function pcapBoundaries(b: Uint8Array, le: boolean): Map<number, number> {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength)
  const m = new Map<number, number>([[24, 0]])
  let pkts = 0
  for (let off = 24; off < b.length; ) {
    off += 16 + v.getUint32(off + 8, le)
    m.set(off, ++pkts)
  }
  return m
}

// ---- tests ----

describe('PcapWriter', () => {
  const packets = [
    { data: hex('00 11 22 33'), ts: T0, orig: 60 },
    { data: new Uint8Array(0), ts: 1_700_000_001_000_000_999n },
  ]

  it('writes the file header and records byte for byte (µs, little-endian), touching nothing past them', () => {
    const want = hex(PCAP_LE_US)
    const buf = poisoned(want.length + 8)
    let at = 0
    const w = new PcapWriter(
      (c) => {
        buf.set(c, at)
        at += c.length
      },
      { linkType: LINKTYPE_ETHERNET, snaplen: 65535 },
    )
    for (const p of packets) w.write(p.data, p.ts, p.orig)
    expect(at).toBe(want.length)
    expect(toHex(buf.subarray(0, at))).toBe(toHex(want))
    expect([...buf.subarray(at)]).toEqual(new Array(8).fill(POISON))
  })

  it('writes nanosecond big-endian files byte for byte', () => {
    const out = writePcap({ linkType: LINKTYPE_RAW, snaplen: 65535, nanosecond: true, bigEndian: true }, packets)
    expect(toHex(out)).toBe(toHex(hex(PCAP_BE_NS)))
  })

  it('reuses one 16-byte record header and passes the caller data through uncopied', () => {
    const chunks: Uint8Array[] = []
    const w = new PcapWriter((c) => chunks.push(c), { linkType: LINKTYPE_RAW })
    w.write(SYN, T0)
    w.write(SYNACK, T0)
    expect(chunks.map((c) => c.length)).toEqual([24, 16, 40, 16, 40])
    expect(chunks[1]).toBe(chunks[3])
    expect(chunks[2]).toBe(SYN)
  })

  it('cuts packets at the snaplen and keeps the original length', async () => {
    const out = writePcap({ linkType: LINKTYPE_RAW, snaplen: 20 }, [{ data: SYN, ts: T0 }])
    expect(out.length).toBe(24 + 16 + 20)
    expect(await collectOk(out)).toEqual([
      { linkType: LINKTYPE_RAW, timestampNs: 1_700_000_000_123_456_000n, data: toHex(SYN.subarray(0, 20)), originalLength: 40, interfaceId: 0 },
    ])
  })

  it('rejects arguments a pcap cannot hold', () => {
    const bad = (f: () => unknown) => expect(f).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENT' }))
    const sink = () => {}
    bad(() => new PcapWriter(sink, { linkType: 0x10000 }))
    bad(() => new PcapWriter(sink, { linkType: -1 }))
    bad(() => new PcapWriter(sink, { linkType: 1, snaplen: 0 }))
    const w = new PcapWriter(sink, { linkType: 1 })
    bad(() => w.write(SYN, -1n))
    bad(() => w.write(SYN, 0x1_0000_0000n * 1_000_000_000n))
    bad(() => w.write(SYN, 0n, 39))
    w.write(SYN, 0x1_0000_0000n * 1_000_000_000n - 1n, 0xffffffff) // the largest values fit
  })

  it('toFile writes synchronously and close() is idempotent; a closed writer throws', () => {
    const file = path.join(os.tmpdir(), `tcplab-pcap-${process.pid}-tofile.pcap`)
    try {
      const w = PcapWriter.toFile(file, { linkType: LINKTYPE_ETHERNET, snaplen: 65535 })
      for (const p of packets) w.write(p.data, p.ts, p.orig)
      expect(toHex(new Uint8Array(fs.readFileSync(file)))).toBe(toHex(hex(PCAP_LE_US)))
      w.close()
      w.close()
      expect(() => w.write(SYN, T0)).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENT' }))
      expect(() => PcapWriter.toFile(file, { linkType: 1e6 })).toThrow(WireError)
    } finally {
      fs.rmSync(file, { force: true })
    }
  })
})

describe('readCapture: classic pcap', () => {
  it('reads little-endian µs and big-endian ns files field by field', async () => {
    expect(await collectOk(hex(PCAP_LE_US))).toEqual([
      { linkType: LINKTYPE_ETHERNET, timestampNs: 1_700_000_000_123_456_000n, data: '00112233', originalLength: 60, interfaceId: 0 },
      { linkType: LINKTYPE_ETHERNET, timestampNs: 1_700_000_001_000_000_000n, data: '', originalLength: 0, interfaceId: 0 },
    ])
    expect(await collectOk(hex(PCAP_BE_NS))).toEqual([
      { linkType: LINKTYPE_RAW, timestampNs: T0, data: '00112233', originalLength: 60, interfaceId: 0 },
      { linkType: LINKTYPE_RAW, timestampNs: 1_700_000_001_000_000_999n, data: '', originalLength: 0, interfaceId: 0 },
    ])
  })

  it('keeps only the link type from a link-type field carrying FCS bits', async () => {
    const b = hex(PCAP_LE_US)
    b[23] = 0x14 // FCS-present bit and an FCS length in the upper bits
    expect((await collectOk(b)).map((p) => p.linkType)).toEqual([LINKTYPE_ETHERNET, LINKTYPE_ETHERNET])
  })

  it('hands out subarrays of the source chunk, not copies', async () => {
    const b = hex(PCAP_LE_US)
    for await (const p of readCapture(b)) {
      expect(p.data.buffer).toBe(b.buffer)
      expect(p.data.byteOffset).toBe(b.byteOffset + 24 + 16)
      break
    }
  })

  it('rejects an unknown magic, including the modified-pcap and pcapng-like ones', async () => {
    for (const m of ['00000000', 'a1b2cd34', '34cdb2a1', '0a0d0d0b', 'd4c3b2a0']) {
      const b = hex(PCAP_LE_US)
      b.set(hex(m), 0)
      await expectCode(b, 'PCAP_ERR_BAD_MAGIC')
    }
    await expectCode(new TextEncoder().encode('GET / HTTP/1.1\r\n\r\n'), 'PCAP_ERR_BAD_MAGIC')
  })

  it('reports an empty input and a short header as truncated', async () => {
    await expectCode(new Uint8Array(0), 'PCAP_ERR_TRUNCATED')
    await expectCode([], 'PCAP_ERR_TRUNCATED')
    await expectCode(hex(PCAP_LE_US).subarray(0, 23), 'PCAP_ERR_TRUNCATED')
  })

  it('refuses records above maxPacketBytes before allocating for them', async () => {
    const b = hex(PCAP_LE_US)
    b.set(hex('ff ff ff 7f'), 24 + 8) // captured length 2^31-1
    expect(await expectCode(b, 'PCAP_ERR_TOO_LARGE')).toEqual([])
    const small = writePcap({ linkType: LINKTYPE_RAW }, [{ data: SYN, ts: 0n }, { data: new Uint8Array(41), ts: 0n }])
    expect(await expectCode(small, 'PCAP_ERR_TOO_LARGE', { maxPacketBytes: 40 })).toHaveLength(1)
    const max = writePcap({ linkType: LINKTYPE_RAW }, [{ data: new Uint8Array(256 * 1024), ts: 0n }])
    expect(await collectOk(max)).toHaveLength(1) // the default limit itself is accepted
  })

  it('rejects a bad maxPacketBytes and a source of strings', async () => {
    await expectCode(hex(PCAP_LE_US), 'ERR_BAD_ARGUMENT', { maxPacketBytes: -1 })
    await expectCode(['not bytes'] as unknown as Uint8Array[], 'ERR_BAD_ARGUMENT')
  })
})

describe('readCapture: pcapng', () => {
  it('reads a hand-built two-section file: IDB options, EPB, SPB, obsolete PB, unknown blocks', async () => {
    expect(await collectOk(NG)).toEqual(NG_PACKETS)
  })

  it('converts if_tsresol powers of ten and of two', async () => {
    const cases: [number, bigint][] = [
      [0, 7_000_000_000n], // seconds
      [3, 7_000_000n],
      [6, 7_000n],
      [9, 7n],
      [10, 0n], // 7 × 0.1 ns, truncated
      [0x80, 7_000_000_000n], // 2^0 s
      [0x8a, 6_835_937n], // 7 / 1024 s
      [0x9e, 6n], // 7 / 2^30 s
    ]
    for (const [resol, ns] of cases) {
      const b = concat(
        hex(NG_BLOCKS[0][0]),
        hex(`01 00 00 00  1c 00 00 00  01 00 00 00  00 00 00 00  09 00 01 00 ${resol.toString(16).padStart(2, '0')} 00 00 00  1c 00 00 00`),
        hex(`06 00 00 00  20 00 00 00  00 00 00 00  00 00 00 00  07 00 00 00  00 00 00 00  00 00 00 00  20 00 00 00`),
      )
      expect((await collectOk(b)).map((p) => p.timestampNs), `if_tsresol 0x${resol.toString(16)}`).toEqual([ns])
    }
  })

  const SHB = hex(NG_BLOCKS[0][0])
  const IDB = hex(`01 00 00 00  14 00 00 00  01 00 00 00  00 00 00 00  14 00 00 00`)
  const epb = (ifid: number, caplen: number, total = 36) =>
    hex(
      `06 00 00 00  ${le32(total)}  ${le32(ifid)}  00 00 00 00  01 00 00 00  ${le32(caplen)}  ${le32(caplen)}  be ef 00 00  ${le32(total)}`,
    )

  it.each([
    ['block length below 12', concat(SHB, IDB, hex('06 00 00 00  08 00 00 00  08 00 00 00'))],
    ['block length not a multiple of 4', concat(SHB, IDB, hex('ad 0b 00 00  0d 00 00 00  00 00 00 00  00 0d 00 00 00'))],
    ['trailing length mismatch', concat(SHB, IDB, epb(0, 2).fill(0x20, 32, 33))],
    ['trailing length mismatch on a skipped block', concat(SHB, hex('ad 0b 00 00  10 00 00 00  de ad be ef  14 00 00 00'))],
    ['captured length beyond the block', concat(SHB, IDB, epb(0, 5))],
    ['EPB shorter than its fixed fields', concat(SHB, IDB, hex('06 00 00 00  10 00 00 00  00 00 00 00  10 00 00 00'))],
    ['SPB shorter than its fixed fields', concat(SHB, IDB, hex('03 00 00 00  0c 00 00 00  0c 00 00 00'))],
    ['IDB shorter than its fixed fields', concat(SHB, hex('01 00 00 00  10 00 00 00  01 00 00 00  10 00 00 00'))],
    ['EPB naming an undefined interface', concat(SHB, IDB, epb(1, 2))],
    ['EPB before any IDB', concat(SHB, epb(0, 2))],
    ['SPB before any IDB', concat(SHB, hex('03 00 00 00  10 00 00 00  00 00 00 00  10 00 00 00'))],
    ['SPB data beyond the block', concat(SHB, IDB, hex('03 00 00 00  14 00 00 00  05 00 00 00  01 02 03 04  14 00 00 00'))],
    ['IDB option overrunning the block', concat(SHB, hex('01 00 00 00  18 00 00 00  01 00 00 00  00 00 00 00  09 00 08 00  18 00 00 00'))],
    ['SHB shorter than 28', hex('0a 0d 0d 0a  18 00 00 00  4d 3c 2b 1a  01 00 00 00  00 00 00 00  18 00 00 00')],
    ['SHB of major version 2', concat(SHB.slice().fill(2, 12, 13))],
    ['interfaces of an earlier section', concat(SHB, IDB, SHB, epb(0, 2))],
  ])('rejects %s with PCAP_ERR_BAD_BLOCK', async (_, bytes) => {
    await expectCode(bytes, 'PCAP_ERR_BAD_BLOCK')
  })

  it('yields the packets before a corrupt block, then throws', async () => {
    const b = concat(SHB, IDB, epb(0, 2), epb(0, 2), hex('06 00 00 00  0e 00 00 00'))
    expect(await expectCode(b, 'PCAP_ERR_BAD_BLOCK')).toHaveLength(2)
  })

  it('rejects a bad byte-order magic', async () => {
    await expectCode(hex('0a 0d 0d 0a  1c 00 00 00  4d 3c 2b 1b  01 00 00 00  ff ff ff ff ff ff ff ff  1c 00 00 00'), 'PCAP_ERR_BAD_MAGIC')
  })

  it('refuses oversized packet blocks, but streams past an oversized unknown block', async () => {
    expect(await expectCode(concat(SHB, IDB, epb(0, 2), epb(0, 2)), 'PCAP_ERR_TOO_LARGE', { maxPacketBytes: 1 })).toEqual([])
    // a block length of ~4 GiB is refused before any read
    await expectCode(concat(SHB, IDB, hex('06 00 00 00  fc ff ff ff')), 'PCAP_ERR_TOO_LARGE')
    // 1 MiB of unknown block is skipped chunk by chunk, not buffered
    const big = 1 << 20
    const unknown = new Uint8Array(big)
    unknown.set(hex(`ad 0b 00 00 ${le32(big)}`), 0)
    unknown.set(hex(le32(big)), big - 4)
    expect(await collectOk(chunked(concat(SHB, IDB, unknown, epb(0, 2)), [4096]))).toHaveLength(1)
  })
})

function le32(n: number): string {
  return toHex(Uint8Array.of(n, n >>> 8, n >>> 16, n >>> 24))
}

describe('readCapture: captures written by real tools (test/fixtures)', () => {
  const udp = (i: number) => toHex(new TextEncoder().encode(`tcplab fixture ${i}\n`))

  it('tcpdump -i any -y LINUX_SLL2, nanosecond: link type and bytes pass through', async () => {
    const pkts = await collectOk(fixture('tcpdump-sll2-udp-lo.pcap'))
    expect(pkts.map((p) => [p.linkType, p.timestampNs, p.originalLength, p.data.length / 2, p.interfaceId])).toEqual([
      [LINKTYPE_LINUX_SLL2, 1_795_500_280_473_975_276n, 65, 65, 0],
      [LINKTYPE_LINUX_SLL2, 1_795_500_280_494_700_516n, 65, 65, 0],
      [LINKTYPE_LINUX_SLL2, 1_795_500_280_514_930_261n, 65, 65, 0],
    ])
    pkts.forEach((p, i) => {
      // SLL2 header: protocol 0x0800, reserved, ifindex 1 (lo), ARPHRD_LOOPBACK 772, PACKET_HOST, addr len 6
      expect(p.data.slice(0, 24)).toBe('0800' + '0000' + '00000001' + '0304' + '00' + '06')
      expect(p.data.slice(40 + 24, 40 + 40)).toBe('7f0000017f000001') // IPv4 127.0.0.1 → 127.0.0.1
      expect(p.data.slice(40 + 44, 40 + 48)).toBe('b813') // UDP dst port 47123
      expect(p.data.slice(40 + 56)).toBe(udp(i))
    })
  })

  it('tcpdump -i any -y LINUX_SLL, microsecond', async () => {
    const pkts = await collectOk(fixture('tcpdump-sll-udp-lo.pcap'))
    expect(pkts.map((p) => [p.linkType, p.timestampNs, p.originalLength, p.data.length / 2])).toEqual([
      [LINKTYPE_LINUX_SLL, 1_795_500_282_506_932_000n, 61, 61],
      [LINKTYPE_LINUX_SLL, 1_795_500_282_527_588_000n, 61, 61],
    ])
    pkts.forEach((p, i) => {
      // SLL header: PACKET_HOST, ARPHRD_LOOPBACK 772, addr len 6, 8 address bytes, protocol 0x0800
      expect(p.data.slice(0, 32)).toBe('0000' + '0304' + '0006' + '0000000000000000' + '0800')
      expect(p.data.slice(32 + 56)).toBe(udp(i))
    })
  })

  it('dumpcap on lo and any: per-interface link types, if_tsresol 9, statistics blocks skipped', async () => {
    const pkts = await collectOk(fixture('dumpcap-lo-any.pcapng'))
    expect(pkts.map((p) => [p.interfaceId, p.linkType, p.timestampNs, p.originalLength, p.data.length / 2])).toEqual([
      [0, LINKTYPE_ETHERNET, 1_795_500_904_820_185_309n, 59, 59],
      [0, LINKTYPE_ETHERNET, 1_795_500_904_921_499_310n, 59, 59],
      [1, LINKTYPE_LINUX_SLL, 1_795_500_904_871_002_542n, 61, 61],
    ])
    expect(pkts.map((p) => p.data.slice(-34))).toEqual([udp(0), udp(2), udp(1)])
  })

  it('several sections in one file (two dumpcap files concatenated)', async () => {
    const one = fixture('dumpcap-lo-any.pcapng')
    const pkts = await collectOk(concat(one, one))
    expect(pkts.map((p) => [p.interfaceId, p.linkType])).toEqual([
      [0, 1], [0, 1], [1, 113],
      [0, 1], [0, 1], [1, 113],
    ])
  })

  it('scapy big-endian nanosecond raw IP', async () => {
    const pkts = await collectOk(fixture('scapy-be-raw-ns.pcap'))
    expect(pkts.map((p) => [p.linkType, p.timestampNs, p.originalLength])).toEqual([
      [LINKTYPE_RAW, 1_700_000_000_123_456_789n, 40],
      [LINKTYPE_RAW, 1_700_000_000_500_000_000n, 40],
      [LINKTYPE_RAW, 1_700_000_001_000_000_001n, 34],
    ])
    expect(pkts[0].data.slice(24, 40)).toBe('c0000201c6336402') // 192.0.2.1 → 198.51.100.2
    expect(pkts[2].data.slice(-12)).toBe(toHex(new TextEncoder().encode('tcplab')))
  })

  it('constants are the tcpdump.org LINKTYPE_ values', () => {
    expect([LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_LINUX_SLL, LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_LINUX_SLL2]).toEqual([
      0, 1, 101, 113, 228, 229, 276,
    ])
  })
})

describe('readCapture: round trip, chunking, truncation, fuzz', () => {
  const MAX_TS = 0x1_0000_0000n * 1_000_000_000n - 1n
  const arbPackets = fc.array(
    fc.record({ data: fc.uint8Array({ maxLength: 300 }), ts: fc.bigInt({ min: 0n, max: MAX_TS }), extra: fc.nat(2000) }),
    { maxLength: 12 },
  )
  const arbOpts = fc.record({
    linkType: fc.constantFrom(LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_LINUX_SLL2, 0xffff),
    snaplen: fc.integer({ min: 1, max: 400 }),
    nanosecond: fc.boolean(),
    bigEndian: fc.boolean(),
  })
  const arbChunks = fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 8 })

  it('reads back what PcapWriter wrote, for any packets, options and chunking', async () => {
    await fc.assert(
      fc.asyncProperty(arbPackets, arbOpts, arbChunks, async (packets, opts, sizes) => {
        const file = writePcap(opts, packets.map((p) => ({ data: p.data, ts: p.ts, orig: p.data.length + p.extra })))
        const want: Got[] = packets.map((p) => ({
          linkType: opts.linkType,
          timestampNs: opts.nanosecond ? p.ts : p.ts - (p.ts % 1000n),
          data: toHex(p.data.subarray(0, opts.snaplen)),
          originalLength: p.data.length + p.extra,
          interfaceId: 0,
        }))
        expect(await collectOk(file)).toEqual(want)
        expect(await collectOk(chunked(file, sizes))).toEqual(want)
      }),
      { numRuns: 200 },
    )
  })

  it('chunk boundaries anywhere (1–7 byte chunks) change nothing, for pcap and pcapng', async () => {
    const inputs = [NG, hex(PCAP_BE_NS), fixture('dumpcap-lo-any.pcapng'), fixture('tcpdump-sll2-udp-lo.pcap')]
    const whole = await Promise.all(inputs.map((b) => collectOk(b)))
    await fc.assert(
      fc.asyncProperty(fc.nat(inputs.length - 1), arbChunks, async (i, sizes) => {
        expect(await collectOk(chunked(inputs[i], sizes))).toEqual(whole[i])
      }),
      { numRuns: 200 },
    )
  })

  /** Every cut of `bytes`: the complete packets, then TRUNCATED unless the cut is on a boundary. */
  async function checkEveryCut(bytes: Uint8Array, boundaries: Map<number, number>, all: Got[]): Promise<void> {
    let complete = 0
    for (let cut = 0; cut <= bytes.length; cut++) {
      if (boundaries.has(cut)) complete = boundaries.get(cut)!
      const want = all.slice(0, complete)
      for (const src of [bytes.subarray(0, cut), chunked(bytes.subarray(0, cut), [3, 1, 5])]) {
        const { packets, error } = await collect(src)
        expect(packets, `cut at ${cut}`).toEqual(want)
        if (boundaries.has(cut)) expect(error, `cut at ${cut}`).toBeUndefined()
        else expect(isWireError(error, 'PCAP_ERR_TRUNCATED'), `cut at ${cut}: ${String(error)}`).toBe(true)
      }
    }
  }

  it('truncated pcap at every cut point', async () => {
    const b = writePcap({ linkType: LINKTYPE_ETHERNET, nanosecond: true }, [
      { data: eth(SYN), ts: T0 },
      { data: new Uint8Array(0), ts: T0 + 1n },
      { data: eth(SYNACK), ts: T0 + 2n },
    ])
    await checkEveryCut(b, pcapBoundaries(b, true), await collectOk(b))
    const be = fixture('scapy-be-raw-ns.pcap')
    await checkEveryCut(be, pcapBoundaries(be, false), await collectOk(be))
  })

  it('truncated pcapng at every cut point', async () => {
    await checkEveryCut(NG, ngBoundaries(), NG_PACKETS)
    const d = fixture('dumpcap-lo-any.pcapng')
    await checkEveryCut(d, leBlockBoundaries(d), await collectOk(d))
  })

  it('a truncated file read from disk yields its complete packets, then PCAP_ERR_TRUNCATED', async () => {
    const file = path.join(os.tmpdir(), `tcplab-pcap-${process.pid}-cut.pcap`)
    try {
      const w = PcapWriter.toFile(file, { linkType: LINKTYPE_RAW })
      w.write(SYN, T0)
      w.write(SYNACK, T0)
      w.close()
      fs.truncateSync(file, 24 + 56 + 30)
      const { packets, error } = await collect(file)
      expect(packets.map((p) => p.data)).toEqual([toHex(SYN)])
      expect(isWireError(error, 'PCAP_ERR_TRUNCATED')).toBe(true)
      expect((error as Error).message).toBe('capture ends inside a packet record at byte 80: needed 56 bytes, only 30 left')
    } finally {
      fs.rmSync(file, { force: true })
    }
  })

  it('fuzz: random and mutated captures yield packets or throw a WireError, nothing else', async () => {
    const seeds = [NG, hex(PCAP_LE_US), hex(PCAP_BE_NS), fixture('dumpcap-lo-any.pcapng'), fixture('tcpdump-sll2-udp-lo.pcap')]
    await fc.assert(
      fc.asyncProperty(fuzzInputs(seeds), fc.boolean(), arbChunks, async (bytes, chunk, sizes) => {
        try {
          for await (const p of readCapture(chunk ? chunked(bytes, sizes) : bytes, { maxPacketBytes: 4096 })) {
            expect(p.data).toBeInstanceOf(Uint8Array)
            expect(p.data.length).toBeLessThanOrEqual(4096)
            expect(typeof p.timestampNs).toBe('bigint')
            expect(Number.isInteger(p.linkType) && Number.isInteger(p.originalLength) && Number.isInteger(p.interfaceId)).toBe(true)
          }
        } catch (e) {
          if (!(e instanceof WireError)) throw e
          expect(e.code).toMatch(/^PCAP_ERR_(TRUNCATED|BAD_MAGIC|BAD_BLOCK|TOO_LARGE)$/)
        }
      }),
      { numRuns: 2000 },
    )
  })
})

describe('readCapture: streaming from files', () => {
  it('breaking out of the loop closes the stream', async () => {
    const stream = fs.createReadStream(path.join(FIXTURES, 'tcpdump-sll2-udp-lo.pcap'))
    for await (const p of readCapture(stream)) {
      expect(p.linkType).toBe(LINKTYPE_LINUX_SLL2)
      break
    }
    expect(stream.destroyed).toBe(true)
  })

  it('reads a ~200 MB capture with bounded heap and buffer memory', async () => {
    const file = path.join(os.tmpdir(), `tcplab-pcap-${process.pid}-big.pcap`)
    const TARGET = 200 * 1024 * 1024
    const frame = new Uint8Array(1514).map((_, i) => i * 7)
    let written = 24
    let n = 0
    try {
      const w = PcapWriter.toFile(file, { linkType: LINKTYPE_ETHERNET, nanosecond: true })
      while (written < TARGET) {
        const len = 60 + ((n * 997) % 1455) // 60..1514 bytes, so records straddle read chunks
        new DataView(frame.buffer).setUint32(0, n) // packet number in the first 4 bytes
        w.write(frame.subarray(0, len), T0 + BigInt(n))
        written += 16 + len
        n++
      }
      w.close()
      expect(fs.statSync(file).size).toBe(written)

      const base = process.memoryUsage()
      let peakHeap = 0
      let peakBuffers = 0
      let count = 0
      let bytes = 0
      for await (const p of readCaptureFile(file)) {
        const len = 60 + ((count * 997) % 1455)
        if (p.data.length !== len || new DataView(p.data.buffer, p.data.byteOffset).getUint32(0) !== count || p.timestampNs !== T0 + BigInt(count)) {
          throw new Error(`packet ${count} differs: ${p.data.length} bytes, ts ${p.timestampNs}`)
        }
        bytes += p.data.length
        if ((++count & 1023) === 0) {
          const m = process.memoryUsage()
          peakHeap = Math.max(peakHeap, m.heapUsed - base.heapUsed)
          peakBuffers = Math.max(peakBuffers, m.arrayBuffers - base.arrayBuffers, m.external - base.external)
        }
      }
      expect(count).toBe(n)
      expect(bytes + 24 + 16 * n).toBe(written)
      expect(peakHeap).toBeLessThan(64 * 1024 * 1024)
      expect(peakBuffers).toBeLessThan(96 * 1024 * 1024) // well under the file's 200 MB
    } finally {
      fs.rmSync(file, { force: true })
    }
  })
})

// ---- external oracles: tcpdump, tshark, editcap ----

const TOOLS = ['tcpdump', 'tshark', 'editcap']
const missing = TOOLS.filter((t) => spawnSync('which', [t]).status !== 0)
const mustHaveTools = process.env.LAB_REQUIRE_ROOT === '1'

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 20_000 })
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`)
  return r.stdout
}

describe.skipIf(missing.length > 0 && !mustHaveTools)(
  `oracles: tcpdump, tshark and editcap read what we write${missing.length > 0 ? ` (skipped: ${missing.join(', ')} not installed)` : ''}`,
  () => {
    let dir = ''
    beforeAll(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcplab-pcap-oracle-'))
    })
    afterAll(() => {
      if (dir !== '') fs.rmSync(dir, { recursive: true, force: true })
    })
    const file = (name: string, bytes: Uint8Array) => {
      const p = path.join(dir, name)
      fs.writeFileSync(p, bytes)
      return p
    }

    it('the tools are installed', () => {
      expect(missing).toEqual([])
    })

    const handcrafted = [
      { data: SYN, ts: T0 },
      { data: SYNACK, ts: T0 + 1_000_001_000n },
    ]
    const variants: [string, PcapWriterOptions, (ip: Uint8Array) => Uint8Array][] = [
      ['ethernet-us-le', { linkType: LINKTYPE_ETHERNET }, eth],
      ['raw-ns-be', { linkType: LINKTYPE_RAW, nanosecond: true, bigEndian: true }, (ip) => ip],
      ['ipv4-ns-le', { linkType: LINKTYPE_IPV4, nanosecond: true }, (ip) => ip],
    ]

    it.each(variants)('tcpdump -nn decodes our %s file', (name, opts, frame) => {
      const f = file(`${name}.pcap`, writePcap(opts, handcrafted.map((p) => ({ data: frame(p.data), ts: p.ts }))))
      const out = run('tcpdump', ['-r', f, '-nn', '-tt', '--nano'])
      const lines = out.trim().split('\n')
      expect(lines).toHaveLength(2)
      const frac = opts.nanosecond ? ['1700000000.123456789', '1700000001.123457789'] : ['1700000000.123456000', '1700000001.123457000']
      expect(lines[0]).toMatch(new RegExp(`^${frac[0].replace('.', '\\.')} .*IP 192\\.0\\.2\\.1\\.40000 > 198\\.51\\.100\\.2\\.80: Flags \\[S\\], seq 1000, win 65535, length 0$`))
      expect(lines[1]).toMatch(
        new RegExp(`^${frac[1].replace('.', '\\.')} .*IP 198\\.51\\.100\\.2\\.80 > 192\\.0\\.2\\.1\\.40000: Flags \\[S\\.\\], seq 5000, ack 1001, win 65535, length 0$`),
      )
    })

    it.each(variants)('tshark decodes our %s file', (name, opts, frame) => {
      const f = file(`${name}-tshark.pcap`, writePcap(opts, handcrafted.map((p) => ({ data: frame(p.data), ts: p.ts }))))
      const out = run('tshark', ['-r', f, '-T', 'fields', '-e', 'ip.src', '-e', 'tcp.srcport', '-e', 'ip.dst', '-e', 'tcp.dstport', '-e', 'tcp.flags'])
      expect(out).toBe('192.0.2.1\t40000\t198.51.100.2\t80\t0x0002\n198.51.100.2\t80\t192.0.2.1\t40000\t0x0012\n')
    })

    it('tshark sees the same count, timestamps and lengths for random packet lists', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.record({ len: fc.nat(200), ts: fc.bigInt({ min: 0n, max: 4_000_000_000n * 1_000_000_000n }), extra: fc.nat(100) }), {
            minLength: 1,
            maxLength: 30,
          }),
          fc.boolean(),
          async (list, nanosecond) => {
            const f = file('random.pcap', writePcap({ linkType: LINKTYPE_RAW, nanosecond, snaplen: 150 }, list.map((p) => ({ data: new Uint8Array(p.len).fill(0xee), ts: p.ts, orig: p.len + p.extra }))))
            const rows = run('tshark', ['-r', f, '-T', 'fields', '-e', 'frame.time_epoch', '-e', 'frame.len', '-e', 'frame.cap_len']).trim().split('\n')
            const ours = await collectOk(f)
            expect(rows).toHaveLength(list.length)
            expect(ours).toHaveLength(list.length)
            rows.forEach((row, i) => {
              const [t, len, cap] = row.split('\t')
              const ns = BigInt(t.replace('.', '').padEnd(t.indexOf('.') + 9, '0'))
              expect([ns, Number(len), Number(cap)]).toEqual([ours[i].timestampNs, ours[i].originalLength, ours[i].data.length / 2])
              expect(ours[i].timestampNs).toBe(nanosecond ? list[i].ts : list[i].ts - (list[i].ts % 1000n))
            })
          },
        ),
        { numRuns: 4 },
      )
    })

    it.each([false, true])('editcap -F pcapng of our pcap (nanosecond: %s) reads back with the same packets', async (nanosecond) => {
      const packets = [
        { data: eth(SYN), ts: T0 },
        { data: eth(SYNACK), ts: T0 + 999n },
        { data: new Uint8Array(0), ts: 0n },
        { data: new Uint8Array(1514).fill(0x5a), ts: 4_294_967_295_999_999_999n },
      ]
      const pcap = file(`editcap-${nanosecond}.pcap`, writePcap({ linkType: LINKTYPE_ETHERNET, nanosecond }, packets))
      const ng = path.join(dir, `editcap-${nanosecond}.pcapng`)
      run('editcap', ['-F', 'pcapng', pcap, ng])
      const ngBytes = new Uint8Array(fs.readFileSync(ng))
      expect(toHex(ngBytes.subarray(0, 4))).toBe('0a0d0d0a')
      const fromPcap = await collectOk(pcap)
      expect(fromPcap).toHaveLength(4)
      expect(await collectOk(ng)).toEqual(fromPcap)
      expect(await collectOk(chunked(ngBytes, [5, 2, 7]))).toEqual(fromPcap)
    })
  },
)
