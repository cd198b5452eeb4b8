/**
 * Issue 12: the capture device's packet receive path (native/packet_tx.c rxOpen/rxRead) against the kernel.
 * The kernel's word on each frame's checksum (PACKET_AUXDATA tp_status) must reach the layers above: a
 * kernel connection over a veth at the default offloads arrives with TP_STATUS_CSUMNOTREADY and the
 * interface counts its checksums as offloaded on the kernel's word; with offloads off nothing is said. A
 * frame longer than the device's maxFrame is counted as truncated, never delivered cut short.
 */
import { afterAll, expect, it } from 'vitest'
import { randomEphemeralPort } from '../../src/lab/stack/live.js'
import { loadPacketTx, hasPacketRx } from '../../src/net/native.js'
import { describeRoot } from '../helpers/root.js'
import {
  expectCleanExit,
  expectNothingLeft,
  kernelPeer,
  labOf,
  line,
  stackChild,
  stateLinesAndReport,
  type KernelDone,
} from '../helpers/interop.js'
import { exitOf, labChild, LineReader, repoPath, requireBuilt } from '../helpers/lab.js'

interface ChildStats {
  receive: string
  tcp: number
  tcpData: number
  said: Record<'partial' | 'valid' | 'none', number>
  dataSaid: Record<'partial' | 'valid' | 'none', number>
  cutDelivered: number
  largest: number
  tagged: string[]
  stats: Record<string, number>
}

describeRoot('capture device, packet receive path, against the kernel (root, namespace lab)', () => {
  afterAll(() => expectNothingLeft())

  it('the built addon has the receive path, so the capture device takes it by default', () => {
    expect(hasPacketRx(loadPacketTx())).toBe(true)
  })

  for (const offloads of ['on', 'off'] as const) {
    for (const family of [4, 6] as const) {
      it(`veth offloads ${offloads}, IPv${family}: a kernel connection's segments arrive ${offloads === 'on' ? 'marked TP_STATUS_CSUMNOTREADY (partial)' : 'with no checksum word'}`, async () => {
        requireBuilt('dist/net/capdev.js')
        await labOf({ offloads })(async (lab) => {
          const pick = (s: { ipv4: string; ipv6: string }): string => (family === 4 ? s.ipv4 : s.ipv6)
          const rx = labChild(lab, 'a', [process.execPath, repoPath('test/net/packet-rx-child.mjs'), JSON.stringify({ iface: lab.a.iface })])
          expect(await rx.out.json('ready')).toEqual({ type: 'ready', receive: 'packet' })
          const server = kernelPeer(lab, 'a', { role: 'server', host: pick(lab.a), port: 5011, bytes: 1 << 20 })
          await line(server, 'listening')
          const client = kernelPeer(lab, 'b', { role: 'client', host: pick(lab.a), port: 5011, bytes: 1 << 20 })
          expect(await line<KernelDone>(client, 'done')).toMatchObject({ error: null, eof: true, sentBytes: 1 << 20, recvBytes: 1 << 20 })
          await line(server, 'done')
          rx.send('done')
          const r = await rx.out.json<ChildStats>('stats')
          expect(r.receive).toBe('packet')
          expect(r.tcpData).toBeGreaterThan(0)
          expect(r.cutDelivered).toBe(0)
          expect({ truncated: r.stats.truncated, dropped: r.stats.dropped, kernelDropped: r.stats.kernelDropped }).toEqual({ truncated: 0, dropped: 0, kernelDropped: 0 })
          if (offloads === 'on') {
            // Every segment the kernel sent with data left its checksum to offload, and the kernel said so.
            expect(r.dataSaid).toEqual({ partial: r.tcpData, valid: 0, none: 0 })
            expect(r.stats.csumPartial).toBe(r.said.partial)
          } else {
            expect(r.said).toEqual({ partial: 0, valid: 0, none: r.tcp })
            expect({ csumPartial: r.stats.csumPartial, csumValid: r.stats.csumValid }).toEqual({ csumPartial: 0, csumValid: 0 })
          }
          console.log(`[issue12] packet rx, offloads ${offloads}, IPv${family}: ${r.tcp} TCP frames (${r.tcpData} with data), said ${JSON.stringify(r.said)}, largest ${r.largest}`)
          expect(await exitOf(rx.child)).toEqual({ code: 0, signal: null })
        })
      })
    }
  }

  for (const family of [4, 6] as const) {
    it(`IPv${family}: with a 16 KiB maxFrame, the kernel's 64 KB super-segments are counted as truncated, never delivered cut short`, async () => {
      requireBuilt('dist/net/capdev.js')
      await labOf({ offloads: 'on' })(async (lab) => {
        const pick = (s: { ipv4: string; ipv6: string }): string => (family === 4 ? s.ipv4 : s.ipv6)
        const maxFrame = 16384
        const rx = labChild(lab, 'a', [process.execPath, repoPath('test/net/packet-rx-child.mjs'), JSON.stringify({ iface: lab.a.iface, maxFrame })])
        await rx.out.json('ready')
        const server = kernelPeer(lab, 'a', { role: 'server', host: pick(lab.a), port: 5012, bytes: 4 << 20 })
        await line(server, 'listening')
        const client = kernelPeer(lab, 'b', { role: 'client', host: pick(lab.a), port: 5012, bytes: 4 << 20 })
        expect(await line<KernelDone>(client, 'done')).toMatchObject({ error: null, eof: true, sentBytes: 4 << 20, recvBytes: 4 << 20 })
        await line(server, 'done')
        rx.send('done')
        const r = await rx.out.json<ChildStats>('stats')
        expect(r.stats.truncated).toBeGreaterThan(0)
        expect(r.stats.dropped).toBe(r.stats.truncated)
        expect(r.cutDelivered).toBe(0)
        expect(r.largest).toBeLessThanOrEqual(maxFrame)
        console.log(`[issue12] packet rx, maxFrame ${maxFrame}, IPv${family}: ${r.stats.truncated} truncated, ${r.stats.received} delivered, largest ${r.largest}`)
        expect(await exitOf(rx.child)).toEqual({ code: 0, signal: null })
      })
    })
  }

  it('100 receive sockets opened and closed, 100 more left to the garbage collector: every poll handle is uv_close()d, every fd closed, the process lives', async () => {
    await labOf({ offloads: 'off' })(async (lab) => {
      const script = [
        `const m = require(${JSON.stringify(repoPath('native/build/Release/packet_tx.node'))})`,
        "const fds = () => require('fs').readdirSync('/proc/self/fd').length",
        'const before = fds()',
        `for (let i = 0; i < 100; i++) m.rxClose(m.rxOpen(${JSON.stringify(lab.a.iface)}, 1 << 16, 2000, () => {}))`,
        'const afterClose = fds()',
        `for (let i = 0; i < 100; i++) m.rxOpen(${JSON.stringify(lab.a.iface)}, 1 << 16, 2000, () => {})`,
        'const open = fds()',
        ';(async () => {',
        '  for (let i = 0; i < 20; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 5)) }',
        "  console.log(JSON.stringify({ type: 'done', closedLate: afterClose - before, open: open - before, collected: fds() - before }))",
        '})()',
      ].join('\n')
      const child = lab.spawn('a', [process.execPath, '--expose-gc', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] })
      const out = new LineReader(child)
      // Closed ones release their fd at the next turn of the loop (the close callback), so the count after
      // the first loop may still hold them; once collected and closed, none is left.
      const r = await out.json<{ closedLate: number; open: number; collected: number }>('done')
      expect(r.open).toBeGreaterThanOrEqual(100)
      expect(r.collected).toBe(0)
      expect(await exitOf(child)).toEqual({ code: 0, signal: null })
    })
  })

  for (const offloads of ['on', 'off'] as const) {
    it(`veth offloads ${offloads}: a VLAN tag the kernel takes out of a frame (tp_vlan_tci) is put back in place, as libpcap does`, async () => {
      requireBuilt('dist/net/capdev.js')
      await labOf({ offloads })(async (lab) => {
        const rx = labChild(lab, 'a', [process.execPath, repoPath('test/net/packet-rx-child.mjs'), JSON.stringify({ iface: lab.a.iface })])
        await rx.out.json('ready')
        const mac = (m: string): string => m.replaceAll(':', '')
        // 802.1Q, PCP 3, VLAN 5, then a local experimental EtherType and 50 bytes.
        const frames = [0, 1, 2].map((i) => `${mac(lab.a.owned.mac)}${mac(lab.b.mac)}81006005` + `88b5${i.toString(16).padStart(2, '0')}${'74'.repeat(49)}`)
        await lab.exec('b', ['python3', '-c', `
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(('${lab.b.iface}', 0))
for h in sys.argv[1:]:
    s.send(bytes.fromhex(h))
`, ...frames])
        await new Promise((r) => setTimeout(r, 200))
        rx.send('done')
        const r = await rx.out.json<ChildStats>('stats')
        expect(r.tagged).toEqual(frames)
        expect(await exitOf(rx.child)).toEqual({ code: 0, signal: null })
      })
    })
  }

  for (const offloads of ['on', 'off'] as const) {
    for (const family of [4, 6] as const) {
      it(`veth offloads ${offloads}, IPv${family}: tcplab over the capture device counts the kernel's checksums ${offloads === 'on' ? "as offloaded on the kernel's word" : 'as verified, none offloaded'}`, async () => {
        await labOf({ offloads })(async (lab) => {
          const pick = (s: { ipv4: string; ipv6: string }): string => (family === 4 ? s.ipv4 : s.ipv6)
          const bytes = 1 << 20
          const server = kernelPeer(lab, 'b', { role: 'server', host: pick(lab.b), port: 5013, bytes })
          await line(server, 'listening')
          const client = stackChild(lab, 'a', {
            role: 'client', via: 'pcap', local: pick(lab.a.owned), mac: lab.a.owned.mac, iface: lab.a.iface, peer: pick(lab.b), port: 5013,
            localPort: randomEphemeralPort(), bytes, closeFirst: true, tcp: { msl: 100_000 },
          })
          const { report } = await stateLinesAndReport(client)
          const done = await line<KernelDone>(server, 'done')
          expect(done).toMatchObject({ error: null, sentBytes: bytes, recvBytes: bytes })
          expect(report.data.recvSha).toBe(done.sentSha)
          const iface = report.iface as Record<string, number>
          const seen = { offloaded: iface.checksumOffloaded, kernel: iface.checksumOffloadedKernel, valid: iface.checksumValidKernel }
          if (offloads === 'on') {
            // Every offloaded checksum was taken on the kernel's word: the heuristic decided none.
            expect(seen.offloaded).toBeGreaterThan(0)
            expect(seen).toEqual({ offloaded: seen.offloaded, kernel: seen.offloaded, valid: 0 })
            expect(report.link.csumPartial).toBeGreaterThanOrEqual(seen.kernel)
          } else {
            expect(seen).toEqual({ offloaded: 0, kernel: 0, valid: 0 })
            expect({ csumPartial: report.link.csumPartial, csumValid: report.link.csumValid }).toEqual({ csumPartial: 0, csumValid: 0 })
          }
          expect(report.iface.drops['tcp-checksum']).toBe(0)
          expect(report.link.received).toBeGreaterThan(0)
          console.log(`[issue12] tcplab client over packet rx, offloads ${offloads}, IPv${family}: ${JSON.stringify(seen)}, link ${JSON.stringify(report.link)}`)
          await expectCleanExit(client)
        })
      }, 60_000)
    }
  }
})
