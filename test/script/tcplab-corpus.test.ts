import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseScript } from '../../src/script/parser.js'
import { runTcplabScript } from '../../src/script/tcplab/target.js'
import type { ScriptVerdict } from '../../src/script/engine.js'

const DIR = join(import.meta.dirname, '../scripts')
const SCRIPTS = readdirSync(DIR).filter((f) => f.endsWith('.pkt')).sort()
/** The committed list of scripts that pass on tcplab: it may grow, never silently shrink. */
const PASSING = readFileSync(join(DIR, 'tcplab-passing.txt'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'))

/**
 * docs/conformance.md's differences (written by scripts/conformance.mjs from real runs): each script that
 * does not pass on the linux profile, with its reason ("to fix: …" or "on purpose: …").
 */
function differences(): Map<string, string> {
  const page = readFileSync(join(import.meta.dirname, '../../docs/conformance.md'), 'utf8')
  const start = page.indexOf('\n## Differences (linux profile)\n')
  const end = page.indexOf('\n## ', start + 1)
  const out = new Map<string, string>()
  let script: string | undefined
  for (const line of page.slice(start, end < 0 ? undefined : end).split('\n')) {
    const head = /^### (\S+\.pkt)$/.exec(line)
    if (head) script = head[1]
    const why = /^- why: (.*)$/.exec(line)
    if (why && script !== undefined) out.set(script, why[1]!)
  }
  return out
}

const runs = new Map<string, Promise<Map<string, ScriptVerdict>>>()
/** Every corpus script's verdict for one IP version (run once, shared by the tests below). */
function runAll(ipVersion: 'ipv4' | 'ipv6'): Promise<Map<string, ScriptVerdict>> {
  let r = runs.get(ipVersion)
  if (!r) runs.set(ipVersion, (r = runCorpus(ipVersion)))
  return r
}

async function runCorpus(ipVersion: 'ipv4' | 'ipv6'): Promise<Map<string, ScriptVerdict>> {
  const out = new Map<string, ScriptVerdict>()
  for (const f of SCRIPTS) {
    const script = parseScript(readFileSync(join(DIR, f), 'utf8'), { file: f })
    out.set(f, await runTcplabScript(script, { ipVersion }))
  }
  return out
}

describe('the corpus on --stack tcplab (virtual time, no root)', () => {
  it('lists only scripts that exist', () => {
    expect(PASSING.filter((f) => !SCRIPTS.includes(f))).toEqual([])
  })

  it('every script not on the list is in docs/conformance.md\'s differences with a reason, and no listed one is', () => {
    const diffs = differences()
    expect(diffs.size).toBeGreaterThan(0)
    const unexplained = SCRIPTS.filter((f) => !PASSING.includes(f) && !/^(to fix|on purpose)\b.{20,}/.test(diffs.get(f) ?? ''))
    expect(unexplained, 'run scripts/conformance.mjs (root) after giving these a reason in it').toEqual([])
    expect([...diffs.keys()].filter((f) => PASSING.includes(f) || !SCRIPTS.includes(f))).toEqual([])
    // The page's pass count is the list's.
    expect(readFileSync(join(import.meta.dirname, '../../docs/conformance.md'), 'utf8')).toContain(`**${PASSING.length} of ${SCRIPTS.length} pass (`)
  })

  for (const ipVersion of ['ipv4', 'ipv6'] as const) {
    it(`${ipVersion}: every script gets a verdict from the script (no 'error' from the target), and every listed script passes`, async () => {
      const verdicts = await runAll(ipVersion)
      const errors = [...verdicts.values()].filter((v) => v.result === 'error').map((v) => `${v.script}: ${v.message}`)
      expect(errors).toEqual([])
      const regressed = PASSING.filter((f) => verdicts.get(f)?.result !== 'pass').map((f) => `${f}: ${verdicts.get(f)?.text.join(' | ')}`)
      expect(regressed).toEqual([])
      for (const v of verdicts.values()) {
        if (v.result !== 'pass') {
          expect(v.line, v.script).not.toBeNull()
          expect(v.message, v.script).not.toBeNull()
        }
      }
    })
  }

  it('a script that passes on both IP versions is on the list (and so leaves the matrix\'s differences: they only shrink)', async () => {
    const [v4, v6] = [await runAll('ipv4'), await runAll('ipv6')]
    const unlisted = SCRIPTS.filter((f) => v4.get(f)?.result === 'pass' && v6.get(f)?.result === 'pass' && !PASSING.includes(f))
    expect(unlisted, 'add these to test/scripts/tcplab-passing.txt and run scripts/conformance.mjs').toEqual([])
  })
})
