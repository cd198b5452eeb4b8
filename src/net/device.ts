/**
 * The one interface for anything that moves packets (smoltcp's `phy::Device`): real devices over
 * `raw-socket` and `cap`, and middleware that wraps another device (tracer, pcap tap, fault injector).
 *
 * Ownership rules every device keeps, so a stack can reuse its buffers and keep what it receives:
 * - `send(packet)` is done with `packet` when it returns (the device sent or copied it); the caller may
 *   overwrite the buffer right away.
 * - a packet handed to the receive handler belongs to the handler: the device never writes into it again,
 *   so payload subarrays may be kept (in a reassembly queue, say) without copying.
 */

/** What a device carries: whole IP packets (v4 or v6 by the version nibble) or whole Ethernet frames. */
export type Medium = 'ip' | 'ethernet'

/**
 * What the kernel said about a received frame's checksums, where the device can ask it (the capture
 * device's packet receive path reads PACKET_AUXDATA's tp_status): 'partial' — the sender left its
 * checksum to offload and it was never filled in (TP_STATUS_CSUMNOTREADY, CHECKSUM_PARTIAL); 'valid' — the
 * kernel or the NIC verified it (TP_STATUS_CSUM_VALID). Absent when the device cannot tell.
 */
export type ChecksumStatus = 'partial' | 'valid'

/** What a device knows about a received packet beyond its bytes (shared, frozen objects: never keep or write). */
export interface ReceiveMeta {
  /** The kernel's word on the packet's checksums; undefined when it gave none. */
  readonly csum?: ChecksumStatus
}

/** The kernel said the checksum was left to offload (one shared object, so no allocation per packet). */
export const META_CSUM_PARTIAL: ReceiveMeta = Object.freeze({ csum: 'partial' })
/** The kernel said the checksum was verified (one shared object). */
export const META_CSUM_VALID: ReceiveMeta = Object.freeze({ csum: 'valid' })

/**
 * Called with each received packet (a whole IP packet or Ethernet frame, per `medium`) and, from a device
 * that knows more, its {@link ReceiveMeta}. A wrapper that changes the bytes (a fault injector) must not
 * pass the meta on.
 */
export type ReceiveHandler = (packet: Uint8Array, meta?: ReceiveMeta) => void

/** Called with an error the device hit outside a call (a failed asynchronous send, a dead socket). */
export type ErrorHandler = (err: Error) => void

/** Anything that moves packets. */
export interface Device {
  /** 'ip' devices carry IP packets, 'ethernet' devices carry frames with a 14-byte header. */
  readonly medium: Medium
  /** Largest IP packet (IP medium) or frame payload (Ethernet medium) the device carries. */
  readonly mtu: number
  /** Sends one packet; the buffer may be reused once this returns. Throws WireError DEV_ERR_CLOSED after close. */
  send(packet: Uint8Array): void
  /** Sets the receive handler (one at a time: a later call replaces it). Packets with no handler are dropped. */
  onReceive(handler: ReceiveHandler): void
  /** Sets the error handler (one at a time); without one, asynchronous errors are counted and dropped. */
  onError?(handler: ErrorHandler): void
  /** Counters of what the device did, for diagnostics and tests. */
  stats?(): DeviceStats
  /** Releases the device; idempotent. */
  close(): void
}

/** Counters every device may report. Malformed or foreign input is dropped and counted, never thrown. */
export interface DeviceStats {
  /** Packets handed to the wire (or to the peer, for in-memory devices). */
  sent: number
  /** Packets delivered to the receive handler. */
  received: number
  /** Received packets dropped: malformed, not for this device, or no handler set. */
  dropped: number
  /** Sends that failed (oversize, socket error). */
  sendErrors: number
}

/** A fresh zeroed DeviceStats. */
export function emptyStats(): DeviceStats {
  return { sent: 0, received: 0, dropped: 0, sendErrors: 0 }
}

/** Default MTU of the Ethernet-sized links tcplab uses (veth, the in-memory pair). */
export const DEFAULT_MTU = 1500
