// The Linux kernel's TCP (Node's net) as the peer of the hostile tests, run in one side of a lab.
//   node kpeer.mjs '<json options>'
// modes:
//   echo-loop    connect to host:port and send "<i>:<text>\n", wait for it to come back, again and again.
//                stdin "count" → {type:'count', rounds}; "stop" → finish the round, end, {type:'result', …}.
//   connect-echo connect once, send `text`, wait for it back, end: {type:'result', connectMs, ok, error}.
//   transfer     `connections` connections to host:port, `parallel` at a time; on each send `bytes` random
//                bytes while reading, end once ours are written and the peer's `bytes` have arrived, then
//                read to EOF: {type:'conn', i, localPort, sentSha, recvSha, recvBytes, error, ms} each,
//                then {type:'result', …}.
//   interactive  connect; stdin "send TEXT" → write it, print {type:'echo', text} when as many bytes are
//                back; "end" → end(). Prints {type:'connected', localPort}, {type:'closed', hadError},
//                {type:'error', code}.
//   echo-server  listen on host:port (the kernel as the victim of test 5); echo everything, print
//                {type:'listening'}, {type:'accepted', remotePort}, {type:'data', text},
//                {type:'error', code}, {type:'closed', hadError}.
import { createHash, randomBytes } from 'node:crypto'
import * as net from 'node:net'
import { createInterface } from 'node:readline'

const o = JSON.parse(process.argv[2])
const emit = (v) => process.stdout.write(`${JSON.stringify(v)}\n`)
const stdinLines = (fn) => createInterface({ input: process.stdin }).on('line', (l) => fn(l.replace(/\r$/, '')))
setTimeout(() => {
  emit({ type: 'fatal', reason: `watchdog: still running after ${o.timeoutMs ?? 60_000} ms` })
  process.exit(2)
}, o.timeoutMs ?? 60_000).unref()

function connect() {
  return net.connect({ host: o.host, port: o.port, noDelay: true })
}

if (o.mode === 'echo-loop') {
  let rounds = 0
  let stopping = false
  const errors = []
  const s = connect()
  s.setEncoding('utf8')
  let want = ''
  let got = ''
  const next = () => {
    if (stopping) {
      s.end()
      return
    }
    want = `${rounds}:${o.text ?? 'hostile?'}\n`
    got = ''
    s.write(want)
  }
  s.on('connect', () => {
    emit({ type: 'connected', localPort: s.localPort })
    next()
  })
  s.on('data', (d) => {
    got += d
    if (got.length < want.length) return
    if (got !== want) errors.push(`round ${rounds}: sent ${JSON.stringify(want)} got ${JSON.stringify(got)}`)
    rounds++
    next()
  })
  s.on('error', (e) => errors.push(`${e.code}: ${e.message}`))
  s.on('close', () => emit({ type: 'result', rounds, errors }))
  stdinLines((l) => {
    if (l === 'count') emit({ type: 'count', rounds, errors: errors.length })
    else if (l === 'stop') stopping = true
  })
} else if (o.mode === 'connect-echo') {
  const t0 = performance.now()
  const s = connect()
  let connectMs
  let got = ''
  const text = o.text ?? 'hello through the flood'
  s.setEncoding('utf8')
  s.on('connect', () => {
    connectMs = performance.now() - t0
    emit({ type: 'connected', localPort: s.localPort, connectMs })
    s.write(text)
  })
  s.on('data', (d) => {
    got += d
    if (got.length >= text.length) s.end()
  })
  s.on('error', (e) => emit({ type: 'result', ok: false, error: e.code, connectMs }))
  s.on('close', (hadError) => {
    if (!hadError) emit({ type: 'result', ok: got === text, got, connectMs, ms: performance.now() - t0 })
  })
} else if (o.mode === 'transfer') {
  const results = []
  let started = 0
  let running = 0
  const t0 = performance.now()
  const one = (i) => {
    running++
    const t = performance.now()
    const payload = randomBytes(o.bytes)
    const h = createHash('sha256')
    let recvBytes = 0
    let written = false
    let error
    const s = connect()
    let localPort
    const maybeEnd = () => {
      if (written && recvBytes >= o.bytes && !s.writableEnded) s.end()
    }
    s.on('connect', () => {
      localPort = s.localPort
      s.write(payload, () => {
        written = true
        maybeEnd()
      })
    })
    s.on('data', (d) => {
      h.update(d)
      recvBytes += d.length
      maybeEnd()
    })
    s.on('error', (e) => {
      error = e.code
    })
    s.on('close', () => {
      const r = {
        type: 'conn', i, localPort, error, ms: Math.round(performance.now() - t),
        sentSha: createHash('sha256').update(payload).digest('hex'), recvSha: h.digest('hex'), recvBytes,
      }
      results.push(r)
      emit(r)
      running--
      if (started < o.connections) one(started++)
      else if (running === 0) {
        emit({ type: 'result', ms: Math.round(performance.now() - t0), ok: results.filter((x) => !x.error && x.recvBytes === o.bytes).length })
      }
    })
  }
  while (started < Math.min(o.parallel ?? 1, o.connections)) one(started++)
} else if (o.mode === 'interactive') {
  const s = connect()
  s.setEncoding('utf8')
  let pending = []
  let got = ''
  s.on('connect', () => emit({ type: 'connected', localPort: s.localPort }))
  s.on('data', (d) => {
    got += d
    while (pending.length > 0 && got.length >= pending[0].length) {
      const text = got.slice(0, pending[0].length)
      got = got.slice(pending[0].length)
      pending.shift()
      emit({ type: 'echo', text })
    }
  })
  s.on('error', (e) => emit({ type: 'error', code: e.code }))
  s.on('close', (hadError) => emit({ type: 'closed', hadError }))
  stdinLines((l) => {
    if (l.startsWith('send ')) {
      const text = l.slice(5)
      pending.push(text)
      s.write(text)
    } else if (l === 'end') s.end()
  })
} else if (o.mode === 'echo-server') {
  const server = net.createServer((s) => {
    emit({ type: 'accepted', remotePort: s.remotePort })
    s.setNoDelay(true)
    s.on('data', (d) => {
      emit({ type: 'data', text: d.toString('latin1') })
      s.write(d)
    })
    s.on('error', (e) => emit({ type: 'error', code: e.code }))
    s.on('close', (hadError) => emit({ type: 'closed', hadError }))
  })
  server.listen(o.port, o.host, () => emit({ type: 'listening' }))
  stdinLines((l) => {
    if (l === 'done') process.exit(0)
  })
} else {
  emit({ type: 'fatal', reason: `unknown mode ${o.mode}` })
  process.exit(2)
}
