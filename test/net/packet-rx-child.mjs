// A capture device on the packet receive path in a lab side, taking every frame (no MAC filter) while a
// kernel connection moves data (test/net/packet-rx.test.ts). For each TCP frame it notes what the kernel
// said of its checksum (the receive handler's meta), and checks every delivered frame is whole (its IPv4
// total length or IPv6 payload length matches what was delivered). On stdin "done" it prints
// {type:'stats', receive, tcp, tcpData, said: {partial, valid, none}, dataSaid: {…}, cutDelivered, largest,
// tagged (the first 10 VLAN-tagged frames, in hex), stats}.
//   node packet-rx-child.mjs '<json>'   {iface, maxFrame?}
import { createInterface } from 'node:readline'
import { openCapDevice } from '../../dist/net/capdev.js'

const o = JSON.parse(process.argv[2])
const emit = (v) => process.stdout.write(`${JSON.stringify(v)}\n`)
const dev = openCapDevice({ iface: o.iface, filter: '', ...(o.maxFrame !== undefined ? { maxFrame: o.maxFrame } : {}) })
const said = { partial: 0, valid: 0, none: 0 }
const dataSaid = { partial: 0, valid: 0, none: 0 }
let tcp = 0
let tcpData = 0
let cutDelivered = 0
let largest = 0
const tagged = []
dev.onReceive((f, meta) => {
  largest = Math.max(largest, f.length)
  const type = (f[12] << 8) | f[13]
  if (type === 0x8100 && tagged.length < 10) tagged.push(Buffer.from(f).toString('hex'))
  let ip = 14
  let proto
  let payload
  if (type === 0x0800) {
    if (((f[ip + 2] << 8) | f[ip + 3]) !== f.length - ip) cutDelivered++
    proto = f[ip + 9]
    const hl = (f[ip] & 15) * 4
    payload = f.length - ip - hl - (f[ip + hl + 12] >> 4) * 4
  } else if (type === 0x86dd) {
    if (40 + ((f[ip + 4] << 8) | f[ip + 5]) !== f.length - ip) cutDelivered++
    proto = f[ip + 6]
    payload = f.length - ip - 40 - (f[ip + 40 + 12] >> 4) * 4
  }
  if (proto !== 6) return
  tcp++
  said[meta?.csum ?? 'none']++
  if (payload > 0) {
    tcpData++
    dataSaid[meta?.csum ?? 'none']++
  }
})
emit({ type: 'ready', receive: dev.receive })
createInterface({ input: process.stdin }).on('line', (l) => {
  if (l.trim() !== 'done') return
  emit({ type: 'stats', receive: dev.receive, tcp, tcpData, said, dataSaid, cutDelivered, largest, tagged, stats: dev.stats() })
  dev.close()
  process.exit(0)
})
