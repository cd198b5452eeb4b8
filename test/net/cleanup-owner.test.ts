/**
 * Issue 15, the `cleanup` defect: plain `tcplab cleanup` removes only what a dead tcplab process left
 * (owner records, src/net/owner.ts); `--all` everything; `--name` as before. Every cleanup here is
 * restricted to this file's own labs (`within`/`only`): other test files run labs in parallel right now.
 * Owner records go to a directory of this test's own ($TCPLAB_RUN_DIR), children inherit it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cleanupAll, labLeftovers, labNamespaces, netnsUp, removeLab } from '../../src/net/netns.js'
import { dropOwner, dropStaleGuardRecords, markKept, ownerAlive, ownershipOf, processStart, readOwner, recordOwner } from '../../src/net/owner.js'
import { describeRoot, itRoot } from '../helpers/root.js'
import { LineReader, exitOf, repoPath, requireBuilt } from '../helpers/lab.js'

let runDir: string
let savedEnv: string | undefined
beforeAll(() => {
  runDir = mkdtempSync(join(tmpdir(), 'tcplab-run-'))
  savedEnv = process.env.TCPLAB_RUN_DIR
  process.env.TCPLAB_RUN_DIR = runDir
})
afterAll(() => {
  if (savedEnv === undefined) delete process.env.TCPLAB_RUN_DIR
  else process.env.TCPLAB_RUN_DIR = savedEnv
  rmSync(runDir, { recursive: true, force: true })
})

/** A process that has exited (its pid is gone), as [pid, its start time while it ran]. */
function deadProcess(): [number, string] {
  // `read` is a shell builtin: /proc/self is the shell itself, which exits right after.
  const stat = spawnSync('sh', ['-c', 'read l < /proc/self/stat; echo "$l"'], { encoding: 'utf8' }).stdout.trim()
  return [Number(stat.split(' ')[0]), stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]]
}

describe('owner records', () => {
  it('processStart reads field 22 of /proc/<pid>/stat; none for a pid that is gone', () => {
    const mine = readFileSync('/proc/self/stat', 'utf8')
    expect(processStart(process.pid)).toBe(mine.slice(mine.lastIndexOf(')') + 2).split(' ')[19])
    expect(processStart(process.pid)).toMatch(/^\d+$/)
    expect(processStart(deadProcess()[0])).toBeUndefined()
  })

  it('stale guard records: a dead owner\'s record with nothing left anywhere goes; a live one, or one still present, stays', () => {
    const [pid] = deadProcess()
    recordOwner('guard', 'tcplab_gstale', pid)
    recordOwner('guard', 'tcplab_gstill', pid)
    recordOwner('guard', 'tcplab_glive')
    recordOwner('lab', 'labdead', pid)
    expect(dropStaleGuardRecords(new Set(['tcplab_gstill']))).toEqual(['tcplab_gstale'])
    expect(['tcplab_gstale', 'tcplab_gstill', 'tcplab_glive'].map((n) => readOwner('guard', n) !== undefined)).toEqual([false, true, true])
    expect(readOwner('lab', 'labdead')).toMatchObject({ pid }) // labs are removeLab's, not this sweep's
    for (const n of ['tcplab_gstill', 'tcplab_glive']) dropOwner('guard', n)
    dropOwner('lab', 'labdead')
  })

  it('alive, dead, reused pid, kept, unowned; drop removes the record', () => {
    recordOwner('lab', 'ownalive')
    expect(readOwner('lab', 'ownalive')).toEqual({ kind: 'lab', name: 'ownalive', pid: process.pid, start: processStart(process.pid), kept: false })
    expect(JSON.parse(readFileSync(join(runDir, 'lab-ownalive.json'), 'utf8')).pid).toBe(process.pid)
    expect(ownershipOf('lab', 'ownalive')).toBe('alive')
    const [pid, start] = deadProcess()
    expect(ownerAlive({ pid, start })).toBe(false)
    recordOwner('guard', 'tcplab_gdead', pid)
    expect(ownershipOf('guard', 'tcplab_gdead')).toBe('dead')
    // our own pid with another start time: the pid was reused, the owner is gone
    expect(ownerAlive({ pid: process.pid, start: String(Number(processStart(process.pid)) + 1) })).toBe(false)
    markKept('lab', 'ownalive')
    expect(ownershipOf('lab', 'ownalive')).toBe('kept')
    expect(ownershipOf('lab', 'nosuch')).toBe('unowned')
    dropOwner('lab', 'ownalive')
    dropOwner('guard', 'tcplab_gdead')
    expect([ownershipOf('lab', 'ownalive'), ownershipOf('guard', 'tcplab_gdead')]).toEqual(['unowned', 'unowned'])
  })
})

describe('tcplab cleanup usage', () => {
  it('--all and --name together: one line, exit 2', () => {
    requireBuilt('dist/lab/cli.js')
    const r = spawnSync(process.execPath, [repoPath('dist/lab/cli.js'), 'cleanup', '--all', '--name', 'x'], { encoding: 'utf8' })
    expect([r.status, r.stdout, r.stderr]).toEqual([2, '', 'tcplab cleanup: give --all or --name, not both\n'])
  })
})

/** Starts owner-child.mjs and reads its one JSON line. */
async function ownerChild<T>(type: string, ...args: string[]): Promise<{ child: ChildProcess; info: T }> {
  const child = spawn(process.execPath, [repoPath('test/net/owner-child.mjs'), ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: process.env })
  const info = await new LineReader(child).json<T>(type)
  return { child, info }
}

async function kill9(child: ChildProcess): Promise<void> {
  child.kill('SIGKILL')
  expect(await exitOf(child)).toEqual({ code: null, signal: 'SIGKILL' })
}

describeRoot('tcplab cleanup removes only what a dead owner left', () => {
  itRoot("plain: a live owner's lab survives, a SIGKILLed owner's is removed, a kept lab stays; --all takes the rest", async () => {
    requireBuilt('dist/net/netns.js')
    const alive = await ownerChild<{ id: string }>('up', 'lab')
    const killed = await ownerChild<{ id: string }>('up', 'lab')
    const kept = await ownerChild<{ id: string }>('up', 'kept')
    expect(await exitOf(kept.child)).toEqual({ code: 0, signal: null })
    const ids = [alive.info.id, killed.info.id, kept.info.id]
    try {
      await kill9(killed.child)
      expect([ownershipOf('lab', alive.info.id), ownershipOf('lab', killed.info.id), ownershipOf('lab', kept.info.id)]).toEqual(['alive', 'dead', 'kept'])
      const plain = await cleanupAll({ owners: 'dead', within: ids })
      expect(plain).toEqual({ namespaces: labNamespaces(killed.info.id).slice(0, 2), tables: [], iptablesRules: [], inUse: [alive.info.id], kept: [kept.info.id], unowned: [] })
      expect(labLeftovers(killed.info.id)).toEqual([])
      expect(readOwner('lab', killed.info.id)).toBeUndefined()
      for (const id of [alive.info.id, kept.info.id]) expect(labLeftovers(id)).toEqual(labNamespaces(id).slice(0, 2).map((n) => `namespace ${n}`))
      // plain again: nothing more to do
      expect((await cleanupAll({ owners: 'dead', within: ids })).namespaces).toEqual([])
      // --all (restricted to this test's labs): the live owner's lab and the kept one go too
      const all = await cleanupAll({ within: ids })
      expect(all).toEqual({ namespaces: [alive.info.id, kept.info.id].sort().flatMap((id) => labNamespaces(id).slice(0, 2)), tables: [], iptablesRules: [] })
      for (const id of ids) expect([labLeftovers(id), readOwner('lab', id)]).toEqual([[], undefined])
    } finally {
      alive.child.kill('SIGKILL')
      for (const id of ids) await removeLab(id)
    }
  }, 60_000)

  itRoot("plain: a SIGKILLed run's RST guard inside a live lab is removed, a running one's stays", async () => {
    requireBuilt('dist/net/netns.js')
    const lab = await netnsUp()
    const children: ChildProcess[] = []
    try {
      const dead = await ownerChild<{ name: string }>('guard', 'guard', lab.a.ns, '40001')
      const live = await ownerChild<{ name: string }>('guard', 'guard', lab.a.ns, '40002')
      children.push(dead.child, live.child)
      await kill9(dead.child)
      const report = await cleanupAll({ owners: 'dead', within: [lab.id] })
      expect(report).toEqual({
        namespaces: [],
        tables: [`${lab.a.ns}:inet ${dead.info.name}`],
        iptablesRules: [],
        inUse: [lab.id, `${lab.a.ns}:inet ${live.info.name}`],
        kept: [],
        unowned: [],
      })
      const tables = (await lab.exec('a', ['nft', 'list', 'tables'])).stdout
      expect(tables).toBe(`table inet ${live.info.name}\n`)
      expect([readOwner('guard', dead.info.name), ownershipOf('guard', live.info.name)]).toEqual([undefined, 'alive'])
      // a table no record names (an older tcplab, or made by hand) is left and listed
      await lab.exec('a', ['nft', 'add', 'table', 'inet', 'tcplab_gnorecord'])
      const again = await cleanupAll({ owners: 'dead', within: [lab.id] })
      expect([again.tables, again.unowned]).toEqual([[], [`${lab.a.ns}:inet tcplab_gnorecord`]])
    } finally {
      for (const c of children) c.kill('SIGKILL')
      await lab.down()
    }
    expect(labLeftovers(lab.id)).toEqual([])
  }, 60_000)

  itRoot('netns up from the CLI records its lab as kept; cleanup --name removes it as before', async () => {
    requireBuilt('dist/lab/cli.js')
    const cli = repoPath('dist/lab/cli.js')
    const id = `o${Math.random().toString(36).slice(2, 8)}`
    const up = spawnSync(process.execPath, [cli, 'netns', 'up', '--name', id, '--json'], { encoding: 'utf8', env: process.env })
    try {
      expect([up.status, up.stderr]).toEqual([0, ''])
      expect(readOwner('lab', id)).toMatchObject({ kept: true })
      expect((await cleanupAll({ owners: 'dead', within: [id] })).kept).toEqual([id])
      const r = spawnSync(process.execPath, [cli, 'cleanup', '--name', id, '--json'], { encoding: 'utf8', env: process.env })
      expect([r.status, JSON.parse(r.stdout)]).toEqual([0, { namespaces: labNamespaces(id).slice(0, 2), tables: [], iptablesRules: [], unknown: [] }])
      expect([labLeftovers(id), readOwner('lab', id)]).toEqual([[], undefined])
    } finally {
      await removeLab(id)
    }
  }, 60_000)
})
