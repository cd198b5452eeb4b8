// A child process, started inside lab side A, that sends through the capture device with segmentation
// offload on (`openCapDevice({ gso: true })`, tcplab's packet socket addon) and reports what it sent as
// JSON lines. Imports the built code (dist/). test/interop/gso.test.ts drives it.
//   node gso-child.mjs '<json options>'
// mode 'train': builds `count` Ethernet/IP/TCP data frames of one flow (from `src`/`mac` to `dst`/`dstMac`,
//   ports sport → dport), payload from mulberry32(`seed`), `mss` bytes each but the last (`lastLen`, PSH),
//   contiguous sequence numbers from `seq0`, ACK `ack`, window `window`, options NOP NOP TS(tsval, tsecr),
//   IPv4 id 0 with DF; sends them all in one turn of the event loop, lets the device flush, then sends one
//   more frame, the sentinel (no payload, ACK, seq = the train's end), which cannot be joined. Prints
//   {"type":"sent", frames: [hex…], sentinel: hex, stats} and exits 0.
// mode 'transfer': tcplab's TcpSocket over the userland stack on the capture device with gso (built as
//   src/lab/bench/child/common.ts openBenchStack({ via: 'pcap', gso: true }) does, but keeping the
//   capture device to read its counters) connects from `local` to `server`:`port`, writes `bytes`
//   bytes of mulberry32(`seed`) in `chunk`-sized writes with backpressure, ends, and reads the server's
//   answer until its FIN. Once the connection reaches TIME-WAIT it prints {"type":"report", states,
//   answer, sentBytes, eof, device, ip} and waits for a line "done" on stdin, then closes and exits 0.
// Either mode prints {"type":"fatal", reason} and exits 2 on any failure or after `timeoutMs`.
import { createInterface } from 'node:readline'
import { once } from 'node:events'
import { parseIp, parseMac } from '../../dist/net/addr.js'
import { ipOverEthernet, openCapDevice } from '../../dist/net/capdev.js'
import { emitEthernetHeader, ETHERNET_HEADER_LEN, ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from '../../dist/net/ethernet.js'
import { buildTcpPacket } from '../../dist/net/packet.js'
import { prngBytes } from '../../dist/net/prng.js'
import { TcpFlags } from '../../dist/tcp/segment.js'

const o = JSON.parse(process.argv[2])
const emit = (v) => process.stdout.write(`${JSON.stringify(v)}\n`)
const hex = (b) => Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex')
const fatal = (reason) => {
  emit({ type: 'fatal', reason })
  process.exit(2)
}
setTimeout(() => fatal(`watchdog: no result after ${o.timeoutMs} ms`), o.timeoutMs ?? 20_000).unref()
process.on('uncaughtException', (e) => fatal(String(e?.stack ?? e)))
process.on('unhandledRejection', (e) => fatal(String(e?.stack ?? e)))

const turn = () => new Promise((r) => setImmediate(r))

async function train() {
  const dev = openCapDevice({ iface: o.iface, mac: o.mac, gso: true })
  const src = parseIp(o.src)
  const dst = parseIp(o.dst)
  const eth = { dst: parseMac(o.dstMac), src: parseMac(o.mac), etherType: src.length === 4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6 }
  const options = [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'timestamp', value: o.tsval, echo: o.tsecr }]
  const total = (o.count - 1) * o.mss + o.lastLen
  const data = prngBytes(o.seed, total)
  const frame = (seq, flags, payload) => {
    const ip = buildTcpPacket(
      { src, dst, id: 0, dontFragment: true },
      { srcPort: o.sport, dstPort: o.dport, seq, ack: o.ack, flags, window: o.window, urgent: 0, options, payload },
    )
    const f = new Uint8Array(ETHERNET_HEADER_LEN + ip.length)
    emitEthernetHeader(eth, f, 0)
    f.set(ip, ETHERNET_HEADER_LEN)
    return f
  }
  const frames = []
  for (let k = 0, off = 0; k < o.count; k++) {
    const len = k === o.count - 1 ? o.lastLen : o.mss
    const last = k === o.count - 1
    frames.push(frame((o.seq0 + off) >>> 0, TcpFlags.ACK | (last ? TcpFlags.PSH : 0), data.subarray(off, off + len)))
    off += len
  }
  // All in one turn: the device joins them and sends the super-frame at the end of the turn.
  for (const f of frames) dev.send(f)
  await turn()
  // Anything the socket refused waits in the device's queue: let it drain before the sentinel follows.
  while (dev.stats().sent < o.count && dev.stats().sendErrors === 0) await turn()
  const sentinel = frame((o.seq0 + total) >>> 0, TcpFlags.ACK, new Uint8Array(0))
  dev.send(sentinel)
  while (dev.stats().sent < o.count + 1 && dev.stats().sendErrors === 0) await turn()
  emit({ type: 'sent', frames: frames.map(hex), sentinel: hex(sentinel), stats: dev.stats() })
  dev.close()
  process.exit(0)
}

async function transfer() {
  const { Interface } = await import('../../dist/lab/stack/iface.js')
  const { TcpSocket } = await import('../../dist/lab/stack/socket.js')
  const eth = openCapDevice({ iface: o.iface, mac: o.mac, gso: true })
  const ip = ipOverEthernet(eth, { mac: o.mac, ipv4: o.local })
  await ip.arp.resolve(o.server)
  const iface = new Interface({ device: ip, addrs: [o.local], ephemeralPorts: o.ports, rstClosedPorts: false })
  const states = []
  let onState = () => {}
  iface.on('trace', (ev) => {
    if (ev.type !== 'state') return
    states.push(ev.to)
    onState()
  })
  const timeWait = new Promise((resolve) => {
    onState = () => {
      if (states[states.length - 1] === 'TIME-WAIT') resolve()
    }
  })
  const payload = prngBytes(o.seed, o.bytes)
  const sock = new TcpSocket(iface)
  let answer = ''
  let eof = false
  sock.setEncoding('utf8')
  sock.on('data', (d) => {
    answer += d
  })
  sock.on('end', () => {
    eof = true
  })
  sock.on('error', (e) => fatal(`socket error ${e.code}: ${e.message}`))
  sock.connect({ host: o.server, port: o.port })
  await once(sock, 'connect')
  let sent = 0
  while (sent < payload.length) {
    const n = Math.min(o.chunk, payload.length - sent)
    const ok = sock.write(payload.subarray(sent, sent + n))
    sent += n
    if (!ok) await once(sock, 'drain')
  }
  sock.end()
  await timeWait
  // The socket's 'end' follows the TCB's FIN within the same or the next turn.
  while (!eof) await turn()
  emit({ type: 'report', states, answer, sentBytes: sent, eof, device: eth.stats(), ip: ip.stats() })
  await new Promise((resolve) => createInterface({ input: process.stdin }).on('line', (l) => l.trim() === 'done' && resolve()))
  iface.close()
  process.exit(0)
}

if (o.mode === 'train') await train()
else if (o.mode === 'transfer') await transfer()
else fatal(`unknown mode ${o.mode}`)
