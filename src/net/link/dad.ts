/**
 * Duplicate address detection for an address the capture device is about to claim: before tcplab answers
 * ARP or neighbor solicitations for an address of its own, it makes sure nobody else does. Two checks:
 * the local kernel's own addresses in this namespace (`ip -o addr`: the kernel answers for those, and a
 * frame we send never reaches it, so no probe would tell), then probes on the wire as a host does before
 * it configures an address — an RFC 5227 ARP probe (sender IP 0.0.0.0) for IPv4, an RFC 4862 §5.4.2
 * neighbor solicitation from :: for IPv6 — answered by anyone who holds it. RFC 5227 waits 1–2 s between
 * three probes and 2 s after; tcplab sends three in about a second, which a host on the link answers in
 * well under a millisecond. Once the address is free it is announced (RFC 5227 §2.3, RFC 4861 §7.2.6)
 * twice, 2 s apart, so a neighbour that still maps it to another MAC (a tcplab run before this one, with a
 * MAC of its own) forgets that at once instead of sending to the old MAC until its entry goes stale.
 */
import { execFileSync } from 'node:child_process'
import { finishChecksum, onesSum, pseudoHeaderSum } from '../../tcp/checksum.js'
import { WireError } from '../../tcp/errors.js'
import { formatIp, formatMac, parseIp, parseMac } from '../addr.js'
import { ARP_LEN, ARP_OP_REQUEST, emitArp, parseArp } from '../arp.js'
import type { Device } from '../device.js'
import { emitEthernetHeader, ETHERNET_HEADER_LEN, ETHERNET_MIN_FRAME_LEN, ETHERTYPE_ARP, ETHERTYPE_IPV6 } from '../ethernet.js'
import { IPPROTO_ICMPV6, IPV6_HEADER_LEN } from '../ipv6.js'
import { BROADCAST_MAC, bytesAt, sameBytes, ZERO_MAC } from './bytes.js'
import { multicastMac, solicitedNode } from './ndp.js'
import type { Timers } from './neighbor.js'

/** An address the local kernel holds, as `ip -o addr` lists it. */
export interface KernelAddress {
  /** The address, in text form. */
  addr: string
  /** Prefix length. */
  prefix: number
  /** The interface it is on. */
  dev: string
  /** That interface's MAC, when it has one. */
  mac?: string
}

/** Options of {@link probeAddress}. */
export interface AddressProbeOptions {
  /**
   * The Ethernet-medium device to probe through (the capture device, before anything else sets its
   * receive handler: the probe sets it while it runs and clears it after).
   */
  device: Device
  /** Our MAC: the probes' sender hardware address. */
  mac: string
  /** The address to claim. */
  addr: Uint8Array | string
  /** The interface's name, for messages. */
  iface?: string
  /** Probes sent (default 3, RFC 5227's PROBE_NUM). */
  probes?: number
  /** Announcements once the address is free (default 2, RFC 5227 ANNOUNCE_NUM); 0 sends none. */
  announcements?: number
  /** Wait between announcements (default 2000 ms, RFC 5227 ANNOUNCE_INTERVAL). */
  announceIntervalMs?: number
  /** Wait after each probe, for an answer (default 333 ms: about a second in all). */
  intervalMs?: number
  /** The local kernel's addresses (default: `ip -o addr show` and `ip -o link show` in this namespace). */
  kernelAddresses?: () => KernelAddress[]
  /** Timers (default the global ones). */
  timers?: Timers
}

const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
}

const ND_NEIGHBOR_SOLICIT = 135
const ND_NEIGHBOR_ADVERT = 136
const ND_OPT_TARGET_LL = 2
/** An NS without options: type, code, checksum, reserved, target. */
const NS_LEN = 24

/**
 * Resolves when nobody holds `addr`: not the local kernel, and no answer to `probes` probes. Otherwise
 * throws WireError DEV_ERR_ADDRESS_IN_USE, one line naming who holds it and its MAC; a failed send
 * rejects with the device's error.
 */
export async function probeAddress(opts: AddressProbeOptions): Promise<void> {
  const addr = typeof opts.addr === 'string' ? parseIp(opts.addr) : opts.addr
  const text = formatIp(addr)
  const inUse = (who: string): WireError =>
    new WireError('DEV_ERR_ADDRESS_IN_USE', `${text} is in use${opts.iface !== undefined ? ` on ${opts.iface}` : ''}: ${who}; pick an address no host uses`)
  const local = (opts.kernelAddresses ?? kernelAddresses)().find((k) => kernelHolds(k, addr))
  if (local !== undefined) {
    throw inUse(`the local kernel holds it (${local.addr}/${local.prefix} on ${local.dev}${local.mac !== undefined ? `, MAC ${local.mac}` : ''})`)
  }
  const mac = parseMac(opts.mac)
  const probe = addr.length === 4 ? arpProbe(mac, addr) : dadSolicitation(mac, addr)
  const conflict = addr.length === 4 ? arpConflict : ndpConflict
  const timers = opts.timers ?? realTimers
  const probes = opts.probes ?? 3
  const intervalMs = opts.intervalMs ?? 333
  const dev = opts.device
  await new Promise<void>((resolve, reject) => {
    let sent = 0
    let timer: unknown
    let done = false
    const finish = (err?: Error): void => {
      if (done) return
      done = true
      timers.clearTimeout(timer)
      dev.onReceive(() => {})
      if (err !== undefined) reject(err)
      else resolve()
    }
    dev.onReceive((frame) => {
      const who = conflict(frame, addr, mac)
      if (who !== undefined) finish(inUse(who))
    })
    const next = (): void => {
      if (done) return
      if (sent === probes) {
        finish()
        announce(dev, addr.length === 4 ? arpAnnouncement(mac, addr) : unsolicitedAdvert(mac, addr), opts.announcements ?? 2, opts.announceIntervalMs ?? 2000, timers)
        return
      }
      try {
        dev.send(probe)
      } catch (e) {
        return finish(e instanceof Error ? e : new Error(String(e)))
      }
      sent++
      timer = timers.setTimeout(next, intervalMs)
    }
    next()
  })
}

/** Whether the kernel answers for `addr` because of `k`: the address itself, or any in a loopback prefix. */
function kernelHolds(k: KernelAddress, addr: Uint8Array): boolean {
  let a: Uint8Array
  try {
    a = parseIp(k.addr)
  } catch {
    return false
  }
  if (a.length !== addr.length) return false
  // Linux routes a loopback address's whole prefix as local (127.0.0.1/8: all of 127/8).
  const bits = k.dev === 'lo' ? k.prefix : a.length * 8
  for (let i = 0; i < bits; i++) {
    const m = 0x80 >> (i & 7)
    if ((a[i >> 3] & m) !== (addr[i >> 3] & m)) return false
  }
  return true
}

/** The addresses the local kernel holds in this namespace, with their interfaces' MACs (`ip -o addr`, `ip -o link`). */
export function kernelAddresses(): KernelAddress[] {
  const run = (args: string[]): string => {
    try {
      return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    } catch (e) {
      const msg = (e as { stderr?: string }).stderr?.trim().split('\n')[0] ?? String(e)
      throw new WireError('DEV_ERR_IO', `cannot list this host's addresses (ip ${args.join(' ')}): ${msg}`)
    }
  }
  return parseIpAddrShow(run(['-o', 'addr', 'show']), run(['-o', 'link', 'show']))
}

/** Parses `ip -o addr show` (and `ip -o link show`, for each interface's MAC) into {@link KernelAddress}es. */
export function parseIpAddrShow(addrText: string, linkText = ''): KernelAddress[] {
  const macs = new Map<string, string>()
  for (const line of linkText.split('\n')) {
    const m = /^\d+:\s+([^:@\s]+)[^:]*:.*\blink\/ether\s+([0-9a-f:]{17})/i.exec(line)
    if (m) macs.set(m[1], m[2].toLowerCase())
  }
  const out: KernelAddress[] = []
  for (const line of addrText.split('\n')) {
    const m = /^\d+:\s+([^\s@]+)\S*\s+inet6?\s+([0-9a-fA-F.:]+)\/(\d+)/.exec(line)
    if (!m) continue
    const mac = macs.get(m[1])
    out.push({ addr: m[2], prefix: Number(m[3]), dev: m[1], ...(mac !== undefined ? { mac } : {}) })
  }
  return out
}

/**
 * Sends `frame` `count` times, `intervalMs` apart, the first now. Later ones are best effort: the device
 * may be closed by then (a short run), and the timer never keeps the process alive.
 */
function announce(dev: Device, frame: Uint8Array, count: number, intervalMs: number, timers: Timers): void {
  const once = (left: number): void => {
    if (left <= 0) return
    try {
      dev.send(frame)
    } catch {
      return
    }
    if (left > 1) (timers.setTimeout(() => once(left - 1), intervalMs) as { unref?: () => void } | undefined)?.unref?.()
  }
  once(count)
}

/**
 * An RFC 5227 §2.3 ARP announcement: a broadcast request whose sender and target IP are both the address
 * claimed, from our MAC, target MAC zero, padded to 60 bytes.
 */
export function arpAnnouncement(mac: Uint8Array, addr: Uint8Array): Uint8Array {
  const f = new Uint8Array(ETHERNET_MIN_FRAME_LEN)
  emitEthernetHeader({ dst: BROADCAST_MAC, src: mac, etherType: ETHERTYPE_ARP }, f, 0)
  emitArp({ op: ARP_OP_REQUEST, senderMac: mac, senderIp: addr, targetMac: ZERO_MAC, targetIp: addr }, f, ETHERNET_HEADER_LEN)
  f.fill(0, ETHERNET_HEADER_LEN + ARP_LEN)
  return f
}

/**
 * An RFC 4861 §7.2.6 unsolicited neighbor advertisement: from the address claimed to all nodes (ff02::1),
 * hop limit 255, Override set and Solicited clear, with our MAC as the target link-layer address option.
 */
export function unsolicitedAdvert(mac: Uint8Array, addr: Uint8Array): Uint8Array {
  const allNodes = parseIp('ff02::1')
  const len = NS_LEN + 8
  const f = new Uint8Array(ETHERNET_HEADER_LEN + IPV6_HEADER_LEN + len)
  emitEthernetHeader({ dst: multicastMac(allNodes), src: mac, etherType: ETHERTYPE_IPV6 }, f, 0)
  const ip = ETHERNET_HEADER_LEN
  f[ip] = 0x60
  f[ip + 5] = len
  f[ip + 6] = IPPROTO_ICMPV6
  f[ip + 7] = 255
  f.set(addr, ip + 8)
  f.set(allNodes, ip + 24)
  const m = ip + IPV6_HEADER_LEN
  f[m] = ND_NEIGHBOR_ADVERT
  f[m + 4] = 0x20 // Override
  f.set(addr, m + 8)
  f[m + NS_LEN] = ND_OPT_TARGET_LL
  f[m + NS_LEN + 1] = 1
  f.set(mac, m + NS_LEN + 2)
  const sum = finishChecksum(onesSum(f, m, m + len, pseudoHeaderSum(addr, allNodes, IPPROTO_ICMPV6, len)))
  f[m + 2] = sum >>> 8
  f[m + 3] = sum & 0xff
  return f
}

/** An RFC 5227 §2.1.1 ARP probe: a broadcast request from sender IP 0.0.0.0, target MAC zero, padded to 60 bytes. */
export function arpProbe(mac: Uint8Array, target: Uint8Array): Uint8Array {
  const f = new Uint8Array(ETHERNET_MIN_FRAME_LEN)
  emitEthernetHeader({ dst: BROADCAST_MAC, src: mac, etherType: ETHERTYPE_ARP }, f, 0)
  emitArp({ op: ARP_OP_REQUEST, senderMac: mac, senderIp: new Uint8Array(4), targetMac: ZERO_MAC, targetIp: target }, f, ETHERNET_HEADER_LEN)
  f.fill(0, ETHERNET_HEADER_LEN + ARP_LEN)
  return f
}

/**
 * An RFC 4862 §5.4.2 duplicate address detection solicitation: from ::, to the target's solicited-node
 * group, hop limit 255, and no source link-layer option (RFC 4861 §4.3: none when the source is ::).
 */
export function dadSolicitation(mac: Uint8Array, target: Uint8Array): Uint8Array {
  const group = solicitedNode(target)
  const f = new Uint8Array(ETHERNET_HEADER_LEN + IPV6_HEADER_LEN + NS_LEN)
  emitEthernetHeader({ dst: multicastMac(group), src: mac, etherType: ETHERTYPE_IPV6 }, f, 0)
  const ip = ETHERNET_HEADER_LEN
  f[ip] = 0x60
  f[ip + 5] = NS_LEN
  f[ip + 6] = IPPROTO_ICMPV6
  f[ip + 7] = 255
  f.set(group, ip + 24)
  const m = ip + IPV6_HEADER_LEN
  f[m] = ND_NEIGHBOR_SOLICIT
  f.set(target, m + 8)
  const sum = finishChecksum(onesSum(f, m, m + NS_LEN, pseudoHeaderSum(new Uint8Array(16), group, IPPROTO_ICMPV6, NS_LEN)))
  f[m + 2] = sum >>> 8
  f[m + 3] = sum & 0xff
  return f
}

/**
 * RFC 5227 §2.1.1: any ARP packet whose sender IP is the address probed for, or another host's probe for
 * it (sender 0.0.0.0, target it, sender MAC not ours), is a conflict. Returns who, in words, or undefined.
 */
function arpConflict(frame: Uint8Array, addr: Uint8Array, ours: Uint8Array): string | undefined {
  if (frame.length < ETHERNET_HEADER_LEN || ((frame[12] << 8) | frame[13]) !== ETHERTYPE_ARP) return undefined
  let arp
  try {
    arp = parseArp(frame.subarray(ETHERNET_HEADER_LEN))
  } catch {
    return undefined
  }
  if (sameBytes(arp.senderMac, ours)) return undefined
  const who = formatMac(arp.senderMac)
  if (sameBytes(arp.senderIp, addr)) return `${who} answers ARP for it`
  if (arp.op === ARP_OP_REQUEST && arp.senderIp.every((b) => b === 0) && sameBytes(arp.targetIp, addr)) {
    return `${who} is probing for it too (ARP)`
  }
  return undefined
}

/**
 * RFC 4862 §5.4.3–5.4.4: a valid neighbor advertisement for the address, or another node's solicitation
 * for it from :: (its own duplicate address detection), is a conflict. Returns who, in words, or undefined.
 */
function ndpConflict(frame: Uint8Array, addr: Uint8Array, ours: Uint8Array): string | undefined {
  const ip = ETHERNET_HEADER_LEN
  if (frame.length < ip + IPV6_HEADER_LEN + NS_LEN || ((frame[12] << 8) | frame[13]) !== ETHERTYPE_IPV6) return undefined
  if (frame[ip] >> 4 !== 6 || frame[ip + 6] !== IPPROTO_ICMPV6 || frame[ip + 7] !== 255) return undefined
  const len = (frame[ip + 4] << 8) | frame[ip + 5]
  const m = ip + IPV6_HEADER_LEN
  if (len < NS_LEN || m + len > frame.length) return undefined
  const type = frame[m]
  if ((type !== ND_NEIGHBOR_ADVERT && type !== ND_NEIGHBOR_SOLICIT) || frame[m + 1] !== 0) return undefined
  const src = frame.subarray(ip + 8, ip + 24)
  const dst = frame.subarray(ip + 24, ip + 40)
  if (finishChecksum(onesSum(frame, m, m + len, pseudoHeaderSum(src, dst, IPPROTO_ICMPV6, len))) !== 0) return undefined
  if (!bytesAt(frame, m + 8, addr) || bytesAt(frame, 6, ours)) return undefined
  if (type === ND_NEIGHBOR_SOLICIT) {
    return src.every((b) => b === 0) ? `${formatMac(frame.subarray(6, 12))} is probing for it too (NDP duplicate address detection)` : undefined
  }
  // The advertiser's MAC from its target link-layer address option, else the frame's source.
  let who = frame.subarray(6, 12)
  for (let i = m + NS_LEN; i + 8 <= m + len; ) {
    const optLen = frame[i + 1] * 8
    if (optLen === 0) break
    if (frame[i] === ND_OPT_TARGET_LL && optLen >= 8) who = frame.subarray(i + 2, i + 8)
    i += optLen
  }
  return `${formatMac(who)} answers neighbor solicitations for it`
}
