// Kernel clients (Node's net) that connect one after another, `everyMs` apart, to host:port, each sending
// "hello <n>", waiting for its echo and closing: the real clients of test/hostile/synflood.test.ts that
// must get through a SYN flood. Each has `timeoutMs` to finish (the kernel retries its SYN meanwhile).
//   node kclients.mjs '<json>'   {host, port, everyMs, timeoutMs, max}
// stdout: {type:'conn', n, ok, got, error} per client as it ends; after stdin "stop" (or `max`
// clients) and the last one's end: {type:'done', started}.
import * as net from 'node:net'
import { createInterface } from 'node:readline'

const o = JSON.parse(process.argv[2])
const emit = (v) => process.stdout.write(`${JSON.stringify(v)}\n`)
let started = 0
let live = 0
let stopping = false

function client(n) {
  live++
  const text = `hello ${n}`
  let got = ''
  let error
  const s = net.connect({ host: o.host, port: o.port, noDelay: true })
  const timer = setTimeout(() => {
    error = 'timeout'
    s.destroy()
  }, o.timeoutMs)
  s.setEncoding('utf8')
  s.on('connect', () => s.write(text))
  s.on('data', (d) => {
    got += d
    if (got.length >= text.length) s.end()
  })
  s.on('error', (e) => {
    error ??= e.code ?? e.message
  })
  s.on('close', () => {
    clearTimeout(timer)
    live--
    emit({ type: 'conn', n, ok: got === text && error === undefined, got, error })
    if (stopping && live === 0) finish()
  })
}

const tick = setInterval(() => {
  if (stopping) return
  client(started++)
  if (o.max !== undefined && started >= o.max) stop()
}, o.everyMs)

function stop() {
  if (stopping) return
  stopping = true
  clearInterval(tick)
  if (live === 0) finish()
}

function finish() {
  emit({ type: 'done', started })
  process.exit(0)
}

createInterface({ input: process.stdin }).on('line', (l) => {
  if (l.trim() === 'stop') stop()
})
