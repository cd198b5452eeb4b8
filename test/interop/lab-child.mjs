// A child process that brings a namespace lab up and then ends in the way the test asks, to prove the lab
// is removed on every exit path. Imports the built code (dist/), like the CLI does.
//   node lab-child.mjs <mode> [pair|bridge]
// Prints {"type":"up","id":…,"sleeper":pid} once the lab is up (with a `sleep` running inside side A),
// then: wait (until a signal), exit (process.exit(3)), throw (uncaught error), reject (unhandled rejection),
// drain (the event loop empties and Node exits 0).
import { netnsUp } from '../../dist/net/netns.js'

const mode = process.argv[2] ?? 'wait'
const lab = await netnsUp({ topology: process.argv[3] ?? 'pair' })
const sleeper = lab.spawn('a', ['sleep', '600'], { stdio: 'ignore' })
if (mode === 'drain') sleeper.unref()
console.log(JSON.stringify({ type: 'up', id: lab.id, sleeper: sleeper.pid, ns: lab.sides.map((s) => s.ns) }))

switch (mode) {
  case 'wait':
    setInterval(() => {}, 1 << 30)
    break
  case 'exit':
    process.exit(3)
    break
  case 'throw':
    setImmediate(() => {
      throw new Error('boom in the lab child')
    })
    break
  case 'reject':
    Promise.reject(new Error('rejected in the lab child'))
    break
  case 'drain':
    break
  default:
    throw new Error(`unknown mode ${mode}`)
}
