/**
 * Live inspection: the same connection tracking as for a capture file, fed from a real interface through
 * libpcap (the optional `cap` addon). `cap` hands over packets without their capture time, so times are
 * taken when each packet reaches tcplab (libpcap runs in immediate mode: close to the wire, not equal).
 */
import { WireError } from '../../tcp/errors.js'
import { LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_NULL, LINKTYPE_RAW } from '../../net/pcap.js'
import { capPermissionError, hasRawPrivilege, isPermissionFailure, loadCap, type CapHandle, type CapModule } from '../../net/native.js'
import { decodeSegment, newSegmentInfo } from './decode.js'
import { isSupportedLinkType } from './link.js'
import type { ConnectionReport, InspectSummary } from './report.js'
import { ConnectionTracker, type TrackerOptions } from './tracker.js'

/** Default BPF filter of live inspection: TCP only. */
export const DEFAULT_LIVE_FILTER = 'tcp'
/** libpcap's snapshot length in `cap` is 65535: one frame never exceeds this buffer. */
const FRAME_BUFFER = 65536
/** Kernel capture buffer. */
const KERNEL_BUFFER = 4 << 20

/** Options of {@link inspectLive}. */
export interface LiveOptions extends Pick<TrackerOptions, 'maxConnections'> {
  /** Interface to watch, e.g. `eth0`, `lo` or `any`. */
  iface: string
  /** BPF filter in tcpdump syntax (default `tcp`). */
  filter?: string
  /** Called for each handshake as it completes. */
  onHandshake?: (report: ConnectionReport) => void
  /** Called when a connection ends (RST, refusal, FIN both ways). */
  onEnd?: (report: ConnectionReport) => void
  /** The `cap` module (default: loaded lazily), for tests. */
  cap?: CapModule
  /** Skip the CAP_NET_RAW check (for tests with a fake `cap`). */
  skipPrivilegeCheck?: boolean
}

/** A running live inspection. */
export interface LiveInspection {
  /** The interface's link type (LINKTYPE_ number). */
  readonly linkType: number
  readonly tracker: ConnectionTracker
  /** Totals so far. */
  summary(): InspectSummary
  /** Stops capturing; idempotent. */
  stop(): void
}

/** The LINKTYPE_ number of a link type name as the `cap` addon reports it. */
export function capLinkType(name: string): number | undefined {
  switch (name) {
    case 'ETHERNET':
      return LINKTYPE_ETHERNET
    case 'NULL':
      return LINKTYPE_NULL
    case 'LINKTYPE_LINUX_SLL':
      return LINKTYPE_LINUX_SLL
    case 'RAW':
      return LINKTYPE_RAW
    default: {
      // Anything else comes as "Unknown linktype N" with libpcap's DLT number, equal to LINKTYPE for these.
      const m = /^Unknown linktype (\d+)$/.exec(name)
      return m === null ? undefined : Number(m[1])
    }
  }
}

/**
 * Starts watching `iface`. Throws WireError DEV_ERR_PERMISSION without root or CAP_NET_RAW, DEV_ERR_NO_CAP
 * without the addon, DEV_ERR_IO when the interface cannot be opened or its link type is not understood.
 */
export function inspectLive(opts: LiveOptions): LiveInspection {
  if (opts.skipPrivilegeCheck !== true && !hasRawPrivilege()) throw capPermissionError()
  const cap = opts.cap ?? loadCap()
  const tracker = new ConnectionTracker({ maxConnections: opts.maxConnections, onHandshake: opts.onHandshake, onEnd: opts.onEnd })
  const handle: CapHandle = new cap.Cap()
  const buffer = Buffer.alloc(FRAME_BUFFER)
  let name: string
  try {
    name = handle.open(opts.iface, opts.filter ?? DEFAULT_LIVE_FILTER, KERNEL_BUFFER, buffer)
  } catch (e) {
    if (isPermissionFailure(e)) throw capPermissionError()
    const msg = (e instanceof Error ? e.message : String(e)).split('\n')[0]
    throw new WireError('DEV_ERR_IO', `cannot capture on ${opts.iface}: ${msg}`)
  }
  const linkType = capLinkType(name)
  if (linkType === undefined || !isSupportedLinkType(linkType)) {
    handle.close()
    throw new WireError('DEV_ERR_IO', `${opts.iface} has link type ${name}, which tcplab cannot decode`)
  }
  handle.setMinBytes?.(0)
  const summary: InspectSummary = {
    connections: 0, packets: 0, tcpPackets: 0,
    skipped: { notIp: 0, notTcp: 0, fragments: 0, malformed: 0 },
    unsupportedLinkTypes: {}, maxTracked: 0, maxConnections: tracker.limit, evicted: 0, complete: true,
  }
  const seg = newSegmentInfo()
  // A plain Uint8Array over libpcap's buffer: subarrays of a Buffer are Buffers, and cost more.
  const frames = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.length)
  // Wall-clock epoch plus a monotonic offset: packet times keep their order even if the clock is set.
  const epochNs = BigInt(Date.now()) * 1_000_000n
  const hr0 = process.hrtime.bigint()
  let stopped = false
  handle.on('packet', (nbytes: number, truncated: boolean) => {
    if (stopped) return
    summary.packets++
    const r = decodeSegment(linkType, frames.subarray(0, nbytes), truncated, seg)
    if (r !== 'tcp') {
      if (r === 'not-ip') summary.skipped.notIp++
      else if (r === 'not-tcp') summary.skipped.notTcp++
      else if (r === 'fragment') summary.skipped.fragments++
      else summary.skipped.malformed++
      return
    }
    tracker.push(seg, epochNs + (process.hrtime.bigint() - hr0))
    // Connections pushed out of a full table have been printed as they completed or ended: let them go.
    tracker.drain()
  })
  return {
    linkType,
    tracker,
    summary() {
      return tracker.fillSummary(summary)
    },
    stop() {
      if (stopped) return
      stopped = true
      handle.close()
    },
  }
}
