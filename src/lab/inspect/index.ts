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
import { ConnectionTracker, type TrackerOptions } from './tracker.js'

/** Read size for capture files. */
const FILE_CHUNK_BYTES = 256 * 1024

export { toLadder } from './ladder.js'
export { isSupportedLinkType, locateIp, LINKTYPE_LOOP, type LinkView, type PacketDirection } from './link.js'
export { decodeSegment, newSegmentInfo, type ChecksumStatus, type DecodeOutcome, type SegmentInfo } from './decode.js'
export { ConnectionTracker, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_SEGMENTS, type TrackerCounters, type TrackerOptions } from './tracker.js'
export * from './report.js'

/** Options of {@link inspect}. */
export interface InspectOptions extends TrackerOptions {
  /** Largest captured packet accepted (readCapture's limit, default 256 KiB). */
  maxPacketBytes?: number
  /** Called after each chunk of input is read, with the bytes read so far (for a progress bar). */
  onRead?: (bytesRead: number) => void
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
  const sync = (): InspectSummary => tracker.fillSummary(summary)
  let started = false
  async function* run(): AsyncGenerator<ConnectionReport> {
    if (started) throw new WireError('ERR_BAD_ARGUMENT', 'an inspection can be iterated only once')
    started = true
    const seg = newSegmentInfo()
    const skipped = summary.skipped
    const input = source instanceof Uint8Array ? source : chunksOf(source, opts.onRead)
    try {
      for await (const p of readCapture(input, { maxPacketBytes: opts.maxPacketBytes })) {
        summary.packets++
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
        const out = tracker.drain()
        for (let i = 0; i < out.length; i++) yield out[i]
      }
    } catch (e) {
      if (!isWireError(e, 'PCAP_ERR_TRUNCATED')) throw e
      // Report what was read, then say the file is cut short.
      summary.complete = false
      const rest = tracker.finish()
      sync()
      for (const r of rest) yield r
      throw e
    }
    const rest = tracker.finish()
    sync()
    for (const r of rest) yield r
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
