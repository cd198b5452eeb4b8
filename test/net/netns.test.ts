import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { isWireError } from '../../src/tcp/errors.js'
import {
  cleanupAll,
  labIdOf,
  labInterfaces,
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
  type Lab,
  type LabSideName,
} from '../../src/net/netns.js'
import { cleanupFailures, pendingCleanups, registerCleanup, runCleanups } from '../../src/net/cleanup.js'
import { describeRoot } from '../helpers/root.js'
import { exitOf, LineReader, ping, repoPath, requireBuilt, vethOffloads, withLab } from '../helpers/lab.js'

describe('lab names and listings (no root needed)', () => {
  it('maps namespace names to lab ids and back', () => {
    // Side C's namespace exists only in a bridge lab, but every removal and leftover check looks for it.
    expect(labNamespaces('x1y2')).toEqual(['tcplab-x1y2-a', 'tcplab-x1y2-b', 'tcplab-x1y2-c'])
    expect(labIdOf('tcplab-x1y2-a')).toBe('x1y2')
    expect(labIdOf('tcplab-x1y2-b')).toBe('x1y2')
    expect(labIdOf('tcplab-x1y2-c')).toBe('x1y2')
    expect(labIdOf('tcplab-x1y2-d')).toBeUndefined()
    expect(labInterfaces('x1y2')).toEqual(['tlx1y2a', 'tlx1y2b', 'tlx1y2c', 'tlx1y2br', 'tlx1y2pa', 'tlx1y2pc'])
    // The longest id gives 'tl' + 10 + 'br': 14 characters, within IFNAMSIZ's 15.
    expect(Math.max(...labInterfaces('abcdefghij').map((n) => n.length))).toBe(14)
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

/** Offload features of any interface in a lab side (legacy SIOCETHTOOL gets; rx absent where the device has none). */
async function deviceFeatures(lab: Lab, side: LabSideName, dev: string): Promise<Record<string, number>> {
  const py = `
import array, fcntl, json, socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
out = {}
for name, cmd in (('rx', 0x14), ('tx', 0x16), ('sg', 0x18), ('tso', 0x1e), ('gso', 0x23), ('gro', 0x2b)):
    buf = array.array('B', struct.pack('II', cmd, 0))
    try:
        fcntl.ioctl(s.fileno(), 0x8946, struct.pack('16sP', sys.argv[1].encode(), buf.buffer_info()[0]))
    except OSError:
        continue
    out[name] = struct.unpack('II', buf.tobytes())[1]
print(json.dumps(out))
`
  return JSON.parse((await lab.exec(side, ['python3', '-c', py, dev])).stdout)
}

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
      // A pair lab has no side C, and says so instead of handing out side B.
      expect({ topology: lab.topology, c: lab.c, bridge: lab.bridge, sides: lab.sides.map((x) => x.name) }).toEqual({
        topology: 'pair', c: undefined, bridge: undefined, sides: ['a', 'b'],
      })
      const noC = (() => { try { return lab.side('c') } catch (e) { return e } })()
      expect(isWireError(noC, 'ERR_BAD_ARGUMENT')).toBe(true)
      expect((noC as Error).message).toBe(`lab ${lab.id} has no side 'c' (side c exists only in a bridge lab)`)
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

  for (const offloads of ['off', 'on'] as const) {
    it(`bridge topology, offloads ${offloads}: names, addresses and bridge settings as documented, A, B and C reach each other over IPv4 and IPv6, nothing in the root namespace, gone without a trace`, async () => {
      const lab = await netnsUp({ topology: 'bridge', offloads })
      const id = lab.id
      try {
        const c = lab.c!
        const br = lab.bridge!
        expect(lab.topology).toBe('bridge')
        expect(lab.sides.map((x) => [x.name, x.ns, x.iface, x.ipv4, x.ipv6, x.mac])).toEqual([
          ['a', `tcplab-${id}-a`, `tl${id}a`, '198.18.0.1', '2001:2::1', '02:74:6c:00:00:01'],
          ['b', `tcplab-${id}-b`, `tl${id}br`, '198.18.0.2', '2001:2::2', '02:74:6c:00:00:02'],
          ['c', `tcplab-${id}-c`, `tl${id}c`, '198.18.0.3', '2001:2::3', '02:74:6c:00:00:03'],
        ])
        expect(c.owned).toEqual({ ipv4: '198.18.0.30', ipv6: '2001:2::30', mac: '02:74:6c:00:00:1e' })
        expect(lab.a.owned).toEqual(LAB_PLAN.a.owned)
        expect(lab.side('c')).toBe(c)
        expect(br).toEqual({ ns: lab.b.ns, name: `tl${id}br`, mac: LAB_PLAN.b.mac, ports: { a: `tl${id}pa`, c: `tl${id}pc` } })
        expect(await listLabs()).toContain(id)

        // Each namespace holds exactly what the plan says: A and C their veth end, B the bridge and its two ports.
        const linksOf = async (side: 'a' | 'b' | 'c'): Promise<string[]> =>
          (await lab.exec(side, ['ip', '-o', 'link', 'show'])).stdout.trim().split('\n').map((l) => l.split(':')[1].trim().split('@')[0])
        expect(await linksOf('a')).toEqual(['lo', `tl${id}a`])
        expect(await linksOf('b')).toEqual(['lo', br.name, br.ports.a, br.ports.c])
        expect(await linksOf('c')).toEqual(['lo', `tl${id}c`])
        for (const s of lab.sides) {
          const addrs = (await lab.exec(s.name, ['ip', '-o', 'addr', 'show', 'dev', s.iface])).stdout
          expect(addrs).toContain(`inet ${s.ipv4}/24`)
          expect(addrs).toContain(`inet6 ${s.ipv6}/64`)
          expect(addrs).not.toContain('tentative')
          expect((await lab.exec(s.name, ['ip', '-o', 'link', 'show', 'dev', s.iface])).stdout).toContain(`link/ether ${s.mac}`)
        }
        // The bridge: no STP, no forward delay, no multicast snooping; both ports forwarding, layer 2 only.
        const bridge = (await lab.exec('b', ['ip', '-d', '-o', 'link', 'show', 'dev', br.name])).stdout
        expect(bridge).toMatch(/ forward_delay 0 /)
        expect(bridge).toMatch(/ stp_state 0 /)
        expect(bridge).toMatch(/ mcast_snooping 0 /)
        for (const [port, mac] of [[br.ports.a, LAB_PLAN.ports.a], [br.ports.c, LAB_PLAN.ports.c]]) {
          const p = (await lab.exec('b', ['ip', '-d', '-o', 'link', 'show', 'dev', port])).stdout
          expect(p).toContain(`master ${br.name} state UP`)
          expect(p).toContain(`link/ether ${mac}`)
          expect(p).toMatch(/bridge_slave state forwarding /)
          expect((await lab.exec('b', ['ip', '-o', 'addr', 'show', 'dev', port])).stdout).toBe('')
        }

        // Offloads follow the setting on every veth end and on the bridge (which has no rx checksum switch).
        for (const [side, dev] of [['a', lab.a.iface], ['b', br.ports.a], ['b', br.ports.c], ['c', c.iface]] as const) {
          const f = await deviceFeatures(lab, side, dev)
          if (offloads === 'off') expect(f, dev).toEqual({ rx: 0, tx: 0, sg: 0, tso: 0, gso: 0, gro: 0 })
          else expect(f, dev).toMatchObject({ rx: 1, tx: 1, sg: 1, tso: 1, gso: 1 })
        }
        const fb = await deviceFeatures(lab, 'b', br.name)
        if (offloads === 'off') expect(fb).toMatchObject({ tx: 0, sg: 0, tso: 0, gso: 0, gro: 0 })
        else expect(fb).toMatchObject({ tx: 1, sg: 1, tso: 1, gso: 1 })
        expect({ offloads: lab.offloads, off: lab.offloadsOff }).toEqual({ offloads, off: offloads === 'off' })
        expect(lab.describe()[1]).toBe(
          offloads === 'off' ? 'offloads: veth and bridge offloads off (tx, sg, tso, gso, gro)' : "offloads: veth and bridge offloads at the kernel's defaults (checksum offload, TSO/GSO/GRO on)",
        )
        expect(lab.describe()[0]).toBe(
          `lab ${id} (bridge): tcplab-${id}-a (tl${id}a 198.18.0.1/24 2001:2::1/64) <-veth-> tl${id}pa [bridge tl${id}br in tcplab-${id}-b: 198.18.0.2/24 2001:2::2/64] tl${id}pc <-veth-> tcplab-${id}-c (tl${id}c 198.18.0.3/24 2001:2::3/64)`,
        )

        // Every side reaches every other, both families (the first ping of each pair resolves through the bridge).
        const pings: string[] = []
        for (const from of lab.sides) {
          for (const to of lab.sides) {
            if (from === to) continue
            for (const addr of [to.ipv4, to.ipv6]) if (!(await ping(lab, from.name, addr))) pings.push(`${from.name} -> ${addr}`)
          }
        }
        expect(pings).toEqual([])
        // C learned A's and B's MACs, so the frames crossed the bridge (not some other path).
        const neigh = (await lab.exec('c', ['ip', 'neigh', 'show', 'dev', c.iface])).stdout
        expect(neigh).toContain(`198.18.0.1 lladdr ${LAB_PLAN.a.mac}`)
        expect(neigh).toContain(`198.18.0.2 lladdr ${LAB_PLAN.b.mac}`)
        // The lab-owned addresses have no owner until a capture device claims them.
        expect(await ping(lab, 'c', lab.a.owned.ipv4)).toBe(false)

        // Nothing of the lab is visible in the root namespace.
        const rootLinks = (await run(['ip', '-o', 'link', 'show'])).stdout
        for (const name of labInterfaces(id)) expect(rootLinks).not.toMatch(new RegExp(`^\\d+: ${name}[:@]`, 'm'))
      } finally {
        await lab.down()
      }
      expect(labLeftovers(id)).toEqual([])
      const names = await listNamespaces()
      for (const ns of labNamespaces(id)) expect(names).not.toContain(ns)
      await lab.down()
    })
  }

  it('labLeftovers finds a bridge lab\'s side C and tcplab netns down removes all three namespaces', async () => {
    const lab = await netnsUp({ topology: 'bridge' })
    lab.keep()
    try {
      expect(labLeftovers(lab.id)).toEqual(lab.sides.map((s) => `namespace ${s.ns}`))
      expect(await netnsDown(lab.c!.ns)).toEqual([lab.a.ns, lab.b.ns, lab.c!.ns])
      expect(labLeftovers(lab.id)).toEqual([])
    } finally {
      await lab.down()
    }
    const e = await netnsUp({ topology: 'ring' as 'pair' }).catch((x: unknown) => x)
    expect(isWireError(e, 'ERR_BAD_ARGUMENT')).toBe(true)
    expect((e as Error).message).toBe("topology must be pair or bridge, got 'ring'")
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

    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      it(`a bridge lab, on ${signal}: all three namespaces, the bridge and its veths go`, async () => {
        requireBuilt('dist/net/netns.js')
        const child = spawn(process.execPath, [repoPath('test/interop/lab-child.mjs'), 'wait', 'bridge'], { stdio: ['ignore', 'pipe', 'pipe'] })
        const up = await new LineReader(child).json<{ id: string; sleeper: number; ns: string[] }>('up')
        expect(up.ns).toEqual(labNamespaces(up.id))
        expect(labLeftovers(up.id)).toEqual(up.ns.map((n) => `namespace ${n}`))
        child.kill(signal)
        expect(await exitOf(child)).toEqual({ code: null, signal })
        expect(labLeftovers(up.id)).toEqual([])
        expect(deadOrZombie(up.sleeper)).toBe(true)
      })
    }

    it('a bridge lab, on SIGKILL, after `cleanup`: side C is found and removed too', async () => {
      requireBuilt('dist/net/netns.js')
      const child = spawn(process.execPath, [repoPath('test/interop/lab-child.mjs'), 'wait', 'bridge'], { stdio: ['ignore', 'pipe', 'pipe'] })
      const up = await new LineReader(child).json<{ id: string; ns: string[] }>('up')
      child.kill('SIGKILL')
      await exitOf(child)
      expect(labLeftovers(up.id)).toEqual(up.ns.map((n) => `namespace ${n}`))
      expect(await cleanupAll({ only: [up.id] })).toEqual({ namespaces: labNamespaces(up.id), tables: [], iptablesRules: [] })
      expect(labLeftovers(up.id)).toEqual([])
    })

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
