/**
 * Interop, simultaneous open (RFC 9293 §3.5, Figure 8): two userland stacks, one in each namespace of the
 * lab, both on the capture device with addresses and MACs of their own, each doing an active OPEN to the
 * other's address and port. The only test where our code sits at both ends: the kernel has no part in a
 * simultaneous open between two sockets of its own on one veth pair.
 *
 * On a veth the one-way delay is microseconds, so two SYNs sent "at the same time" rarely cross: the first
 * usually meets a port that is not open yet and draws a RST. Instead of retrying until luck has it, the wire
 * holds the SYNs: while each side's netdev egress hook misaddresses pure SYNs (destination MAC nobody has;
 * the peer's capture filter discards them), both stacks open and sit in SYN-SENT — then the rules go, and
 * the retransmitted SYNs find a TCB in SYN-SENT on the other side: SYN-SENT → SYN-RECEIVED → ESTABLISHED,
 * deterministically. (The brief allowed a few retries of a race; with the hold none are needed.)
 */
import { afterAll, expect, it } from 'vitest'
import { describeRoot } from '../helpers/root.js'
import {
  expectCleanExit,
  expectLegalPath,
  expectNothingLeft,
  VETH_KINDS,
  labOf,
  line,
  netdevCounters,
  stackChild,
  stateLinesAndReport,
  type Proc,
  type StateLine,
} from '../helpers/interop.js'
import type { Lab, LabSideName } from '../../src/net/netns.js'

const PORT_A = 6001
const PORT_B = 6002
const BYTES = 64 * 1024
const BLACKHOLE_MAC = '02:74:6c:00:00:ff'

/** Misaddresses every pure SYN (SYN without ACK) leaving `side`'s end of the veth; counts them. */
async function holdSyns(lab: Lab, side: LabSideName, table: string): Promise<void> {
  const dev = lab.side(side).iface
  await lab.exec(side, ['nft', '-f', '-'], {
    input: `table netdev ${table} {
  counter held { }
  chain out {
    type filter hook egress device "${dev}" priority -500; policy accept;
    tcp flags & (syn | ack) == syn counter name held ether daddr set ${BLACKHOLE_MAC}
  }
}
`,
  })
}

/** The next `state` line of a child. */
async function nextState(p: Proc): Promise<StateLine> {
  return line<StateLine>(p, 'state')
}

for (const kind of VETH_KINDS) describeRoot(`simultaneous open between two userland stacks (root, namespace lab, ${kind.label})`, () => {
  const onLab = labOf(kind)
  afterAll(() => expectNothingLeft())

  for (const family of [4, 6] as const) {
    it(`pcap, IPv${family}: both SYNs cross; SYN-SENT → SYN-RECEIVED → ESTABLISHED; data both ways; close`, async () => {
      await onLab(async (lab) => {
        const pick = (s: { ipv4: string; ipv6: string }): string => (family === 4 ? s.ipv4 : s.ipv6)
        const table = `tcplab_${lab.id}_hold`
        await holdSyns(lab, 'a', table)
        await holdSyns(lab, 'b', table)
        // A retransmitted SYN after 300 ms instead of 1 s; TIME-WAIT 2 × 100 ms.
        const tcp = { rtoInitial: 300_000, msl: 100_000 }
        const common = { role: 'client', via: 'pcap', bytes: BYTES, closeFirst: true, waitGo: true, tcp } as const
        const a = stackChild(lab, 'a', {
          ...common, local: pick(lab.a.owned), mac: lab.a.owned.mac, iface: lab.a.iface,
          localPort: PORT_A, peer: pick(lab.b.owned), port: PORT_B,
        })
        const b = stackChild(lab, 'b', {
          ...common, local: pick(lab.b.owned), mac: lab.b.owned.mac, iface: lab.b.iface,
          localPort: PORT_B, peer: pick(lab.a.owned), port: PORT_A,
        })
        await Promise.all([line(a, 'ready'), line(b, 'ready')])
        a.child.stdin!.write('go\n')
        b.child.stdin!.write('go\n')
        // Both open; their first SYNs are held on the wire.
        const firstA = await nextState(a)
        const firstB = await nextState(b)
        expect([firstA.to, firstB.to]).toEqual(['SYN-SENT', 'SYN-SENT'])
        const heldA = await waitHeld(lab, 'a', table)
        const heldB = await waitHeld(lab, 'b', table)
        expect(heldA).toBeGreaterThanOrEqual(1)
        expect(heldB).toBeGreaterThanOrEqual(1)
        await lab.exec('a', ['nft', 'delete', 'table', 'netdev', table])
        await lab.exec('b', ['nft', 'delete', 'table', 'netdev', table])

        const ra = await stateLinesAndReport(a)
        const rb = await stateLinesAndReport(b)
        const pathA = [firstA, ...ra.states].map((s) => s.to)
        const pathB = [firstB, ...rb.states].map((s) => s.to)
        console.log(`simultaneous open, IPv${family}: SYNs held ${heldA} (A) and ${heldB} (B); A: ${pathA.join(' → ')}; B: ${pathB.join(' → ')}`)
        expectLegalPath([firstA, ...ra.states])
        expectLegalPath([firstB, ...rb.states])
        const viaSynReceived = ['SYN-SENT', 'SYN-RECEIVED', 'ESTABLISHED']
        const opens = [pathA.slice(0, 3), pathB.slice(0, 3)]
        // The first retransmitted SYN to arrive always finds SYN-SENT; when the two retransmissions cross as
        // well, both sides take the SYN-RECEIVED path (Figure 8), otherwise the later one is answered by the
        // SYN+ACK and goes straight to ESTABLISHED.
        expect(opens).toContainEqual(viaSynReceived)
        for (const o of opens) {
          if (o[1] === 'SYN-RECEIVED') expect(o).toEqual(viaSynReceived)
          else expect(o.slice(0, 2)).toEqual(['SYN-SENT', 'ESTABLISHED'])
        }
        for (const s of [...ra.states, ...rb.states]) {
          if (s.to === 'SYN-RECEIVED') expect(s.cause).toBe('SYN received in SYN-SENT (simultaneous open)')
        }
        // Each side got exactly what the other sent, then both connections closed cleanly.
        expect(ra.report.data).toMatchObject({ sentBytes: BYTES, recvBytes: BYTES, eof: true, hadError: false })
        expect(rb.report.data).toMatchObject({ sentBytes: BYTES, recvBytes: BYTES, eof: true, hadError: false })
        expect(ra.report.data.recvSha).toBe(rb.report.data.sentSha)
        expect(rb.report.data.recvSha).toBe(ra.report.data.sentSha)
        expect(pathA.at(-1)).toBe('CLOSED')
        expect(pathB.at(-1)).toBe('CLOSED')
        expect(pathA.includes('TIME-WAIT') || pathB.includes('TIME-WAIT')).toBe(true)
        expect(ra.report.iface.resetsSent + rb.report.iface.resetsSent).toBe(0)
        await expectCleanExit(a)
        await expectCleanExit(b)
      })
    })
  }
})

/** The `held` counter once it is non-zero (the SYN may still be waiting for ARP/NDP when SYN-SENT is reported). */
async function waitHeld(lab: Lab, side: LabSideName, table: string): Promise<number> {
  for (;;) {
    const c = await netdevCounters(lab, side, table)
    if (c.held > 0) return c.held
    await new Promise((r) => setTimeout(r, 10))
  }
}
