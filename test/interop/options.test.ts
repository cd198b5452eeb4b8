/**
 * Interop, SYN options: a Linux kernel client whose SYN announces MSS 1000 (TCP_MAXSEG), SACK-permitted,
 * timestamps and its window scale connects to the userland listener. The listener must parse all four and
 * honour them through a 1 MiB exchange: segments sized to the peer's MSS less the timestamp option (checked
 * in our trace AND by an nft counter on the kernel's side of the wire), the kernel's window scaled by its
 * shift, and every timestamp we send echoing one the kernel sent.
 */
import { afterAll, expect, it } from 'vitest'
import { TcpFlags } from '../../src/tcp/segment.js'
import { nftCounters } from '../helpers/lab.js'
import { describeRoot } from '../helpers/root.js'
import {
  MB,
  TCPI_OPT,
  expectCleanExit,
  expectNothingLeft,
  VETH_KINDS,
  labOf,
  line,
  kernelPeer,
  stackChild,
  stateLinesAndReport,
  type KernelDone,
} from '../helpers/interop.js'

const PORT = 5003
/** The MSS the kernel announces: smaller than ours (1460/1440), so it is the peer's that must bound our segments. */
const KERNEL_MSS = 1000
/** NOP, NOP, TSopt (RFC 7323 Appendix A) in every segment after the handshake. */
const TS_OPT_LEN = 12

for (const kind of VETH_KINDS) describeRoot(`the kernel's SYN options, parsed and honoured (root, namespace lab, ${kind.label})`, () => {
  const onLab = labOf(kind)
  afterAll(() => expectNothingLeft())

  const cases = [
    { via: 'pcap', family: 4 },
    { via: 'raw', family: 6 },
  ] as const
  for (const { via, family } of cases) {
    it(`${via}, IPv${family}: MSS ${KERNEL_MSS}, SACK-permitted, timestamps, window scale`, async () => {
      await onLab(async (lab) => {
        const pick = (s: { ipv4: string; ipv6: string }): string => (family === 4 ? s.ipv4 : s.ipv6)
        const local = via === 'raw' ? pick(lab.a) : pick(lab.a.owned)
        // On the kernel's side of the wire, count our segments by IP length: payload + TCP options may not
        // exceed the kernel's MSS, so no packet may be longer than MSS + the IP and TCP fixed headers.
        const table = `tcplab_${lab.id}_mss`
        const len = family === 4 ? `ip length` : `ip6 length`
        const max = family === 4 ? KERNEL_MSS + 40 : KERNEL_MSS + 20 // ip6 length excludes the 40-byte IPv6 header
        const from = family === 4 ? `ip saddr ${local}` : `ip6 saddr ${local}`
        await lab.exec('b', ['nft', '-f', '-'], {
          input: `table inet ${table} {
  counter over { }
  counter full { }
  counter seen { }
  chain in {
    type filter hook input priority -10; policy accept;
    ${from} tcp sport ${PORT} counter name seen
    ${from} tcp sport ${PORT} ${len} > ${max} counter name over
    ${from} tcp sport ${PORT} ${len} == ${max} counter name full
  }
}
`,
        })
        const server = stackChild(lab, 'a', { role: 'server', via, local, mac: lab.a.owned.mac, iface: lab.a.iface, port: PORT, bytes: MB })
        await line(server, 'ready')
        const client = kernelPeer(lab, 'b', { role: 'client', host: local, port: PORT, bytes: MB, maxseg: KERNEL_MSS })
        const done = await line<KernelDone>(client, 'done')
        const window = await line<{ sndWnd: number; lastWindowField: number; sndShift: number }>(server, 'window')
        const { report } = await stateLinesAndReport(server)
        expect(done).toMatchObject({ error: null, eof: true, recvBytes: MB, sentBytes: MB })
        expect(report.data.recvSha).toBe(done.sentSha)
        expect(done.recvSha).toBe(report.data.sentSha)

        // Parsed: the kernel's SYN, in Linux's option order, with the kernel's own shift (tcp_info agrees).
        const syn = report.peerSyn!
        expect(syn.flags).toBe(TcpFlags.SYN)
        expect(syn.options.map((x) => x.kind)).toEqual(['mss', 'sackPermitted', 'timestamp', 'wscale'])
        expect(syn.options[0]).toEqual({ kind: 'mss', value: KERNEL_MSS })
        expect(syn.options[2]).toMatchObject({ kind: 'timestamp', echo: 0 })
        expect(syn.options[3]).toEqual({ kind: 'wscale', shift: done.info.rcvWscale })
        console.log(`kernel SYN options: ${JSON.stringify(syn.options)}; tcp_info: ${JSON.stringify(done.info)}`)
        console.log(`our data segments by payload + option bytes: ${JSON.stringify(report.segments.bySize)}`)

        // Negotiated: everything on; our SYN+ACK answers each option and echoes the SYN's TSval.
        const ourMss = family === 4 ? 1460 : 1440
        expect(report.negotiated).toEqual({
          peerMss: KERNEL_MSS,
          effMss: KERNEL_MSS - TS_OPT_LEN,
          mssOffered: ourMss,
          sndShift: done.info.rcvWscale,
          rcvShift: 7,
          tsOk: true,
          sackOk: true,
          wsOk: true,
        })
        const synAck = report.ourSyn!
        expect(synAck.flags).toBe(TcpFlags.SYN | TcpFlags.ACK)
        expect(synAck.options.map((x) => x.kind)).toEqual(['mss', 'sackPermitted', 'timestamp', 'wscale'])
        expect(synAck.options[0]).toEqual({ kind: 'mss', value: ourMss })
        expect(synAck.options[2]).toMatchObject({ echo: syn.options[2].value })
        expect(synAck.options[3]).toEqual({ kind: 'wscale', shift: 7 })
        // The kernel saw the same: TS, SACK and WS on, our shift 7 applied to the windows we send, and
        // it estimates our segments at exactly its MSS less the timestamp option.
        expect(done.info.options & (TCPI_OPT.TIMESTAMPS | TCPI_OPT.SACK | TCPI_OPT.WSCALE)).toBe(7)
        expect(done.info.sndWscale).toBe(7)
        expect(done.info.rcvMss).toBe(KERNEL_MSS - TS_OPT_LEN)

        // Honoured, MSS: no segment carries more than the peer's MSS of payload + options; the data
        // segments fill it exactly. The kernel's side of the wire counted the same.
        const s = report.segments
        expect(s.maxPayload).toBe(KERNEL_MSS - TS_OPT_LEN)
        expect(s.maxPayloadPlusOptions).toBe(KERNEL_MSS)
        const c = await nftCounters(lab, 'b', table)
        expect(c.over).toBe(0)
        expect(c.full).toBe(s.bySize[KERNEL_MSS])
        // (A few fall short where the send ring wraps; nearly all are full.)
        expect(s.bySize[KERNEL_MSS]).toBeGreaterThan(0.95 * (MB / (KERNEL_MSS - TS_OPT_LEN)))
        expect(c.seen).toBe(s.out)

        // Honoured, window scale: our send window is the kernel's last window field shifted by its scale,
        // and larger than an unscaled field could ever say.
        expect(window.sndShift).toBe(done.info.rcvWscale)
        expect(window.sndWnd).toBe(window.lastWindowField * 2 ** window.sndShift)
        expect(window.sndWnd).toBeGreaterThan(0xffff)

        // Honoured, timestamps: every segment after the handshake carries TSopt, echoing a TSval the kernel sent.
        expect(s.outWithoutTs).toBe(0)
        expect(s.echoNotSeen).toBe(0)
        expect(s.out).toBeGreaterThan(MB / KERNEL_MSS)
        await expectCleanExit(server)
      })
    })
  }
})
