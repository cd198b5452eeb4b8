/**
 * The handshake's round trip as `tcplab handshake` prints it, against the wire (issue 12): the RTT of a
 * handshake to a kernel server in a lab is within 1 ms of what tcpdump on side A's veth shows between the
 * SYN that was answered and the SYN+ACK, over a raw socket and over libpcap, on a veth with offloads off
 * and at the kernel's defaults. The wire RTT on a veth is tens of µs; before the device stamps the CLI
 * printed 3–10 ms. And no RTT at all when no SYN+ACK was accepted, with --timeout ending the run on its own.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'vitest'
import type { Lab, LabOffloads } from '../../src/net/netns.js'
import { decodePacket } from '../../src/net/packet.js'
import { readCaptureFile } from '../../src/net/pcap.js'
import { formatFlags } from '../../src/tcp/segment.js'
import { describeRoot, itRoot } from '../helpers/root.js'
import { exitOf, kernelListener, LineReader, repoPath, requireBuilt, startTcpdump, withLab } from '../helpers/lab.js'

const CLI = repoPath('dist/lab/cli.js')
const node = process.execPath
const PY = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3'

interface Seg {
  dir: string
  flags: string
  seq: number
  ack: number
  state: string
  timeUs: number
  wireUs?: number
  drop?: string
}

/** `tcplab handshake` in side A, as --json, over `via`. */
async function handshake(lab: Lab, port: number, via: 'raw' | 'pcap', extra: string[] = []) {
  const argv = [node, CLI, 'handshake', `${lab.b.ipv4}:${port}`, '--via', via, ...extra]
  if (via === 'pcap') argv.push('--iface', lab.a.iface, '--src', lab.a.owned.ipv4)
  return lab.exec('a', argv, { allowFail: true, timeoutMs: 30_000 })
}

/** TCP segments of a capture on a veth: time (ns), flags, numbers. */
async function captured(file: string): Promise<Array<{ ns: bigint; flags: string; seq: number; ack: number }>> {
  const out: Array<{ ns: bigint; flags: string; seq: number; ack: number }> = []
  for await (const p of readCaptureFile(file)) {
    const d = decodePacket(p.data, 'ethernet')
    if (d.tcp) out.push({ ns: p.timestampNs, flags: formatFlags(d.tcp.flags), seq: d.tcp.seq, ack: d.tcp.ack })
  }
  return out
}

describeRoot('handshake RTT against the capture', () => {
  for (const offloads of ['off', 'on'] as LabOffloads[]) {
    itRoot(`veth offloads ${offloads}: the RTT printed over raw and over pcap is within 1 ms of tcpdump's`, async () => {
      requireBuilt('dist/lab/cli.js')
      const dir = mkdtempSync(join(tmpdir(), 'tcplab-rtt-'))
      try {
        await withLab(
          async (lab) => {
            expect(lab.offloads).toBe(offloads)
            const server = await kernelListener(lab, 'b', 1935)
            try {
              for (const via of ['raw', 'pcap'] as const) {
                // A handshake whose printed RTT misses by more than 1 ms is measured once more: the device stamps
                // a frame when tcplab reads it, and another job holding the CPU then can add a millisecond or
                // two (seen when the suite shared the machine). A second miss fails; a retry is printed.
                for (let attempt = 1; ; attempt++) {
                  const file = join(dir, `${offloads}-${via}-${attempt}.pcap`)
                  const dump = await startTcpdump(lab, 'a', ['-i', lab.a.iface, '--time-stamp-precision=nano'], file, 'tcp port 1935')
                  const r = await handshake(lab, 1935, via, ['--json'])
                  dump.kill('SIGTERM')
                  expect((await exitOf(dump)).code).toBe(0)
                  expect([r.code, r.stderr]).toEqual([0, ''])
                  const j = JSON.parse(r.stdout) as { result: string; rttUs: number; segments: Seg[] }
                  expect(j.result).toBe('established')
                  const syn = j.segments.find((s) => s.dir === 'out' && s.flags === 'S')!
                  const synAck = j.segments.find((s) => s.dir === 'in' && s.flags === 'SA')!
                  expect(synAck).toMatchObject({ ack: (syn.seq + 1) >>> 0, state: 'ESTABLISHED' })
                  // the RTT is the device's: its stamps of exactly these two segments
                  expect(syn.wireUs).toBeTypeOf('number')
                  expect(j.rttUs).toBe(synAck.wireUs! - syn.wireUs!)
                  // the wire's: the last SYN with our ISN before the SYN+ACK with the peer's, as tcpdump saw them
                  const wire = await captured(file)
                  const sa = wire.find((w) => w.flags === 'SA' && w.seq === synAck.seq && w.ack === synAck.ack)!
                  const sent = wire.filter((w) => w.flags === 'S' && w.seq === syn.seq && w.ns <= sa.ns)
                  expect(sent.length).toBe(1)
                  const captureUs = Number(sa.ns - sent[sent.length - 1].ns) / 1000
                  const msg = `offloads ${offloads}, --via ${via}: printed ${j.rttUs} µs, capture ${captureUs.toFixed(1)} µs`
                  console.log(msg)
                  if (Math.abs(j.rttUs - captureUs) > 1000 && attempt === 1) {
                    console.log(`[rtt] ${msg}: more than 1 ms apart, measured once more`)
                    continue
                  }
                  expect(Math.abs(j.rttUs - captureUs), msg).toBeLessThanOrEqual(1000)
                  break
                }
              }
            } finally {
              server.kill('SIGKILL')
            }
          },
          { offloads },
        )
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    })
  }

  itRoot('no SYN+ACK accepted: no RTT (rttUs null, no "SYN → SYN+ACK" text), and --timeout ends the run on its own', async () => {
    requireBuilt('dist/lab/cli.js')
    await withLab(async (lab) => {
      // Side B's kernel never sees SYNs to 1937 and 1939 (no RST from it); scapy, below netfilter, answers
      // each SYN to 1937 with a SYN+ACK that would be acceptable but for its checksum.
      await lab.exec('b', ['nft', '-f', '-'], {
        input: `table inet tcplab_${lab.id}_rtt {\n  chain in {\n    type filter hook input priority -10; policy accept;\n    tcp dport { 1937, 1939 } drop\n  }\n}\n`,
      })
      const py = [
        'import sys',
        'from scapy.all import AsyncSniffer, Ether, IP, TCP, sendp, conf',
        'conf.verb = 0',
        'iface = sys.argv[1]',
        'def answer(p):',
        '    ip, t = p[IP], p[TCP]',
        "    sendp(Ether(dst=p[Ether].src, src=p[Ether].dst) / IP(src=ip.dst, dst=ip.src) / TCP(sport=t.dport, dport=t.sport, flags='SA', seq=7000, ack=t.seq + 1, window=512, chksum=0xdead), iface=iface)",
        "    print('answered', t.seq, flush=True)",
        "s = AsyncSniffer(iface=iface, filter='tcp dst port 1937 and tcp[tcpflags] == tcp-syn', prn=answer, started_callback=lambda: print('ready', flush=True))",
        's.start()',
        's.join(60)',
      ].join('\n')
      const responder = lab.spawn('b', [PY, '-c', py, lab.b.iface], { stdio: ['ignore', 'pipe', 'pipe'] })
      const said = new LineReader(responder)
      try {
        await said.next(/^ready$/)
        // raw: SYNs at 0 s and 1 s (RTO 1 s), each answered by a SYN+ACK the interface drops; the run ends at
        // 1.5 s by itself, before the third SYN (3 s) — it used to wait 2 s more and send it.
        const raw = await handshake(lab, 1937, 'raw', ['--json', '--timeout', '1500'])
        expect([raw.code, raw.signal, raw.stderr]).toEqual([1, null, ''])
        const j = JSON.parse(raw.stdout) as { result: string; rttUs: number | null; segments: Seg[]; states: string[] }
        expect(j.result).toBe('timeout')
        expect(j.rttUs).toBeNull()
        const isn = j.segments[0].seq
        expect(j.segments.map((s) => `${s.dir} ${s.flags} ${s.seq === isn ? 'isn' : s.seq} ${s.drop ?? s.state}`)).toEqual([
          'out S isn SYN-SENT',
          'in SA 7000 tcp-checksum',
          'out S isn SYN-SENT',
          'in SA 7000 tcp-checksum',
        ])
        expect(j.states).toEqual(['CLOSED', 'SYN-SENT', 'CLOSED'])
        // pcap, as text: the address probe (about 1 s) counts against --timeout 2500, then SYNs at about
        // 1 s and 2 s, and the run ends at 2.5 s with no RTT printed.
        const pcap = await handshake(lab, 1937, 'pcap', ['--timeout', '2500'])
        expect([pcap.code, pcap.signal, pcap.stderr]).toEqual([1, null, ''])
        const lines = pcap.stdout.trim().split('\n')
        expect(lines.filter((l) => / → SYN /.test(l))).toHaveLength(2)
        expect(lines.filter((l) => /← SYN\+ACK .*\(dropped: tcp-checksum\)$/.test(l))).toHaveLength(2)
        expect(lines[lines.length - 1]).toBe('timeout; states CLOSED → SYN-SENT → CLOSED')
        expect(pcap.stdout).not.toContain('SYN → SYN+ACK')
        // nothing answers at all: two SYNs with one ISN, and the end at 1.5 s
        const silent = await handshake(lab, 1939, 'raw', ['--json', '--timeout', '1500'])
        expect([silent.code, silent.signal]).toEqual([1, null])
        const k = JSON.parse(silent.stdout) as { result: string; rttUs: number | null; segments: Seg[] }
        expect([k.result, k.rttUs]).toEqual(['timeout', null])
        expect(k.segments.map((s) => `${s.dir} ${s.flags} ${s.seq === k.segments[0].seq}`)).toEqual(['out S true', 'out S true'])
      } finally {
        responder.kill('SIGKILL')
      }
    })
  })
})
