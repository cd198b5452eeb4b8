/**
 * Issue 7, item 7: privilege and cleanup. As nobody (setpriv to uid 65534 with no capabilities, inside a
 * lab namespace) every command that needs privilege prints one line naming what is missing and exits 2,
 * or falls back and says so. And whatever way a `tcplab handshake` ends in the middle of a handshake (the
 * kernel server never answers: nft drops its SYNs) — normal exit, an error, SIGINT, SIGTERM — its RST
 * guard is gone; after `kill -9` the guard outlives it until `tcplab netns down` (or `tcplab cleanup
 * --name`) removes the lab. withLab checks at the end that no namespace, veth or firewall
 * table of the lab remains, and that the root namespace has no tcplab table.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { expect } from 'vitest'
import type { Lab } from '../../src/net/netns.js'
import { ownerDir } from '../../src/net/owner.js'
import { LineReader, exitOf, kernelListener, repoPath, requireBuilt, withLab } from '../helpers/lab.js'
import { nobodyPath } from '../helpers/nobody.js'
import { describeRoot, itRoot } from '../helpers/root.js'

const CLI = repoPath('dist/lab/cli.js')
const node = process.execPath
const AS_NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all']
const DROPPED_PORT = 4444

/** Tables of tcplab (`tcplab_…`) in a side of the lab. */
async function tables(lab: Lab, side: 'a' | 'b' = 'a'): Promise<string[]> {
  const r = await lab.exec(side, ['nft', 'list', 'tables'])
  return r.stdout.split('\n').map((l) => l.trim()).filter((l) => /^table \S+ tcplab_/.test(l))
}

/** iptables/ip6tables rules tagged tcplab in a side (the guard's fallback). */
async function iptablesRules(lab: Lab): Promise<string[]> {
  const out: string[] = []
  for (const tool of ['iptables', 'ip6tables']) {
    const r = await lab.exec('a', [tool, '-w', '-S', 'OUTPUT'], { allowFail: true })
    if (r.code === 0) out.push(...r.stdout.split('\n').filter((l) => l.includes('tcplab_')))
  }
  return out
}

/** Side B's kernel drops every SYN to DROPPED_PORT: a handshake there stays in SYN-SENT, retrying. */
async function blackhole(lab: Lab): Promise<void> {
  await lab.exec('b', ['nft', '-f', '-'], {
    input: `table inet tcplab_${lab.id}_hole {\n  chain in { type filter hook input priority 0; policy accept; tcp dport ${DROPPED_PORT} drop; }\n}\n`,
  })
}

/** Starts `tcplab handshake` in side A and waits until its SYN is out and its RST guard is in place. */
async function handshakeInFlight(lab: Lab): Promise<{ child: ReturnType<Lab['spawn']>; out: LineReader; guard: string }> {
  const child = lab.spawn('a', [node, CLI, 'handshake', `${lab.b.ipv4}:${DROPPED_PORT}`, '--timeout', '60000'], { stdio: ['ignore', 'pipe', 'pipe'] })
  const out = new LineReader(child)
  const g = await out.next(/^RST guard: /)
  const guard = /nft table inet (tcplab_\w+)/.exec(g)![1]
  await out.next(/→ SYN /)
  expect(await tables(lab)).toEqual([`table inet ${guard}`])
  return { child, out, guard }
}

describeRoot('privilege and cleanup (root, namespace lab)', () => {
  itRoot('as nobody: one line naming the missing capability and exit 2, or a fallback that says so', async () => {
    requireBuilt('dist/lab/cli.js')
    await withLab(async (lab) => {
      // nobody reads the CLI from a world-readable copy: the repository may sit in a private directory
      const run = (args: string[]) => lab.exec('a', [...AS_NOBODY, node, nobodyPath('dist/lab/cli.js'), ...args], { allowFail: true, timeoutMs: 30_000 })
      const cases: Array<{ args: string[]; stderr: RegExp }> = [
        { args: ['handshake', `${lab.b.ipv4}:1935`], stderr: /^tcplab handshake: cannot speak raw packets: raw packets need root or CAP_NET_RAW$/ },
        { args: ['handshake', `${lab.b.ipv4}:1935`, '--via', 'pcap', '--src', lab.a.owned.ipv4], stderr: /^tcplab handshake: .*CAP_NET_RAW/ },
        { args: ['listen', '7000', '--ip', lab.a.ipv4], stderr: /^tcplab listen: cannot listen with raw packets: raw packets need root or CAP_NET_RAW$/ },
        { args: ['listen', '7000', '--via', 'pcap', '--iface', lab.a.iface, '--ip', lab.a.owned.ipv4], stderr: /^tcplab listen: .*CAP_NET_RAW/ },
        { args: ['listen', '7000', '--ip', lab.a.ipv4, '--echo'], stderr: /^tcplab listen: .*CAP_NET_RAW/ },
        { args: ['netns', 'up'], stderr: /^tcplab netns: the namespace lab needs root \(CAP_SYS_ADMIN and CAP_NET_ADMIN create network namespaces\): run with sudo$/ },
        { args: ['inspect', '--iface', lab.a.iface, '--count', '1'], stderr: /^tcplab inspect: the capture device needs root or CAP_NET_RAW/ },
        // Removing labs needs what creating them needs (these once said "no lab named …" / "nothing to
        // clean up" while the labs were still there).
        { args: ['netns', 'down', '--name', lab.id], stderr: /^tcplab netns: the namespace lab needs root \(CAP_SYS_ADMIN and CAP_NET_ADMIN/ },
        { args: ['netns', 'down', '--all'], stderr: /^tcplab netns: the namespace lab needs root \(CAP_SYS_ADMIN and CAP_NET_ADMIN/ },
        { args: ['cleanup'], stderr: /^tcplab cleanup: the namespace lab needs root \(CAP_SYS_ADMIN and CAP_NET_ADMIN/ },
      ]
      for (const c of cases) {
        const r = await run(c.args)
        const what = `tcplab ${c.args.join(' ')}`
        expect(r.code, `${what}: exit code (stderr ${r.stderr})`).toBe(2)
        expect(r.stdout, what).toBe('')
        const lines = r.stderr.trimEnd().split('\n')
        expect(lines, `${what}: one line`).toHaveLength(1)
        expect(lines[0], what).toMatch(c.stderr)
      }
      // --json: the same refusal as a JSON error object on stdout, still exit 2.
      const j = await run(['listen', '7000', '--ip', lab.a.ipv4, '--json'])
      expect(j.code).toBe(2)
      expect(JSON.parse(j.stdout)).toEqual({ error: { code: 'DEV_ERR_PERMISSION', message: 'cannot listen with raw packets: raw packets need root or CAP_NET_RAW' } })
      // Fallbacks that say what they skipped, and exit 0.
      const demo = await run(['demo'])
      expect(demo.code).toBe(0)
      expect(demo.stdout.split('\n')[0]).toBe('tcplab demo: skipped the userland handshake in a namespace lab: the namespace lab needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN).')
      const bench = await run(['bench', '--only', 'handshake-rate', '--quick'])
      expect(bench.code).toBe(0)
      expect(bench.stdout).toMatch(/handshake-rate\s+skipped: needs root/)
      // Whatever nobody tried, the lab is untouched and nobody left anything behind.
      expect((await lab.exec('a', ['ip', 'link', 'show', lab.a.iface])).code).toBe(0)
      expect(await tables(lab)).toEqual([])
    })
  }, 120_000)

  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    itRoot(`${sig} in the middle of a handshake: the process dies by ${sig} and its RST guard is gone`, async () => {
      requireBuilt('dist/lab/cli.js')
      await withLab(async (lab) => {
        await blackhole(lab)
        const h = await handshakeInFlight(lab)
        h.child.kill(sig)
        expect(await exitOf(h.child)).toEqual({ code: null, signal: sig })
        expect(h.out.errors).toBe('')
        expect(await tables(lab)).toEqual([])
        expect(await iptablesRules(lab)).toEqual([])
      })
    }, 60_000)
  }

  itRoot('a normal exit and an error exit (connection refused) leave no guard', async () => {
    requireBuilt('dist/lab/cli.js')
    await withLab(async (lab) => {
      const server = await kernelListener(lab, 'b', 1935)
      const ok = await lab.exec('a', [node, CLI, 'handshake', `${lab.b.ipv4}:1935`, '--timeout', '300', '--json'], { allowFail: true, timeoutMs: 30_000 })
      expect(ok.code).toBe(0)
      expect(JSON.parse(ok.stdout).result).toBe('established')
      expect(await tables(lab)).toEqual([])
      server.kill()
      // Nobody listens on 1936: side B's kernel answers the SYN with RST.
      const refused = await lab.exec('a', [node, CLI, 'handshake', `${lab.b.ipv4}:1936`, '--json'], { allowFail: true, timeoutMs: 30_000 })
      expect(refused.code).toBe(1)
      expect(JSON.parse(refused.stdout).result).toBe('refused')
      expect(refused.stderr).toBe('')
      expect(await tables(lab)).toEqual([])
      expect(await iptablesRules(lab)).toEqual([])
    })
  }, 60_000)

  itRoot('kill -9: the guard outlives the process, `tcplab netns down` removes it with the lab', async () => {
    requireBuilt('dist/lab/cli.js')
    await withLab(async (lab) => {
      await blackhole(lab)
      const h = await handshakeInFlight(lab)
      h.child.kill('SIGKILL')
      expect(await exitOf(h.child)).toEqual({ code: null, signal: 'SIGKILL' })
      // Nothing can run on SIGKILL: the rule is still there.
      expect(await tables(lab)).toContain(`table inet ${h.guard}`)
      const r = await lab.exec('a', [node, CLI, 'netns', 'down', '--name', lab.id], { allowFail: true })
      expect(r.code).toBe(0)
      expect(r.stdout.trim()).toBe(`removed tcplab-${lab.id}-a tcplab-${lab.id}-b`)
      // The guard's owner record went with it: nothing of the killed run is left in the owner directory.
      expect(existsSync(join(ownerDir(), `guard-${h.guard}.json`))).toBe(false)
    })
  }, 60_000)

  itRoot('kill -9: `tcplab cleanup --name` scoped to this lab removes it (and the guard inside it)', async () => {
    requireBuilt('dist/lab/cli.js')
    await withLab(async (lab) => {
      await blackhole(lab)
      const h = await handshakeInFlight(lab)
      h.child.kill('SIGKILL')
      await exitOf(h.child)
      expect(await tables(lab)).toContain(`table inet ${h.guard}`)
      // Scoped with --name: a bare `tcplab cleanup` would remove every lab on the machine (other tests' too).
      // Run from the root namespace, as a person would after the crash.
      const child = spawn(node, [CLI, 'cleanup', '--name', lab.id, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] })
      const out = new LineReader(child)
      const report = JSON.parse(await out.next(/^\{/))
      expect(await exitOf(child)).toEqual({ code: 0, signal: null })
      expect(report.namespaces.sort()).toEqual([`tcplab-${lab.id}-a`, `tcplab-${lab.id}-b`])
      expect(report.unknown).toEqual([])
      expect(existsSync(join(ownerDir(), `guard-${h.guard}.json`))).toBe(false)
      // Run again: nothing of this lab is left, so the name is unknown now (exit 1, one line).
      const again = spawn(node, [CLI, 'cleanup', '--name', lab.id], { stdio: ['ignore', 'pipe', 'pipe'] })
      const againOut = new LineReader(again)
      expect(await againOut.next()).toBe(`no lab named ${lab.id}`)
      expect(await exitOf(again)).toEqual({ code: 1, signal: null })
    })
  }, 60_000)
})
