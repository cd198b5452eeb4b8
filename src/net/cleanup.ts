/**
 * A process-wide registry of cleanup actions (delete a namespace lab, remove an RST guard) that run
 * exactly once whichever way the process ends: normal exit, an uncaught exception or unhandled rejection
 * (Node emits 'exit' for both), SIGINT, SIGTERM or SIGHUP. Actions are synchronous because a process
 * 'exit' handler cannot wait: use `execFileSync` in them. After a signal the registry re-raises it, so the
 * process still dies by that signal (a shell sees 130 for SIGINT, 143 for SIGTERM), unless the program
 * has its own handler for it, which then decides. Nothing can run on SIGKILL: `tcplab cleanup` is for that.
 */

/** A registered action. */
export interface CleanupHandle {
  /** Runs the action now (if it has not run) and unregisters it. */
  run(): void
  /** Unregisters the action without running it (the resource was released another way). */
  unregister(): void
}

interface Entry {
  label: string
  action: () => void
}

const entries = new Set<Entry>()
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const
type Sig = (typeof SIGNALS)[number]
let installed = false
/** Failures of cleanup actions, reported on stderr as one line each; kept for tests. */
const failures: string[] = []

function runEntry(e: Entry): void {
  if (!entries.delete(e)) return
  try {
    e.action()
  } catch (err) {
    const line = `tcplab: cleanup of ${e.label} failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`
    failures.push(line)
    try {
      process.stderr.write(`${line}\n`)
    } catch {
      // stderr may be gone at exit; the failure is still recorded.
    }
  }
}

/** Runs every registered action now, newest first (a guard inside a lab goes before the lab). */
export function runCleanups(): void {
  const all = [...entries].reverse()
  for (const e of all) runEntry(e)
  uninstall()
}

const onExit = (): void => runCleanups()

const onSignal = (sig: Sig): void => {
  runCleanups()
  uninstall(true)
  // Our listeners are gone now (uninstall). If the program listens for this signal too, it decides what
  // happens next; otherwise re-raise so the process ends the way the signal's default would.
  if (process.listenerCount(sig) === 0) process.kill(process.pid, sig)
}
const signalHandlers = new Map<Sig, () => void>(SIGNALS.map((s) => [s, () => onSignal(s)]))

function install(): void {
  if (installed) return
  installed = true
  process.on('exit', onExit)
  for (const [sig, h] of signalHandlers) process.on(sig, h)
}

function uninstall(force = false): void {
  if (!installed || (entries.size > 0 && !force)) return
  installed = false
  process.removeListener('exit', onExit)
  for (const [sig, h] of signalHandlers) process.removeListener(sig, h)
}

/**
 * Registers a synchronous `action` to run once at exit or on a fatal signal. The handlers are installed
 * only while something is registered, so a process with nothing to clean keeps Node's default behaviour.
 */
export function registerCleanup(label: string, action: () => void): CleanupHandle {
  const e: Entry = { label, action }
  entries.add(e)
  install()
  return {
    run: () => {
      runEntry(e)
      uninstall()
    },
    unregister: () => {
      entries.delete(e)
      uninstall()
    },
  }
}

/** Labels of the actions still registered, oldest first. */
export function pendingCleanups(): string[] {
  return [...entries].map((e) => e.label)
}

/** One line per cleanup action that threw, in order. */
export function cleanupFailures(): readonly string[] {
  return failures
}
