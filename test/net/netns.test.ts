import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { isWireError } from '../../src/tcp/errors.js'
import {
  cleanupAll,
  labIdOf,
  labLeftovers,
  labNamespaces,
  listLabs,
  listNamespaces,
  netnsDown,
  netnsUp,
  labNameMatcher,
  parseIptablesRules,
  parseNetnsList,
  parseNftTables,
  run,
  LAB_PLAN,
} from '../../src/net/netns.js'
import { cleanupFailures, pendingCleanups, registerCleanup, runCleanups } from '../../src/net/cleanup.js'
import { describeRoot } from '../helpers/root.js'
import { exitOf, LineReader, ping, repoPath, requireBuilt, vethOffloads, withLab } from '../helpers/lab.js'

describe('lab names and listings (no root needed)', () => {
  it('maps namespace names to lab ids and back', () => {
    expect(labNamespaces('x1y2')).toEqual(['tcplab-x1y2-a', 'tcplab-x1y2-b'])
    expect(labIdOf('tcplab-x1y2-a')).toBe('x1y2')
    expect(labIdOf('tcplab-x1y2-b')).toBe('x1y2')
    expect(labIdOf('tcplab-x1y2-c')).toBeUndefined()
    expect(labIdOf('mylab')).toBeUndefined()
    expect(labIdOf('tcplab-UPPER-a')).toBeUndefined()
  })

  it('reads `ip netns list` output with and without ids', () => {
    expect(parseNetnsList('tcplab-abc-b (id: 1)\ntcplab-abc-a (id: 0)\nother\n\n')).toEqual([
      'tcplab-abc-b',
      'tcplab-abc-a',
      'other',
    ])
  })

  it('finds only tcplab nft tables', () => {
    const text = 'table inet filter\ntable inet tcplab_g0a1b2c3d4\ntable ip tcplab_x_cnt\ntable ip6 nat\n'
    expect(parseNftTables(text)).toEqual([
      ['inet', 'tcplab_g0a1b2c3d4'],
      ['ip', 'tcplab_x_cnt'],
    ])
    expect(parseNftTables(text, 'tcplab_x')).toEqual([['ip', 'tcplab_x_cnt']])
  })

  it('takes only the tables and rules named after one lab: tcplab_<id> or tcplab_<id>_…', () => {
    const text = 'table inet tcplab_g0a1b2c3d4\ntable ip tcplab_ab\ntable ip tcplab_ab_cnt\ntable ip tcplab_abc\ntable ip tcplab_abc_x\n'
    expect(parseNftTables(text, labNameMatcher('ab'))).toEqual([['ip', 'tcplab_ab'], ['ip', 'tcplab_ab_cnt']])
    expect(parseNftTables(text, labNameMatcher('abc'))).toEqual([['ip', 'tcplab_abc'], ['ip', 'tcplab_abc_x']])
    // A lab named g must not take the RST guards' tables (tcplab_g<hex>).
    expect(parseNftTables(text, labNameMatcher('g'))).toEqual([])
    const rules = '-A OUTPUT -m comment --comment tcplab_gabc -j DROP\n-A OUTPUT -m comment --comment tcplab_g_1 -j DROP\n'
    expect(parseIptablesRules(rules, labNameMatcher('g'))).toEqual([['-D', 'OUTPUT', '-m', 'comment', '--comment', 'tcplab_g_1', '-j', 'DROP']])
  })

  it('turns tcplab iptables rules into -D commands and leaves others alone', () => {
    const text = [
      '-P OUTPUT ACCEPT',
      '-A OUTPUT -s 10.0.0.1/32 -j ACCEPT',
      '-A OUTPUT -s 198.18.0.1/32 -p tcp -m tcp --sport 40000 --tcp-flags RST RST -m mark ! --mark 0x7463706c -m comment --comment tcplab_gabc -j DROP',
      '-A OUTPUT -m comment --comment "someone else" -j ACCEPT',
    ].join('\n')
    expect(parseIptablesRules(text)).toEqual([
      [
        '-D', 'OUTPUT', '-s', '198.18.0.1/32', '-p', 'tcp', '-m', 'tcp', '--sport', '40000', '--tcp-flags', 'RST', 'RST',
        '-m', 'mark', '!', '--mark', '0x7463706c', '-m', 'comment', '--comment', 'tcplab_gabc', '-j', 'DROP',
      ],
    ])
  })

  it('rejects lab names that would not fit an interface name', async () => {
    const e = await netnsDown('much-too-long-name!').catch((x: unknown) => x)
    expect(isWireError(e, 'ERR_BAD_ARGUMENT')).toBe(true)
  })

  it('reports a failing command in one line with its stderr', async () => {
    const e = await run(['sh', '-c', 'echo first >&2; echo the reason >&2; exit 3']).catch((x: unknown) => x)
    expect(isWireError(e, 'DEV_ERR_NETNS')).toBe(true)
    expect((e as Error).message).toBe('sh -c echo first >&2; echo the reason >&2; exit 3 failed (exit 3): the reason')
    const missing = await run(['/nonexistent/tool', 'x']).catch((x: unknown) => x)
    expect(isWireError(missing, 'DEV_ERR_NETNS')).toBe(true)
    expect((missing as Error).message).not.toContain('\n')
  })
})

describe('cleanup registry', () => {
  it('runs each action once, newest first, and installs its handlers only while something is registered', () => {
    const base = process.listenerCount('SIGTERM')
    const ran: string[] = []
    const h1 = registerCleanup('first', () => ran.push('first'))
    registerCleanup('second', () => ran.push('second'))
    const h3 = registerCleanup('third', () => ran.push('third'))
    expect(process.listenerCount('SIGTERM')).toBe(base + 1)
    expect(process.listenerCount('SIGINT')).toBeGreaterThan(0)
    expect(pendingCleanups().slice(-3)).toEqual(['first', 'second', 'third'])
    h3.unregister()
    h1.run()
    h1.run()
    expect(ran).toEqual(['first'])
    runCleanups()
    runCleanups()
    expect(ran).toEqual(['first', 'second'])
    expect(process.listenerCount('SIGTERM')).toBe(base)
  })

  it('keeps going when an action throws, and reports it in one line', () => {
    const ran: string[] = []
    const before = cleanupFailures().length
    registerCleanup('ok', () => ran.push('ok'))
    registerCleanup('broken thing', () => {
      throw new Error('it broke\nwith details')
    })
    const stderr = process.stderr.write
    const lines: string[] = []
    process.stderr.write = ((s: string) => lines.push(s) > 0) as unknown as typeof process.stderr.write
    try {
      runCleanups()
    } finally {
      process.stderr.write = stderr
    }
    expect(ran).toEqual(['ok'])
    expect(cleanupFailures().slice(before)).toEqual(['tcplab: cleanup of broken thing failed: it broke'])
    expect(lines).toEqual(['tcplab: cleanup of broken thing failed: it broke\n'])
  })
})

/** What the kernel reports for a process: its state letter, or undefined when it is gone. */
function procState(pid: number): string | undefined {
  try {
    return /^State:\s+(\S)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]
  } catch {
    return undefined
  }
}
const deadOrZombie = (pid: number): boolean => {
  const s = procState(pid)
  return s === undefined || s === 'Z'
}

describeRoot('namespace lab (root)', () => {
  it('comes up with addresses, MACs and sysctls as documented, and goes down without a trace', async () => {
    const lab = await netnsUp()
    try {
      expect(lab.id).toMatch(/^[a-z0-9]{6}$/)
      expect(lab.a.ns).toBe(`tcplab-${lab.id}-a`)
      expect(lab.b.iface).toBe(`tl${lab.id}b`)
      expect(lab.a.iface.length).toBeLessThanOrEqual(15)
      expect({ offloads: lab.offloads, off: lab.offloadsOff }).toEqual({ offloads: 'off', off: true })
      for (const side of ['a', 'b'] as const) expect(await vethOffloads(lab, side)).toEqual({ rx: 0, tx: 0, sg: 0, tso: 0, gso: 0, gro: 0 })
      expect(lab.describe()).toContain('offloads: veth offloads off (tx, sg, tso, gso, gro)')
      const names = await listNamespaces()
      expect(names).toContain(lab.a.ns)
      expect(names).toContain(lab.b.ns)
      expect(await listLabs()).toContain(lab.id)

      const a = (await lab.exec('a', ['ip', '-o', 'addr', 'show', 'dev', lab.a.iface])).stdout
      expect(a).toContain('inet 198.18.0.1/24')
      expect(a).toContain('inet6 2001:2::1/64')
      expect(a).not.toContain('tentative')
      const b = (await lab.exec('b', ['ip', '-o', 'addr', 'show', 'dev', lab.b.iface])).stdout
      expect(b).toContain('inet 198.18.0.2/24')
      expect(b).toContain('inet6 2001:2::2/64')
      const linkA = (await lab.exec('a', ['ip', '-o', 'link', 'show', 'dev', lab.a.iface])).stdout
      expect(linkA).toContain(`link/ether ${LAB_PLAN.a.mac}`)
      expect(linkA).toMatch(/state UP/)
      const lo = (await lab.exec('b', ['ip', '-o', 'link', 'show', 'dev', 'lo'])).stdout
      expect(lo).toMatch(/<LOOPBACK,UP,LOWER_UP>/)
      const dad = await lab.exec('a', ['sysctl', '-n', `net.ipv6.conf.${lab.a.iface}.accept_dad`, `net.ipv6.conf.${lab.a.iface}.router_solicitations`])
      expect(dad.stdout.trim().split('\n')).toEqual(['0', '0'])
      // Nothing of the lab is visible in the root namespace.
      const rootLinks = (await run(['ip', '-o', 'link', 'show'])).stdout
      expect(rootLinks).not.toContain(lab.a.iface)
      expect(rootLinks).not.toContain(lab.b.iface)
    } finally {
      await lab.down()
    }
    expect(labLeftovers(lab.id)).toEqual([])
    expect(await listLabs()).not.toContain(lab.id)
    // Idempotent.
    await lab.down()
  })

  it('brings three labs up at once with distinct names, each isolated', async () => {
    const labs = await Promise.all([netnsUp(), netnsUp(), netnsUp()])
    try {
      const ids = new Set(labs.map((l) => l.id))
      expect(ids.size).toBe(3)
      const ifaces = new Set(labs.flatMap((l) => [l.a.iface, l.b.iface]))
      expect(ifaces.size).toBe(6)
      for (const lab of labs) {
        expect(await ping(lab, 'a', lab.b.ipv4)).toBe(true)
        // Each namespace holds exactly its own veth end and lo.
        const links = (await lab.exec('a', ['ip', '-o', 'link', 'show'])).stdout.trim().split('\n')
        expect(links.map((l) => l.split(':')[1].trim().split('@')[0])).toEqual(['lo', lab.a.iface])
      }
    } finally {
      await Promise.all(labs.map((l) => l.down()))
    }
    for (const lab of labs) expect(labLeftovers(lab.id)).toEqual([])
  })

  it("offloads 'on' leaves the veth as `ip link add … type veth` makes it: checksum offload, TSO and GSO on", async () => {
    await withLab(
      async (lab) => {
        expect({ offloads: lab.offloads, off: lab.offloadsOff }).toEqual({ offloads: 'on', off: false })
        for (const side of ['a', 'b'] as const) expect(await vethOffloads(lab, side)).toMatchObject({ rx: 1, tx: 1, sg: 1, tso: 1, gso: 1 })
        expect(lab.describe()).toContain("offloads: veth offloads at the kernel's defaults (checksum offload, TSO/GSO/GRO on)")
        expect(await ping(lab, 'a', lab.b.ipv6)).toBe(true)
      },
      { offloads: 'on' },
    )
    const e = await netnsUp({ offloads: 'sideways' as 'on' }).catch((x: unknown) => x)
    expect(isWireError(e, 'ERR_BAD_ARGUMENT')).toBe(true)
  })

  it('pings across the veth over IPv4 and IPv6, both ways; unknown addresses get no reply', async () => {
    await withLab(async (lab) => {
      expect(await ping(lab, 'a', lab.b.ipv4)).toBe(true)
      expect(await ping(lab, 'a', lab.b.ipv6)).toBe(true)
      expect(await ping(lab, 'b', lab.a.ipv4)).toBe(true)
      expect(await ping(lab, 'b', lab.a.ipv6)).toBe(true)
      // The lab-owned address has no owner until a capture device claims it.
      expect(await ping(lab, 'b', lab.a.owned.ipv4)).toBe(false)
    })
  })

  it('refuses a second lab with the same name and leaves the first intact', async () => {
    await withLab(
      async (lab) => {
        const e = await netnsUp({ name: lab.id }).catch((x: unknown) => x)
        expect(isWireError(e, 'DEV_ERR_NETNS')).toBe(true)
        expect((e as Error).message).toBe(`lab '${lab.id}' already exists (tcplab netns down --name ${lab.id})`)
        expect(await ping(lab, 'a', lab.b.ipv4)).toBe(true)
      },
      { name: `t${process.pid.toString(36)}` },
    )
  })

  it('runs commands in a side and reports a failure as DEV_ERR_NETNS', async () => {
    await withLab(async (lab) => {
      const r = await lab.exec('b', ['sh', '-c', 'cat; echo " from $(ip -o link show type veth | cut -d: -f2)"'], { input: 'hello' })
      expect(r.stdout.trim()).toBe(`hello from  ${lab.b.iface}@if2`)
      const e = await lab.exec('a', ['false']).catch((x: unknown) => x)
      expect(isWireError(e, 'DEV_ERR_NETNS')).toBe(true)
    })
  })

  describe('a child process that brought a lab up leaves nothing behind', () => {
    const cases: { mode: string; signal?: NodeJS.Signals; expect: { code: number | null; signal: NodeJS.Signals | null } }[] = [
      { mode: 'drain', expect: { code: 0, signal: null } },
      { mode: 'exit', expect: { code: 3, signal: null } },
      { mode: 'throw', expect: { code: 1, signal: null } },
      { mode: 'reject', expect: { code: 1, signal: null } },
      { mode: 'wait', signal: 'SIGINT', expect: { code: null, signal: 'SIGINT' } },
      { mode: 'wait', signal: 'SIGTERM', expect: { code: null, signal: 'SIGTERM' } },
    ]
    for (const c of cases) {
      it(`on ${c.signal ?? c.mode}`, async () => {
        requireBuilt('dist/net/netns.js')
        const child = spawn(process.execPath, [repoPath('test/interop/lab-child.mjs'), c.mode], {
          stdio: ['ignore', 'pipe', 'pipe'],
        })
        const out = new LineReader(child)
        const up = await out.json<{ id: string; sleeper: number; ns: string[] }>('up')
        if (c.signal !== undefined) {
          expect(await listLabs()).toContain(up.id)
          child.kill(c.signal)
        }
        expect(await exitOf(child)).toEqual(c.expect)
        if (c.mode === 'throw') expect(out.errors).toContain('boom in the lab child')
        expect(labLeftovers(up.id)).toEqual([])
        expect(deadOrZombie(up.sleeper)).toBe(true)
      })
    }

    it('on SIGKILL, after `netns down` (nothing can run on SIGKILL)', async () => {
      requireBuilt('dist/net/netns.js')
      const child = spawn(process.execPath, [repoPath('test/interop/lab-child.mjs'), 'wait'], { stdio: ['ignore', 'pipe', 'pipe'] })
      const up = await new LineReader(child).json<{ id: string; sleeper: number; ns: string[] }>('up')
      child.kill('SIGKILL')
      expect(await exitOf(child)).toEqual({ code: null, signal: 'SIGKILL' })
      expect(labLeftovers(up.id)).toEqual([`namespace ${up.ns[0]}`, `namespace ${up.ns[1]}`])
      expect(procState(up.sleeper)).toMatch(/^[SR]$/)
      expect(await netnsDown(up.ns[0])).toEqual(up.ns)
      expect(labLeftovers(up.id)).toEqual([])
      expect(deadOrZombie(up.sleeper)).toBe(true)
      expect(await netnsDown(up.id)).toEqual([])
    })

    it('on SIGKILL, after `cleanup` (restricted here to this lab: other test files run labs in parallel)', async () => {
      requireBuilt('dist/net/netns.js')
      const child = spawn(process.execPath, [repoPath('test/interop/lab-child.mjs'), 'wait'], { stdio: ['ignore', 'pipe', 'pipe'] })
      const up = await new LineReader(child).json<{ id: string; ns: string[] }>('up')
      child.kill('SIGKILL')
      await exitOf(child)
      const report = await cleanupAll({ only: [up.id] })
      expect(report).toEqual({ namespaces: up.ns, tables: [], iptablesRules: [] })
      expect(labLeftovers(up.id)).toEqual([])
    })
  })
})
