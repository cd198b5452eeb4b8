/**
 * An in-memory Target for engine tests: a virtual clock, outbound packets scripted at given times, syscall
 * results from a handler. Nothing real happens and no wall-clock time passes.
 */
import type { OutboundPacket, SyscallCall, SyscallResult, Target, LiveConnection } from '../../src/script/target.js'
import { buildTcpPacket } from '../../src/net/packet.js'
import { parseIp } from '../../src/net/addr.js'
import { flagBits } from '../../src/script/engine.js'
import type { TcpOption } from '../../src/tcp/options.js'
import type { Seq } from '../../src/tcp/seq.js'

/** A syscall answer: the result, an optional errno name, and how long the call takes (µs). */
export type FakeAnswer = Partial<Omit<SyscallResult, 'endTime'>> & { delay?: number }

/** The fake stack: every packet it "sends" is queued by the test. */
export class FakeTarget implements Target {
  /** Arbitrary non-zero start, so the engine must work with offsets. */
  clock = 5_000_000
  readonly start = this.clock
  readonly queue: OutboundPacket[] = []
  readonly injected: Array<{ bytes: Uint8Array; time: number }> = []
  readonly calls: Array<{ call: SyscallCall; time: number }> = []
  readonly shells: string[] = []
  closed?: LiveConnection[]
  answers: (call: SyscallCall) => FakeAnswer

  constructor(answers?: (call: SyscallCall) => FakeAnswer) {
    this.answers = answers ?? defaultAnswers()
  }

  now(): number {
    return this.clock
  }

  async waitUntil(t: number): Promise<void> {
    if (t > this.clock) this.clock = t
  }

  async inject(bytes: Uint8Array): Promise<void> {
    this.injected.push({ bytes, time: this.clock })
  }

  async nextOutbound(deadline: number): Promise<OutboundPacket | null> {
    this.queue.sort((a, b) => a.time - b.time)
    const p = this.queue[0]
    if (p && p.time <= deadline) {
      this.queue.shift()
      if (p.time > this.clock) this.clock = p.time
      return p
    }
    if (Number.isFinite(deadline) && deadline > this.clock) this.clock = deadline
    return null
  }

  async syscall(call: SyscallCall): Promise<SyscallResult> {
    this.calls.push({ call, time: this.clock })
    const a = this.answers(call)
    return { ret: a.ret ?? 0, errno: a.errno, revents: a.revents, optval: a.optval, fds: a.fds, unsupported: a.unsupported, mismatch: a.mismatch, endTime: this.clock + (a.delay ?? 0) }
  }

  async shell(command: string): Promise<{ status: number }> {
    this.shells.push(command)
    return { status: 0 }
  }

  unsupported(): string | undefined {
    return undefined
  }

  async close(connections: LiveConnection[]): Promise<void> {
    this.closed = connections
  }

  /** Queues a packet the stack sends `atUsecs` after the script's start. */
  send(atUsecs: number, bytes: Uint8Array): void {
    this.queue.push({ bytes, time: this.start + atUsecs })
  }
}

/** Live fds start at 10 so script fds (3, 4) must be mapped; everything else returns 0. */
export function defaultAnswers(): (call: SyscallCall) => FakeAnswer {
  let next = 10
  return (call) => {
    if (call.name === 'socket' || call.name === 'accept') return { ret: next++ }
    if (call.name === 'write') return { ret: Number((call.args[2] as { value?: number }).value ?? 0) }
    return { ret: 0 }
  }
}

/** Addresses and ports as the engine picks them by default. */
export const LOCAL = '198.18.0.1'
/** The script side's address. */
export const REMOTE = '198.19.2.1'

/** A TCP packet from the stack under test (local → remote), in live numbers. */
export function seg(o: {
  flags: string
  seq: number
  ack?: number
  win?: number
  len?: number
  options?: TcpOption[]
  sport?: number
  dport?: number
  ttl?: number
  tos?: number
}): Uint8Array {
  return buildTcpPacket(
    { src: parseIp(LOCAL), dst: parseIp(REMOTE), ttl: o.ttl ?? 64, tos: o.tos ?? 0 },
    {
      srcPort: o.sport ?? 8080,
      dstPort: o.dport ?? 40000,
      seq: (o.seq >>> 0) as Seq,
      ack: ((o.ack ?? 0) >>> 0) as Seq,
      flags: flagBits(o.flags),
      window: o.win ?? 64240,
      urgent: 0,
      options: o.options ?? [],
      payload: new Uint8Array(o.len ?? 0),
    },
  )
}
