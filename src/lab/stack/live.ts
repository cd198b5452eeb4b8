/**
 * Live stacks: the userland TCP on a real device, as `handshake`, `listen`, `demo` and the interop tests
 * run it. `raw` speaks from an address the kernel owns (raw-socket, IP medium) and so needs an RST guard
 * scoped to exactly its address and port; `pcap` owns an address and MAC of its own on an interface
 * (libpcap, Ethernet medium, ARP/NDP answered by us) and needs none.
 */
import { randomBytes } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import { WireError } from '../../tcp/errors.js'
import type { TcpConfig } from '../../tcp/types.js'
import { formatIp, formatMac, parseIp } from '../../net/addr.js'
import type { Device } from '../../net/device.js'
import { openRawDevice } from '../../net/rawdev.js'
import { ipOverEthernet, openCapDevice, probeAddress } from '../../net/capdev.js'
import { pcapTap } from '../../net/memdev.js'
import { LINKTYPE_ETHERNET, LINKTYPE_RAW, PcapWriter, type PcapFileWriter } from '../../net/pcap.js'
import { installRstGuard, type RstGuard } from '../../net/rstguard.js'
import { hasRawPrivilege } from '../../net/native.js'
import { kernelLocalPortRange, kernelPortUse } from '../../net/kernelports.js'
import { wireStampTap, type WireStampDevice } from '../../net/wirestamp.js'
import { monotonicUs } from './clock.js'
import { Interface, type InterfaceOptions } from './iface.js'

/** How the userland stack reaches the wire. */
export type Via = 'raw' | 'pcap'

/** Options of {@link openLiveStack}. */
export interface LiveStackOptions {
  via: Via
  /** A peer address, used to find the outgoing interface and source address when not given. */
  peer?: Uint8Array
  /** Our address: for raw one the kernel owns (default: the route's source), for pcap one nobody holds. */
  localAddr?: Uint8Array
  /** Interface for pcap (default: the route's device). */
  iface?: string
  /** Our MAC for pcap (default: a random locally administered one). */
  mac?: string
  /** pcap only: segmentation offload on transmit (the capture device's `gso`; needs tcplab-packet-tx). */
  gso?: boolean
  /** Ports the RST guard must cover (raw only): our source port, or the port we listen on. */
  guardPorts?: number[]
  /** Write every packet sent and received here. */
  pcapFile?: string
  tcp?: Partial<TcpConfig>
}

/** A running live stack; `close()` removes the guard, closes the device and the capture file. */
export interface LiveStack {
  iface: Interface
  via: Via
  localAddr: Uint8Array
  /** The interface name (pcap) or undefined. */
  device: string | undefined
  mac: string | undefined
  guards: RstGuard[]
  /** When each TCP segment really crossed the device (stamps on the interface's clock), for RTTs. */
  wire: WireStampDevice
  close(): Promise<void>
}

/** What `ip route get` says about reaching `peer`: the device and our source address. */
export function routeTo(peer: Uint8Array): { dev: string; src: Uint8Array } {
  const family = peer.length === 4 ? '-4' : '-6'
  let out: string
  try {
    out = execFileSync('ip', [family, 'route', 'get', formatIp(peer)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  } catch (e) {
    const msg = (e as { stderr?: string }).stderr?.trim().split('\n')[0] ?? String(e)
    throw new WireError('DEV_ERR_IO', `no route to ${formatIp(peer)}: ${msg}`)
  }
  const dev = /\bdev (\S+)/.exec(out)?.[1]
  const src = /\bsrc (\S+)/.exec(out)?.[1]
  if (!dev || !src) throw new WireError('DEV_ERR_IO', `cannot tell the route to ${formatIp(peer)} from: ${out.trim()}`)
  return { dev, src: parseIp(src) }
}

/** The line said once per run when offloaded checksums were accepted (issue 12): what happened and the way out. */
export const OFFLOAD_NOTICE =
  'tcplab: accepted TCP checksums that the local sender left to offload (the field held only the pseudo-header ' +
  "sum, as a veth or loopback at the kernel's defaults leaves it; counted as checksumOffloaded); for wire-exact " +
  'checksums turn transmit checksum offload off on the sender (ethtool -K IF tx off) or use tcplab netns up --offloads off'

/** Says {@link OFFLOAD_NOTICE} through `say` at the first segment accepted with an offloaded checksum, once. */
export function sayOffloadsOnce(iface: Interface, say: (line: string) => void): void {
  iface.once('checksumOffloaded', () => say(OFFLOAD_NOTICE))
}

/** A random unicast, locally administered MAC (02:xx:…). */
export function randomMac(): string {
  const b = randomBytes(6)
  b[0] = 0x02
  return formatMac(b)
}

/**
 * The ports tcplab picks its own from: above the kernel's ephemeral range (Linux's default ends at 60999,
 * so 61000–65535), where the kernel never picks one for a connection of its own, so a raw socket sharing
 * the kernel's address never meets a kernel connection on the same 4-tuple. When the kernel's range
 * leaves fewer than 1024 ports above it, the IANA dynamic range (49152–65535, RFC 6335 §6).
 */
export function ownPortRange(): [number, number] {
  const [, hi] = kernelLocalPortRange()
  return 65535 - hi >= 1024 ? [hi + 1, 65535] : [49152, 65535]
}

/**
 * A random port from {@link ownPortRange} that the kernel does not use on `addr` (any address when not
 * given) right now (/proc/net/tcp).
 */
export function randomEphemeralPort(addr?: Uint8Array): number {
  const [lo, hi] = ownPortRange()
  const span = hi - lo + 1
  let port = lo + (randomBytes(2).readUInt16BE(0) % span)
  for (let i = 0; i < 64; i++) {
    if (kernelPortUse(addr ?? new Uint8Array(4), port) === undefined && (addr !== undefined || kernelPortUse(new Uint8Array(16), port) === undefined)) break
    port = lo + (randomBytes(2).readUInt16BE(0) % span)
  }
  return port
}

/**
 * Interface options for a live device: on `raw` the kernel owns the address, so the interface owns only
 * its ports (`ownership: 'ports'`: nothing else is ever answered) and picks ports above the kernel's range.
 */
export function liveInterfaceOptions(via: Via): Pick<InterfaceOptions, 'ownership' | 'ephemeralPorts'> {
  return via === 'raw' ? { ownership: 'ports', ephemeralPorts: ownPortRange() } : { ownership: 'address' }
}

/**
 * Waits (at most `ms`) until no connection of the interface is still closing: LAST-ACK, CLOSING and
 * FIN-WAIT states get a moment to finish before the stack is torn down. TIME-WAIT does not hold it up.
 */
export async function drain(iface: Interface, ms = 2000): Promise<void> {
  const until = Date.now() + ms
  const busy = (): boolean => {
    for (const c of iface.connections()) if (c.state !== 'TIME-WAIT' && c.state !== 'CLOSED') return true
    return false
  }
  while (busy() && Date.now() < until) await new Promise((r) => setTimeout(r, 10))
}

/** The device half of a live stack: an IP-medium device plus what must be undone when it closes. */
export interface LiveDevice {
  device: Device
  via: Via
  localAddr: Uint8Array
  /** The interface name (pcap) or undefined. */
  ifname: string | undefined
  mac: string | undefined
  guards: RstGuard[]
  /**
   * The stamping tap right on the device (below the capture file and, for pcap, below ARP/NDP): when each
   * TCP segment left or arrived, on {@link monotonicUs}, the clock a live interface runs on.
   */
  wire: WireStampDevice
  /** Removes the guards and closes the capture file (the device is closed by whoever owns it). */
  release(): Promise<void>
}

/** Opens the device, the capture tap and the RST guard (everything but the interface). */
export async function openLiveDevice(opts: LiveStackOptions): Promise<LiveDevice> {
  if (!hasRawPrivilege()) {
    throw new WireError('DEV_ERR_PERMISSION', `--via ${opts.via} needs root or CAP_NET_RAW (run with sudo)`)
  }
  const route = opts.peer ? routeTo(opts.peer) : undefined
  const guards: RstGuard[] = []
  let writer: PcapFileWriter | undefined
  let device: Device | undefined
  const release = async (): Promise<void> => {
    for (const g of guards) await g.remove().catch(() => {})
    guards.length = 0
    writer?.close()
    writer = undefined
  }
  try {
    if (opts.via === 'raw') {
      if (opts.gso === true) throw new WireError('ERR_BAD_ARGUMENT', '--gso needs --via pcap (a raw IP socket cannot hand the kernel a super-frame)')
      const localAddr = opts.localAddr ?? route?.src
      if (!localAddr) throw new WireError('ERR_BAD_ARGUMENT', '--via raw needs a source address (--src) or a peer to route to')
      // The kernel owns this address: a port it already uses is its own, and two stacks must never answer
      // the same segments.
      for (const port of opts.guardPorts ?? []) {
        const use = kernelPortUse(localAddr, port)
        if (use !== undefined) {
          throw new WireError('DEV_ERR_PORT_IN_USE', `${use}: pick another port, or use --via pcap with an address of its own`)
        }
      }
      for (const port of opts.guardPorts ?? []) guards.push(await installRstGuard({ addr: formatIp(localAddr), port }))
      const wire = wireStampTap(openRawDevice({ family: localAddr.length === 4 ? 4 : 6, localAddress: formatIp(localAddr) }), monotonicUs)
      device = wire
      if (opts.pcapFile) {
        writer = PcapWriter.toFile(opts.pcapFile, { linkType: LINKTYPE_RAW })
        device = pcapTap(device, writer)
      }
      return { device, via: 'raw', localAddr, ifname: undefined, mac: undefined, guards, wire, release }
    }
    const ifname = opts.iface ?? route?.dev
    if (!ifname) throw new WireError('ERR_BAD_ARGUMENT', '--via pcap needs --iface IF (or a peer to route to)')
    const localAddr = opts.localAddr
    if (!localAddr) {
      throw new WireError('ERR_BAD_ARGUMENT', `--via pcap needs an address of its own on ${ifname} that no host uses (--src/--ip)`)
    }
    const mac = opts.mac ?? randomMac()
    let eth: Device = openCapDevice({ iface: ifname, mac, gso: opts.gso === true })
    device = eth
    // Nobody may hold the address already: not the local kernel, and no neighbour answering an ARP probe
    // or a solicitation from :: for it (RFC 5227, RFC 4862 §5.4); DEV_ERR_ADDRESS_IN_USE names who does.
    await probeAddress({ device: eth, mac, addr: localAddr, iface: ifname })
    const wire = wireStampTap(eth, monotonicUs)
    eth = wire
    device = eth
    if (opts.pcapFile) {
      writer = PcapWriter.toFile(opts.pcapFile, { linkType: LINKTYPE_ETHERNET })
      eth = pcapTap(eth, writer)
      device = eth
    }
    device = ipOverEthernet(eth, localAddr.length === 4 ? { mac, ipv4: formatIp(localAddr) } : { mac, ipv6: formatIp(localAddr) })
    return { device, via: 'pcap', localAddr, ifname, mac, guards, wire, release }
  } catch (e) {
    try {
      device?.close()
    } catch {
      // already closed
    }
    await release()
    throw e
  }
}

/** Opens the device, the capture tap, the RST guard and the interface. */
export async function openLiveStack(opts: LiveStackOptions): Promise<LiveStack> {
  const d = await openLiveDevice(opts)
  const iface = new Interface({ device: d.device, addrs: [d.localAddr], tcp: opts.tcp, ...liveInterfaceOptions(d.via) })
  return {
    iface,
    via: d.via,
    localAddr: d.localAddr,
    device: d.ifname,
    mac: d.mac,
    guards: d.guards,
    wire: d.wire,
    close: async () => {
      iface.close()
      await d.release()
    },
  }
}
