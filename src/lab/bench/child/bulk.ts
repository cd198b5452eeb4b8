/**
 * Row 5 inside lab side A: one connection sends `bytes` to the kernel server in side B, from tcplab (a
 * TcpSocket over the userland TCP on a raw socket) and from node:net (a net.Socket, the kernel's TCP),
 * with the same application code: write with backpressure, end(), wait for the server's answer — the
 * byte count it received, sent after our FIN — and its FIN. Timed from 'connect' to that end, so the
 * figure is payload delivered and confirmed, per second; a short count fails the block.
 *
 *   node bulk.js '<json BulkChildOptions>'
 *
 * Blocks alternate tcplab / node:net, first side alternating per repetition; one unmeasured transfer of
 * `warmupBytes` per side comes first. Prints {"type":"block",side,rep,bytes,elapsedNs,bitsPerSecond}.
 */
import { once } from 'node:events'
import * as net from 'node:net'
import type { Duplex } from 'node:stream'
import type { TcpConfig } from '../../../tcp/types.js'
import { TcpSocket } from '../../stack/socket.js'
import { childGuard, childOptions, emit, nowNs, openChildStack, runChild, sleep, type LabChildOptions } from './common.js'

/** Which stack a block measures. */
export type Side = 'tcplab' | 'kernel'

/** Options of the bulk child (the JSON in argv[2]). */
export interface BulkChildOptions extends LabChildOptions {
  /** Measured transfers per side. */
  reps: number
  /** Bytes per measured transfer. */
  bytes: number
  /** Bytes of the unmeasured first transfer per side (0: none). */
  warmupBytes: number
  /** Size of each write(). */
  chunk: number
  /** Run one side only (for profiling one stack with `node --cpu-prof`). */
  only?: Side
  /** TCB options of tcplab's connection. */
  tcp?: Partial<TcpConfig>
}

const o = childOptions<BulkChildOptions>()
const chunk = Buffer.alloc(o.chunk, 0x5a)

/** Sends `total` bytes, ends, and resolves with the ns from now until the server's answer and FIN. */
async function transfer(sock: Duplex, total: number): Promise<number> {
  const t0 = nowNs()
  let answer = ''
  sock.setEncoding('utf8')
  sock.on('data', (d: string) => {
    answer += d
  })
  const ended = once(sock, 'end')
  let sent = 0
  while (sent < total) {
    const n = Math.min(chunk.length, total - sent)
    const ok = sock.write(n === chunk.length ? chunk : chunk.subarray(0, n))
    sent += n
    if (!ok) await once(sock, 'drain')
  }
  sock.end()
  await ended
  const t = nowNs() - t0
  if (answer !== String(total)) throw new Error(`the server received ${answer || 'nothing'} of ${total} bytes`)
  return t
}

async function block(side: Side, rep: number, total: number): Promise<void> {
  let ns: number
  if (side === 'tcplab') {
    const iface = await openChildStack(o, o.tcp)
    try {
      const sock = new TcpSocket(iface)
      sock.connect({ host: o.server, port: o.port })
      await once(sock, 'connect')
      ns = await transfer(sock, total)
      sock.destroy()
    } finally {
      iface.close()
    }
  } else {
    const sock = net.connect({ host: o.server, port: o.port })
    await once(sock, 'connect')
    ns = await transfer(sock, total)
    sock.destroy()
  }
  if (rep >= 0) emit({ type: 'block', side, rep, bytes: total, elapsedNs: ns, bitsPerSecond: (total * 8e9) / ns })
}

runChild(childGuard(o), async () => {
  emit({ type: 'ready' })
  if (o.warmupBytes > 0) {
    for (const side of ['tcplab', 'kernel'] as const) if (o.only === undefined || side === o.only) await block(side, -1, o.warmupBytes)
  }
  for (let rep = 0; rep < o.reps; rep++) {
    const order: Side[] = rep % 2 === 0 ? ['tcplab', 'kernel'] : ['kernel', 'tcplab']
    for (const side of order) {
      if (o.only !== undefined && side !== o.only) continue
      await block(side, rep, o.bytes)
      await sleep(20)
    }
  }
})
