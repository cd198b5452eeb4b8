import { EventEmitter } from 'node:events'
import { describe, expect, it } from 'vitest'
import { isWireError } from '../../src/tcp/errors.js'
import { TcpFlags } from '../../src/tcp/segment.js'
import type { Seq } from '../../src/tcp/seq.js'
import { parseIp } from '../../src/net/addr.js'
import { buildTcpPacket } from '../../src/net/packet.js'
import { pseudoHeaderSum } from '../../src/tcp/checksum.js'
import { openRawDevice } from '../../src/net/rawdev.js'
import { installRstGuard, iptablesGuardSpec, nftGuardScript, TCPLAB_PACKET_MARK } from '../../src/net/rstguard.js'
import {
  effectiveCapabilities,
  hasNetAdminPrivilege,
  hasRawPrivilege,
  loadRawSocket,
  type RawSocketModule,
} from '../../src/net/native.js'
import { codeOf, toHex } from '../helpers/codecLaws.js'
import { describeRoot } from '../helpers/root.js'
import { nobodyPath } from '../helpers/nobody.js'
import { kernelPeer, line, type KernelDone } from '../helpers/interop.js'
import {
  exitOf,
  installRstCounters,
  labChild,
  kernelListener,
  LineReader,
  nftCounters,
  nftTableExists,
  repoPath,
  requireBuilt,
  until,
  withLab,
} from '../helpers/lab.js'

// ---------------------------------------------------------------------------------------------------
// A stand-in for the raw-socket addon: what the device sends, and packets to hand it.

class FakeWrap extends EventEmitter {
  inbox: { bytes: Uint8Array; source: string }[] = []
  sent: { bytes: string; addr: string }[] = []
  sendError: Error | undefined
  recv(buf: Uint8Array, cb: (b: Uint8Array, n: number, src: string) => void): void {
    const p = this.inbox.shift()
    if (p === undefined) throw new Error('Resource temporarily unavailable')
    // recvfrom(2) on a datagram socket: what does not fit the buffer is cut off, silently.
    const n = Math.min(buf.length, p.bytes.length)
    buf.set(p.bytes.subarray(0, n))
    cb(buf, n, p.source)
  }
  send(buf: Uint8Array, off: number, len: number, addr: string, cb: (n: number) => void): void {
    if (this.sendError !== undefined) throw this.sendError
    this.sent.push({ bytes: toHex(buf.subarray(off, off + len)), addr })
    cb(len)
  }
  /** Queues packets and signals readability once, as libuv would. */
  arrive(...packets: { bytes: Uint8Array; source: string }[]): void {
    this.inbox.push(...packets)
    this.emit('recvReady')
  }
}

class FakeSocket extends EventEmitter {
  wrap = new FakeWrap()
  options: (number | string)[][] = []
  queued: { bytes: Uint8Array; addr: string; after: (e: Error | null, n: number) => void }[] = []
  closed = 0
  setOption(level: number, option: number, value: number | Uint8Array): void {
    this.options.push([level, option, typeof value === 'number' ? value : Buffer.from(value).toString()])
  }
  send(bytes: Uint8Array, _off: number, _len: number, addr: string, after: (e: Error | null, n: number) => void): void {
    this.queued.push({ bytes, addr, after })
  }
  close(): void {
    this.closed++
  }
}

function fakeRaw(opts: { createError?: Error } = {}): { mod: RawSocketModule; sockets: FakeSocket[] } {
  const sockets: FakeSocket[] = []
  const mod = {
    createSocket: () => {
      if (opts.createError) throw opts.createError
      const s = new FakeSocket()
      sockets.push(s)
      return s
    },
    AddressFamily: { IPv4: 1, IPv6: 2 },
    SocketLevel: { SOL_SOCKET: 1, IPPROTO_IP: 0, IPPROTO_IPV6: 41 },
    SocketOption: { IP_HDRINCL: 3, SO_RCVBUF: 8, SO_SNDBUF: 7, SO_BINDTODEVICE: 25 },
  } as unknown as RawSocketModule
  return { mod, sockets }
}

const empty = new Uint8Array(0)
const synFrom = (src: string, dst: string, payload = empty): Uint8Array =>
  buildTcpPacket(
    { src: parseIp(src), dst: parseIp(dst) },
    { srcPort: 5000, dstPort: 40000, seq: 0x01020304 as Seq, ack: 0 as Seq, flags: TcpFlags.SYN, window: 1024, urgent: 0, options: [], payload },
  )

describe('raw device over a stand-in raw-socket', () => {
  it('configures IP_HDRINCL, SO_MARK and big send and receive buffers (IPv4)', () => {
    const { mod, sockets } = fakeRaw()
    const dev = openRawDevice({ family: 4, rawSocket: mod, iface: 'tlabc123a' })
    expect(dev.medium).toBe('ip')
    expect(dev.mtu).toBe(1500)
    expect(sockets[0].options).toEqual([
      [0, 3, 1], // IPPROTO_IP, IP_HDRINCL
      [1, 36, TCPLAB_PACKET_MARK], // SOL_SOCKET, SO_MARK
      [1, 32, 16 << 20], // SOL_SOCKET, SO_SNDBUFFORCE (room for SYN+ACKs parked on unresolved neighbours)
      [1, 33, 4 << 20], // SOL_SOCKET, SO_RCVBUFFORCE
      [1, 25, 'tlabc123a\0'], // SOL_SOCKET, SO_BINDTODEVICE
    ])
    dev.close()
    dev.close()
    expect(sockets[0].closed).toBe(1)
  })

  it('configures IPV6_HDRINCL for IPv6 and insists on a local address', () => {
    const { mod, sockets } = fakeRaw()
    openRawDevice({ family: 6, localAddress: '2001:2::1', rawSocket: mod }).close()
    expect(sockets[0].options[0]).toEqual([41, 36, 1])
    const e = (() => {
      try {
        openRawDevice({ family: 6, rawSocket: mod })
      } catch (x) {
        return x
      }
    })()
    expect(isWireError(e, 'ERR_BAD_ARGUMENT')).toBe(true)
  })

  it('turns EPERM into one line naming CAP_NET_RAW', () => {
    const { mod } = fakeRaw({ createError: new Error('Operation not permitted') })
    let e: unknown
    try {
      openRawDevice({ family: 4, rawSocket: mod })
    } catch (x) {
      e = x
    }
    expect(isWireError(e, 'DEV_ERR_PERMISSION')).toBe(true)
    expect((e as Error).message).toBe(
      'raw sockets need root or CAP_NET_RAW (run with sudo, or setcap cap_net_raw+ep $(which node))',
    )
  })

  it('delivers IPv4 packets to us, trims link padding, drops and counts the rest (one batch per wakeup)', () => {
    const { mod, sockets } = fakeRaw()
    const dev = openRawDevice({ family: 4, localAddress: '198.18.0.1', rawSocket: mod })
    const got: Uint8Array[] = []
    dev.onReceive((p) => got.push(p))
    const good = synFrom('198.18.0.2', '198.18.0.1', new Uint8Array([1, 2, 3]))
    const padded = new Uint8Array(good.length + 6)
    padded.set(good)
    const foreign = synFrom('198.18.0.2', '198.18.0.99')
    const notV4 = good.slice()
    notV4[0] = 0x65
    const badLength = good.slice()
    badLength[3] = good.length + 1 // total length beyond what arrived
    sockets[0].wrap.arrive(
      { bytes: good, source: '198.18.0.2' },
      { bytes: padded, source: '198.18.0.2' },
      { bytes: foreign, source: '198.18.0.2' },
      { bytes: notV4, source: '198.18.0.2' },
      { bytes: badLength, source: '198.18.0.2' },
      { bytes: good.subarray(0, 12), source: '198.18.0.2' },
    )
    expect(got.map(toHex)).toEqual([toHex(good), toHex(good)])
    expect(dev.stats()).toEqual({ sent: 0, received: 2, dropped: 4, sendErrors: 0, malformed: 3, foreign: 1, queued: 0, truncated: 0, checksumOffloaded: 0 })
  })

  it('receives a 64 KB super-segment whole, and counts one longer than maxPacket as truncated, never delivering it', () => {
    for (const [family, src, dst] of [[4, '198.18.0.2', '198.18.0.1'], [6, '2001:2::2', '2001:2::1']] as const) {
      const big = synFrom(src, dst, new Uint8Array(65000).fill(0x5a))
      const arrive = family === 4 ? big : big.subarray(40) // IPv6 raw sockets see only the segment
      const whole = fakeRaw()
      const dev = openRawDevice({ family, localAddress: dst, rawSocket: whole.mod })
      const got: Uint8Array[] = []
      dev.onReceive((p) => got.push(p))
      whole.sockets[0].wrap.arrive({ bytes: arrive, source: src })
      expect(got.map(toHex)).toEqual([toHex(big)])
      expect(dev.stats()).toMatchObject({ received: 1, truncated: 0, dropped: 0 })
      // A receive buffer of 2000 bytes: recv cuts the packet, and what is left never passes for data.
      const small = fakeRaw()
      const cut = openRawDevice({ family, localAddress: dst, rawSocket: small.mod, maxPacket: 2000 })
      const none: Uint8Array[] = []
      cut.onReceive((p) => none.push(p))
      small.sockets[0].wrap.arrive({ bytes: arrive, source: src }, { bytes: synFrom(src, dst).subarray(family === 4 ? 0 : 40), source: src })
      expect(none).toHaveLength(1) // only the small SYN after it
      expect(cut.stats()).toMatchObject({ received: 1, truncated: 1, dropped: 1, malformed: 0, foreign: 0 })
    }
  })

  it('IPv6: takes a segment whose checksum is what a local sender\'s offload leaves (the pseudo-header sum for our address)', () => {
    const { mod, sockets } = fakeRaw()
    const dev = openRawDevice({ family: 6, localAddress: '2001:2::1', rawSocket: mod })
    const got: Uint8Array[] = []
    dev.onReceive((p) => got.push(p))
    const offloaded = (dst: string): Uint8Array => {
      const seg = synFrom('2001:2::2', dst, new Uint8Array([7])).slice(40)
      const p = pseudoHeaderSum(parseIp('2001:2::2'), parseIp(dst), 6, seg.length)
      seg[16] = p >> 8
      seg[17] = p & 0xff
      return seg
    }
    const wrong = offloaded('2001:2::1')
    wrong[17] ^= 1
    sockets[0].wrap.arrive(
      { bytes: offloaded('2001:2::1'), source: '2001:2::2' }, // ours, offloaded: taken
      { bytes: offloaded('2001:2::3'), source: '2001:2::2' }, // offloaded for another address: foreign
      { bytes: wrong, source: '2001:2::2' }, // neither: foreign (or corrupt)
    )
    expect(got).toHaveLength(1)
    expect(toHex(got[0].subarray(40))).toBe(toHex(offloaded('2001:2::1')))
    expect(dev.stats()).toMatchObject({ received: 1, foreign: 2, checksumOffloaded: 1 })
  })

  it('reads at most `batch` packets per wakeup and never overwrites a packet already delivered', () => {
    const { mod, sockets } = fakeRaw()
    const dev = openRawDevice({ family: 4, rawSocket: mod, batch: 2 })
    const got: Uint8Array[] = []
    dev.onReceive((p) => got.push(p))
    const pkts = [1, 2, 3].map((n) => synFrom('198.18.0.2', '198.18.0.1', new Uint8Array([n])))
    sockets[0].wrap.arrive(...pkts.map((bytes) => ({ bytes, source: '198.18.0.2' })))
    expect(got.length).toBe(2)
    sockets[0].wrap.emit('recvReady')
    expect(got.map(toHex)).toEqual(pkts.map(toHex))
  })

  it('synthesizes the IPv6 header in front of the segment and keeps only segments for our address', () => {
    const { mod, sockets } = fakeRaw()
    const dev = openRawDevice({ family: 6, localAddress: '2001:2::1', rawSocket: mod })
    const got: Uint8Array[] = []
    dev.onReceive((p) => got.push(p))
    const whole = synFrom('2001:2::2', '2001:2::1', new Uint8Array([0xaa]))
    const forOther = synFrom('2001:2::2', '2001:2::3')
    sockets[0].wrap.arrive(
      { bytes: whole.subarray(40), source: '2001:2::2' },
      { bytes: forOther.subarray(40), source: '2001:2::2' },
      { bytes: whole.subarray(40, 50), source: '2001:2::2' },
      { bytes: whole.subarray(40), source: 'not an address' },
    )
    expect(got.length).toBe(1)
    expect(toHex(got[0].subarray(0, 40))).toBe(
      '60000000' + // version 6, traffic class 0, flow label 0
        '0015' + // payload length 21 (20-byte header + 1 byte)
        '06' + // next header TCP
        '40' + // hop limit 64 (synthesized)
        '20010002000000000000000000000002' + // source, from recvfrom
        '20010002000000000000000000000001', // destination, our local address
    )
    expect(toHex(got[0])).toBe(toHex(whole))
    expect(dev.stats()).toMatchObject({ received: 1, dropped: 3, malformed: 2, foreign: 1 })
  })

  it('sends synchronously to the packet destination; queues a copy when the socket would block', () => {
    const { mod, sockets } = fakeRaw()
    const dev = openRawDevice({ family: 4, rawSocket: mod })
    const s = sockets[0]
    const p = synFrom('198.18.0.1', '198.18.0.2')
    dev.send(p)
    expect(s.wrap.sent).toEqual([{ bytes: toHex(p), addr: '198.18.0.2' }])
    s.wrap.sendError = new Error('Resource temporarily unavailable')
    const q = synFrom('198.18.0.1', '198.18.0.3')
    const before = toHex(q)
    dev.send(q)
    q.fill(0xa5) // the caller reuses its buffer at once
    expect(s.queued.length).toBe(1)
    expect(toHex(s.queued[0].bytes)).toBe(before)
    expect(s.queued[0].addr).toBe('198.18.0.3')
    // While something waits, later sends queue behind it to keep the order.
    s.wrap.sendError = undefined
    dev.send(p)
    expect(s.queued.length).toBe(2)
    s.queued[0].after(null, 40)
    s.queued[1].after(null, 40)
    expect(dev.stats()).toMatchObject({ sent: 3, queued: 2, sendErrors: 0 })
  })

  it('reports a failed send to the error handler and counts it', async () => {
    const { mod, sockets } = fakeRaw()
    const dev = openRawDevice({ family: 6, localAddress: '2001:2::1', rawSocket: mod })
    const errors: string[] = []
    dev.onError((e) => errors.push(e.message))
    sockets[0].wrap.sendError = new Error('Operation not permitted')
    const p = synFrom('2001:2::1', '2001:2::2')
    dev.send(p)
    await Promise.resolve()
    expect(errors).toEqual(['Operation not permitted'])
    expect(dev.stats()).toMatchObject({ sent: 0, sendErrors: 1 })
    sockets[0].wrap.sendError = undefined
    dev.send(p)
    expect(sockets[0].wrap.sent[0].addr).toBe('2001:2::2')
  })

  it('refuses packets of the wrong family, over the MTU, or after close', () => {
    const { mod } = fakeRaw()
    const dev = openRawDevice({ family: 4, rawSocket: mod, mtu: 100 })
    expect(codeOf(() => dev.send(synFrom('2001:2::1', '2001:2::2')))).toBe('ERR_BAD_ARGUMENT')
    expect(codeOf(() => dev.send(synFrom('198.18.0.1', '198.18.0.2', new Uint8Array(61))))).toBe('ERR_BAD_ARGUMENT')
    dev.close()
    expect(codeOf(() => dev.send(synFrom('198.18.0.1', '198.18.0.2')))).toBe('DEV_ERR_CLOSED')
  })
})

describe('native addons and privilege', () => {
  it('loadRawSocket says in one line what to install or rebuild', () => {
    const load = (err: Error): unknown => {
      try {
        loadRawSocket({
          require: () => {
            throw err
          },
        })
      } catch (e) {
        return e
      }
    }
    let e = load(Object.assign(new Error("Cannot find module 'raw-socket'\nRequire stack:\n- x"), { code: 'MODULE_NOT_FOUND' }))
    expect(isWireError(e, 'DEV_ERR_NO_RAW_SOCKET')).toBe(true)
    expect((e as Error).message).toBe(
      "raw sockets need the optional 'raw-socket' addon, which is not installed: npm install raw-socket (needs python3, make and g++)",
    )
    e = load(new Error('The module was compiled against a different Node.js version using NODE_MODULE_VERSION 108.\nmore'))
    expect((e as Error).message).toBe(
      "the 'raw-socket' addon failed to load (The module was compiled against a different Node.js version using NODE_MODULE_VERSION 108.): npm rebuild raw-socket",
    )
    // The real one is installed in this repository (an optional dependency that built).
    expect(typeof loadRawSocket().createSocket).toBe('function')
  })

  it('reads CAP_NET_RAW (bit 13) and CAP_NET_ADMIN (bit 12) from CapEff', () => {
    const status = (hexCaps: string): string => `Name:\tnode\nCapInh:\t0000000000000000\nCapEff:\t${hexCaps}\n`
    expect(effectiveCapabilities(status('000001ffffffffff'))).toBe(0x1ffffffffffn)
    expect(hasRawPrivilege(status('0000000000002000'))).toBe(true)
    expect(hasRawPrivilege(status('0000000000001000'))).toBe(false)
    expect(hasNetAdminPrivilege(status('0000000000001000'))).toBe(true)
    expect(hasNetAdminPrivilege(status('0000000000002000'))).toBe(false)
    expect(effectiveCapabilities('Name:\tnode\n')).toBeUndefined()
  })
})

describe('RST guard rules (no root needed)', () => {
  it('scopes the nft rule to the address, port, RST flag and unmarked packets', () => {
    expect(nftGuardScript('tcplab_gx', '198.18.0.1', 40000)).toBe(
      [
        'table inet tcplab_gx {',
        '  chain out {',
        '    type filter hook output priority 0; policy accept;',
        '    ip saddr 198.18.0.1 tcp sport 40000 tcp flags & rst == rst meta mark != 0x7463706c counter drop',
        '  }',
        '}',
        '',
      ].join('\n'),
    )
    expect(nftGuardScript('tcplab_gx', '2001:2::1', 1)).toContain('ip6 saddr 2001:2::1 tcp sport 1 ')
    expect(iptablesGuardSpec('tcplab_gx', '2001:2::1', 443).join(' ')).toBe(
      '-s 2001:2::1/128 -p tcp --sport 443 --tcp-flags RST RST -m mark ! --mark 0x7463706c -m comment --comment tcplab_gx -j DROP',
    )
  })

  it('says in one line when neither nft nor iptables can install it', async () => {
    const e = await installRstGuard({
      addr: '198.18.0.1',
      port: 40000,
      tools: { nft: '/nonexistent/nft', iptables: '/nonexistent/iptables' },
    }).catch((x: unknown) => x)
    expect(isWireError(e, 'DEV_ERR_NO_FIREWALL')).toBe(true)
    expect((e as Error).message).toBe(
      'cannot install the RST guard (nft not found; /nonexistent/iptables not found): install nftables (apt-get install nftables) or iptables, or use the capture device (--via pcap), which needs no guard',
    )
  })

  it('rejects a bad port or address before running anything', async () => {
    expect(isWireError(await installRstGuard({ addr: '198.18.0.1', port: 0 }).catch((x: unknown) => x), 'ERR_BAD_ARGUMENT')).toBe(true)
    expect(isWireError(await installRstGuard({ addr: 'nope', port: 1 }).catch((x: unknown) => x), 'IP_ERR_BAD_ADDRESS')).toBe(true)
  })
})

describeRoot('RST guard in a lab (root)', () => {
  it('exists while installed (nft) and is gone after remove', async () => {
    await withLab(async (lab) => {
      const g = await installRstGuard({ addr: lab.a.ipv4, port: 40000, netns: lab.a.ns })
      expect(g.backend).toBe('nft')
      expect(g.description).toBe(`drop TCP RST from 198.18.0.1:40000 (nft table inet ${g.name})`)
      const listing = (await lab.exec('a', ['nft', 'list', 'table', 'inet', g.name])).stdout
      expect(listing).toMatch(/ip saddr 198\.18\.0\.1 tcp sport 40000 tcp flags & rst == rst meta mark != 0x7463706c counter packets 0 bytes 0 drop/)
      expect(await nftTableExists(lab, 'b', g.name)).toBe(false)
      expect(await g.dropped()).toBe(0)
      await g.remove()
      expect(await nftTableExists(lab, 'a', g.name)).toBe(false)
      await g.remove()
    })
  })

  it('falls back to ip6tables when asked, with the same scope', async () => {
    await withLab(async (lab) => {
      const g = await installRstGuard({ addr: lab.a.ipv6, port: 40001, netns: lab.a.ns, backend: 'iptables' })
      expect(g.backend).toBe('iptables')
      const rules = (await lab.exec('a', ['ip6tables', '-w', '-S', 'OUTPUT'])).stdout
      expect(rules).toContain(`-A OUTPUT -s 2001:2::1/128 -p tcp -m tcp --sport 40001 --tcp-flags RST RST -m mark ! --mark 0x7463706c -m comment --comment ${g.name} -j DROP`)
      expect(await g.dropped()).toBe(0)
      g.removeSync()
      expect((await lab.exec('a', ['ip6tables', '-w', '-S', 'OUTPUT'])).stdout).not.toContain(g.name)
    })
  })

  describe('installed by a child process in the namespace, removed on every exit path', () => {
    const cases: { mode: string; signal?: NodeJS.Signals; expect: { code: number | null; signal: NodeJS.Signals | null } }[] = [
      { mode: 'drain', expect: { code: 0, signal: null } },
      { mode: 'exit', expect: { code: 4, signal: null } },
      { mode: 'throw', expect: { code: 1, signal: null } },
      { mode: 'wait', signal: 'SIGINT', expect: { code: null, signal: 'SIGINT' } },
      { mode: 'wait', signal: 'SIGTERM', expect: { code: null, signal: 'SIGTERM' } },
      { mode: 'remove', signal: 'SIGTERM', expect: { code: null, signal: 'SIGTERM' } },
    ]
    for (const c of cases) {
      it(`${c.mode}${c.signal ? ` + ${c.signal}` : ''}`, async () => {
        requireBuilt('dist/net/rstguard.js')
        await withLab(async (lab) => {
          const child = lab.spawn('a', [process.execPath, repoPath('test/interop/guard-child.mjs'), lab.a.ipv4, '40000', c.mode], {
            stdio: ['ignore', 'pipe', 'pipe'],
          })
          const out = new LineReader(child)
          const g = await out.json<{ name: string; backend: string }>('guard')
          expect(g.backend).toBe('nft')
          if (c.signal !== undefined) {
            if (c.mode === 'remove') {
              await out.json('removed')
              expect(await nftTableExists(lab, 'a', g.name)).toBe(false)
            } else expect(await nftTableExists(lab, 'a', g.name)).toBe(true)
            child.kill(c.signal)
          }
          expect(await exitOf(child)).toEqual(c.expect)
          expect(await nftTableExists(lab, 'a', g.name)).toBe(false)
          expect(out.errors).not.toContain('cleanup of')
        })
      })
    }
  })
})

describeRoot('raw device against the kernel in a lab (root)', () => {
  const PORT = 5000
  for (const family of [4, 6] as const) {
    const addr = (s: { ipv4: string; ipv6: string }): string => (family === 4 ? s.ipv4 : s.ipv6)

    it(`IPv${family}: SYN → kernel SYN+ACK; the guard drops the kernel's RST and lets ours through`, async () => {
      requireBuilt('dist/net/rawdev.js', 'dist/net/rstguard.js', 'dist/net/packet.js')
      await withLab(async (lab) => {
        const table = await installRstCounters(lab)
        await kernelListener(lab, 'b', PORT)
        const iss = 0x10203040
        const opts = { via: 'raw', src: addr(lab.a), dst: addr(lab.b), sport: 40000, dport: PORT, iss, guard: true }
        const child = lab.spawn('a', [process.execPath, repoPath('test/interop/syn-probe.mjs'), JSON.stringify(opts)], {
          stdio: ['pipe', 'pipe', 'pipe'],
        })
        const out = new LineReader(child)
        const sa = await out.json<Record<string, unknown>>('synack')
        expect(sa).toMatchObject({
          flags: TcpFlags.SYN | TcpFlags.ACK,
          ack: iss + 1,
          srcPort: PORT,
          dstPort: 40000,
          checksumOk: true,
        })
        expect(sa.options).toContain('mss')
        // The kernel of side A answered the SYN+ACK with a RST (counted before the guard) that never left.
        const a = await until(
          () => nftCounters(lab, 'a', table),
          (c) => c.kernel_rst_out === 1 && c.own_rst_post === 1,
        )
        expect(a).toEqual({ kernel_rst_out: 1, kernel_rst_post: 0, own_rst_post: 1 })
        // Side B saw exactly one RST: ours.
        expect(await until(() => nftCounters(lab, 'b', table), (c) => c.rst_in >= 1)).toEqual({ rst_in: 1 })
        child.stdin!.write('done\n')
        const stats = await out.json<{ guardDropped: number; device: Record<string, number> }>('stats')
        expect(stats.guardDropped).toBe(1)
        expect(stats.device).toMatchObject({ sent: 2, sendErrors: 0 })
        expect(await exitOf(child)).toEqual({ code: 0, signal: null })
        // The guard went with the child; only the test's counter table is left in side A.
        const tables = (await lab.exec('a', ['nft', 'list', 'tables'])).stdout.trim().split('\n')
        expect(tables).toEqual([`table inet ${table}`])
      })
    })

    it(`IPv${family}: without the guard the kernel's RST does leave (the control case)`, async () => {
      requireBuilt('dist/net/rawdev.js', 'dist/net/packet.js')
      await withLab(async (lab) => {
        const table = await installRstCounters(lab)
        await kernelListener(lab, 'b', PORT)
        const opts = { via: 'raw', src: addr(lab.a), dst: addr(lab.b), sport: 40002, dport: PORT, iss: 7, guard: false }
        const child = lab.spawn('a', [process.execPath, repoPath('test/interop/syn-probe.mjs'), JSON.stringify(opts)], {
          stdio: ['pipe', 'pipe', 'pipe'],
        })
        const out = new LineReader(child)
        expect(await out.json('synack')).toMatchObject({ ack: 8, flags: TcpFlags.SYN | TcpFlags.ACK })
        const a = await until(() => nftCounters(lab, 'a', table), (c) => c.kernel_rst_post === 1 && c.own_rst_post === 1)
        expect(a).toEqual({ kernel_rst_out: 1, kernel_rst_post: 1, own_rst_post: 1 })
        child.stdin!.write('done\n')
        expect(await exitOf(child)).toEqual({ code: 0, signal: null })
      })
    })
  }
})

describeRoot('without privilege (setpriv to nobody, inside a lab)', () => {
  it('every privileged operation fails with one line naming the missing capability', async () => {
    requireBuilt('dist/net/rawdev.js', 'dist/net/capdev.js', 'dist/net/netns.js', 'dist/net/rstguard.js')
    await withLab(async (lab) => {
      const child = lab.spawn(
        'a',
        [
          'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all',
          // from a world-readable copy: the repository may sit in a private directory
          process.execPath, nobodyPath('test/interop/unprivileged.mjs'), lab.a.iface, lab.a.ipv4,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      )
      const out = new LineReader(child)
      expect(await out.json('privilege')).toEqual({ type: 'privilege', raw: false, admin: false, uid: 65534 })
      const results: Record<string, unknown> = {}
      for (let i = 0; i < 4; i++) {
        const r = await out.json<{ op: string }>('result')
        results[r.op] = r
      }
      expect(results).toEqual({
        raw: {
          type: 'result', op: 'raw', ok: false, code: 'DEV_ERR_PERMISSION',
          message: 'raw sockets need root or CAP_NET_RAW (run with sudo, or setcap cap_net_raw+ep $(which node))',
        },
        cap: {
          type: 'result', op: 'cap', ok: false, code: 'DEV_ERR_PERMISSION',
          message: 'the capture device needs root or CAP_NET_RAW (run with sudo, or setcap cap_net_raw+ep $(which node))',
        },
        netns: {
          type: 'result', op: 'netns', ok: false, code: 'DEV_ERR_PERMISSION',
          message: 'the namespace lab needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN create network namespaces): run with sudo',
        },
        guard: {
          type: 'result', op: 'guard', ok: false, code: 'DEV_ERR_PERMISSION',
          message: 'the RST guard needs root or CAP_NET_ADMIN to add a firewall rule (run with sudo)',
        },
      })
      await out.json('end')
      expect(await exitOf(child)).toEqual({ code: 0, signal: null })
      expect((await lab.exec('a', ['nft', 'list', 'tables'])).stdout).toBe('')
    })
  })
})

describeRoot("raw device: a super-segment longer than the receive buffer (root, namespace lab, veth at the kernel's defaults)", () => {
  // A kernel connection between the lab's sides moves 4 MiB each way through TSO super-segments of up to
  // 64 KB; a raw device in side A listens with a 16 KiB receive buffer, so those are cut short by recv.
  for (const family of [4, 6] as const) {
    it(`IPv${family}: every packet longer than maxPacket is counted as truncated and none is delivered cut short`, async () => {
      requireBuilt('dist/net/rawdev.js')
      await withLab(
        async (lab) => {
          const pick = (s: { ipv4: string; ipv6: string }): string => (family === 4 ? s.ipv4 : s.ipv6)
          const maxPacket = 16384
          const raw = labChild(lab, 'a', [process.execPath, repoPath('test/net/raw-truncate.mjs'), JSON.stringify({ family, local: pick(lab.a), maxPacket })])
          await raw.out.json('ready')
          const server = kernelPeer(lab, 'a', { role: 'server', host: pick(lab.a), port: 5007, bytes: 4 << 20 })
          await line(server, 'listening')
          const client = kernelPeer(lab, 'b', { role: 'client', host: pick(lab.a), port: 5007, bytes: 4 << 20 })
          const done = await line<KernelDone>(client, 'done')
          await line(server, 'done')
          expect(done).toMatchObject({ error: null, eof: true, sentBytes: 4 << 20, recvBytes: 4 << 20 })
          raw.send('done')
          const r = await raw.out.json<{ delivered: number; cutDelivered: number; largest: number; stats: Record<string, number> }>('stats')
          expect(r.stats.truncated).toBeGreaterThan(0)
          expect(r.cutDelivered).toBe(0)
          expect(r.largest).toBeLessThanOrEqual(maxPacket)
          expect(r.stats.received).toBe(r.delivered)
          expect(await exitOf(raw.child)).toEqual({ code: 0, signal: null })
        },
        { offloads: 'on' },
      )
    })
  }
})
