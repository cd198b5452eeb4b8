/**
 * Interop, segmentation offload on transmit (`openCapDevice({ gso: true })`): what the kernel's software
 * GSO puts on the wire, read back from a capture on the other side of the lab's veth.
 *
 * 1. A hand-built train of data frames of one flow, sent in one turn, leaves as one super-frame, and side B
 *    receives exactly `gsoSegment(superFrame, meta)`: the original frames byte for byte, but for the IPv4
 *    identification counting up from the first frame's and the header checksum that goes with it.
 * 2. A real transfer: tcplab's TcpSocket over the userland stack on the gso device sends 8 MiB to a kernel
 *    server, which answers with the SHA-256 of what it got; segments were really joined on the way.
 *
 * Root only (namespace lab). The transmit addon (`tcplab-packet-tx`) is part of `npm install`: without it
 * these tests fail under LAB_REQUIRE_ROOT=1 with the loader's one-line reason, and are skipped (reason in
 * the title) otherwise.
 */
import type { ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, it } from 'vitest'
import { ETHERNET_HEADER_LEN } from '../../src/net/ethernet.js'
import { GsoCoalescer, gsoSegment, VIRTIO_NET_HDR_GSO_TCPV4, VIRTIO_NET_HDR_GSO_TCPV6 } from '../../src/net/gso.js'
import type { Ipv4Parsed } from '../../src/net/ipv4.js'
import { loadPacketTx } from '../../src/net/native.js'
import type { Lab } from '../../src/net/netns.js'
import { decodeEthernet } from '../../src/net/packet.js'
import { LINKTYPE_ETHERNET, readCaptureFile } from '../../src/net/pcap.js'
import { prngBytes } from '../../src/net/prng.js'
import { TcpFlags } from '../../src/tcp/segment.js'
import { refChecksum, toHex } from '../helpers/codecLaws.js'
import { line, type Proc } from '../helpers/interop.js'
import { exitOf, LineReader, repoPath, requireBuilt, startTcpdump, until, withLab } from '../helpers/lab.js'
import { describeRoot } from '../helpers/root.js'

/** The transmit addon's load failure, in one line, or undefined when it loads. */
function packetTxProblem(): string | undefined {
  try {
    loadPacketTx()
    return undefined
  } catch (e) {
    return (e instanceof Error ? e.message : String(e)).split('\n')[0]
  }
}

/** `it` for a test that needs the transmit addon: fails with the reason under LAB_REQUIRE_ROOT=1, else skips. */
function itGso(name: string, fn: () => Promise<void>, timeout?: number): void {
  const why = packetTxProblem()
  if (why === undefined) it(name, fn, timeout)
  else if (process.env.LAB_REQUIRE_ROOT === '1') {
    it(name, () => {
      throw new Error(why)
    })
  } else it.skip(`${name} — skipped: ${why}`, fn)
}


/** Starts gso-child.mjs in side A. */
function gsoChild(lab: Lab, opts: Record<string, unknown>): Proc {
  const child = lab.spawn('a', [process.execPath, repoPath('test/interop/gso-child.mjs'), JSON.stringify(opts)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  child.stdin!.on('error', () => {})
  return { child, out: new LineReader(child) }
}

const running = (c: ChildProcess): boolean => c.exitCode === null && c.signalCode === null

/** The frames of a pcap file written by tcpdump (copies); [] while the file is still being written. */
async function capturedFrames(file: string): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  try {
    for await (const p of readCaptureFile(file)) {
      expect(p.linkType).toBe(LINKTYPE_ETHERNET)
      expect(p.originalLength).toBe(p.data.length)
      out.push(p.data.slice())
    }
  } catch (e) {
    // A record half written by tcpdump, or no header yet: read again later.
    if ((e as { code?: string }).code === 'PCAP_ERR_TRUNCATED' || (e as { code?: string }).code === 'ENOENT') return []
    throw e
  }
  return out
}

/** One line per frame, for a readable first comparison before the byte-exact one. */
function summary(frames: Uint8Array[]): string[] {
  return frames.map((f) => {
    const d = decodeEthernet(f)
    const ip = d.ip!
    const id = 'id' in ip ? ` id=${(ip as Ipv4Parsed).id} ipsum=${(ip as Ipv4Parsed).checksumOk}` : ''
    return `seq=${d.tcp!.seq} len=${d.tcp!.payload.length} flags=0x${d.tcp!.flags.toString(16)} tcpsum=${d.tcp!.checksumOk}${id}`
  })
}

describeRoot('segmentation offload on transmit against the kernel (root, namespace lab)', () => {
  const SPORT = 41000
  const DPORT = 5002

  for (const family of [4, 6] as const) {
    itGso(`IPv${family}: a 30-frame train leaves as one super-frame and side B receives exactly gsoSegment's cut`, async () => {
      requireBuilt('dist/net/capdev.js', 'dist/net/packet.js', 'dist/net/prng.js', 'dist/net/ethernet.js')
      const dir = mkdtempSync(join(tmpdir(), 'tcplab-gso-'))
      const file = join(dir, 'side-b.pcap')
      let dump: ChildProcess | undefined
      try {
        await withLab(async (lab) => {
          const src = family === 4 ? lab.a.owned.ipv4 : lab.a.owned.ipv6
          const dst = family === 4 ? lab.b.ipv4 : lab.b.ipv6
          const ipLen = family === 4 ? 20 : 40
          // Full frames of 1514 bytes: 1500 of IP = IP header + 32 of TCP (with timestamps) + the MSS.
          const mss = 1500 - ipLen - 32
          const count = 30
          const lastLen = 1000
          const total = (count - 1) * mss + lastLen
          // The train's sequence space crosses 2^32 in the middle of frame 10.
          const seq0 = (2 ** 32 - 9 * mss - 700) >>> 0
          const seed = 0x6750 + family

          // Side B's capture: only frames from our address and port (side B's kernel answers with RSTs).
          const proto = family === 4 ? 'ip' : 'ip6'
          dump = await startTcpdump(lab, 'b', ['-i', lab.b.iface], file, `${proto} src host ${src} and tcp src port ${SPORT}`)
          const d = dump

          const child = gsoChild(lab, {
            mode: 'train', iface: lab.a.iface, mac: lab.a.owned.mac, src, dst, dstMac: lab.b.mac, sport: SPORT, dport: DPORT,
            count, mss, lastLen, seq0, ack: 0x12345678, window: 502, tsval: 0x01020304, tsecr: 0x0a0b0c0d, seed,
          })
          const sent = await line<{ frames: string[]; sentinel: string; stats: Record<string, number> }>(child, 'sent')
          expect(await exitOf(child.child)).toEqual({ code: 0, signal: null })
          const frames = sent.frames.map((h) => new Uint8Array(Buffer.from(h, 'hex')))

          // The child built the train that was asked for: 29 full frames and a short one with PSH, sequence
          // numbers contiguous across the wrap, every checksum right, IPv4 id 0 with DF.
          expect(summary(frames)).toEqual(
            Array.from({ length: count }, (_, k) => {
              const len = k === count - 1 ? lastLen : mss
              const flags = TcpFlags.ACK | (k === count - 1 ? TcpFlags.PSH : 0)
              return `seq=${(seq0 + k * mss) >>> 0} len=${len} flags=0x${flags.toString(16)} tcpsum=true${family === 4 ? ' id=0 ipsum=true' : ''}`
            }),
          )
          expect(decodeEthernet(frames[count - 1]).tcp!.seq).toBeLessThan(seq0)
          if (family === 4) for (const f of frames) expect((decodeEthernet(f).ip as Ipv4Parsed).dontFragment).toBe(true)
          expect(toHex(Buffer.concat(frames.map((f) => decodeEthernet(f).tcp!.payload)))).toBe(toHex(prngBytes(seed, total)))

          // One super-frame of 30 segments went out, and one plain frame (the sentinel).
          expect(sent.stats).toMatchObject({ sent: count + 1, gsoFrames: 1, gsoSegments: count, sendErrors: 0, queued: 0 })

          // Our model of the kernel's cut, from the same coalescing the device does.
          const co = new GsoCoalescer()
          for (const f of frames) expect(co.add(f)).toBe(true)
          const joined = co.take()!
          const l4 = ETHERNET_HEADER_LEN + ipLen
          expect(joined.meta).toEqual({
            gsoType: family === 4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6,
            gsoSize: mss,
            hdrLen: l4 + 32,
            csumStart: l4,
            csumOffset: 16,
            segments: count,
          })
          expect(joined.frame.length).toBe(l4 + 32 + total)
          const model = gsoSegment(joined.frame.slice(), joined.meta)
          // …which is the original frames but for IPv4 id = id0 + k (id0 = 0) and the header checksum.
          const rewritten = frames.map((f, k) => {
            const g = f.slice()
            if (family === 4) {
              g[18] = k >> 8
              g[19] = k & 0xff
              g[24] = 0
              g[25] = 0
              const c = refChecksum(g, ETHERNET_HEADER_LEN, l4)
              g[24] = c >> 8
              g[25] = c & 0xff
            }
            return g
          })
          expect(model.map(toHex)).toEqual(rewritten.map(toHex))

          // What side B received: wait for the sentinel (sent after the super-frame), then stop tcpdump.
          const captured = await until(
            () => capturedFrames(file),
            (fs) => fs.some((f) => toHex(f) === sent.sentinel) || !running(d),
          )
          d.kill('SIGTERM')
          expect((await exitOf(d)).code).toBe(0)
          const all = await capturedFrames(file)
          expect(all.length).toBeGreaterThanOrEqual(captured.length)
          const sentinel = new Uint8Array(Buffer.from(sent.sentinel, 'hex'))
          expect(summary(all)).toEqual(summary([...model, sentinel]))
          expect(all.map(toHex)).toEqual([...model.map(toHex), sent.sentinel])
        })
      } finally {
        if (dump !== undefined && running(dump)) dump.kill('SIGKILL')
        rmSync(dir, { recursive: true, force: true })
      }
    })
  }

  const PORT = 5003
  const BYTES = 8 << 20
  const SEED = 0x47534f

  /** Side B's kernel server: reads to EOF, answers "<sha256 hex> <bytes>\n", closes. */
  const SERVER_PY = String.raw`
import hashlib, json, socket, sys
o = json.loads(sys.argv[1])
def out(**kw):
    print(json.dumps(kw), flush=True)
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.settimeout(20)
s.bind((o['host'], o['port']))
s.listen(1)
out(type='listening')
c, addr = s.accept()
s.close()
c.settimeout(20)
h = hashlib.sha256()
n = 0
while True:
    b = c.recv(1 << 16)
    if not b:
        break
    h.update(b)
    n += len(b)
c.sendall(('%s %d\n' % (h.hexdigest(), n)).encode())
c.close()
out(type='done', peer=addr[0], recvBytes=n, sha=h.hexdigest(), eof=True)
`

  itGso('IPv4: 8 MiB from tcplab (TcpSocket, capture device with gso) to a kernel server arrive intact, in joined segments', async () => {
    requireBuilt('dist/net/capdev.js', 'dist/lab/stack/iface.js', 'dist/lab/stack/socket.js', 'dist/net/prng.js')
    const expectedSha = createHash('sha256').update(prngBytes(SEED, BYTES)).digest('hex')
    await withLab(async (lab) => {
      const server = lab.spawn('b', ['python3', '-c', SERVER_PY, JSON.stringify({ host: lab.b.ipv4, port: PORT })], {
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      const srv: Proc = { child: server, out: new LineReader(server) }
      await line(srv, 'listening')
      const client = gsoChild(lab, {
        mode: 'transfer', iface: lab.a.iface, mac: lab.a.owned.mac, local: lab.a.owned.ipv4, server: lab.b.ipv4, port: PORT,
        ports: [40000, 40999], bytes: BYTES, seed: SEED, chunk: 65536, timeoutMs: 25_000,
      })
      const report = await line<{
        states: string[]
        answer: string
        sentBytes: number
        eof: boolean
        device: Record<string, number>
        ip: Record<string, number>
      }>(client, 'report')
      // The kernel read our FIN (its recv() returned end of stream) after exactly our bytes.
      expect(await line(srv, 'done')).toEqual({ type: 'done', peer: lab.a.owned.ipv4, recvBytes: BYTES, sha: expectedSha, eof: true })
      expect(await exitOf(server)).toEqual({ code: 0, signal: null })
      // We read its answer and its FIN, and acknowledged that: our FIN first, then TIME-WAIT.
      expect(report.answer).toBe(`${expectedSha} ${BYTES}\n`)
      expect(report).toMatchObject({ sentBytes: BYTES, eof: true })
      expect(report.states.slice(0, 3)).toEqual(['SYN-SENT', 'ESTABLISHED', 'FIN-WAIT-1'])
      expect(report.states[report.states.length - 1]).toBe('TIME-WAIT')
      // The kernel's side is gone (LAST-ACK ended with our ACK of its FIN).
      const left = await until(
        async () => (await lab.exec('b', ['ss', '-tanH', 'state', 'all', `( sport = :${PORT} )`])).stdout.trim(),
        (t) => t === '',
      )
      expect(left).toBe('')
      // Segments were joined on the way out, and nothing failed.
      const dev = report.device
      const stats = `device stats ${JSON.stringify(dev)}`
      expect(dev.sendErrors, stats).toBe(0)
      expect(dev.gsoFrames, stats).toBeGreaterThan(0)
      expect(dev.gsoSegments, stats).toBeGreaterThan(dev.gsoFrames)
      expect(dev.gsoSegments, stats).toBeLessThanOrEqual(dev.sent)
      // 8 MiB is at least ceil(8 MiB / 1448) data segments, all counted in `sent`.
      expect(dev.sent, stats).toBeGreaterThanOrEqual(Math.ceil(BYTES / 1448))
      expect(report.ip).toMatchObject({ sendErrors: 0, unresolved: 0 })
      client.child.stdin!.write('done\n')
      expect(await exitOf(client.child)).toEqual({ code: 0, signal: null })
    })
  })
})
