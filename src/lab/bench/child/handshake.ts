/**
 * Rows 3 and 4 inside lab side A: handshakes from tcplab (userland TCP on a raw socket) and from node:net
 * (the kernel) to the same kernel server in side B, timed with the same clock in the same process.
 *
 *   node handshake.js '<json HandshakeChildOptions>'
 *
 * mode 'latency': sequential handshakes, each timed from the call that sends the SYN (Interface.connect,
 *   which emits it before returning; net.connect) to ESTABLISHED (the interface's update for the
 *   connection; the 'connect' event), then closed with RST. Per block: every sample, and the block's p50
 *   and p99, in ns.
 * mode 'rate': `concurrency` handshakes kept in flight until `count` have completed, each reset as soon as
 *   it is established and replaced by a new one; per block: completed handshakes per second.
 *
 * An unmeasured warm-up per side comes first. Blocks then alternate tcplab / node:net, and which goes first
 * alternates per repetition, so drift in machine load hits both alike. tcplab's stack is opened for its blocks only: its raw socket sees a copy of every
 * TCP packet to this address, and handling the kernel connections' copies would slow the baseline down.
 * Prints {"type":"block",side,rep,…} per measured block, then {"type":"done"}.
 */
import * as net from 'node:net'
import { parseIp } from '../../../net/addr.js'
import type { Connection, ConnectionHandler } from '../../stack/connection.js'
import type { Interface } from '../../stack/iface.js'
import { childGuard, childOptions, emit, nowNs, openChildStack, runChild, sleep, type LabChildOptions } from './common.js'

/** Which stack a block measures. */
export type Side = 'tcplab' | 'kernel'

/** Options of the handshake child (the JSON in argv[2]). */
export interface HandshakeChildOptions extends LabChildOptions {
  mode: 'latency' | 'rate'
  reps: number
  /** latency: handshakes per block; rate: handshakes completed per block. */
  count: number
  /** rate: handshakes in flight. */
  concurrency: number
  /** Run one side only (for profiling one stack with `node --cpu-prof`). */
  only?: Side
  /**
   * Unmeasured handshakes per side before the first block (the JIT needs thousands of handshakes to
   * settle: tcplab runs far more JavaScript per handshake than node:net), and in the rate mode the size
   * of that unmeasured block.
   */
  warmup: number
  /** latency: unmeasured handshakes at the start of every block (each tcplab block opens a fresh stack). */
  blockWarmup?: number
}


const o = childOptions<HandshakeChildOptions>()
const serverAddr = parseIp(o.server)

/** One tcplab handshake: ns from the SYN to ESTABLISHED, then RST. */
function tcplabOnce(iface: Interface): Promise<number> {
  return new Promise((resolve, reject) => {
    const handler: ConnectionHandler = {
      onConnectionUpdate(conn: Connection) {
        const s = conn.state
        if (s === 'ESTABLISHED') {
          const t = nowNs() - t0
          conn.handler = undefined
          conn.abort()
          resolve(t)
        } else if (s === 'CLOSED') {
          reject(new Error(`tcplab handshake failed: ${conn.tcb.error?.reason ?? 'closed'}`))
        }
      },
    }
    const t0 = nowNs()
    iface.connect({ remoteAddr: serverAddr, remotePort: o.port, handler })
  })
}

/** One node:net handshake: ns from net.connect to 'connect', then RST (SO_LINGER 0). */
function kernelOnce(): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = nowNs()
    const s = net.connect({ host: o.server, port: o.port })
    s.once('connect', () => {
      const t = nowNs() - t0
      s.resetAndDestroy()
      resolve(t)
    })
    s.once('error', reject)
  })
}

/** The q-quantile of sorted `xs` (type 7, as the harness's). */
function q(xs: number[], p: number): number {
  const h = (xs.length - 1) * p
  const lo = Math.floor(h)
  const hi = Math.ceil(h)
  return xs[lo] + (h - lo) * (xs[hi] - xs[lo])
}

async function withStack<T>(side: Side, fn: (iface: Interface | undefined) => Promise<T>): Promise<T> {
  if (side === 'kernel') return fn(undefined)
  const iface = await openChildStack(o)
  try {
    return await fn(iface)
  } finally {
    iface.close()
  }
}

async function latencyBlock(side: Side, rep: number, measured: boolean): Promise<void> {
  await withStack(side, async (iface) => {
    const once = iface !== undefined ? () => tcplabOnce(iface) : kernelOnce
    const warm = measured ? (o.blockWarmup ?? 0) : o.warmup
    for (let i = 0; i < warm; i++) await once()
    if (!measured) return
    const lat: number[] = []
    for (let i = 0; i < o.count; i++) lat.push(await once())
    const samplesNs = lat.slice()
    lat.sort((a, b) => a - b)
    emit({ type: 'block', side, rep, n: lat.length, p50Ns: q(lat, 0.5), p99Ns: q(lat, 0.99), minNs: lat[0], maxNs: lat[lat.length - 1], samplesNs })
  })
}

/** Keeps `concurrency` tcplab handshakes in flight until `total` completed; resolves with the elapsed ns. */
function tcplabRate(iface: Interface, total: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let started = 0
    let done = 0
    const t0 = nowNs()
    const handler: ConnectionHandler = {
      onConnectionUpdate(conn: Connection) {
        const s = conn.state
        if (s === 'ESTABLISHED') {
          conn.handler = undefined
          conn.abort()
          if (++done === total) resolve(nowNs() - t0)
          else if (started < total) start()
        } else if (s === 'CLOSED') {
          reject(new Error(`tcplab handshake failed: ${conn.tcb.error?.reason ?? 'closed'}`))
        }
      },
    }
    const start = (): void => {
      started++
      iface.connect({ remoteAddr: serverAddr, remotePort: o.port, handler })
    }
    const first = Math.min(o.concurrency, total)
    for (let i = 0; i < first; i++) start()
  })
}

/** The same with node:net. */
function kernelRate(total: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let started = 0
    let done = 0
    const t0 = nowNs()
    const start = (): void => {
      started++
      const s = net.connect({ host: o.server, port: o.port })
      s.once('connect', () => {
        s.resetAndDestroy()
        if (++done === total) resolve(nowNs() - t0)
        else if (started < total) start()
      })
      s.once('error', reject)
    }
    const first = Math.min(o.concurrency, total)
    for (let i = 0; i < first; i++) start()
  })
}

async function rateBlock(side: Side, rep: number, measured: boolean): Promise<void> {
  await withStack(side, async (iface) => {
    const total = measured ? o.count : o.warmup
    const ns = iface !== undefined ? await tcplabRate(iface, total) : await kernelRate(total)
    if (measured) emit({ type: 'block', side, rep, n: total, elapsedNs: ns, perSecond: (total * 1e9) / ns })
  })
}

runChild(childGuard(o), async () => {
  const block = o.mode === 'latency' ? latencyBlock : rateBlock
  emit({ type: 'ready' })
  if (o.warmup > 0) {
    for (const side of ['tcplab', 'kernel'] as const) {
      if (o.only !== undefined && side !== o.only) continue
      await block(side, -1, false)
      await sleep(50)
    }
  }
  for (let rep = 0; rep < o.reps; rep++) {
    const order: Side[] = rep % 2 === 0 ? ['tcplab', 'kernel'] : ['kernel', 'tcplab']
    for (const side of order) {
      if (o.only !== undefined && side !== o.only) continue
      await block(side, rep, true)
      await sleep(o.mode === 'rate' ? 50 : 10)
    }
  }
})
