/**
 * The live commands against the real kernel, in namespace labs: handshake (raw and pcap, IPv4 and IPv6),
 * listen --echo serving a kernel client, the demo, and the node:net fallback without privilege.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { formatIp } from '../../src/net/addr.js'
import type { WireError } from '../../src/tcp/errors.js'
import { defaultListenAddress } from '../../src/lab/commands/listen.js'
import { readCaptureFile } from '../../src/net/pcap.js'
import { decodePacket } from '../../src/net/packet.js'
import { formatFlags } from '../../src/tcp/segment.js'
import { describeRoot, itRoot } from '../helpers/root.js'
import { nobodyPath } from '../helpers/nobody.js'
import { LineReader, exitOf, repoPath, requireBuilt, startTcpdump, withLab } from '../helpers/lab.js'

const CLI = repoPath('dist/lab/cli.js')
const node = process.execPath

/** Runs the seed's echo server (kernel TCP) in side b and waits until it listens. */
async function kernelEcho(lab: Parameters<Parameters<typeof withLab>[0]>[0], host: string, count: number) {
  const child = lab.spawn('b', [node, CLI, 'echo-server', '--host', host, '--port', '1935', '--count', String(count)], { stdio: ['ignore', 'pipe', 'pipe'] })
  const lines = new LineReader(child)
  await lines.next(/listening on/)
  return { child, lines }
}

describeRoot('tcplab handshake against the kernel', () => {
  for (const [via, family] of [['raw', 4], ['raw', 6], ['pcap', 4], ['pcap', 6]] as const) {
    itRoot(`--via ${via}, IPv${family}: handshake, the seed exchange, FIN close, JSON and pcap`, async () => {
      requireBuilt('dist/lab/cli.js')
      const dir = mkdtempSync(join(tmpdir(), 'tcplab-hs-'))
      try {
        await withLab(async (lab) => {
          const server = family === 4 ? lab.b.ipv4 : lab.b.ipv6
          const target = family === 4 ? `${server}:1935` : `[${server}]:1935`
          const echo = await kernelEcho(lab, server, 1)
          const pcap = join(dir, 'hs.pcap')
          const args = [node, CLI, 'handshake', target, '--via', via, '--send', '张三: ', '--idle', '200', '--json', '--pcap', pcap]
          if (via === 'pcap') args.push('--src', family === 4 ? lab.a.owned.ipv4 : lab.a.owned.ipv6)
          const r = await lab.exec('a', args, { allowFail: true, timeoutMs: 30_000 })
          expect(r.stderr).toBe('')
          expect(r.code).toBe(0)
          const j = JSON.parse(r.stdout)
          expect(j.result).toBe('established')
          expect(j.path).toBe('userland')
          expect(j.received).toBe('张三:  你好!')
          expect([j.receivedBytes, j.segmentsOmitted]).toEqual([Buffer.byteLength('张三:  你好!'), 0])
          expect(j.states).toEqual(['CLOSED', 'SYN-SENT', 'ESTABLISHED', 'FIN-WAIT-1', 'FIN-WAIT-2', 'TIME-WAIT', 'CLOSED'])
          // the seed's handshake, with the numbers from the wire: SYN seq=j; SYN+ACK seq=k ack=j+1; ACK seq=j+1 ack=k+1
          const [syn, synAck, ack] = j.segments
          expect([syn.dir, syn.flags, syn.state]).toEqual(['out', 'S', 'SYN-SENT'])
          expect([synAck.dir, synAck.flags, synAck.ack, synAck.state]).toEqual(['in', 'SA', (syn.seq + 1) >>> 0, 'ESTABLISHED'])
          expect([ack.dir, ack.flags, ack.seq, ack.ack]).toEqual(['out', 'A', (syn.seq + 1) >>> 0, (synAck.seq + 1) >>> 0])
          expect(syn.options.map((o: { kind: string }) => o.kind)).toEqual(['mss', 'sackPermitted', 'timestamp', 'nop', 'wscale'])
          expect(j.rttUs).toBeGreaterThan(0)
          expect(await exitOf(echo.child)).toEqual({ code: 0, signal: null })
          // the capture holds exactly the segments reported, in order
          const seen: string[] = []
          for await (const p of readCaptureFile(pcap)) {
            const d = decodePacket(p.data, via === 'raw' ? 'ip' : 'ethernet')
            if (d.tcp) seen.push(`${formatFlags(d.tcp.flags)} ${d.tcp.seq} ${d.tcp.ack} ${d.tcp.payload.length}`)
          }
          expect(seen).toEqual(j.segments.map((s: { flags: string; seq: number; ack: number; len: number }) => `${s.flags} ${s.seq} ${s.ack} ${s.len}`))
        })
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    })
  }

  itRoot('a closed port: result refused, exit 1, the kernel RST is in the segments', async () => {
    await withLab(async (lab) => {
      const r = await lab.exec('a', [node, CLI, 'handshake', `${lab.b.ipv4}:1936`, '--json'], { allowFail: true, timeoutMs: 20_000 })
      expect(r.code).toBe(1)
      const j = JSON.parse(r.stdout)
      expect(j.result).toBe('refused')
      expect(j.segments.map((s: { dir: string; flags: string }) => `${s.dir} ${s.flags}`)).toEqual(['out S', 'in RA'])
      expect(j.segments[1].ack).toBe((j.segments[0].seq + 1) >>> 0)
    })
  })
})

describeRoot('tcplab listen --echo serving kernel clients', () => {
  for (const via of ['raw', 'pcap'] as const) {
    itRoot(`--via ${via}: the seed's server on the userland TCP answers node:net clients, then exits`, async () => {
      await withLab(async (lab) => {
        const ip = via === 'raw' ? lab.a.ipv4 : lab.a.owned.ipv4
        const argv = [node, CLI, 'listen', '1935', '--via', via, '--ip', ip, '--echo', '--count', '2', '--json']
        if (via === 'pcap') argv.push('--iface', lab.a.iface)
        const listener = lab.spawn('a', argv, { stdio: ['ignore', 'pipe', 'pipe'] })
        const out = new LineReader(listener)
        try {
          // the listener is up once a client gets through; retry the first connect briefly while it starts
          let first = { code: 1 as number | null, stdout: '' }
          for (let i = 0; i < 50 && first.code !== 0; i++) {
            first = await lab.exec('b', [node, CLI, 'echo-client', `${ip}:1935`, '--timeout', '3000'], { allowFail: true })
            if (first.code !== 0) await new Promise((r) => setTimeout(r, 100))
          }
          expect(first.stdout).toBe('张三:  你好!\n')
          const second = await lab.exec('b', [node, CLI, 'echo-client', `${ip}:1935`, '--message', 'hello'], { allowFail: true })
          expect(second.stdout).toBe('hello 你好!\n')
          const reports = [JSON.parse(await out.next(/^\{/)), JSON.parse(await out.next(/^\{/))]
          expect(reports.map((r) => r.received).sort()).toEqual(['hello', '张三: '])
          for (const r of reports) {
            expect(r.states.slice(0, 3)).toEqual(['LISTEN', 'SYN-RECEIVED', 'ESTABLISHED'])
            expect(r.segments[0]).toMatchObject({ dir: 'in', flags: 'S', state: 'SYN-RECEIVED' })
            expect(r.segments[1]).toMatchObject({ dir: 'out', flags: 'SA', ack: (r.segments[0].seq + 1) >>> 0 })
          }
          expect(await exitOf(listener)).toEqual({ code: 0, signal: null })
          // served its count: the port is closed now
          const third = await lab.exec('b', [node, CLI, 'echo-client', `${ip}:1935`, '--timeout', '2000'], { allowFail: true })
          expect(third.code).toBe(1)
        } finally {
          listener.kill('SIGKILL')
        }
      })
    })
  }
})

describe('listen without --ip: the address it picks', () => {
  it('takes the only global address, else the default route\'s source, else names the choices in one line', () => {
    expect(formatIp(defaultListenAddress(['198.18.0.1'], undefined))).toBe('198.18.0.1')
    expect(formatIp(defaultListenAddress(['10.0.0.2', '192.0.2.2'], '192.0.2.2'))).toBe('192.0.2.2')
    const fail = (addrs: string[], src: string | undefined): string => {
      try {
        defaultListenAddress(addrs, src)
      } catch (e) {
        expect((e as WireError).code).toBe('ERR_BAD_ARGUMENT')
        return (e as Error).message
      }
      throw new Error('no error')
    }
    expect(fail(['10.0.0.2', '192.0.2.2'], undefined)).toBe('say which address to listen on with --ip (this host has 10.0.0.2, 192.0.2.2)')
    // a default route from an address that is not global here chooses nothing
    expect(fail(['10.0.0.2', '192.0.2.2'], '127.0.0.1')).toBe('say which address to listen on with --ip (this host has 10.0.0.2, 192.0.2.2)')
    expect(fail([], undefined)).toBe('say which address to listen on with --ip (no global IPv4 address here)')
  })
})

describeRoot('tcplab listen --echo without --ip', () => {
  itRoot('--via raw listens on the side\'s own address and serves a kernel client, in lines and in --json', async () => {
    requireBuilt('dist/lab/cli.js')
    await withLab(async (lab) => {
      for (const json of [false, true]) {
        const argv = [node, CLI, 'listen', '1935', '--via', 'raw', '--echo', '--count', '1', ...(json ? ['--json'] : [])]
        const listener = lab.spawn('a', argv, { stdio: ['ignore', 'pipe', 'pipe'] })
        const out = new LineReader(listener)
        try {
          if (!json) expect(await out.next(/^tcplab listen:/)).toBe(`tcplab listen: userland TCP on a raw socket, ${lab.a.ipv4}:1935, 1 connection`)
          let r = { code: 1 as number | null, stdout: '', stderr: '' }
          for (let i = 0; i < 50 && r.code !== 0; i++) {
            r = await lab.exec('b', [node, CLI, 'echo-client', `${lab.a.ipv4}:1935`, '--message', `m${i}`, '--timeout', '3000'], { allowFail: true })
            if (r.code !== 0) await new Promise((res) => setTimeout(res, 100))
          }
          expect(r.stdout).toMatch(/^m\d+ 你好!\n$/)
          if (json) {
            const report = JSON.parse(await out.next(/^\{/))
            expect(report.received).toBe(r.stdout.slice(0, r.stdout.indexOf(' ')))
            expect(report.states.slice(0, 3)).toEqual(['LISTEN', 'SYN-RECEIVED', 'ESTABLISHED'])
            expect(report.segments[1]).toMatchObject({ dir: 'out', flags: 'SA' })
          }
          expect(await exitOf(listener)).toEqual({ code: 0, signal: null })
          expect(out.errors).toBe('')
        } finally {
          listener.kill('SIGKILL')
        }
      }
    })
  })
})

describeRoot('tcplab listen --via pcap --gso', () => {
  itRoot('echoes 256 KiB to a kernel client through the segmentation offload path, byte for byte', async () => {
    requireBuilt('dist/lab/cli.js')
    const dir = mkdtempSync(join(tmpdir(), 'tcplab-gso-cli-'))
    try {
      await withLab(async (lab) => {
        const ip = lab.a.owned.ipv4
        // What side B receives from the listener: the proof that the super-frame path was taken.
        const file = join(dir, 'b.pcap')
        const dump = await startTcpdump(lab, 'b', ['-i', lab.b.iface], file, `ip src host ${ip} and tcp src port 1935`)
        const argv = [node, CLI, 'listen', '1935', '--via', 'pcap', '--gso', '--iface', lab.a.iface, '--ip', ip, '--echo', '--count', '1', '--json']
        const listener = lab.spawn('a', argv, { stdio: ['ignore', 'pipe', 'pipe'] })
        const out = new LineReader(listener)
        try {
          // 256 KiB of ASCII in, every chunk back with the seed's suffix: strip the suffixes and compare.
          const client = [
            'import socket, sys, time',
            'data = bytes(((i * 7) % 26) + 97 for i in range(262144))',
            'for i in range(100):',
            '    try:',
            `        s = socket.create_connection(('${ip}', 1935), timeout=5); break`,
            '    except OSError: time.sleep(0.1)',
            's.sendall(data); s.shutdown(socket.SHUT_WR)',
            'got = b""',
            'while True:',
            '    b = s.recv(65536)',
            '    if not b: break',
            '    got += b',
            'suffix = " 你好!".encode()',
            'print(got.count(suffix) > 0, got.endswith(suffix), got.replace(suffix, b"") == data, len(got))',
          ].join('\n')
          const r = await lab.exec('b', ['python3', '-c', client], { allowFail: true, timeoutMs: 60_000 })
          expect(r.stderr).toBe('')
          const [some, ends, same] = r.stdout.trim().split(' ')
          expect([some, ends, same]).toEqual(['True', 'True', 'True'])
          const report = JSON.parse(await out.next(/^\{/))
          expect(report.receivedBytes).toBe(262144)
          expect(report.states.slice(0, 3)).toEqual(['LISTEN', 'SYN-RECEIVED', 'ESTABLISHED'])
          expect(await exitOf(listener)).toEqual({ code: 0, signal: null })
          dump.kill('SIGTERM')
          expect((await exitOf(dump)).code).toBe(0)
          // tcplab sends IPv4 id 0; the kernel's cut numbers a super-frame's segments id0, id0+1, …: so data
          // segments with ids above 0, each one more than the segment before or a new run from 0, show that
          // the replies left as super-frames and were cut, and nothing else changed the ids.
          const ids: number[] = []
          let first: number | undefined
          let span = 0
          for await (const p of readCaptureFile(file)) {
            const d = decodePacket(p.data, 'ethernet')
            if (d.tcp === undefined || d.tcp.payload.length === 0) continue
            expect(d.tcp.checksumOk).toBe(true)
            ids.push((d.ip as { id: number }).id)
            first ??= d.tcp.seq
            span = Math.max(span, ((d.tcp.seq - first) >>> 0) + d.tcp.payload.length)
          }
          // the captured data spans exactly the bytes the client got
          expect(span).toBe(Number(r.stdout.trim().split(' ')[3]))
          expect(Math.max(...ids)).toBeGreaterThan(0)
          expect(ids.filter((id, i) => id !== 0 && id !== ids[i - 1] + 1)).toEqual([])
        } finally {
          listener.kill('SIGKILL')
          dump.kill('SIGKILL')
        }
      })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describeRoot('tcplab demo', () => {
  itRoot('runs the seed exchange through the userland TCP and leaves nothing behind', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tcplab-demo-'))
    try {
      const pcap = join(dir, 'demo.pcap')
      const r = spawnSync(node, [CLI, 'demo', '--pcap', pcap, '--diagram', join(dir, 'demo.svg')], { encoding: 'utf8', timeout: 60_000 })
      expect(r.status).toBe(0)
      expect(r.stdout).toContain('received: "张三:  你好!"')
      expect(r.stdout).toMatch(/established \(SYN → SYN\+ACK [\d.]+ ms\); states CLOSED → SYN-SENT → ESTABLISHED/)
      expect(r.stdout).toMatch(/lab '(\w+)' removed/)
      const id = /lab '(\w+)' removed/.exec(r.stdout)![1]
      expect(spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout).not.toContain(`tcplab-${id}-`)
      const svg = spawnSync('head', ['-c', '200', join(dir, 'demo.svg')], { encoding: 'utf8' }).stdout
      expect(svg).toMatch(/<svg/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describeRoot('without privilege', () => {
  itRoot('handshake --send falls back to node:net and says why in one line; without --send it exits 2', async () => {
    await withLab(async (lab) => {
      const echo = await kernelEcho(lab, lab.b.ipv4, 1)
      // nobody, inside the lab's side a: no CAP_NET_RAW
      // the CLI from a world-readable copy: the repository may sit in a private directory
      const asNobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', node, nobodyPath('dist/lab/cli.js')]
      const r = await lab.exec('a', [...asNobody, 'handshake', `${lab.b.ipv4}:1935`, '--send', '张三: ', '--json'], { allowFail: true, timeoutMs: 20_000 })
      expect(r.stderr.trim().split('\n')).toEqual([
        "tcplab handshake: cannot speak raw packets (raw packets need root or CAP_NET_RAW); carrying the exchange over node:net (the kernel's TCP) instead",
      ])
      const j = JSON.parse(r.stdout)
      expect(j).toMatchObject({ result: 'established', path: 'kernel', received: '张三:  你好!', receivedBytes: Buffer.byteLength('张三:  你好!') })
      expect(await exitOf(echo.child)).toEqual({ code: 0, signal: null })
      const bare = await lab.exec('a', [...asNobody, 'handshake', `${lab.b.ipv4}:1935`], { allowFail: true })
      expect(bare.code).toBe(2)
      expect(bare.stderr).toBe('tcplab handshake: cannot speak raw packets: raw packets need root or CAP_NET_RAW\n')
      const demo = await lab.exec('a', [...asNobody, 'demo'], { allowFail: true, timeoutMs: 20_000 })
      expect(demo.code).toBe(0)
      expect(demo.stdout.split('\n')[0]).toBe('tcplab demo: skipped the userland handshake in a namespace lab: the namespace lab needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN).')
      expect(demo.stdout).toContain('[echo client] sent "张三: ", received "张三:  你好!"')
    })
  })
})
