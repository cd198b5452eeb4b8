// A child process, started inside a lab namespace, that sends one hand-built SYN through a tcplab device
// to a kernel listener and reports the SYN+ACK, then answers it with its own RST (so the listener forgets
// the half-open connection). Imports the built code (dist/).
//   node syn-probe.mjs '<json options>'
// options: { via: 'raw'|'cap', src, dst, sport, dport, iss, guard?: boolean, iface?, mac? }
// Prints {"type":"ready"}, {"type":"synack",…}, then waits for a line "done" on stdin, prints
// {"type":"stats",…} and exits 0 after closing the device and removing the guard.
import { createInterface } from 'node:readline'
import { parseIp, formatMac } from '../../dist/net/addr.js'
import { buildTcpPacket, decodeIp } from '../../dist/net/packet.js'
import { TcpFlags } from '../../dist/tcp/segment.js'

const o = JSON.parse(process.argv[2])
const family = o.src.includes(':') ? 6 : 4
let dev
let agent
if (o.via === 'raw') {
  const { openRawDevice } = await import('../../dist/net/rawdev.js')
  dev = openRawDevice({ family, localAddress: o.src })
} else {
  const { openCapDevice, ipOverEthernet } = await import('../../dist/net/capdev.js')
  const eth = openCapDevice({ iface: o.iface, mac: o.mac })
  dev = ipOverEthernet(eth, family === 4 ? { mac: o.mac, ipv4: o.src } : { mac: o.mac, ipv6: o.src })
  agent = family === 4 ? dev.arp : dev.ndp
}
let guard
if (o.guard) {
  const { installRstGuard } = await import('../../dist/net/rstguard.js')
  guard = await installRstGuard({ addr: o.src, port: o.sport })
}
const src = parseIp(o.src)
const dst = parseIp(o.dst)
const empty = new Uint8Array(0)
const seg = (flags, seq, ack, options = []) =>
  buildTcpPacket({ src, dst }, { srcPort: o.sport, dstPort: o.dport, seq, ack, flags, window: 64240, urgent: 0, options, payload: empty })

const done = new Promise((resolve) => {
  createInterface({ input: process.stdin }).on('line', (l) => {
    if (l.trim() === 'done') resolve()
  })
})
const synAck = new Promise((resolve) => {
  dev.onReceive((p) => {
    let d
    try {
      d = decodeIp(p)
    } catch {
      return
    }
    const t = d.tcp
    if (t === undefined || t.srcPort !== o.dport || t.dstPort !== o.sport) return
    if ((t.flags & (TcpFlags.SYN | TcpFlags.ACK)) === (TcpFlags.SYN | TcpFlags.ACK)) resolve(t)
  })
})
console.log(JSON.stringify({ type: 'ready' }))
dev.send(seg(TcpFlags.SYN, o.iss, 0, [{ kind: 'mss', value: 1460 }]))
const t = await synAck
console.log(
  JSON.stringify({
    type: 'synack',
    flags: t.flags,
    seq: t.seq,
    ack: t.ack,
    srcPort: t.srcPort,
    dstPort: t.dstPort,
    checksumOk: t.checksumOk,
    options: t.options.map((x) => x.kind),
    peerMac: agent ? formatMac(agent.lookup(o.dst)) : undefined,
  }),
)
// RFC 9293 §3.10.7.3: our RST for their SYN+ACK carries SEQ = SEG.ACK.
dev.send(seg(TcpFlags.RST, t.ack, 0))
await done
console.log(
  JSON.stringify({
    type: 'stats',
    guardDropped: guard ? await guard.dropped() : null,
    device: dev.stats(),
    agent: agent ? agent.stats() : null,
  }),
)
await guard?.remove()
dev.close()
process.exit(0)
