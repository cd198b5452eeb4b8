/**
 * Interop under loss: 10% of this connection's segments are lost in each direction on the veth, chosen by
 * nftables `numgen random mod 10 == 0` in a netdev table `tcplab_<lab>_loss` on side B's end of the veth
 * (this kernel has no netem), while 1 MiB goes each way between the userland TCP and the kernel.
 * Everything must arrive intact and in order; the retransmission counts of both stacks are printed.
 *
 * Our segments are dropped at B's ingress: that is loss, they left our stack. The kernel's cannot simply be
 * dropped at its own output or egress hook: a `drop` there comes back to its TCP as a local transmit failure
 * (-EPERM / NET_XMIT_DROP), the segment counts as not sent and goes out later — no loss, no retransmission
 * (measured: 72 such drops, total_retrans 1). So the chosen frames leave with a destination MAC nobody has:
 * the kernel's TCP has sent them, and side A (its kernel for raw, the capture filter for pcap) discards them.
 * Side A cannot do the dropping itself: libpcap's tap sees a frame before any ingress hook.
 *
 * SYNs are exempt from the drop so that a lost SYN or SYN+ACK (1 s initial RTO on both stacks) cannot
 * stretch the test: the point here is recovery of data, FINs and ACKs. Our RTO floor is 50 ms here (see
 * below), to keep the suite fast.
 */
import { afterAll, expect, it } from 'vitest'
import { randomEphemeralPort } from '../../src/lab/stack/live.js'
import { describeRoot } from '../helpers/root.js'
import {
  MB,
  expectCleanExit,
  expectLegalPath,
  expectNothingLeft,
  VETH_KINDS,
  labOf,
  kernelPeer,
  line,
  netdevCounters,
  stackChild,
  stateLinesAndReport,
  type KernelDone,
} from '../helpers/interop.js'

const PORT = 5004
/** A MAC nobody on the veth has: side A's kernel and the capture filter both ignore frames sent to it. */
const BLACKHOLE_MAC = '02:74:6c:00:00:ff'

for (const kind of VETH_KINDS) describeRoot(`10% loss both ways on the veth (root, namespace lab, ${kind.label})`, () => {
  const onLab = labOf(kind)
  afterAll(() => expectNothingLeft())

  const cases = [
    { role: 'client', via: 'pcap', family: 4 },
    { role: 'server', via: 'raw', family: 6 },
  ] as const
  for (const { role, via, family } of cases) {
    const title =
      role === 'client' ? `userland client (${via}, IPv${family}) → kernel server` : `kernel client → userland listener (${via}, IPv${family})`
    it(`${title}: 1 MiB each way arrives intact`, async () => {
      await onLab(async (lab) => {
        const pick = (s: { ipv4: string; ipv6: string }): string => (family === 4 ? s.ipv4 : s.ipv6)
        const ours = via === 'raw' ? pick(lab.a) : pick(lab.a.owned)
        const ip = family === 4 ? 'ip' : 'ip6'
        const table = `tcplab_${lab.id}_loss`
        const dev = lab.b.iface
        // Side B's end of the veth is the wire: its ingress hook sees every frame we send, its egress hook
        // every frame its kernel sends us. Only this connection (our address, the kernel's port) is touched.
        const toUs = role === 'client' ? `tcp sport ${PORT}` : `tcp dport ${PORT}`
        const fromUs = role === 'client' ? `tcp dport ${PORT}` : `tcp sport ${PORT}`
        const lossy = 'tcp flags & syn == 0 numgen random mod 10 == 0'
        // One segment per skb: the kernel's TCP otherwise hands the egress hook GSO "super-packets" that are cut
        // into MTU-sized frames only after it, and one choice of numgen would then lose a whole burst.
        await lab.exec('b', ['ip', 'link', 'set', 'dev', dev, 'gso_max_segs', '1'])
        await lab.exec('b', ['nft', '-f', '-'], {
          input: `table netdev ${table} {
  counter in_seen { }
  counter in_drop { }
  counter out_seen { }
  counter out_drop { }
  chain in {
    type filter hook ingress device "${dev}" priority -500; policy accept;
    ${ip} saddr ${ours} ${fromUs} counter name in_seen
    ${ip} saddr ${ours} ${fromUs} ${lossy} counter name in_drop drop
  }
  chain out {
    type filter hook egress device "${dev}" priority -500; policy accept;
    ${ip} daddr ${ours} ${toUs} counter name out_seen
    ${ip} daddr ${ours} ${toUs} ${lossy} counter name out_drop ether daddr set ${BLACKHOLE_MAC}
  }
}
`,
        })
        // TIME-WAIT of 2 × 500 ms: long enough to re-ACK a retransmitted FIN whose ACK was dropped. RTO floor
        // 50 ms instead of 200 (the veth's RTT is well under 1 ms, so no timeout is spurious): at 10% loss the
        // congestion window stays near 4 segments, too few for three duplicate ACKs, so most losses are
        // repaired by a timeout — with the default floor that alone takes 15-40 s per MiB.
        const tcp = { msl: 500_000, rtoMin: 50_000 }
        let stack, kernel
        if (role === 'client') {
          kernel = kernelPeer(lab, 'b', { role: 'server', host: pick(lab.b), port: PORT, bytes: MB, timeoutMs: 50_000 })
          await line(kernel, 'listening')
          stack = stackChild(lab, 'a', {
            role: 'client', via, local: ours, mac: lab.a.owned.mac, iface: lab.a.iface, peer: pick(lab.b), port: PORT,
            localPort: randomEphemeralPort(), bytes: MB, closeFirst: true, tcp, timeoutMs: 50_000,
          })
          await line(stack, 'ready')
        } else {
          stack = stackChild(lab, 'a', { role: 'server', via, local: ours, mac: lab.a.owned.mac, iface: lab.a.iface, port: PORT, bytes: MB, tcp, timeoutMs: 50_000 })
          await line(stack, 'ready')
          kernel = kernelPeer(lab, 'b', { role: 'client', host: ours, port: PORT, bytes: MB, timeoutMs: 50_000 })
        }
        const done = await line<KernelDone>(kernel, 'done')
        const { states, report } = await stateLinesAndReport(stack)
        const c = await netdevCounters(lab, 'b', table)

        const t = report.tcb!

        console.log(
          `loss ${title}: dropped ${c.in_drop}/${c.in_seen} of our segments and ${c.out_drop}/${c.out_seen} of the kernel's; ` +
            `userland retransmits ${t.retransmits} (fast ${t.fastRetransmits}, RTO timeouts ${t.timeouts}), ` +
            `SACK blocks sent in ${report.segments.outSack} segments, received in ${report.segments.inSack}; ` +
            `kernel total_retrans ${done.info.totalRetrans}`,
        )

        expect(done).toMatchObject({ error: null, eof: true, sentBytes: MB, recvBytes: MB })
        expect(report.data).toMatchObject({ sentBytes: MB, recvBytes: MB, eof: true, hadError: false })
        expect(report.data.recvSha).toBe(done.sentSha)
        expect(done.recvSha).toBe(report.data.sentSha)
        expectLegalPath(states)
        expect(states.at(-1)!.to).toBe('CLOSED')
        expect(report.iface.resetsSent).toBe(0)

        // The loss was real in both directions, and both stacks repaired it.
        expect(c.in_drop).toBeGreaterThan(0)
        expect(c.out_drop).toBeGreaterThan(0)
        expect(t.retransmits).toBeGreaterThan(0)
        expect(done.info.totalRetrans).toBeGreaterThan(0)
        // The hooks saw each packet once, and the lost ones never arrived: every segment we sent crossed B's
        // ingress (dropped or not), and our interface received exactly the kernel's frames not misaddressed.
        expect(c.in_seen).toBe(report.segments.out)
        expect(report.iface.packetsIn).toBe(c.out_seen - c.out_drop)
        await expectCleanExit(stack)
      })
    }, 60_000)
  }
})
