/**
 * Interop on a bridge (issue 12, the Docker shape): tcplab in side A of a bridge lab, two kernel peers at
 * once — side B on the bridge itself and side C on another bridge port. One tcplab stack (test/interop/
 * bridge-child.mjs) opens a connection to a kernel server in B and one in C and serves a kernel client
 * from B and one from C, all four at the same time: over pcap with its own MAC and address (ARP and ND
 * cross the bridge), and over raw on side A's kernel address. Bytes checked by SHA-256 both ways, each
 * connection's state path exact. Meanwhile kernel connections tcplab does not own — B↔C across the
 * bridge, and A's kernel ↔ C — keep exchanging data, and no RST arrives in any namespace. On veths at the
 * kernel's default offloads (`ip link add … type veth`, nothing else) and with offloads off. And the CLI
 * in A across the bridge: a handshake over each device, and duplicate address detection that hears B and C.
 */
import { expect, it } from 'vitest'
import { randomEphemeralPort } from '../../src/lab/stack/live.js'
import type { Lab, LabSide, LabSideName } from '../../src/net/netns.js'
import { describeRoot } from '../helpers/root.js'
import { labChild, nftCounters, repoPath, requireBuilt, withLab, type LabChild } from '../helpers/lab.js'
import {
  ECHO_PY,
  PINGER_PY,
  endpoint,
  expectLegalPath,
  kernelPeer,
  kernelSockets,
  killChildren,
  line,
  spawnTracked,
  type KernelDone,
  type Proc,
  type StateLine,
} from '../helpers/interop.js'

/** Bytes each way on each of tcplab's four connections. */
const BYTES = 256 * 1024
/** The kernel servers tcplab connects to (in B and in C), and tcplab's own listener (in A). */
const KERNEL_SERVER = 5101
const TCPLAB_LISTEN = 5102
/** The kernel echo servers of the connections tcplab does not own: in B (for C) and in C (for A's kernel). */
const ECHO_B = 7100
const ECHO_C = 7101

/** One connection as bridge-child.mjs reports it. */
interface ConnReport {
  role: 'client' | 'server'
  peer: string
  peerPort: number
  localPort: number
  states: [StateLine['from'], StateLine['to'], string][]
  /** Largest TCP payload that arrived on the connection. */
  maxPayloadIn: number
  sentBytes: number
  sentSha: string
  recvBytes: number
  recvSha: string
  eof: boolean
  closed: boolean
  hadError: boolean
}

/**
 * RST counters in every side (table `tcplab_<id>_bridge`): every RST arriving at a side's IP stack, and in
 * side A every packet tcplab sends (marked 0x7463706c: the raw device's mark) to or from the ports of the
 * connections it does not own, and every RST it sends.
 */
async function installCounters(lab: Lab): Promise<string> {
  const table = `tcplab_${lab.id}_bridge`
  const mark = 'meta mark 0x7463706c'
  const foreign = `{ ${ECHO_B}, ${ECHO_C} }`
  for (const s of lab.sides) {
    const ours =
      s.name === 'a'
        ? `counter ours_foreign { }
  counter ours_rst { }
  chain post { type filter hook postrouting priority 100; policy accept;
    ${mark} tcp sport ${foreign} counter name ours_foreign
    ${mark} tcp dport ${foreign} counter name ours_foreign
    ${mark} tcp flags & rst == rst counter name ours_rst
  }`
        : ''
    await lab.exec(s.name, ['nft', '-f', '-'], {
      input: `table inet ${table} {
  counter rst_in { }
  chain in { type filter hook input priority -10; policy accept; tcp flags & rst == rst counter name rst_in; }
  ${ours}
}
`,
    })
  }
  return table
}

/** Starts a python3 script in a side, tracked so it is killed at the end. */
function py(lab: Lab, side: LabSideName, script: string, ...args: string[]): LabChild {
  return labChild(lab, side, ['python3', '-c', script, ...args])
}

describeRoot('bridge lab: tcplab in A with two kernel peers at once, B on the bridge and C on another port (root)', () => {
  for (const offloads of ['on', 'off'] as const) {
    for (const family of [4, 6] as const) {
      for (const via of ['pcap', 'raw'] as const) {
        const label = offloads === 'on' ? "offloads at the kernel's defaults" : 'offloads off'
        it(`${via}, IPv${family}, ${label}: client of B and C and listener for B and C at once, bytes and states exact; B↔C and A↔C kernel traffic untouched, no RST anywhere`, async () => {
          requireBuilt('dist/lab/stack/live.js', 'dist/lab/stack/socket.js')
          await withLab(
            async (lab) => {
              try {
                await bridgeCase(lab, via, family)
              } finally {
                killChildren()
              }
            },
            { topology: 'bridge', offloads },
          )
        }, 60_000)
      }
    }
  }
})

describeRoot('bridge lab: the CLI in A across the bridge (root)', () => {
  it("handshake --via pcap to C and --via raw to B echo; --via pcap refuses B's and C's kernel addresses, naming the MAC that answered across the bridge, in one line", async () => {
    requireBuilt('dist/lab/cli.js')
    await withLab(
      async (lab) => {
        const c = lab.c as LabSide
        const cli = (...args: string[]) => lab.exec('a', [process.execPath, repoPath('dist/lab/cli.js'), ...args], { allowFail: true })
        const echoB = py(lab, 'b', ECHO_PY, lab.b.ipv6, String(ECHO_B))
        const echoC = py(lab, 'c', ECHO_PY, c.ipv4, String(ECHO_C))
        await echoB.out.next(/^ready$/)
        await echoC.out.next(/^ready$/)
        const viaPcap = await cli('handshake', `${c.ipv4}:${ECHO_C}`, '--via', 'pcap', '--iface', lab.a.iface, '--src', lab.a.owned.ipv4, '--send', 'over the bridge\n', '--idle', '300', '--json')
        expect(viaPcap.stderr).toBe('')
        expect(JSON.parse(viaPcap.stdout)).toMatchObject({ result: 'established', received: 'over the bridge\n', via: 'pcap' })
        const viaRaw = await cli('handshake', `[${lab.b.ipv6}]:${ECHO_B}`, '--via', 'raw', '--send', 'to the host\n', '--idle', '300', '--json')
        expect(viaRaw.stderr).toBe('')
        expect(JSON.parse(viaRaw.stdout)).toMatchObject({ result: 'established', received: 'to the host\n', via: 'raw' })

        // Duplicate address detection sees through the bridge: B answers on the bridge itself, C from another port.
        const refusals = [
          [c.ipv4, `${c.mac} answers ARP for it`],
          [c.ipv6, `${c.mac} answers neighbor solicitations for it`],
          [lab.b.ipv4, `${lab.b.mac} answers ARP for it`],
        ]
        for (const [addr, who] of refusals) {
          const peer = addr.includes(':') ? `[${lab.b.ipv6}]:${ECHO_B}` : `${lab.b.ipv4}:${ECHO_B}`
          const r = await cli('handshake', peer, '--via', 'pcap', '--iface', lab.a.iface, '--src', addr)
          expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 1, stdout: '' })
          expect(r.stderr).toBe(`tcplab handshake: ${addr} is in use on ${lab.a.iface}: ${who}; pick an address no host uses\n`)
        }
        for (const e of [echoB, echoC]) e.child.kill()
      },
      { topology: 'bridge', offloads: 'on' },
    )
  }, 60_000)
})

async function bridgeCase(lab: Lab, via: 'pcap' | 'raw', family: 4 | 6): Promise<void> {
  const pick = (s: { ipv4: string; ipv6: string }): string => (family === 4 ? s.ipv4 : s.ipv6)
  const b = lab.b
  const c = lab.c as LabSide
  // Raw speaks from side A's kernel address (guarded); pcap from the lab-owned one, with its own MAC.
  const local = via === 'raw' ? pick(lab.a) : pick(lab.a.owned)
  const table = await installCounters(lab)

  // What tcplab does not own: C talks to an echo server in B across the bridge, and A's kernel (on the
  // very address raw shares) talks to an echo server in C.
  const echoB = py(lab, 'b', ECHO_PY, pick(b), String(ECHO_B))
  const echoC = py(lab, 'c', ECHO_PY, pick(c), String(ECHO_C))
  await echoB.out.next(/^ready$/)
  await echoC.out.next(/^ready$/)
  const cToB = py(lab, 'c', PINGER_PY, pick(b), String(ECHO_B))
  const aToC = py(lab, 'a', PINGER_PY, pick(c), String(ECHO_C))
  await cToB.out.json('ready')
  await aToC.out.json('ready')

  // The kernel servers tcplab connects to.
  const serverB = kernelPeer(lab, 'b', { role: 'server', host: pick(b), port: KERNEL_SERVER, bytes: BYTES })
  const serverC = kernelPeer(lab, 'c', { role: 'server', host: pick(c), port: KERNEL_SERVER, bytes: BYTES })
  await line(serverB, 'listening')
  await line(serverC, 'listening')

  // One tcplab stack for all four connections.
  const portB = randomEphemeralPort()
  let portC = randomEphemeralPort()
  while (portC === portB) portC = randomEphemeralPort()
  const stack: Proc = spawnTracked(lab, 'a', [
    process.execPath,
    repoPath('test/interop/bridge-child.mjs'),
    JSON.stringify({
      via,
      local,
      mac: lab.a.owned.mac,
      iface: lab.a.iface,
      peers: [
        { host: pick(b), port: KERNEL_SERVER, localPort: portB },
        { host: pick(c), port: KERNEL_SERVER, localPort: portC },
      ],
      port: TCPLAB_LISTEN,
      accept: 2,
      bytes: BYTES,
      // TIME-WAIT lasts 2×MSL: 2 × 100 ms here, so the report comes once it is over.
      tcp: { msl: 100_000 },
      timeoutMs: 40_000,
    }),
  ])
  // stdin is not used: spawnTracked ignores it.
  const ready = await line<{ guards: string[] }>(stack, 'ready')
  // Raw: one guard per port tcplab holds (two clients, one listener); pcap owns its address, no guard.
  expect(ready.guards.length).toBe(via === 'raw' ? 3 : 0)
  // The kernel clients of tcplab's listener, from B and from C, while tcplab's own connects are under way.
  const clientB = kernelPeer(lab, 'b', { role: 'client', host: local, port: TCPLAB_LISTEN, bytes: BYTES })
  const clientC = kernelPeer(lab, 'c', { role: 'client', host: local, port: TCPLAB_LISTEN, bytes: BYTES })

  const acceptedB = await line<{ peer: string; peerPort: number }>(serverB, 'accepted')
  const acceptedC = await line<{ peer: string; peerPort: number }>(serverC, 'accepted')
  expect([acceptedB.peer, acceptedB.peerPort]).toEqual([local, portB])
  expect([acceptedC.peer, acceptedC.peerPort]).toEqual([local, portC])
  const cb = await line<{ localPort: number }>(clientB, 'connected')
  const cc = await line<{ localPort: number }>(clientC, 'connected')

  const report = await line<{ conns: ConnReport[]; iface: { resetsSent: number; checksumOffloaded: number; drops: Record<string, number> } }>(stack, 'report')
  const kernelDone = {
    serverB: await line<KernelDone>(serverB, 'done'),
    serverC: await line<KernelDone>(serverC, 'done'),
    clientB: await line<KernelDone>(clientB, 'done'),
    clientC: await line<KernelDone>(clientC, 'done'),
  }
  expect(report.conns).toHaveLength(4)
  const conn = (role: 'client' | 'server', peer: string): ConnReport => {
    const found = report.conns.filter((x) => x.role === role && x.peer === peer)
    expect(found, `${role} ${peer}`).toHaveLength(1)
    return found[0]
  }
  const cases = [
    { name: 'tcplab → kernel server in B', ours: conn('client', pick(b)), theirs: kernelDone.serverB, localPort: portB },
    { name: 'tcplab → kernel server in C', ours: conn('client', pick(c)), theirs: kernelDone.serverC, localPort: portC },
    { name: 'kernel client in B → tcplab', ours: conn('server', pick(b)), theirs: kernelDone.clientB, localPort: TCPLAB_LISTEN },
    { name: 'kernel client in C → tcplab', ours: conn('server', pick(c)), theirs: kernelDone.clientC, localPort: TCPLAB_LISTEN },
  ]
  for (const k of cases) {
    // Bytes: what each side sent is what the other received, byte for byte.
    expect(k.ours, k.name).toMatchObject({ localPort: k.localPort, sentBytes: BYTES, recvBytes: BYTES, eof: true, closed: true, hadError: false })
    expect(k.theirs, k.name).toMatchObject({ error: null, eof: true, sentBytes: BYTES, recvBytes: BYTES })
    expect(k.ours.recvSha, k.name).toBe(k.theirs.sentSha)
    expect(k.theirs.recvSha, k.name).toBe(k.ours.sentSha)
    // States: legal at every step, and the exact path of its kind of open and close.
    expectLegalPath(k.ours.states.map(([from, to, cause]) => ({ type: 'state', from, to, cause })))
    const to = k.ours.states.map(([, t]) => t)
    if (k.ours.role === 'client') {
      // Active open, active close (the kernel server waits for our FIN), TIME-WAIT, CLOSED after 2×MSL.
      expect(to.slice(0, 3), k.name).toEqual(['SYN-SENT', 'ESTABLISHED', 'FIN-WAIT-1'])
      expect([['FIN-WAIT-2'], ['CLOSING'], []], k.name).toContainEqual(to.slice(3, -2))
      expect(to.slice(-2), k.name).toEqual(['TIME-WAIT', 'CLOSED'])
      expect(k.ours.states.at(-1)![2], k.name).toBe('2MSL timeout')
    } else {
      // Passive open, passive close: the kernel client's FIN came first.
      expect(k.ours.states.map(([f, t]) => [f, t]), k.name).toEqual([
        ['LISTEN', 'SYN-RECEIVED'],
        ['SYN-RECEIVED', 'ESTABLISHED'],
        ['ESTABLISHED', 'CLOSE-WAIT'],
        ['CLOSE-WAIT', 'LAST-ACK'],
        ['LAST-ACK', 'CLOSED'],
      ])
    }
  }
  expect(report.iface.resetsSent).toBe(0)
  // Raw shares A's address with the kernel, so it heard the A↔C connection's segments too and left them
  // alone (not its port); pcap's filter keeps only frames to its own MAC, so it never saw them.
  if (via === 'raw') expect(report.iface.drops['not-our-port']).toBeGreaterThan(0)
  else expect(report.iface.drops['not-our-port']).toBe(0)
  // The offload setting took effect through the bridge: at the kernel's defaults tcplab took segments with
  // offloaded checksums (CHECKSUM_PARTIAL) and super-segments larger than one MSS; with offloads off, neither.
  const mss = family === 4 ? 1460 : 1440
  const seen = { checksumOffloaded: report.iface.checksumOffloaded, maxPayloadIn: Math.max(...report.conns.map((x) => x.maxPayloadIn)) }
  console.log(`bridge ${via} IPv${family} ${lab.offloads}: ${JSON.stringify(seen)} drops ${JSON.stringify(report.iface.drops)}`)
  if (lab.offloads === 'on') {
    expect(seen.checksumOffloaded).toBeGreaterThan(0)
    expect(seen.maxPayloadIn).toBeGreaterThan(mss)
  } else expect(seen).toEqual({ checksumOffloaded: 0, maxPayloadIn: mss - 12 })
  // The kernel clients closed first: their ends of exactly these connections are in TIME-WAIT.
  expect(await kernelSockets(lab, 'b', 'time-wait')).toContain(`${endpoint(pick(b), cb.localPort)} ${endpoint(local, TCPLAB_LISTEN)}`)
  expect(await kernelSockets(lab, 'c', 'time-wait')).toContain(`${endpoint(pick(c), cc.localPort)} ${endpoint(local, TCPLAB_LISTEN)}`)

  // Neighbour resolution crossed the bridge: B and C hold tcplab's MAC (pcap: its own; raw: A's kernel's).
  const mac = via === 'pcap' ? lab.a.owned.mac : lab.a.mac
  for (const s of [b, c]) {
    const neigh = (await lab.exec(s.name, ['ip', `-${family}`, 'neigh', 'show', local, 'dev', s.iface])).stdout
    expect(neigh, `${s.name}'s neighbour entry for ${local}`).toContain(`lladdr ${mac}`)
  }

  // The connections tcplab does not own lived through it all.
  for (const p of [cToB, aToC]) p.child.stdin!.end()
  const done = [await cToB.out.json<{ rounds: number; error: string | null }>('done'), await aToC.out.json<{ rounds: number; error: string | null }>('done')]
  expect(done.map((d) => d.error)).toEqual([null, null])
  for (const d of done) expect(d.rounds).toBeGreaterThan(10)

  // No RST arrived anywhere: not from tcplab (for what it does not own, or at all), nor from A's kernel
  // answering tcplab's segments on the shared address (the raw guard holds it back).
  const counts: Record<string, Record<string, number>> = {}
  for (const s of lab.sides) counts[s.name] = await nftCounters(lab, s.name, table)
  expect(counts).toEqual({
    a: { rst_in: 0, ours_foreign: 0, ours_rst: 0 },
    b: { rst_in: 0 },
    c: { rst_in: 0 },
  })
  for (const e of [echoB, echoC]) e.child.kill()
  expect(await line<{ code: number }>(stack, 'end')).toMatchObject({ code: 0 })
  // The child removed its RST guards: side A keeps only the counters.
  expect((await lab.exec('a', ['nft', 'list', 'tables'])).stdout.trim()).toBe(`table inet ${table}`)
}
