/**
 * What a script engine needs from a stack under test. The engine (engine.ts) holds every rule (time,
 * sequence mapping, matching, the fd table); a target only moves packets and makes calls, in real time (the
 * kernel behind a TUN) or virtual time (tcplab's own TCP). Targets do all I/O; the engine does none.
 */
import type { Expr } from './ast.js'

/** A packet the stack under test sent: the raw IP packet and when it left, in the target's µs clock. */
export interface OutboundPacket {
  bytes: Uint8Array
  time: number
}

/** One system call, with script fds already mapped to the target's fds. */
export interface SyscallCall {
  name: string
  /** The script's arguments, except fd arguments (and pollfd `fd=`) rewritten to the target's fds. */
  args: Expr[]
  /** The fd arguments' live values, in argument order (for targets that do not read `args`). */
  fds: number[]
  /** True when the script wrote `T...E`: the call is expected to block until E. */
  blocking: boolean
  /** The script line, for the target's own diagnostics. */
  line: number
  /** When the script's time 0 was, in the target's clock (for outputs stated in script time: scm_timestamping). */
  scriptStart?: number
}

/** What a call returned. `errno` is the error's name (EAGAIN), checked by name. */
export interface SyscallResult {
  ret: number
  errno?: string
  /** poll(): the revents of each pollfd, in order. */
  revents?: number[]
  /** getsockopt(): the integer option value read. */
  optval?: number
  /** pipe(): the two new live fds, to be mapped to the script's. */
  fds?: number[]
  /** An output that differs from the script's (recvmsg's msg_flags or cmsgs), in packetdrill's words. */
  mismatch?: string
  /** A call the target cannot make (an unknown syscall, an option it lacks): the script is `unsupported`. */
  unsupported?: string
  /**
   * A non-blocking call (blocking false) that had not returned after a bound the target chooses (the kernel
   * target: the tolerance); the engine reports it as a call that blocked.
   */
  stillBlocked?: boolean
  /** When the call returned, in the target's µs clock. */
  endTime: number
}

/** A connection the engine learned (addresses as text, ports, live ISNs), given to close() for its RST. */
export interface LiveConnection {
  localIp: string
  localPort: number
  remoteIp: string
  remotePort: number
  /** The next sequence number the stack expects from the script side (live). */
  rcvNxt: number
  /** The next sequence number the stack will send (live), the RST's ack. */
  sndNxt: number
}

/** A Python block's snapshot: the variables it sees, or why none could be taken (packetdrill's words). */
export type CodeSnapshot = { vars: ReadonlyArray<readonly [string, bigint]> } | { error: string } | { unsupported: string }

/** The stack under test, as the engine drives it. */
/**
 * What a target may be unable to run, checked before a run: Python blocks, UDP lines, ICMP lines, tunnels, and
 * TCP Fast Open (a packet line with the FO option).
 */
export type UnsupportedKind = 'python' | 'udp' | 'icmp' | 'encapsulation' | 'fastopen'

export interface Target {
  /** The target's clock in microseconds (real or virtual); only differences matter. */
  now(): number
  /** Waits until now() ≥ t (returns at once when already past); a virtual target advances its clock. */
  waitUntil(t: number): Promise<void>
  /**
   * Hands the stack an IP packet as if it came from the wire; with `gsoSize`, a TCP super-segment of that
   * segment size, as GRO hands a stack one (packetdrill's --mss).
   */
  inject(bytes: Uint8Array, opts?: { gsoSize?: number }): Promise<void>
  /** The next packet the stack sends, or null when none leaves before `deadline` (µs; Infinity: wait forever). */
  nextOutbound(deadline: number): Promise<OutboundPacket | null>
  /** Makes a system call; may block (the promise settles when it returns). */
  syscall(call: SyscallCall): Promise<SyscallResult>
  /** Runs a backquoted shell command; its exit status (non-zero fails the script). */
  shell(command: string): Promise<{ status: number; output?: string; unsupported?: string }>
  /**
   * Python blocks: the socket's state at a block's time, as packetdrill hands it to Python (variables in its
   * order: TCP_INFO's, then TCP_CC_INFO's and SO_MEMINFO's). Absent: the target cannot run Python blocks.
   */
  codeSnapshot?(fd: number): Promise<CodeSnapshot>
  /** Runs the program built from every Python block once, after the script; its exit status and output. */
  runPython?(source: string): Promise<{ status: number; output: string }>
  /** Why this target cannot run an action of this kind, or undefined when it can. */
  unsupported(what: UnsupportedKind): string | undefined
  /** The end of a run: RST each live connection (the kernel keeps state otherwise) and release everything. */
  close(connections: LiveConnection[]): Promise<void>
}
