// A raw device with a small receive buffer (`maxPacket`) in a lab side, listening to the TCP packets the
// kernel receives for `local` while a kernel connection moves data through super-segments
// (test/net/rawdev.test.ts). Every packet it delivers is checked to be whole (IPv4 total length or IPv6
// payload length equal to what was delivered). On stdin "done" it prints
// {type:'stats', delivered, cutDelivered, largest, stats} and exits.
//   node raw-truncate.mjs '<json>'   {family, local, maxPacket}
import { createInterface } from 'node:readline'
import { openRawDevice } from '../../dist/net/rawdev.js'

const o = JSON.parse(process.argv[2])
const emit = (v) => process.stdout.write(`${JSON.stringify(v)}\n`)
const dev = openRawDevice({ family: o.family, localAddress: o.local, maxPacket: o.maxPacket })
let delivered = 0
let cutDelivered = 0
let largest = 0
dev.onReceive((p) => {
  delivered++
  const claimed = o.family === 4 ? (p[2] << 8) | p[3] : 40 + ((p[4] << 8) | p[5])
  if (claimed !== p.length) cutDelivered++
  if (p.length > largest) largest = p.length
})
emit({ type: 'ready' })
createInterface({ input: process.stdin }).on('line', (l) => {
  if (l.trim() !== 'done') return
  emit({ type: 'stats', delivered, cutDelivered, largest, stats: dev.stats() })
  dev.close()
  process.exit(0)
})
