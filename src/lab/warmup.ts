/**
 * Warming the handshake's code before a measured one. V8 compiles a function the first time it runs, so
 * the first SYN a process sends costs milliseconds of compilation (the TCB, option layout, the packet
 * codecs, the recorder, the socket), and so does the handling of the first SYN+ACK. A SYN+ACK that comes
 * back in tens of microseconds then waits for the event loop behind that work, and even a stamp taken
 * where the device hands the packet up is late by it. One handshake and close between two interfaces
 * over an in-memory pair, run before the real SYN, compiles that code without a packet on any wire.
 */
import { memoryPair } from '../net/memdev.js'
import { tcpStampOf, wireStampTap } from '../net/wirestamp.js'
import { monotonicUs } from './stack/clock.js'
import { Interface } from './stack/iface.js'
import { LiveRecorder, segmentJson, segmentLine } from './liverec.js'
import { TcpSocket, createServer } from './stack/socket.js'

/**
 * Runs one connect, exchange and close in memory, the way `handshake` runs one live, and resolves once
 * both ends are closed (or after `maxTurns` turns of the event loop). `family` picks the addresses.
 */
export async function warmHandshake(family: 4 | 6 = 4, maxTurns = 200): Promise<void> {
  const [da, db] = memoryPair({ delivery: 'sync' })
  const [ca, cb] = family === 4 ? ['192.0.2.1', '192.0.2.2'] : ['2001:db8::1', '2001:db8::2']
  const wire = wireStampTap(da, monotonicUs)
  const a = new Interface({ device: wire, addrs: [ca] })
  const b = new Interface({ device: db, addrs: [cb] })
  const rec = new LiveRecorder(a, (r) => void segmentLine(r), {}, wire)
  try {
    const server = createServer(b, (s) => {
      s.on('data', (d: Buffer) => s.write(d))
      s.on('end', () => s.end())
      s.on('error', () => {})
    })
    server.listen(7, cb)
    await new Promise<void>((done) => {
      let finished = false
      const resolve = (): void => {
        finished = true
        done()
      }
      const s = new TcpSocket(a)
      s.on('connect', () => s.write('warm'))
      s.on('data', () => s.end())
      s.on('error', () => resolve())
      s.on('close', () => resolve())
      s.connect({ host: cb, port: 7, localAddress: ca })
      let turns = 0
      const tick = (): void => {
        if (finished) return
        if (++turns >= maxTurns) resolve()
        else setImmediate(tick)
      }
      setImmediate(tick)
    })
    server.close()
    const segs = rec.segments
    segs.map(segmentJson)
    LiveRecorder.handshakeRtt(segs)
    tcpStampOf(new Uint8Array(60), 'ethernet', 'in', 0)
  } finally {
    rec.stop()
    a.close()
    b.close()
  }
}
