/**
 * tcplab's TCP as one host in virtual time, for scripts: the connection table (TCBs by 4-tuple), listeners
 * by port, a clock that moves only when told, and the queue of IP packets the stack sent. Inbound packets
 * are demultiplexed as Linux does (an established connection first, then a listener, else the RFC 9293
 * §3.10.7.1 reply for no connection); outbound segments are pumped from every TCB whenever time moves or a
 * packet or call changes something, and stamped with the virtual time they left at.
 */
import { buildTcpPacket, decodeIp } from '../../net/packet.js'
import { ipEquals } from '../../net/addr.js'
import { Listener, rstForClosed } from '../../tcp/listener.js'
import { Tcb } from '../../tcp/tcb.js'
import { TcpFlags, type TcpRepr } from '../../tcp/segment.js'
import { seqAdd, seqGe, seqGt, seqLt, type Seq } from '../../tcp/seq.js'
import type { FourTuple } from '../../tcp/types.js'
import { FastOpenCache } from '../../tcp/fastopen.js'

/** One packet the stack sent, stamped in virtual µs. */
export interface SentPacket {
  bytes: Uint8Array
  time: number
}

/** A listener and the address it listens on (undefined: any). */
export interface BoundListener {
  listener: Listener
  addr: Uint8Array | undefined
  port: number
}

const key = (localPort: number, remoteAddr: Uint8Array, remotePort: number): string => `${localPort}|${remoteAddr.join('.')}|${remotePort}`

/** The host: TCBs, listeners, the virtual clock and the sent packets. */
export class VirtualStack {
  /** Virtual time in µs. */
  now = 0
  /** Packets sent and not yet read by the engine. */
  readonly sent: SentPacket[] = []
  private readonly conns = new Map<string, Tcb>()
  private readonly listeners: BoundListener[] = []
  /** Called after anything may have changed a socket (packets in, timers, calls): blocked calls re-check. */
  onChange: () => void = () => {}
  /** Extra wake-up times (blocked calls with a timeout, such as poll's). */
  timers: () => number | undefined = () => undefined
  /**
   * Connections whose socket gave up receiving (close(), or shutdown with SHUT_RD): as Linux's
   * tcp_rcv_state_process, new data reaching one in FIN-WAIT-1/2 aborts it, answered with the RST of
   * §3.10.7.1 (Linux's tcp_v4_send_reset), instead of being acknowledged.
   */
  readonly rcvShutdown = new WeakSet<Tcb>()
  /**
   * Connections whose socket was closed (orphans), with when each entered FIN-WAIT-2. As Linux's tcp_close and
   * tcp_fin_time, an orphan lives in FIN-WAIT-2 at most max(tcp_fin_timeout, 3.5 × RTO); then it is gone and
   * a later segment draws the RST of §3.10.7.1. (RFC 9293 keeps FIN-WAIT-2 open; an orphan could wait forever.)
   */
  private readonly orphans = new Map<Tcb, number | undefined>()
  /** net.ipv4.tcp_fin_timeout in µs (Linux's default 60 s). */
  finTimeout = 60_000_000
  /**
   * net.ipv4.tcp_rfc1337: a RST reaching a connection in TIME-WAIT is dropped (RFC 1337 §3, fix TW1)
   * instead of closing it. Linux decides it in its TIME-WAIT minisocket (tcp_timewait_state_process), the
   * host's part, so the stack does it here and the TCB keeps RFC 9293's rule.
   */
  rfc1337 = false
  /**
   * Connections an ICMP port unreachable ended in SYN-SENT or SYN-RECEIVED, with the error their socket
   * reports (Linux's tcp_v4_err/tcp_v6_err set sk_err to ECONNREFUSED and tcp_done the socket).
   */
  readonly icmpErrors = new WeakMap<Tcb, 'ECONNREFUSED'>()
  /**
   * The soft error an ICMP port unreachable leaves on a synchronized connection (Linux's sk_err_soft): the
   * connection goes on, and SO_ERROR reads it once when there is no other error (sock_getsockopt).
   */
  readonly icmpSoftErrors = new WeakMap<Tcb, 'ECONNREFUSED'>()
  /** The host's TCP Fast Open cookies, per server (RFC 7413 §4.1.3; Linux keeps them in its tcp_metrics). */
  readonly fastOpenCache = new FastOpenCache()
  /** Sees every packet in (from the script) and out (from the stack), stamped in virtual µs (--pcap). */
  record: ((bytes: Uint8Array, time: number) => void) | undefined

  constructor(readonly localAddr: Uint8Array) {}

  /** Starts tracking a TCB (an active open, or a listener's child) and sends what it has to send. */
  add(tcb: Tcb): void {
    const t = tcb.tuple
    this.conns.set(key(t.localPort, t.remoteAddr, t.remotePort), tcb)
    this.pump()
  }

  /** Whether a local port is in use by a connection or a listener. */
  portInUse(port: number): boolean {
    if (this.listeners.some((l) => l.port === port)) return true
    for (const t of this.conns.values()) if (t.tuple.localPort === port) return true
    return false
  }

  /** Starts a listener. */
  listen(l: BoundListener): void {
    this.listeners.push(l)
  }

  /** Stops a listener (its not-yet-accepted connections are the socket layer's to abort). */
  unlisten(l: Listener): void {
    const i = this.listeners.findIndex((b) => b.listener === l)
    if (i >= 0) this.listeners.splice(i, 1)
  }

  /** A connection whose socket was closed: it may abort on data and expires in FIN-WAIT-2 (see `orphans`). */
  orphan(tcb: Tcb): void {
    this.rcvShutdown.add(tcb)
    this.orphans.set(tcb, undefined)
  }

  /** When an orphan in FIN-WAIT-2 is dropped (Linux's tcp_fin_time), or undefined. */
  private orphanEnd(tcb: Tcb): number | undefined {
    const at = this.orphans.get(tcb)
    if (at === undefined) return undefined
    const rto = tcb.rtt.current
    return at + Math.max(this.finTimeout, 4 * rto - rto / 2)
  }

  /** Forgets a port's half-open connections (a closed listener's SYN queue: Linux drops them silently). */
  dropHalfOpen(port: number): void {
    // A Fast Open child is not half-open for this purpose: it was accepted, its socket lives on (Linux).
    for (const [k, t] of this.conns) if (t.passive && !t.fastOpenPassive && t.tuple.localPort === port && t.state === 'SYN-RECEIVED') this.conns.delete(k)
  }

  /** An IP packet from the wire (the script's side). Anything not for us, or unparsable, is dropped. */
  inject(bytes: Uint8Array): void {
    this.record?.(bytes, this.now)
    let tcp
    let src: Uint8Array
    let dst: Uint8Array
    try {
      const d = decodeIp(bytes)
      if (d.ip && !d.tcp && ipEquals(d.ip.dst, this.localAddr)) {
        const v6 = bytes[0]! >> 4 === 6
        if (d.ip.protocol === (v6 ? 58 : 1)) this.icmp(d.ip.payload, v6)
        return
      }
      if (!d.ip || !d.tcp || d.tcp.checksumOk === false) return
      tcp = d.tcp
      src = d.ip.src
      dst = d.ip.dst
    } catch {
      return
    }
    if (!ipEquals(dst, this.localAddr)) return
    const tuple: FourTuple = { localAddr: dst, localPort: tcp.dstPort, remoteAddr: src, remotePort: tcp.srcPort }
    const k = key(tcp.dstPort, src, tcp.srcPort)
    const tcb = this.conns.get(k)
    if (tcb && tcb.state !== 'CLOSED' && this.abortsOnData(tcb, tcp)) {
      this.conns.delete(k)
      const r = rstForClosed(tcp)
      if (r) this.emit(tuple, r)
    } else if (tcb && tcb.state === 'TIME-WAIT' && this.rfc1337 && tcp.flags & TcpFlags.RST) {
      // dropped (see rfc1337)
    } else if (tcb && tcb.state !== 'CLOSED') {
      tcb.process(this.now, tcp)
    } else {
      const l = this.listeners.find((b) => b.port === tcp.dstPort && (b.addr === undefined || ipEquals(b.addr, dst)))
      if (l) {
        const r = l.listener.process(this.now, tcp, tuple)
        if (r instanceof Tcb) this.conns.set(k, r)
        else if (r) this.emit(tuple, r)
      } else {
        const r = rstForClosed(tcp)
        if (r) this.emit(tuple, r)
      }
    }
    this.pump()
  }

  /**
   * An ICMP error about a segment we sent (RFC 1122 §4.2.3.9, RFC 5927 §4.1): only a port unreachable
   * (ICMPv4 3/3, ICMPv6 1/4) is acted on, as Linux does it — the quoted segment must be in flight (SND.UNA ≤
   * SEG.SEQ < SND.NXT), then in SYN-SENT or SYN-RECEIVED it is a hard error that ends the connection without
   * a segment (ECONNREFUSED); in a synchronized state it is a soft error (RFC 1122 §4.2.3.9: the connection
   * is not aborted) that only SO_ERROR reports. The target reports other ICMP lines unsupported before the run.
   */
  private icmp(icmp: Uint8Array, v6: boolean): void {
    const portUnreachable = v6 ? icmp[0] === 1 && icmp[1] === 4 : icmp[0] === 3 && icmp[1] === 3
    if (!portUnreachable || icmp.length < 8) return
    const quoted = icmp.subarray(8)
    const ipLen = v6 ? 40 : (quoted[0]! & 0x0f) * 4
    const proto = v6 ? quoted[6] : quoted[9]
    if (proto !== 6 || quoted.length < ipLen + 8) return
    const dst = v6 ? quoted.subarray(24, 40) : quoted.subarray(16, 20)
    const th = new DataView(quoted.buffer, quoted.byteOffset + ipLen, 8)
    const tcb = this.conns.get(key(th.getUint16(0), dst, th.getUint16(2)))
    if (!tcb || tcb.state === 'CLOSED') return
    const seq = th.getUint32(4) as Seq
    if (!(seqGe(seq, tcb.sndUna) && seqLt(seq, tcb.sndNxt))) return
    if (tcb.state !== 'SYN-SENT' && tcb.state !== 'SYN-RECEIVED') {
      this.icmpSoftErrors.set(tcb, 'ECONNREFUSED')
      return
    }
    this.icmpErrors.set(tcb, 'ECONNREFUSED')
    tcb.abort()
  }

  private abortsOnData(tcb: Tcb, seg: TcpRepr): boolean {
    if (!this.rcvShutdown.has(tcb) || (tcb.state !== 'FIN-WAIT-1' && tcb.state !== 'FIN-WAIT-2')) return false
    return seg.payload.length > 0 && seqGt(seqAdd(seg.seq, seg.payload.length), tcb.rcvNxt)
  }

  /** Sends every segment due now from every TCB, forgets closed ones, and lets blocked calls re-check. */
  pump(): void {
    for (let round = 0; round < 1000; round++) {
      let any = false
      for (const [k, tcb] of this.conns) {
        for (let i = 0; i < 10000; i++) {
          // The first dispatch is unconditional: after a call or a segment the TCB arms its timers there
          // (the persist timer, for one); then it runs for as long as it says something is due.
          const at = tcb.pollAt()
          if (i > 0 && (at === undefined || at > this.now)) break
          const seg = tcb.dispatch(this.now)
          if (!seg) break
          this.emit(tcb.tuple, seg)
          any = true
        }
        if (tcb.state === 'CLOSED' && tcb.pollAt() === undefined) this.conns.delete(k)
        if (this.orphans.has(tcb)) {
          if (tcb.state === 'FIN-WAIT-2' && this.orphans.get(tcb) === undefined) this.orphans.set(tcb, this.now)
          const end = this.orphanEnd(tcb)
          if (end !== undefined && this.now >= end) {
            this.conns.delete(k)
            this.orphans.delete(tcb)
          }
        }
      }
      this.onChange()
      if (!any) break
    }
  }

  /** The earliest time something is due after now (a TCB timer or a blocked call's timeout). */
  nextAt(): number | undefined {
    let t = this.timers()
    for (const tcb of this.conns.values()) {
      const at = tcb.pollAt()
      if (at !== undefined && (t === undefined || at < t)) t = at
      const end = this.orphanEnd(tcb)
      if (end !== undefined && (t === undefined || end < t)) t = end
    }
    return t === undefined ? undefined : Math.max(t, this.now)
  }

  /** Moves the clock to `t` (never back) and sends what is due. */
  advanceTo(t: number): void {
    if (t > this.now) this.now = t
    this.pump()
  }

  private emit(tuple: FourTuple, seg: TcpRepr): void {
    const bytes = buildTcpPacket({ src: tuple.localAddr, dst: tuple.remoteAddr }, seg)
    this.record?.(bytes, this.now)
    this.sent.push({ bytes, time: this.now })
  }
}
