/**
 * Issue 12: 64 MiB from a kernel sender to tcplab over a veth left at the kernel's default offloads (as
 * `ip link add … type veth` makes it): the kernel's TSO hands the wire side super-segments of up to 64 KB
 * with checksums left to offload. tcplab (client, over the capture device and over a raw socket, IPv4 and
 * IPv6) must take them whole: every byte intact (SHA-256), super-segments larger than the MSS seen,
 * offloaded checksums accepted, nothing truncated, nothing dropped.
 */
import { afterAll, expect, it } from 'vitest'
import { randomEphemeralPort } from '../../src/lab/stack/live.js'
import { describeRoot } from '../helpers/root.js'
import {
  expectCleanExit,
  expectLegalPath,
  expectNothingLeft,
  kernelPeer,
  labOf,
  line,
  stackChild,
  stateLinesAndReport,
  type KernelDone,
} from '../helpers/interop.js'

const PORT = 5006
const BYTES = 64 << 20

describeRoot("64 MiB from a kernel sender over a veth at the kernel's default offloads (root, namespace lab)", () => {
  afterAll(() => expectNothingLeft())
  const onLab = labOf({ offloads: 'on' })

  const cases = [
    { via: 'pcap', family: 4 },
    { via: 'raw', family: 4 },
    { via: 'pcap', family: 6 },
    { via: 'raw', family: 6 },
  ] as const
  for (const { via, family } of cases) {
    it(`${via}, IPv${family}: super-segments arrive whole, offloaded checksums accepted, 64 MiB intact`, async () => {
      await onLab(async (lab) => {
        const pick = (s: { ipv4: string; ipv6: string }): string => (family === 4 ? s.ipv4 : s.ipv6)
        const local = via === 'raw' ? pick(lab.a) : pick(lab.a.owned)
        const server = kernelPeer(lab, 'b', { role: 'server', host: pick(lab.b), port: PORT, bytes: BYTES, timeoutMs: 100_000 })
        await line(server, 'listening')
        // We send nothing and end once 64 MiB arrived; the kernel then reads our FIN and closes.
        const client = stackChild(lab, 'a', {
          role: 'client', via, local, mac: lab.a.owned.mac, iface: lab.a.iface, peer: pick(lab.b), port: PORT,
          localPort: randomEphemeralPort(), bytes: 0, expectBytes: BYTES, closeFirst: true, tcp: { msl: 100_000 }, timeoutMs: 100_000,
        })
        const { states, report } = await stateLinesAndReport(client)
        const done = await line<KernelDone>(server, 'done')

        expect(done).toMatchObject({ error: null, eof: true, sentBytes: BYTES, recvBytes: 0 })
        expect(report.data).toMatchObject({ recvBytes: BYTES, eof: true, hadError: false })
        expect(report.data.recvSha).toBe(done.sentSha)
        expectLegalPath(states)
        expect(states.map((s) => s.to).slice(-2)).toEqual(['TIME-WAIT', 'CLOSED'])

        // What made it a test of the default offloads: super-segments, offloaded checksums, none cut short.
        const mss = family === 4 ? 1460 : 1440
        expect(report.segments.maxPayloadIn).toBeGreaterThan(mss)
        expect(report.iface.checksumOffloaded).toBeGreaterThan(0)
        expect(report.link.truncated).toBe(0)
        expect(Object.entries(report.iface.drops).filter(([, n]) => n > 0)).toEqual([])
        expect(report.iface.resetsSent).toBe(0)
        console.log(
          `[issue12] 64 MiB kernel → tcplab (${via}, IPv${family}, default offloads): ${report.segments.inData} data segments, ` +
            `largest ${report.segments.maxPayloadIn} bytes, ${report.iface.checksumOffloaded} offloaded checksums, ` +
            `our retransmits ${report.tcb?.retransmits ?? 0}, kernel total_retrans ${done.info.totalRetrans}, link ${JSON.stringify(report.link)}`,
        )
        await expectCleanExit(client)
      })
    }, 120_000)
  }
})
