// The off-path attacker of test/hostile/blind.test.ts (RFC 5961), in the peer's side of a lab: it watches
// every TCP segment arriving from the victim through a raw socket (to learn the victim's SND.NXT and
// RCV.NXT: the attacker "guesses" right, inside the window) and injects crafted segments that claim to
// come from the peer. Built with tcplab's codecs; the same packets go to a userland and a kernel victim.
//   node blind.mjs '<json>'   {victim, victimPort, peer}
// stdin, one JSON command per line:
//   {"op":"watch","port":P}     the peer's port: segments victim:victimPort → peer:P are recorded
//   {"op":"state"}              → {type:'state', sndNxt, rcvNxt, window, seen}: from the last segment seen
//   {"op":"mark"}               forget what was recorded so far
//   {"op":"since"}              → {type:'since', segments:[{flags, seq, ack, len, text}]} since the mark
//   {"op":"inject", flags, seq, ack, payload?, window?, count?, badOption?}
//                               send `count` (default 1) segments, seq + k each; → {type:'injected', n}
import { createInterface } from 'node:readline'
import { parseIp } from '../../dist/net/addr.js'
import { openRawDevice } from '../../dist/net/rawdev.js'
import { buildTcpPacket, decodeIp } from '../../dist/net/packet.js'
import { formatFlags, parseFlags } from '../../dist/tcp/segment.js'

const o = JSON.parse(process.argv[2])
const emit = (v) => process.stdout.write(`${JSON.stringify(v)}\n`)
const victim = parseIp(o.victim)
const peer = parseIp(o.peer)
const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i])

let watchPort
let last
let seen = 0
let recorded = []

const dev = openRawDevice({ family: 4 })
dev.onReceive((p) => {
  let d
  try {
    d = decodeIp(p)
  } catch {
    return
  }
  const t = d.tcp
  if (!t || !same(d.ip.src, victim) || t.srcPort !== o.victimPort || t.dstPort !== watchPort) return
  const seg = {
    flags: formatFlags(t.flags), seq: t.seq, ack: t.ack, len: t.payload.length, window: t.window,
    text: Buffer.from(t.payload).toString('latin1'),
  }
  last = seg
  seen++
  recorded.push(seg)
})

createInterface({ input: process.stdin }).on('line', (line) => {
  const c = JSON.parse(line)
  if (c.op === 'watch') {
    watchPort = c.port
    emit({ type: 'watching', port: c.port })
  } else if (c.op === 'state') {
    const len = last ? last.len + (last.flags.includes('S') ? 1 : 0) + (last.flags.includes('F') ? 1 : 0) : 0
    emit({ type: 'state', sndNxt: last ? (last.seq + len) >>> 0 : undefined, rcvNxt: last?.ack, window: last?.window, seen })
  } else if (c.op === 'mark') {
    recorded = []
    emit({ type: 'marked' })
  } else if (c.op === 'since') {
    emit({ type: 'since', segments: recorded })
  } else if (c.op === 'inject') {
    const n = c.count ?? 1
    const payload = new TextEncoder().encode(c.payload ?? '')
    // badOption: an MSS option of length 3 (RFC 9293 §3.2 fixes it at 4), written as an unknown kind.
    const options = c.badOption ? [{ kind: 'unknown', type: 2, data: Uint8Array.of(5) }, { kind: 'nop' }] : []
    for (let k = 0; k < n; k++) {
      dev.send(
        buildTcpPacket(
          { src: peer, dst: victim, ttl: 64, id: k + 1 },
          {
            srcPort: watchPort, dstPort: o.victimPort, seq: (c.seq + k) >>> 0, ack: c.ack >>> 0, flags: parseFlags(c.flags),
            window: c.window ?? 502, urgent: 0, options, payload,
          },
        ),
      )
    }
    emit({ type: 'injected', n })
  } else if (c.op === 'done') {
    dev.close()
    process.exit(0)
  }
})
emit({ type: 'ready' })
