/**
 * The kernel's side of the lab rows: a node:net server in lab side B that every client of rows 3–5 (tcplab
 * and node:net alike) connects to. It reads and discards what arrives; when a client half-closes (FIN) it
 * answers with the byte count it received, as text, then closes, so a bulk sender knows every byte
 * arrived. Handshake clients reset at once and never get an answer. Errors on accepted sockets (ECONNRESET
 * from those resets) are expected and ignored.
 *
 *   node server.js '{"host":"198.18.0.2","port":9000,"backlog":65535}'
 *
 * Prints {"type":"listening","port"} once it accepts connections, {"type":"error","message"} if it cannot
 * listen; ends when its stdin closes (or on SIGTERM).
 */
import * as net from 'node:net'
import { childOptions, emit } from './common.js'

interface ServerOptions {
  host: string
  port: number
  backlog: number
  /** 'sink' (default): read, count, answer at EOF. 'close': close each connection as soon as it is accepted. */
  mode?: 'sink' | 'close'
}

const o = childOptions<ServerOptions>()
let accepted = 0
const closeAtOnce = o.mode === 'close'
const server = net.createServer({ noDelay: true, pauseOnConnect: closeAtOnce }, (s) => {
  accepted++
  if (closeAtOnce) {
    s.on('error', () => {})
    s.destroy()
    return
  }
  let n = 0
  s.on('error', () => {})
  s.on('data', (d: Buffer) => {
    n += d.length
  })
  s.on('end', () => s.end(String(n)))
})
server.on('error', (e) => {
  emit({ type: 'error', message: e.message })
  process.exit(1)
})
server.listen({ host: o.host, port: o.port, backlog: o.backlog }, () => {
  emit({ type: 'listening', port: (server.address() as net.AddressInfo).port })
})
const stop = (): void => {
  emit({ type: 'stopped', accepted, cpu: process.cpuUsage() })
  process.exit(0)
}
process.stdin.on('end', stop)
process.stdin.resume()
process.once('SIGTERM', stop)
