/**
 * Collateral: on a raw socket tcplab shares its address with the kernel, and must never disturb what the
 * kernel owns. While `tcplab handshake` and `tcplab listen` run over raw in side A, kernel connections on
 * the same address keep exchanging data — one from side B to a kernel echo server in A, one inside A over
 * A's own address (the loopback path) — and a kernel listener in A keeps accepting. nftables counts every
 * packet tcplab sends (its packets carry the mark 0x7463706c) to or from a port it does not own: none.
 * A raw `listen` on the kernel listener's port is refused in one line.
 */
import { afterAll, expect, it } from 'vitest'
import type { Lab } from '../../src/net/netns.js'
import { describeRoot } from '../helpers/root.js'
import { exitOf, kernelListener, labChild, nftCounters, repoPath, requireBuilt, type LabChild } from '../helpers/lab.js'
import { ECHO_PY, PINGER_PY, VETH_KINDS, expectNothingLeft, labOf } from '../helpers/interop.js'

const CLI = 'dist/lab/cli.js'
/** The kernel echo server in side A, its listener with no traffic, tcplab's own ports. */
const KERNEL_ECHO = 7000
const KERNEL_IDLE = 7001
const B_ECHO = 1935
const TCPLAB_LISTEN = 1936

/** nft counters in side A for every packet tcplab sends (marked) from or to the kernel's ports. */
async function installOwnCounters(lab: Lab): Promise<string> {
  const table = `tcplab_${lab.id}_own`
  const mark = 'meta mark 0x7463706c'
  const ports = `{ ${KERNEL_ECHO}, ${KERNEL_IDLE} }`
  await lab.exec('a', ['nft', '-f', '-'], {
    input: `table inet ${table} {
  counter ours_on_kernel_ports { }
  counter ours_rst { }
  counter ours_all { }
  chain post {
    type filter hook postrouting priority 100; policy accept;
    ${mark} tcp sport ${ports} counter name ours_on_kernel_ports
    ${mark} tcp dport ${ports} counter name ours_on_kernel_ports
    ${mark} tcp flags & rst == rst counter name ours_rst
    ${mark} counter name ours_all
  }
}
`,
  })
  return table
}

function cli(lab: Lab, args: string[]): LabChild {
  return labChild(lab, 'a', [process.execPath, repoPath(CLI), ...args])
}

async function collect(c: LabChild): Promise<{ code: number | null; out: string; err: string }> {
  let out = ''
  let err = ''
  c.child.stdout!.removeAllListeners('data')
  c.child.stdout!.on('data', (d: Buffer) => (out += d.toString()))
  c.child.stderr!.on('data', (d: Buffer) => (err += d.toString()))
  const { code } = await exitOf(c.child)
  return { code, out, err }
}

for (const kind of VETH_KINDS) describeRoot(`collateral: tcplab over raw never disturbs the kernel on the same address (root, namespace lab, ${kind.label})`, () => {
  const onLab = labOf(kind)
  afterAll(() => expectNothingLeft())

  it('kernel connections keep exchanging data, a kernel listener keeps accepting, tcplab sends nothing for their ports', async () => {
    requireBuilt(CLI)
    await onLab(async (lab) => {
      const table = await installOwnCounters(lab)
      const a = lab.a.ipv4
      const b = lab.b.ipv4
      // The kernel's own traffic on side A's address: an echo server, and an idle listener.
      const echoA = labChild(lab, 'a', ['python3', '-c', ECHO_PY, a, String(KERNEL_ECHO)])
      await echoA.out.next(/^ready$/)
      const idle = await kernelListener(lab, 'a', KERNEL_IDLE)
      // The peer tcplab talks to: a kernel echo server in side B.
      const echoB = labChild(lab, 'b', ['python3', '-c', ECHO_PY, b, String(B_ECHO)])
      await echoB.out.next(/^ready$/)
      // Two kernel clients pinging side A's echo server: from side B, and from inside A itself.
      const fromB = labChild(lab, 'b', ['python3', '-c', PINGER_PY, a, String(KERNEL_ECHO)])
      const inA = labChild(lab, 'a', ['python3', '-c', PINGER_PY, a, String(KERNEL_ECHO)])
      await fromB.out.json('ready')
      await inA.out.json('ready')

      // tcplab as a client over raw, then as a listener over raw, while the kernel's traffic goes on.
      const hs = await collect(cli(lab, ['handshake', `${b}:${B_ECHO}`, '--via', 'raw', '--send', 'hi\n', '--idle', '300', '--json']))
      expect(hs.err).toBe('')
      expect(JSON.parse(hs.out)).toMatchObject({ result: 'established', received: 'hi\n', via: 'raw' })
      const ln = cli(lab, ['listen', String(TCPLAB_LISTEN), '--via', 'raw', '--ip', a, '--count', '1', '--json'])
      const lnDone = collect(ln)
      await new Promise((r) => setTimeout(r, 500))
      // A kernel client of tcplab's listener, and new kernel connections to the kernel's idle listener.
      const client = await lab.exec('b', ['python3', '-c', `
import socket
for port in (${KERNEL_IDLE}, ${KERNEL_IDLE}):
    socket.create_connection(('${a}', port), timeout=5).close()
c = socket.create_connection(('${a}', ${TCPLAB_LISTEN}), timeout=5)
c.sendall(b'seed')
c.shutdown(socket.SHUT_WR)
while c.recv(100): pass
c.close()
print('ok')
`])
      expect(client.stdout.trim()).toBe('ok')
      const l = await lnDone
      expect(l.code).toBe(0)
      expect(JSON.parse(l.out.trim().split('\n')[0])).toMatchObject({ received: 'seed', via: 'raw' })

      // The kernel's connections lived through it all.
      fromB.child.stdin!.end()
      inA.child.stdin!.end()
      const [db, da] = [await fromB.out.json<{ rounds: number; error: string | null }>('done'), await inA.out.json<{ rounds: number; error: string | null }>('done')]
      expect(db.error).toBeNull()
      expect(da.error).toBeNull()
      expect(db.rounds).toBeGreaterThan(10)
      expect(da.rounds).toBeGreaterThan(10)

      const counts = await nftCounters(lab, 'a', table)
      // tcplab did send (its handshake and its listener) ...
      expect(counts.ours_all).toBeGreaterThan(0)
      // ... nothing at all for the kernel's ports, and no RST anywhere.
      expect(counts.ours_on_kernel_ports).toBe(0)
      expect(counts.ours_rst).toBe(0)

      // A raw listen on the port the kernel listens on is refused in one line, and leaves no guard.
      const refused = await collect(cli(lab, ['listen', String(KERNEL_IDLE), '--via', 'raw', '--ip', a]))
      expect(refused.code).not.toBe(0)
      expect(refused.err.trim().split('\n')).toHaveLength(1)
      expect(refused.err).toContain(`the kernel already listens on ${a}:${KERNEL_IDLE}`)
      const tables = await lab.exec('a', ['nft', 'list', 'tables'])
      // A guard's table is tcplab_g + 10 hex digits; the lab's own tables are tcplab_<lab id>… (an id may start with g).
      expect(tables.stdout.split('\n').filter((t) => /\btcplab_g[0-9a-f]{10}\b/.test(t))).toEqual([])

      for (const c of [echoA.child, echoB.child, idle]) c.kill()
    })
  }, 60_000)
})
