/**
 * Runs scripts against the Linux kernel, each in its own throwaway network namespace (`tcplab-s<id>-a`, a
 * lab-shaped name so `tcplab cleanup` finds a leftover after kill -9): the namespace is made, the runner
 * child (child.ts) is started in it with `ip netns exec`, its one JSON line is the verdict, and the namespace
 * is deleted on every path — normal end, error, SIGINT/SIGTERM (through cleanup.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { registerCleanup } from '../../net/cleanup.js'
import { labNamespaces, newLabId, removeLab, removeLabSync, run } from '../../net/netns.js'
import { recordOwner } from '../../net/owner.js'
import { hasNetAdminPrivilege, loadScriptSys } from '../../net/native.js'
import type { ScriptVerdict } from '../engine.js'
import type { ChildRequest } from './child.js'

/** Why the kernel target cannot run here (no root / CAP_NET_ADMIN, no addon), in one line; undefined when it can. */
export function kernelTargetProblem(): string | undefined {
  if (process.platform !== 'linux') return 'the kernel script target runs on Linux only'
  if (!hasNetAdminPrivilege()) return 'the kernel script target needs root (CAP_NET_ADMIN) to make a network namespace and a TUN device: run it with sudo'
  try {
    loadScriptSys()
  } catch (e) {
    return e instanceof Error ? e.message : String(e)
  }
  return undefined
}

/**
 * Node flags of the child: compile every function when its module loads (before the script's clock starts)
 * instead of on its first call, which cost the first events 1-2 ms each — a quarter of the 4 ms tolerance.
 */
const CHILD_NODE_FLAGS = ['--no-lazy']

function childPath(): string {
  const here = fileURLToPath(new URL('.', import.meta.url))
  const js = join(here, 'child.js')
  // Under a TypeScript test runner this module is src/…; the child always runs from dist/.
  return existsSync(js) ? js : join(here, '../../../dist/script/kernel/child.js')
}

/** Runs one script in a fresh namespace; the verdict (an `error` verdict if the child failed). */
export async function runKernelScript(req: ChildRequest, timeoutMs = 600_000): Promise<ScriptVerdict> {
  const id = `s${newLabId()}`
  const ns = labNamespaces(id)[0]
  let child: ChildProcess | undefined
  const cleanup = registerCleanup(`script namespace ${ns}`, () => {
    try {
      child?.kill('SIGKILL')
    } catch {
      // gone already
    }
    removeLabSync(id)
  })
  const fail = (message: string): ScriptVerdict => ({
    script: req.name, stack: 'kernel', result: 'error', line: null, col: null, message, events: [], text: [`${req.name}: ${message}`], warnings: [],
  })
  try {
    recordOwner('lab', id)
    await run(['ip', 'netns', 'add', ns])
    const out = await new Promise<{ stdout: string; stderr: string; code: number | null; signal: string | null }>((resolve) => {
      const c = spawn('ip', ['netns', 'exec', ns, process.execPath, ...CHILD_NODE_FLAGS, childPath(), JSON.stringify(req)], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, UV_THREADPOOL_SIZE: '8' },
      })
      child = c
      const so: Buffer[] = []
      const se: Buffer[] = []
      const timer = setTimeout(() => c.kill('SIGKILL'), timeoutMs)
      c.stdout!.on('data', (d: Buffer) => so.push(d))
      c.stderr!.on('data', (d: Buffer) => se.push(d))
      c.on('error', (e) => se.push(Buffer.from(e.message)))
      c.on('close', (code, signal) => {
        clearTimeout(timer)
        resolve({ stdout: Buffer.concat(so).toString(), stderr: Buffer.concat(se).toString(), code, signal })
      })
    })
    const line = out.stdout.split('\n').filter((l) => l.startsWith('{')).pop()
    if (line === undefined) {
      const why = out.stderr.trim().split('\n').pop() || (out.signal ? `killed by ${out.signal}` : `exit ${out.code}`)
      return fail(`the kernel target's runner failed: ${why}`)
    }
    return JSON.parse(line) as ScriptVerdict
  } catch (e) {
    return fail(e instanceof Error ? e.message : String(e))
  } finally {
    child = undefined
    cleanup.unregister()
    await removeLab(id)
  }
}

/** How many scripts run at once: the machine's cores, at most 4 (real time: a loaded CPU misses deadlines). */
export function defaultJobs(): number {
  return Math.max(1, Math.min(4, availableParallelism()))
}

/**
 * Runs every request, `jobs` at a time, calling `onVerdict` in the requests' order as soon as each verdict
 * and those before it are known; resolves with all verdicts.
 */
export async function runKernelScripts(reqs: ChildRequest[], onVerdict: (v: ScriptVerdict, i: number) => void, jobs = defaultJobs()): Promise<ScriptVerdict[]> {
  const results: Array<ScriptVerdict | undefined> = new Array(reqs.length)
  let next = 0
  let printed = 0
  const flush = (): void => {
    while (printed < reqs.length && results[printed] !== undefined) {
      onVerdict(results[printed]!, printed)
      printed++
    }
  }
  const worker = async (): Promise<void> => {
    while (next < reqs.length) {
      const i = next++
      results[i] = await runKernelScript(reqs[i]!)
      flush()
    }
  }
  await Promise.all(Array.from({ length: Math.min(jobs, reqs.length) }, worker))
  return results as ScriptVerdict[]
}
