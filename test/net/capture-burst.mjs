// A capture device on `iface` that stops reading while a burst arrives (test/net/capdev.test.ts): it prints
// {type:'ready', bufferSize}; on a line on stdin it prints {type:'stalled'} and blocks its event loop (as a
// long GC pause, a slow handler or a busy machine would) until the file `marker` exists, which the sender
// creates once the whole burst is out; then it reads what libpcap kept, counting frames of EtherType
// 0x88b5, and prints {type:'got', got, stats} once two reads 100 ms apart found nothing new.
//   node capture-burst.mjs '<json>'   {iface, mac, marker}
import { existsSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { openCapDevice } from '../../dist/net/capdev.js'

const o = JSON.parse(process.argv[2])
const emit = (v) => process.stdout.write(`${JSON.stringify(v)}\n`)
const dev = openCapDevice({ iface: o.iface, mac: o.mac })
let got = 0
dev.onReceive((f) => {
  if (f[12] === 0x88 && f[13] === 0xb5) got++
})
emit({ type: 'ready', bufferSize: dev.bufferSize })
createInterface({ input: process.stdin }).once('line', () => {
  emit({ type: 'stalled' })
  // The stall: libpcap's ring is all that holds the burst meanwhile.
  while (!existsSync(o.marker)) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5)
  let last = -1
  const settle = setInterval(() => {
    if (got !== last) {
      last = got
      return
    }
    clearInterval(settle)
    emit({ type: 'got', got, stats: dev.stats() })
    dev.close()
    process.exit(0)
  }, 100)
})
