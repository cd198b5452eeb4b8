// A child process, started inside a lab namespace, that installs an RST guard in its own (current)
// namespace and then ends as the test asks, to prove the guard is removed on every exit path.
//   node guard-child.mjs <addr> <port> <mode> [backend]
// Prints {"type":"guard","name":…,"backend":…}, then: wait (until a signal), drain (nothing left to do:
// Node exits 0), exit (process.exit(4)), throw (uncaught error), remove (guard.remove(), then waits for a
// signal).
import { installRstGuard } from '../../dist/net/rstguard.js'

const [addr, port, mode = 'wait', backend = 'auto'] = process.argv.slice(2)
const guard = await installRstGuard({ addr, port: Number(port), backend })
console.log(JSON.stringify({ type: 'guard', name: guard.name, backend: guard.backend, description: guard.description }))

switch (mode) {
  case 'wait':
    setInterval(() => {}, 1 << 30)
    break
  case 'drain':
    break
  case 'exit':
    process.exit(4)
    break
  case 'throw':
    setImmediate(() => {
      throw new Error('boom with a guard installed')
    })
    break
  case 'remove':
    await guard.remove()
    console.log(JSON.stringify({ type: 'removed' }))
    setInterval(() => {}, 1 << 30)
    break
  default:
    throw new Error(`unknown mode ${mode}`)
}
