/**
 * The typed AST of a packetdrill `.pkt` script. Every node carries the 1-based line and column where it
 * starts, so the engine can report `FILE:LINE:COL` for a failed expectation as the parser does for syntax.
 * Times are integer microseconds, converted from the decimal text exactly (no float rounding).
 */

/** A 1-based source position. */
export interface Pos {
  line: number
  col: number
}

/** `--name=value` or `--name value` before the first event; `name` is in underscore form (`tolerance_usecs`). */
export interface OptionLine extends Pos {
  name: string
  /** The value as written (quotes of a quoted value removed); undefined for a flag like `--strict_segments`. */
  value?: string
}

/** A command in backquotes: the init command, the cleanup command, or a timed shell event. */
export interface ShellCommand extends Pos {
  kind: 'shell'
  command: string
}

/** When an event happens. Relative times count from the previous event; ranges allow any time within. */
export type TimeSpec =
  | ({ kind: 'absolute'; usecs: number } & Pos)
  | ({ kind: 'relative'; usecs: number } & Pos)
  /** `*`: any time (outbound packets only). */
  | ({ kind: 'any' } & Pos)
  /** `a~b` (outbound packets only). */
  | ({ kind: 'absoluteRange'; usecs: number; endUsecs: number } & Pos)
  /** `+a~+b` (outbound packets only). */
  | ({ kind: 'relativeRange'; usecs: number; endUsecs: number } & Pos)

/** Packet direction: `<` the script injects it, `>` the stack under test must send it. */
export type Direction = 'inbound' | 'outbound'

/** The IP-level annotations of a packet line: `[ect0]`, `(tos 0x10)`, `[flowlabel 0x1]`, `(ttl 64)`. */
export interface IpInfo {
  /** `noecn`/`ect0`/`ect1`/`ce`: the ECN field must be (or is set to) this; `ect01`: ECT(0) or ECT(1). */
  ecn?: 'noecn' | 'ect0' | 'ect1' | 'ce' | 'ect01'
  /** `tos 0x..`: the whole TOS / traffic-class byte. */
  tos?: number
  flowLabel?: number
  ttl?: number
}

/** An outer IP header written before the transport part: `ipv4 192.0.2.1 > 192.0.2.2:` (tunnels). */
export interface IpPrefix extends Pos {
  version: 4 | 6
  ipInfo: IpInfo
  src: string
  dst: string
}

/** One TCP option of a packet line's `<…>` list. */
export type TcpOptionNode =
  | ({ kind: 'nop' } & Pos)
  | ({ kind: 'eol' } & Pos)
  | ({ kind: 'mss'; value: number } & Pos)
  | ({ kind: 'wscale'; shift: number } & Pos)
  | ({ kind: 'sackOK' } & Pos)
  | ({ kind: 'sack'; blocks: Array<{ left: number; right: number }> } & Pos)
  | ({ kind: 'timestamp'; val: number; ecr: number } & Pos)
  /** `FO` (kind 34) or `FOEXP` (kind 254, magic 0xF989); cookie as lower-case hex, '' for a cookie request. */
  | ({ kind: 'fastopen'; experimental: boolean; cookie: string } & Pos)
  | ({ kind: 'md5'; digest: string } & Pos)
  /** AccECN counters in the order written (e0b/ceb/e1b). */
  | ({ kind: 'accecn'; fields: Array<{ name: 'e0b' | 'ceb' | 'e1b'; value: number }> } & Pos)

/** `seq:end(len)`. */
export interface SeqSpec {
  start: number
  end: number
  len: number
}

/** A TCP packet line. */
export interface TcpPacket extends Pos {
  kind: 'tcp'
  direction: Direction
  encapsulation: IpPrefix[]
  ipInfo: IpInfo
  /** `src>dst` when written; otherwise the engine's default ports. */
  ports?: { src: number; dst: number }
  /** The flags as written, with `-` as '' (e.g. 'S.', 'P.', 'F.', '.', 'SEW'). */
  flags: string
  seq: SeqSpec
  ack?: number
  /** Absent: any window (outbound only; inbound packets must give one). */
  win?: number
  urg?: number
  /** 'any' for `<...>` (do not check, outbound only); [] when no list is written. */
  options: TcpOptionNode[] | 'any'
}

/** A UDP packet line: `< udp (100)`. */
export interface UdpPacket extends Pos {
  kind: 'udp'
  direction: Direction
  encapsulation: IpPrefix[]
  ipInfo: IpInfo
  ports?: { src: number; dst: number }
  len: number
}

/** What an ICMP error quotes: a TCP segment's `seq:end(len)`, or a UDP or raw payload length. */
export type IcmpEchoed = { protocol: 'tcp'; seq: SeqSpec } | { protocol: 'udp'; len: number } | { protocol: 'raw'; len: number }

/** An ICMP packet line: `< icmp unreachable frag_needed mtu 1200 [1:1461(1460)]`. */
export interface IcmpPacket extends Pos {
  kind: 'icmp'
  direction: Direction
  encapsulation: IpPrefix[]
  ipInfo: IpInfo
  type: string
  code?: string
  mtu?: number
  id?: number
  echoed?: IcmpEchoed
}

/** A syscall argument or result. Integers keep their text too, since 64-bit values exceed a double. */
export type Expr =
  | ({ kind: 'int'; value: number; text: string; hex: boolean } & Pos)
  /** Adjacent strings are joined; `"…"...` sets `ellipsis` (the buffer continues with anything). */
  | ({ kind: 'string'; value: string; ellipsis: boolean } & Pos)
  | ({ kind: 'ellipsis' } & Pos)
  /** A constant or symbol: AF_INET, SOCK_STREAM, TCP_INFO, EPOLLIN… */
  | ({ kind: 'word'; name: string } & Pos)
  /** `A|B|C`, flattened. */
  | ({ kind: 'or'; operands: Expr[] } & Pos)
  /** `name=value` or `msg_iov(1)=[…]` inside a struct literal. */
  | ({ kind: 'assign'; target: Expr; value: Expr } & Pos)
  | ({ kind: 'array'; items: Expr[] } & Pos)
  /** `{…}`: sockaddr, msghdr, iovec `{..., 100}`, pollfd, linger, cmsg, epoll_event, tcp_info fields. */
  | ({ kind: 'struct'; items: Expr[] } & Pos)
  /** `htons(8080)`, `inet_addr("1.2.3.4")`, `msg_iov(1)`. */
  | ({ kind: 'call'; name: string; args: Expr[] } & Pos)

/** A syscall line: `name(args) = result [ERRNO (note)]`. */
export interface SyscallEvent extends Pos {
  kind: 'syscall'
  name: string
  args: Expr[]
  result: Expr
  /** `= -1 EAGAIN (…)`: the errno's name, checked by name. */
  errno?: string
  note?: string
  /** `T...E name(…)`: the call blocks until E (microseconds, as written after the `...`). */
  blockingEndUsecs?: number
}

/** `%{ … }%`: Python run after the event's time (packetdrill hands it tcp_info values). */
export interface PythonBlock extends Pos {
  kind: 'python'
  code: string
}

/** What an event does. */
export type Action = TcpPacket | UdpPacket | IcmpPacket | SyscallEvent | ShellCommand | PythonBlock

/** A timed line of the script. `line`/`col` are the time's. */
export interface ScriptEvent extends Pos {
  time: TimeSpec
  action: Action
}

/** A parsed script. */
export interface Script {
  file: string
  options: OptionLine[]
  init?: ShellCommand
  events: ScriptEvent[]
  cleanup?: ShellCommand
}
