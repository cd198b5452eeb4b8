/**
 * Gates for tests that need root and the real kernel (the namespace lab). Elsewhere they are skipped with
 * a one-line reason — unless LAB_REQUIRE_ROOT=1 (CI), where a missing prerequisite is a failure.
 */
import { spawnSync } from 'node:child_process'
import { describe, it } from 'vitest'
import { labNamespaces, newLabId } from '../../src/net/netns.js'

let cached: { reason: string | undefined } | undefined

/** Why root-only tests cannot run here (not root, no `ip`, cannot create a namespace), or undefined. */
export function rootSkipReason(): string | undefined {
  if (cached !== undefined) return cached.reason
  cached = { reason: probe() }
  return cached.reason
}

function probe(): string | undefined {
  if (process.platform !== 'linux') return `needs Linux network namespaces (this is ${process.platform})`
  const uid = process.getuid?.()
  if (uid !== 0) return `needs root for network namespaces (uid ${uid}); run as root or with LAB_REQUIRE_ROOT=1 in CI`
  const v = spawnSync('ip', ['-V'])
  if (v.error !== undefined) return "needs the 'ip' command (iproute2): apt-get install iproute2"
  // A throwaway namespace named like a lab's, so `tcplab cleanup` finds it if we die right here.
  const [ns] = labNamespaces(`p${newLabId()}`)
  const add = spawnSync('ip', ['netns', 'add', ns])
  if (add.status !== 0) return `cannot create a network namespace: ${add.stderr.toString().trim().split('\n')[0]}`
  spawnSync('ip', ['netns', 'del', ns])
  return undefined
}

const required = (): boolean => process.env.LAB_REQUIRE_ROOT === '1'

/** `describe` for root-only tests: skipped with the reason, or failing with it under LAB_REQUIRE_ROOT=1. */
export function describeRoot(name: string, fn: () => void): void {
  const reason = rootSkipReason()
  if (reason === undefined) describe(name, fn)
  else if (required()) {
    describe(name, () => {
      it('has what it needs (LAB_REQUIRE_ROOT=1)', () => {
        throw new Error(reason)
      })
    })
  } else describe.skip(`${name} — skipped: ${reason}`, fn)
}

/** `it` for a root-only test inside an ordinary describe. */
export function itRoot(name: string, fn: () => Promise<void> | void, timeout?: number): void {
  const reason = rootSkipReason()
  if (reason === undefined) it(name, fn, timeout)
  else if (required()) {
    it(name, () => {
      throw new Error(reason)
    })
  } else it.skip(`${name} — skipped: ${reason}`, fn)
}
