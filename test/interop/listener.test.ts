/**
 * Interop, passive open: a Linux kernel client against the userland TCP listening on the capture device
 * (an address and MAC of its own) and on the raw device (side A's kernel address, behind the RST guard).
 * 1 MiB of random bytes each way at once; the kernel closes first, so it is the kernel that sits in
 * TIME-WAIT and our side that goes CLOSE-WAIT → LAST-ACK → CLOSED. And a closed port of the userland stack
 * answers RST, which a kernel client (Node's net) reports as ECONNREFUSED.
 */
import { afterAll, expect, it } from 'vitest'
import { installRstCounters, nftCounters, until } from '../helpers/lab.js'
import { describeRoot } from '../helpers/root.js'
import type { Lab } from '../../src/net/netns.js'
import {
  MB,
  endpoint,
  expectCleanExit,
  expectLegalPath,
  expectNothingLeft,
  expectVethEvidence,
  VETH_KINDS,
  labOf,
  line,
  kernelPeer,
  kernelSockets,
  spawnTracked,
  stackChild,
  stateLinesAndReport,
  type KernelDone,
  type Proc,
  type StackReport,
} from '../helpers/interop.js'

const PORT = 5002

for (const kind of VETH_KINDS) describeRoot(`kernel client → userland listener (root, namespace lab, ${kind.label})`, () => {
  const onLab = labOf(kind)
  afterAll(() => expectNothingLeft())

  const cases = [
    { via: 'pcap', family: 4 },
    { via: 'raw', family: 4 },
    { via: 'pcap', family: 6 },
    { via: 'raw', family: 6 },
  ] as const
  for (const { via, family } of cases) {
    it(`${via}, IPv${family}: 1 MiB both ways intact, the kernel's FIN first, TIME-WAIT on the kernel`, async () => {
      await onLab(async (lab) => {
        const pick = (s: { ipv4: string; ipv6: string }): string => (family === 4 ? s.ipv4 : s.ipv6)
        const local = via === 'raw' ? pick(lab.a) : pick(lab.a.owned)
        const server = stackChild(lab, 'a', {
          role: 'server',
          via,
          local,
          mac: lab.a.owned.mac,
          iface: lab.a.iface,
          port: PORT,
          bytes: MB,
        })
        const ready = await line<{ guards: string[] }>(server, 'ready')
        expect(ready.guards.length).toBe(via === 'raw' ? 1 : 0)
        const client = kernelPeer(lab, 'b', { role: 'client', host: local, port: PORT, bytes: MB })
        const { localPort } = await line<{ localPort: number }>(client, 'connected')
        const done = await line<KernelDone>(client, 'done')
        const { states, report } = await stateLinesAndReport(server)

        expect(done).toMatchObject({ error: null, eof: true, sentBytes: MB, recvBytes: MB })
        expect(report.data).toMatchObject({ sentBytes: MB, recvBytes: MB, eof: true, closed: true, hadError: false })
        expect(report.data.recvSha).toBe(done.sentSha)
        expect(done.recvSha).toBe(report.data.sentSha)

        // Passive open, passive close: the peer's FIN came first, so ours ends in LAST-ACK, not TIME-WAIT.
        expectLegalPath(states)
        expect(states.map((s) => [s.from, s.to])).toEqual([
          ['LISTEN', 'SYN-RECEIVED'],
          ['SYN-RECEIVED', 'ESTABLISHED'],
          ['ESTABLISHED', 'CLOSE-WAIT'],
          ['CLOSE-WAIT', 'LAST-ACK'],
          ['LAST-ACK', 'CLOSED'],
        ])
        expect(report.iface.resetsSent).toBe(0)
        expectVethEvidence(kind, report, family === 4 ? 1460 : 1440)
        // The kernel closed first: its end of exactly this connection is in TIME-WAIT.
        expect(await kernelSockets(lab, 'b', 'time-wait')).toEqual([`${endpoint(pick(lab.b), localPort)} ${endpoint(local, PORT)}`])
        await expectCleanExit(server)
        expect((await lab.exec('a', ['nft', 'list', 'tables'])).stdout.trim()).toBe('')
      })
    })
  }
})

/** A Node `net` client in side B that reports how its connect ended (and gives up after 10 s). */
function netClient(lab: Lab, host: string, port: number): Proc {
  const code = `setTimeout(() => { console.log(JSON.stringify({ type: 'result', code: 'no answer in 10 s' })); process.exit(2) }, 10000).unref()
    require('net').connect(${port}, ${JSON.stringify(host)})
    .on('connect', () => { console.log(JSON.stringify({ type: 'result', connected: true })); process.exit(0) })
    .on('error', (e) => { console.log(JSON.stringify({ type: 'result', code: e.code, message: e.message })) })`
  return spawnTracked(lab, 'b', [process.execPath, '-e', code])
}

for (const kind of VETH_KINDS) describeRoot(`closed port of the userland stack (root, namespace lab, ${kind.label})`, () => {
  const onLab = labOf(kind)
  afterAll(() => expectNothingLeft())

  const cases = [
    { via: 'pcap', family: 4 },
    { via: 'pcap', family: 6 },
    { via: 'raw', family: 4 },
  ] as const
  for (const { via, family } of cases) {
    // pcap owns its address outright and answers a closed port itself; raw shares the kernel's address and
    // holds no such port, so it stays silent and the kernel answers.
    it(`${via}, IPv${family}: a SYN to a port nobody listens on gets ${via === 'raw' ? "the kernel's RST, none of ours" : 'our RST'}; Node's net sees ECONNREFUSED`, async () => {
      await onLab(async (lab) => {
        const pick = (s: { ipv4: string; ipv6: string }): string => (family === 4 ? s.ipv4 : s.ipv6)
        const local = via === 'raw' ? pick(lab.a) : pick(lab.a.owned)
        const table = await installRstCounters(lab)
        const stack = stackChild(lab, 'a', { role: 'idle', via, local, mac: lab.a.owned.mac, iface: lab.a.iface, port: PORT })
        await line(stack, 'ready')
        const result = await line<{ code?: string; message?: string }>(netClient(lab, local, PORT), 'result')
        expect(result).toEqual({ type: 'result', code: 'ECONNREFUSED', message: `connect ECONNREFUSED ${local}:${PORT}` })
        stack.child.stdin!.write('done\n')
        const report = await line<StackReport>(stack, 'report')
        expect(report.iface.drops[via === 'raw' ? 'not-our-port' : 'closed-port']).toBe(1)
        expect(report.iface.resetsSent).toBe(via === 'raw' ? 0 : 1)
        // Exactly one RST reached the client's side: (raw) the kernel's, none of ours.
        expect(await until(() => nftCounters(lab, 'b', table), (c) => c.rst_in >= 1)).toEqual({ rst_in: 1 })
        const a = await nftCounters(lab, 'a', table)
        if (via === 'raw') expect(a).toEqual({ kernel_rst_out: 1, kernel_rst_post: 1, own_rst_post: 0 })
        // pcap frames go around side A's IP stack: its kernel neither saw the SYN nor answered it.
        else expect(a).toEqual({ kernel_rst_out: 0, kernel_rst_post: 0, own_rst_post: 0 })
        await expectCleanExit(stack)
      })
    })
  }
})
