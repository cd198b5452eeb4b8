/**
 * Wire timestamps: a middleware device that notes when each TCP segment really crossed the device below
 * it — right after the device's `send` returned (after ARP/NDP resolution, which happens above it), and
 * the moment the device handed a received packet up, before anything else runs. The interface's own
 * clock readings are taken when an entry point starts, before the segment is built (a first SYN costs
 * milliseconds of lazy compilation in V8 before it leaves) and after whatever the event loop was busy
 * with, so they cannot measure a round trip of tens of microseconds; these stamps can.
 *
 * Neither raw-socket nor cap hands over the kernel's own timestamps (SO_TIMESTAMPNS, the pcap header's
 * ts), so the process clock read at the device boundary is the closest a stamp can be.
 */
import type { Device, ErrorHandler, ReceiveHandler } from './device.js'

/** One TCP segment as it crossed the device, and when (µs on the clock given to {@link wireStampTap}). */
export interface WireStamp {
  dir: 'in' | 'out'
  atUs: number
  srcPort: number
  dstPort: number
  seq: number
  ack: number
  /** The TCP header's flag byte (CWR … FIN). */
  flags: number
  /** TCP payload bytes. */
  len: number
}

/** Called with each stamp. */
export type WireStampListener = (stamp: WireStamp) => void

/** A device that reports when TCP segments crossed the device it wraps. */
export interface WireStampDevice extends Device {
  /** Adds a listener; returns the function that removes it. Stamps are only made while one is set. */
  onStamp(listener: WireStampListener): () => void
}

const ETHERTYPE_IPV4 = 0x0800
const ETHERTYPE_IPV6 = 0x86dd
const ETHERTYPE_VLAN = 0x8100
const ETHERTYPE_QINQ = 0x88a8
const IPPROTO_TCP = 6

/**
 * The TCP segment in an IP packet or Ethernet frame (behind up to two VLAN tags), read in place; undefined
 * for anything else (ARP, fragments, IPv6 extension headers, truncated headers).
 */
export function tcpStampOf(p: Uint8Array, medium: 'ip' | 'ethernet', dir: 'in' | 'out', atUs: number): WireStamp | undefined {
  let o = 0
  if (medium === 'ethernet') {
    if (p.length < 14) return undefined
    let type = (p[12] << 8) | p[13]
    o = 14
    for (let tags = 0; tags < 2 && (type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ) && o + 4 <= p.length; tags++) {
      type = (p[o + 2] << 8) | p[o + 3]
      o += 4
    }
    if (type !== ETHERTYPE_IPV4 && type !== ETHERTYPE_IPV6) return undefined
  }
  if (p.length < o + 20) return undefined
  const version = p[o] >> 4
  let tcp: number
  let ipEnd: number
  if (version === 4) {
    const ihl = (p[o] & 0x0f) * 4
    // A later fragment has no TCP header; a first one has, but is not a whole segment: neither is stamped.
    if (p[o + 9] !== IPPROTO_TCP || ihl < 20 || ((p[o + 6] & 0x3f) | p[o + 7]) !== 0) return undefined
    tcp = o + ihl
    ipEnd = o + ((p[o + 2] << 8) | p[o + 3])
  } else if (version === 6) {
    if (p.length < o + 40 || p[o + 6] !== IPPROTO_TCP) return undefined
    tcp = o + 40
    ipEnd = tcp + ((p[o + 4] << 8) | p[o + 5])
  } else return undefined
  if (ipEnd > p.length || tcp + 20 > ipEnd) return undefined
  const dataOff = (p[tcp + 12] >> 4) * 4
  return {
    dir,
    atUs,
    srcPort: (p[tcp] << 8) | p[tcp + 1],
    dstPort: (p[tcp + 2] << 8) | p[tcp + 3],
    seq: ((p[tcp + 4] << 24) | (p[tcp + 5] << 16) | (p[tcp + 6] << 8) | p[tcp + 7]) >>> 0,
    ack: ((p[tcp + 8] << 24) | (p[tcp + 9] << 16) | (p[tcp + 10] << 8) | p[tcp + 11]) >>> 0,
    flags: p[tcp + 13],
    len: Math.max(0, ipEnd - tcp - dataOff),
  }
}

/**
 * Wraps `inner` so that every TCP segment it sends or receives is stamped with `clock()` (µs) as it
 * crosses: outgoing ones once `inner.send` has returned, incoming ones before the packet is handed on —
 * or, on a device with `onWake` (the raw device), when it woke up to read the batch the packet came in.
 * Use the interface's clock, so stamps and the interface's times are on one scale.
 */
export function wireStampTap(inner: Device & { onWake?(handler: () => void): void }, clock: () => number): WireStampDevice {
  const listeners: WireStampListener[] = []
  // A device that says when it woke up to read (the raw device reads a batch per wake-up) gives an
  // earlier time than the hand-over: every packet of the batch had arrived by then.
  let wokeAt: number | undefined
  inner.onWake?.(() => {
    if (listeners.length > 0) wokeAt = clock()
  })
  const emit = (p: Uint8Array, dir: 'in' | 'out', at: number): void => {
    const s = tcpStampOf(p, inner.medium, dir, at)
    if (s !== undefined) for (const l of [...listeners]) l(s)
  }
  const dev: WireStampDevice = {
    medium: inner.medium,
    mtu: inner.mtu,
    send(packet: Uint8Array): void {
      inner.send(packet)
      if (listeners.length > 0) emit(packet, 'out', clock())
    },
    onReceive(handler: ReceiveHandler): void {
      inner.onReceive((packet, meta) => {
        if (listeners.length > 0) emit(packet, 'in', wokeAt ?? clock())
        handler(packet, meta)
      })
    },
    onError(handler: ErrorHandler): void {
      inner.onError?.(handler)
    },
    stats: inner.stats ? () => inner.stats!() : undefined,
    close(): void {
      listeners.length = 0
      inner.close()
    },
    onStamp(listener: WireStampListener): () => void {
      listeners.push(listener)
      return () => {
        const i = listeners.indexOf(listener)
        if (i >= 0) listeners.splice(i, 1)
      }
    },
  }
  return dev
}
