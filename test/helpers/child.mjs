// What the lab children share (test/interop/stack-child.mjs, test/interop/bridge-child.mjs,
// test/hostile/stack.mjs): the options a test passes as the one argument, JSON lines on stdout as the only
// channel back, and one way out — a watchdog, a fatal line on an uncaught exception, and finish(code), which
// closes what the child opened, prints {type:'end', code} and exits. Plain .mjs, run by Node next to the
// built code (dist/); each child keeps its own logic.
import { parseIp } from '../../dist/net/addr.js'
import { openLiveStack } from '../../dist/lab/stack/live.js'

/** The child's options: the JSON its test passed as the first argument. */
export const childOptions = () => JSON.parse(process.argv[2])

/** Prints one JSON line on stdout (the test reads them by `type`). */
export const emit = (v) => process.stdout.write(`${JSON.stringify(v)}\n`)

/**
 * Sets up the child's exit paths and returns finish(code). finish runs once: it clears the watchdog,
 * awaits close() (a failure is printed as {type:'closeError', message}, not thrown), prints
 * {type:'end', code} and exits with `code`. After `timeoutMs` the watchdog prints {type:'fatal',
 * ...watchdog()} and finishes with 2. An uncaught exception prints {type:'fatal', reason: its stack} and
 * finishes with 3 — or, with `uncaughtExitsAtOnce`, exits 3 at once without closing anything.
 */
export function childExit({ timeoutMs, watchdog, close, uncaughtExitsAtOnce = false }) {
  let finished = false
  const finish = async (code) => {
    if (finished) return
    finished = true
    clearTimeout(timer)
    try {
      await close()
    } catch (e) {
      emit({ type: 'closeError', message: String(e?.message ?? e) })
    }
    emit({ type: 'end', code })
    process.exit(code)
  }
  const timer = setTimeout(() => {
    emit({ type: 'fatal', ...watchdog() })
    void finish(2)
  }, timeoutMs)
  process.on('uncaughtException', (e) => {
    emit({ type: 'fatal', reason: String(e?.stack ?? e) })
    if (uncaughtExitsAtOnce) process.exit(3)
    void finish(3)
  })
  return finish
}

/** openLiveStack on the device the options name (via, local, iface, mac, tcp), plus the child's own `extra`. */
export const openChildStack = (o, extra) =>
  openLiveStack({ via: o.via, localAddr: parseIp(o.local), iface: o.iface, mac: o.mac, tcp: o.tcp, ...extra })
