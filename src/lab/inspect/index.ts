/**
 * Capture inspection: `inspect(source)` reads a pcap or pcapng capture as a stream and yields one
 * {@link ConnectionReport} per TCP connection in it. See tracker.ts for what is tracked and how memory
 * stays bounded, decode.ts and link.ts for which captures are understood.
 */
import * as fs from 'node:fs'
import { isWireError, WireError } from '../../tcp/errors.js'
import { readCapture, type CaptureSource } from '../../net/pcap.js'
import { decodeSegment, newSegmentInfo } from './decode.js'
import { isSupportedLinkType } from './link.js'
import type { ConnectionReport, InspectSummary } from './report.js'
import { ConnectionTracker, type PacketContext, type TrackerOptions } from './tracker.js'
import type { PacketFilter } from './filter.js'
import type { SegmentInfo } from './decode.js'

/** Read size for capture files. */
const FILE_CHUNK_BYTES = 256 * 1024

export { toLadder } from './ladder.js'
export { isSupportedLinkType, locateIp, LINKTYPE_LOOP, type LinkView, type PacketDirection } from './link.js'
export { decodeSegment, newSegmentInfo, type ChecksumStatus, type DecodeOutcome, type SegmentInfo } from './decode.js'
export {
  ConnectionTracker,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_SEGMENTS,
  MAX_INFERENCE_SEGMENTS,
  type PacketContext,
  type TrackerCounters,
  type TrackerOptions,
} from './tracker.js'
export { compileFilter, FILTER_HELP, type FilterInput, type PacketFilter } from './filter.js'
export { packetLine, packetToJson, type PacketJson } from './packets.js'
export * from './report.js'

/** Options of {@link inspect}. */
export interface InspectOptions extends TrackerOptions {
  /** Largest captured packet accepted (readCapture's limit, default 256 KiB). */
  maxPacketBytes?: number
  /** Called after each chunk of input is read, with the bytes read so far (for a progress bar). */
  onRead?: (bytesRead: number) => void
  /**
   * Selects packets: only matching ones reach `onPacket`, and only connections with a matching packet are
   * reported (whole). The summary then counts `matchedPackets` and `matchedConnections`.
   */
  filter?: PacketFilter
  /** Called for each TCP packet (each matching one, with a filter); its arrays are valid only during the call. */
  onPacket?: (p: InspectedPacket) => void
}

/** A TCP packet as `onPacket` gets it. */
export interface InspectedPacket {
  /** 1-based number of the packet in the capture (every packet counts, as tshark's frame numbers). */
  frame: number
  /** Capture timestamp (ns since the epoch) and ns since the capture's first packet. */
  timestampNs: bigint
  relativeNs: bigint
  seg: SegmentInfo
  /** Its connection's number and the relative-number bases. */
  context: PacketContext
}

/** A running inspection: iterate it for the reports; `summary()` tells the totals so far. */
export interface Inspection extends AsyncIterable<ConnectionReport> {
  /** Totals so far (final once iteration has ended, normally or with an error). */
  summary(): InspectSummary
  /** The live counters of the connection table (tracked now, most ever, evicted…). */
  readonly tracker: ConnectionTracker
}

/**
 * Inspects a capture (a file path, bytes, a stream or chunks; pcap or pcapng) and yields a report per TCP
 * connection. Reports of connections that had to leave a full table come first, as they leave; the rest
 * follow in order of first packet when the capture ends. A capture that ends inside a record yields every
 * connection read so far, then throws WireError PCAP_ERR_TRUNCATED; a file that is not a capture throws
 * PCAP_ERR_BAD_MAGIC before yielding anything. One iteration only.
 */
export function inspect(source: CaptureSource, opts: InspectOptions = {}): Inspection {
  const tracker = new ConnectionTracker(opts)
  const summary: InspectSummary = {
    connections: 0,
    packets: 0,
    tcpPackets: 0,
    skipped: { notIp: 0, notTcp: 0, fragments: 0, malformed: 0 },
    unsupportedLinkTypes: {},
    maxTracked: 0,
    maxConnections: tracker.limit,
    evicted: 0,
    complete: true,
  }
  const filter = opts.filter
  if (filter !== undefined) {
    summary.matchedPackets = 0
    summary.matchedConnections = 0
  }
  const sync = (): InspectSummary => tracker.fillSummary(summary)
  let started = false
  async function* run(): AsyncGenerator<ConnectionReport> {
    if (started) throw new WireError('ERR_BAD_ARGUMENT', 'an inspection can be iterated only once')
    started = true
    const seg = newSegmentInfo()
    const skipped = summary.skipped
    const onPacket = opts.onPacket
    let firstNs: bigint | undefined
    const pkt: InspectedPacket = { frame: 0, timestampNs: 0n, relativeNs: 0n, seg, context: tracker.packet }
    const matched = function* (reports: Iterable<ConnectionReport>): Generator<ConnectionReport> {
      for (const r of reports) {
        if (filter === undefined) yield r
        else if (r.matched === true) {
          summary.matchedConnections!++
          yield r
        }
      }
    }
    const input = source instanceof Uint8Array ? source : chunksOf(source, opts.onRead)
    try {
      for await (const p of readCapture(input, { maxPacketBytes: opts.maxPacketBytes })) {
        summary.packets++
        if (firstNs === undefined) firstNs = p.timestampNs
        const lt = p.linkType
        if (!isSupportedLinkType(lt)) {
          summary.unsupportedLinkTypes[lt] = (summary.unsupportedLinkTypes[lt] ?? 0) + 1
          continue
        }
        const r = decodeSegment(lt, p.data, p.data.length < p.originalLength, seg)
        if (r !== 'tcp') {
          if (r === 'not-ip') skipped.notIp++
          else if (r === 'not-tcp') skipped.notTcp++
          else if (r === 'fragment') skipped.fragments++
          else skipped.malformed++
          continue
        }
        tracker.push(seg, p.timestampNs)
        const pass = filter === undefined || filter({ seg, connection: tracker.packet.connection })
        if (pass && filter !== undefined) {
          summary.matchedPackets!++
          tracker.matchLast()
        }
        if (pass && onPacket !== undefined) {
          pkt.frame = summary.packets
          pkt.timestampNs = p.timestampNs
          pkt.relativeNs = p.timestampNs - firstNs
          onPacket(pkt)
        }
        const out = tracker.drain()
        if (out.length > 0) yield* matched(out)
      }
    } catch (e) {
      if (!isWireError(e, 'PCAP_ERR_TRUNCATED')) throw e
      // Report what was read, then say the file is cut short.
      summary.complete = false
      const rest = tracker.finish()
      sync()
      yield* matched(rest)
      throw e
    }
    const rest = tracker.finish()
    sync()
    yield* matched(rest)
  }
  return {
    [Symbol.asyncIterator]: () => run(),
    summary: sync,
    tracker,
  }
}

/**
 * The source as chunks of plain Uint8Array views, with the running byte count reported after each one.
 * Node's Buffer chunks are re-viewed as Uint8Array: every `subarray` of a Buffer builds a Buffer, about
 * twice the cost, and the reader and decoders take many per packet.
 */
async function* chunksOf(source: Exclude<CaptureSource, Uint8Array>, onRead: ((n: number) => void) | undefined): AsyncGenerator<Uint8Array> {
  let n = 0
  const chunks = typeof source === 'string' ? fs.createReadStream(source, { highWaterMark: FILE_CHUNK_BYTES }) : source
  for await (const c of chunks as AsyncIterable<unknown>) {
    if (c instanceof Uint8Array) {
      yield Buffer.isBuffer(c) ? new Uint8Array(c.buffer, c.byteOffset, c.byteLength) : c
      n += c.length
      onRead?.(n)
    } else yield c as Uint8Array // not bytes: readCapture reports it
  }
}
