import { describe, expect, it } from 'vitest'
import { parseScript } from '../../src/script/parser.js'
import { runScript, type RunConfig } from '../../src/script/engine.js'
import { parseIpv4 } from '../../src/net/ipv4.js'
import { parseTcp } from '../../src/tcp/segment.js'
import { FakeTarget, seg } from './fake-target.js'

const ISN = 1_000_000_000 // the fake stack's ISN: the engine must learn it
const MS = 1000

function run(src: string, t: FakeTarget, cfg: RunConfig = {}) {
  return runScript(parseScript(src, { file: 't.pkt' }), t, cfg)
}

function injected(t: FakeTarget, i: number) {
  const ip = parseIpv4(t.injected[i]!.bytes)
  return { ip, tcp: parseTcp(ip.payload), time: t.injected[i]!.time - t.start }
}

const PASSIVE = `
0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0    setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
+0    bind(3, ..., ...) = 0
+0    listen(3, 1) = 0
+0    < S 0:0(0) win 65535 <mss 1000,sackOK,nop,nop>
+0    > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK>
+.1   < . 1:1(0) ack 1 win 65535
+0    accept(3, ..., ...) = 4
`
const SYNACK_OPTS = [{ kind: 'mss', value: 1460 }, { kind: 'nop' }, { kind: 'nop' }, { kind: 'sackPermitted' }] as const

/** The fake stack's side of PASSIVE: the SYN-ACK right after the SYN. */
function passive(t: FakeTarget): void {
  t.send(10, seg({ flags: 'S.', seq: ISN, ack: 1, options: [...SYNACK_OPTS] }))
}

describe('passing scripts', () => {
  it('passive open: maps fds, learns the local ISN from the SYN-ACK, injects at the scheduled times', async () => {
    const t = new FakeTarget()
    passive(t)
    const v = await run(PASSIVE, t)
    expect(v.result).toBe('pass')
    expect(v.text).toEqual([])
    const syn = injected(t, 0)
    expect(syn.tcp.seq).toBe(0) // a SYN's seq is absolute
    expect(syn.tcp.dstPort).toBe(8080)
    const ack = injected(t, 1)
    expect(ack.tcp.ack).toBe((ISN + 1) >>> 0) // relative ack mapped onto the learned ISN
    expect(ack.tcp.seq).toBe(1)
    expect(ack.time).toBe(100 * MS + 10) // +.1 counts from when the SYN-ACK came
    // Script fd 3 is live fd 10; accept's 4 is 11.
    expect(t.calls.find((c) => c.call.name === 'listen')!.call.fds).toEqual([10])
  })

  it('data and close: write, the data segment, FIN handshake; close() gets the connection for its RST', async () => {
    const t = new FakeTarget()
    passive(t)
    t.send(100 * MS + 20, seg({ flags: 'P.', seq: ISN + 1, ack: 1, len: 1000 }))
    t.send(200 * MS + 30, seg({ flags: 'F.', seq: ISN + 1001, ack: 1 }))
    t.send(300 * MS + 40, seg({ flags: '.', seq: ISN + 1002, ack: 2 }))
    const v = await run(
      PASSIVE +
        `+0    write(4, ..., 1000) = 1000
+0    > P. 1:1001(1000) ack 1
+.1   < . 1:1(0) ack 1001 win 65535
+0    close(4) = 0
+0    > F. 1001:1001(0) ack 1
+.1   < F. 1:1(0) ack 1002 win 65535
+0    > . 1002:1002(0) ack 2
`,
      t,
    )
    expect(v.text).toEqual([])
    expect(v.result).toBe('pass')
    expect(t.closed).toEqual([{ localIp: '198.18.0.1', localPort: 8080, remoteIp: '198.19.2.1', remotePort: 40000, rcvNxt: 2, sndNxt: (ISN + 1002) >>> 0 }])
  })

  it('active open: learns local port and ISN from the SYN, remote ISN from the script SYN-ACK', async () => {
    const t = new FakeTarget((c) => (c.name === 'socket' ? { ret: 7 } : c.name === 'connect' ? { ret: -1, errno: 'EINPROGRESS' } : { ret: 0 }))
    t.send(0, seg({ flags: 'S', seq: ISN, sport: 50123, dport: 8080, win: 64240, options: [{ kind: 'mss', value: 1460 }] }))
    t.send(100 * MS + 5, seg({ flags: '.', seq: ISN + 1, ack: 5001, sport: 50123, dport: 8080 }))
    const v = await run(
      `0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0    fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0
+0    connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0    > S 0:0(0) <mss 1460>
+.1   < S. 5000:5000(0) ack 1 win 65535 <mss 1000>
+0    > . 1:1(0) ack 1
`,
      t,
    )
    expect(v.text).toEqual([])
    expect(v.result).toBe('pass')
    const synack = injected(t, 0)
    expect(synack.tcp.dstPort).toBe(50123)
    expect(synack.tcp.seq).toBe(5000)
    expect(synack.tcp.ack).toBe((ISN + 1) >>> 0)
  })
})

describe("failures in packetdrill's words", () => {
  it('a wrong ack: the field, the script line and the actual packet', async () => {
    const t = new FakeTarget()
    passive(t)
    t.send(100 * MS + 20, seg({ flags: 'P.', seq: ISN + 1, ack: 1, len: 1000 }))
    const v = await run(PASSIVE + '+0    write(4, ..., 1000) = 1000\n+0    > P. 1:1001(1000) ack 2\n', t)
    expect(v.result).toBe('fail')
    expect(v.line).toBe(11)
    expect(v.text).toEqual([
      't.pkt:11: error handling packet: live packet field tcp_ack_seq: expected: 2 (0x2) vs actual: 1 (0x1)',
      'script packet:  0.100010 P. 1:1001(1000) ack 2 ',
      'actual packet:  0.100020 P. 1:1001(1000) ack 1 win 64240 ',
    ])
    expect(v.message).toBe('live packet field tcp_ack_seq: expected: 2 (0x2) vs actual: 1 (0x1)')
  })

  it('a missing ACK flag is tcp_ack', async () => {
    const t = new FakeTarget()
    passive(t)
    t.send(100 * MS + 20, seg({ flags: 'P', seq: ISN + 1, len: 10 }))
    const v = await run(PASSIVE + '+0    write(4, ..., 10) = 10\n+0    > P. 1:11(10) ack 1\n', t)
    expect(v.text[0]).toBe('t.pkt:11: error handling packet: live packet field tcp_ack: expected: 1 (0x1) vs actual: 0 (0x0)')
  })

  it('options in the wrong order, and a wrong option value', async () => {
    const t = new FakeTarget()
    passive(t)
    const v = await run(PASSIVE.replace('<mss 1460,nop,nop,sackOK>', '<nop,nop,sackOK,mss 1460>'), t)
    expect(v.line).toBe(7)
    expect(v.text).toEqual([
      't.pkt:7: error handling packet: bad outbound TCP options',
      'script packet:  0.000000 S. 0:0(0) ack 1 <nop,nop,sackOK,mss 1460>',
      'actual packet:  0.000010 S. 0:0(0) ack 1 win 64240 <mss 1460,nop,nop,sackOK>',
    ])
    const t2 = new FakeTarget()
    passive(t2)
    const v2 = await run(PASSIVE.replace('<mss 1460,nop,nop,sackOK>', '<mss 1400,nop,nop,sackOK>'), t2)
    expect(v2.text[0]).toBe('t.pkt:7: error handling packet: bad value in outbound TCP option (kind=2): expected: mss 1400 actual: mss 1460')
  })

  it('<...> accepts any options', async () => {
    const t = new FakeTarget()
    passive(t)
    const v = await run(PASSIVE.replace('<mss 1460,nop,nop,sackOK>', '<...>'), t)
    expect(v.result).toBe('pass')
  })

  it('a packet that never comes: timed out after the 2 s wait, in virtual time', async () => {
    const t = new FakeTarget()
    passive(t)
    const v = await run(PASSIVE + '+0    write(4, ..., 10) = 10\n+0    > P. 1:11(10) ack 1\n', t)
    expect(v.text).toEqual(['t.pkt:11: error handling packet: Timed out waiting for packet'])
    expect(t.clock - t.start).toBe(100 * MS + 10 + 2_000_000)
  })

  it('a packet 50 ms late fails the timing check with the tolerance shown', async () => {
    const t = new FakeTarget()
    passive(t)
    t.send(150 * MS + 10, seg({ flags: 'P.', seq: ISN + 1, ack: 1, len: 10 }))
    const v = await run(PASSIVE + '+0    write(4, ..., 10) = 10\n+0    > P. 1:11(10) ack 1\n', t)
    expect(v.text).toEqual([
      't.pkt:11: error handling packet: timing error: expected outbound packet at 0.100010 sec but happened at 0.150010 sec; tolerance 0.004000 sec',
      'script packet:  0.100010 P. 1:11(10) ack 1 ',
      'actual packet:  0.150010 P. 1:11(10) ack 1 win 64240 ',
    ])
  })

  it("the tolerance is 12.5 % of the gap since the previous event when that is larger", async () => {
    // +0.4 after the write: 12.5 % is 50 ms, so 45 ms late passes and 55 ms late fails.
    for (const [late, ok] of [[45, true], [55, false]] as const) {
      const t = new FakeTarget()
      passive(t)
      t.send(500 * MS + 10 + late * MS, seg({ flags: 'P.', seq: ISN + 1, ack: 1, len: 10 }))
      const v = await run(PASSIVE + '+0    write(4, ..., 10) = 10\n+.4   > P. 1:11(10) ack 1\n', t)
      expect(v.result).toBe(ok ? 'pass' : 'fail')
      if (!ok) expect(v.message).toBe('timing error: expected outbound packet at 0.500010 sec but happened at 0.555010 sec; tolerance 0.050000 sec')
    }
  })

  it('a wrong errno, by name, in packetdrill words', async () => {
    const t = new FakeTarget((c) => (c.name === 'socket' ? { ret: 3 } : c.name === 'connect' ? { ret: -1, errno: 'EINPROGRESS' } : { ret: 0 }))
    const v = await run('0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 connect(3, ..., ...) = -1 EAGAIN (Resource temporarily unavailable)\n', t)
    expect(v.result).toBe('fail')
    expect(v.text).toEqual(['t.pkt:2: runtime error in connect call: Expected errno 11 (Resource temporarily unavailable) but got 115 (Operation now in progress)'])
  })

  it('a wrong result, and an fd the script never got', async () => {
    const t = new FakeTarget()
    const v = await run('0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 listen(3, 1) = -1 EINVAL (Invalid argument)\n', t)
    expect(v.text).toEqual(['t.pkt:2: runtime error in listen call: Expected result -1 but got 0 with errno 0 (Success)'])
    const v2 = await run('0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 listen(4, 1) = 0\n', new FakeTarget())
    expect(v2.result).toBe('error')
    expect(v2.text).toEqual(['t.pkt:2: runtime error in listen call: unable to find fd with script fd 4'])
  })

  it('a blocking call that returns too late, and one on time', async () => {
    const src = '0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0...0.05 connect(3, ..., ...) = 0\n+0.2 close(3) = 0\n'
    const late = new FakeTarget((c) => (c.name === 'socket' ? { ret: 3 } : c.name === 'connect' ? { ret: 0, delay: 100 * MS } : { ret: 0 }))
    const v = await run(src, late)
    expect(v.text).toEqual(['t.pkt:2: timing error: expected system call return at 0.050000 sec but happened at 0.100000 sec; tolerance 0.006250 sec'])
    const ok = new FakeTarget((c) => (c.name === 'socket' ? { ret: 3 } : c.name === 'connect' ? { ret: 0, delay: 52 * MS } : { ret: 0 }))
    expect((await run(src, ok)).result).toBe('pass')
  })

  it('a call the script does not expect to block, that blocks, is an error', async () => {
    const t = new FakeTarget((c) => (c.name === 'read' ? { ret: 10, delay: 300 * MS } : { ret: c.name === 'socket' ? 3 : 0 }))
    const v = await run('0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 read(3, ..., 10) = 10\n', t)
    expect(v.result).toBe('fail')
    expect(v.line).toBe(2)
    expect(v.message).toMatch(/^runtime error in read call: system call blocked/)
  })

  it('poll revents are compared by flag names', async () => {
    const t = new FakeTarget((c) => (c.name === 'poll' ? { ret: 1, revents: [4] } : { ret: c.name === 'socket' ? 3 : 0 }))
    const v = await run('0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 poll([{fd=3, events=POLLIN|POLLOUT, revents=POLLIN|POLLOUT}], 1, 0) = 1\n', t)
    expect(v.text).toEqual(['t.pkt:2: runtime error in poll call: Expected revents of POLLIN|POLLOUT but got POLLOUT for pollfd 0'])
    expect(t.calls[1]!.call.fds).toEqual([3])
  })
})

describe('mapping', () => {
  it('TS val map and ecr rewrite: an inbound ecr naming a script TS val carries the live one', async () => {
    const t = new FakeTarget()
    const LIVE_TS = 777_777
    t.send(10, seg({ flags: 'S.', seq: ISN, ack: 1, options: [{ kind: 'mss', value: 1460 }, { kind: 'sackPermitted' }, { kind: 'timestamp', value: LIVE_TS, echo: 1000 }] }))
    t.send(100 * MS + 20, seg({ flags: 'P.', seq: ISN + 1, ack: 1, len: 10, options: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'timestamp', value: LIVE_TS + 100, echo: 1010 }] }))
    const v = await run(
      `0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0    listen(3, 1) = 0
+0    < S 0:0(0) win 65535 <mss 1000,sackOK,TS val 1000 ecr 0>
+0    > S. 0:0(0) ack 1 <mss 1460,sackOK,TS val 50000 ecr 1000>
+.1   < . 1:1(0) ack 1 win 65535 <nop,nop,TS val 1010 ecr 50000>
+0    accept(3, ..., ...) = 4
+0    write(4, ..., 10) = 10
+0    > P. 1:11(10) ack 1 <nop,nop,TS val 50100 ecr 9999>
+.1   < . 1:1(0) ack 11 win 65535 <nop,nop,TS val 1020 ecr 50100>
+0    < . 1:1(0) ack 11 win 65535 <nop,nop,TS val 1030 ecr 123>
`,
      t,
    )
    const ts = (i: number) => injected(t, i).tcp.options.find((o) => o.kind === 'timestamp') as { value: number; echo: number }
    expect(ts(1).echo).toBe(LIVE_TS) // ecr 50000 → the live TS val of the SYN-ACK
    expect(ts(2).echo).toBe(LIVE_TS + 100)
    expect(ts(0).echo).toBe(0) // a SYN's ecr is not rewritten
    // Outbound ecr is not checked (packetdrill does not), and an ecr naming no outbound TS val is an error.
    expect(v.result).toBe('error')
    expect(v.line).toBe(10)
    expect(v.text[0]).toBe('t.pkt:10: error handling packet: unable to infer live TS ecr for script TS ecr 123;  no matching or preceding outbound TS val')
  })

  it('TS val is checked only with --tcp_ts_tick_usecs, against the tolerance', async () => {
    const make = (): FakeTarget => {
      const t = new FakeTarget()
      t.send(10, seg({ flags: 'S.', seq: ISN, ack: 1, options: [{ kind: 'timestamp', value: 500, echo: 1000 }, { kind: 'nop' }, { kind: 'nop' }] }))
      t.send(100 * MS + 20, seg({ flags: '.', seq: ISN + 1, ack: 1, options: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'timestamp', value: 900, echo: 1010 }] }))
      return t
    }
    const src = `0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 listen(3, 1) = 0
+0 < S 0:0(0) win 65535 <TS val 1000 ecr 0,nop,nop>
+0 > S. 0:0(0) ack 1 <TS val 100 ecr 1000,nop,nop>
+.1 < . 1:1(0) ack 1 win 65535 <nop,nop,TS val 1010 ecr 100>
+0 > . 1:1(0) ack 1 <nop,nop,TS val 200 ecr 1010>
`
    // Without a tick only the map matters: live 900 is script 100 + (900 - 500) = 500, never compared.
    const loose = await run(src, make())
    expect(loose.text).toEqual([])
    const strict = await run(src, make(), { tcpTsTickUsecs: 1000 })
    expect(strict.line).toBe(6)
    expect(strict.text[0]).toBe('t.pkt:6: error handling packet: bad outbound TCP timestamp value, tolerance 12501')
    expect(strict.text[2]).toBe('actual packet:  0.100020 . 1:1(0) ack 1 win 64240 <nop,nop,TS val 500 ecr 1010>')
  })

  it('a packet larger than its script line is not cut to fit: the payload length fails, as under packetdrill', async () => {
    // packetdrill aggregates smaller live packets into a TSO-sized line but never splits a larger one.
    const script = PASSIVE + '+0 write(4, ..., 2000) = 2000\n+0 > . 1:1001(1000) ack 1\n+0 > P. 1001:2001(1000) ack 1\n'
    for (const strictSegments of [false, true]) {
      const t = new FakeTarget()
      passive(t)
      t.send(100 * MS + 20, seg({ flags: 'P.', seq: ISN + 1, ack: 1, len: 2000 }))
      const v = await run(script, t, { strictSegments })
      expect(v.text[0]).toBe('t.pkt:11: error handling packet: live packet payload: expected 1000 bytes vs actual 2000 bytes')
    }
  })

  it('and consecutive smaller segments match one large script line (packetdrill aggregation)', async () => {
    const t = new FakeTarget()
    passive(t)
    t.send(100 * MS + 20, seg({ flags: '.', seq: ISN + 1, ack: 1, len: 1000 }))
    t.send(100 * MS + 30, seg({ flags: 'P.', seq: ISN + 1001, ack: 1, len: 1000 }))
    const v = await run(PASSIVE + '+0 write(4, ..., 2000) = 2000\n+0 > P. 1:2001(2000) ack 1\n', t)
    expect(v.text).toEqual([])
    expect(v.result).toBe('pass')
    // --strict_segments turns the aggregation off
    const s = new FakeTarget()
    passive(s)
    s.send(100 * MS + 20, seg({ flags: '.', seq: ISN + 1, ack: 1, len: 1000 }))
    s.send(100 * MS + 30, seg({ flags: 'P.', seq: ISN + 1001, ack: 1, len: 1000 }))
    const vs = await run(PASSIVE + '+0 write(4, ..., 2000) = 2000\n+0 > P. 1:2001(2000) ack 1\n', s, { strictSegments: true })
    expect(vs.text[0]).toBe('t.pkt:11: error handling packet: live packet payload: expected 2000 bytes vs actual 1000 bytes')
  })
})

describe('times', () => {
  it('* accepts any time and absolute ranges use their own message', async () => {
    const t = new FakeTarget()
    passive(t)
    t.send(3_100 * MS, seg({ flags: 'P.', seq: ISN + 1, ack: 1, len: 10 }))
    expect((await run(PASSIVE + '+0 write(4, ..., 10) = 10\n*  > P. 1:11(10) ack 1\n', t)).result).toBe('pass')
    const r = new FakeTarget()
    passive(r)
    r.send(500 * MS, seg({ flags: 'P.', seq: ISN + 1, ack: 1, len: 10 }))
    const v = await run(PASSIVE + '+0 write(4, ..., 10) = 10\n0.2~0.3 > P. 1:11(10) ack 1\n', r)
    expect(v.message).toBe('timing error: expected outbound packet in time range 0.200000~0.300000 sec but happened at 0.500000 sec')
  })

  it('relative ranges count from the previous event', async () => {
    const ok = new FakeTarget()
    passive(ok)
    ok.send(250 * MS, seg({ flags: 'P.', seq: ISN + 1, ack: 1, len: 10 }))
    const src = PASSIVE + '+0 write(4, ..., 10) = 10\n+0.1~+0.2 > P. 1:11(10) ack 1\n'
    expect((await run(src, ok)).result).toBe('pass')
    const late = new FakeTarget()
    passive(late)
    late.send(435 * MS + 10, seg({ flags: 'P.', seq: ISN + 1, ack: 1, len: 10 }))
    const v = await run(src, late)
    expect(v.message).toBe('timing error: expected outbound packet in relative time range +0.100000~+0.200000 sec but happened at +0.335000 sec')
  })

  it('python blocks are unsupported before anything runs', async () => {
    const t = new FakeTarget()
    const v = await run('0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 %{ print(1) }%\n', t)
    expect(v.result).toBe('unsupported')
    expect(v.line).toBe(2)
    expect(t.calls).toEqual([])
  })
})

describe('robustness', () => {
  it('every corpus script ends in a verdict against a silent stack, never an internal error', async () => {
    const { readdirSync, readFileSync } = await import('node:fs')
    const dir = 'test/scripts'
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.pkt'))) {
      const v = await runScript(parseScript(readFileSync(`${dir}/${f}`, 'utf8'), { file: f }), new FakeTarget())
      expect(v.message ?? '', f).not.toMatch(/internal error/)
      expect(['pass', 'fail', 'error', 'unsupported'], f).toContain(v.result)
    }
  })
})

/** Two active opens one after the other: the second socket() becomes the socket under test. */
const TWO_SOCKETS = `0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0 > S 0:0(0)
+.01 < S. 5000:5000(0) ack 1 win 65535
+0 > . 1:1(0) ack 1
+.01 socket(..., SOCK_STREAM, IPPROTO_TCP) = 4
+0 connect(4, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0 > S 0:0(0)
+.01 < S. 9000:9000(0) ack 1 win 65535
`

describe("packetdrill's socket under test", () => {
  it('sendto() on a new socket connects it (Fast Open): the SYN it sends is learned like a connect()', async () => {
    const t = new FakeTarget((c) => (c.name === 'socket' ? { ret: 7 } : c.name === 'sendto' ? { ret: -1, errno: 'EINPROGRESS' } : { ret: 0 }))
    t.send(0, seg({ flags: 'S', seq: ISN, sport: 50123, dport: 8080, options: [{ kind: 'mss', value: 1460 }] }))
    t.send(10 * MS + 5, seg({ flags: '.', seq: ISN + 1, ack: 5001, sport: 50123, dport: 8080 }))
    const v = await run(
      `0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 sendto(3, ..., 0, MSG_FASTOPEN, ..., ...) = -1 EINPROGRESS (Operation is now in progress)
+0 > S 0:0(0) <mss 1460>
+.01 < S. 5000:5000(0) ack 1 win 65535 <mss 1000>
+0 > . 1:1(0) ack 1
`,
      t,
    )
    expect(v.text).toEqual([])
    expect(v.result).toBe('pass')
    expect(injected(t, 0).tcp).toMatchObject({ dstPort: 50123, seq: 5000, ack: (ISN + 1) >>> 0 })
  })

  it('sendto() with an address family written as a number (AF_UNSPEC) connects nothing', async () => {
    const t = new FakeTarget((c) => (c.name === 'socket' ? { ret: 7 } : c.name === 'sendto' ? { ret: -1, errno: 'EOPNOTSUPP' } : { ret: 0 }))
    t.send(0, seg({ flags: 'S', seq: ISN, sport: 50123, dport: 8080 }))
    const v = await run('0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 sendto(3, ..., 0, MSG_FASTOPEN, AF_UNSPEC, ...) = -1 EOPNOTSUPP (Operation not supported)\n+0 > S 0:0(0)\n', t)
    expect(v.result).toBe('error')
    expect(v.message).toBe('no matching socket for script packet')
  })

  it('a new socket() after a finished connection: the next SYN starts a new connection with its own ISN', async () => {
    let fd = 7
    const t = new FakeTarget((c) => (c.name === 'socket' ? { ret: fd++ } : c.name === 'connect' ? { ret: -1, errno: 'EINPROGRESS' } : { ret: 0 }))
    t.send(0, seg({ flags: 'S', seq: ISN, sport: 50123, dport: 8080 }))
    t.send(10 * MS + 5, seg({ flags: '.', seq: ISN + 1, ack: 5001, sport: 50123, dport: 8080 }))
    t.send(20 * MS + 5, seg({ flags: 'S', seq: 77, sport: 50999, dport: 8080 }))
    t.send(30 * MS + 5, seg({ flags: '.', seq: 78, ack: 9001, sport: 50999, dport: 8080 }))
    const v = await run(TWO_SOCKETS + '+0 > . 1:1(0) ack 1\n', t)
    expect(v.text).toEqual([])
    expect(v.result).toBe('pass')
    expect(injected(t, 1).tcp).toMatchObject({ dstPort: 50999, seq: 9000, ack: 78 })
  })

  it("an earlier socket's packet (its SYN retransmitted) is not taken for the new socket's", async () => {
    let fd = 7
    const t = new FakeTarget((c) => (c.name === 'socket' ? { ret: fd++ } : c.name === 'connect' ? { ret: -1, errno: 'EINPROGRESS' } : { ret: 0 }))
    t.send(0, seg({ flags: 'S', seq: ISN, sport: 50123, dport: 8080 }))
    t.send(10 * MS + 5, seg({ flags: '.', seq: ISN + 1, ack: 5001, sport: 50123, dport: 8080 }))
    t.send(20 * MS + 1, seg({ flags: 'S', seq: ISN, sport: 50123, dport: 8080 }))
    t.send(20 * MS + 5, seg({ flags: 'S', seq: 77, sport: 50999, dport: 8080 }))
    const v = await run(TWO_SOCKETS, t)
    expect(v.text).toEqual([])
    expect(injected(t, 1).tcp).toMatchObject({ dstPort: 50999, ack: 78 })
  })

  it("an output the target finds different (recvmsg's msg_flags) fails the call in packetdrill's words", async () => {
    const t = new FakeTarget((c) => (c.name === 'socket' ? { ret: 7 } : c.name === 'recvmsg' ? { ret: 10, mismatch: 'Expected msg_flags 0x00000000 but got 0x00000020' } : { ret: 0 }))
    const v = await run('0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 recvmsg(3, {msg_iov(1)=[{..., 10}], msg_flags=0}, 0) = 10\n', t)
    expect([v.result, v.line]).toEqual(['fail', 2])
    expect(v.text).toEqual(['t.pkt:2: runtime error in recvmsg call: Expected msg_flags 0x00000000 but got 0x00000020'])
  })
})

describe('pipe, sendfile and splice fds', () => {
  it("pipe([5, 6]) maps both script fds to the live ends; sendfile's and splice's second fd are mapped too", async () => {
    const t = new FakeTarget((c) => (c.name === 'socket' ? { ret: 10 } : c.name === 'pipe' ? { ret: 0, fds: [20, 21] } : c.name === 'open' ? { ret: 30 } : { ret: c.name === 'sendfile' || c.name === 'splice' ? 5 : 0 }))
    const v = await run('0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 pipe([5, 6]) = 0\n+0 open("/f", O_RDONLY) = 7\n+0 sendfile(3, 7, [0], 5) = 5\n+0 splice(3, NULL, 6, NULL, 5, 0) = 5\n+0 close(5) = 0\n', t)
    expect(v.text).toEqual([])
    expect(t.calls.map((c) => [c.call.name, c.call.fds])).toEqual([['socket', []], ['pipe', []], ['open', []], ['sendfile', [10, 30]], ['splice', [10, 21]], ['close', [20]]])
    const dup = await run('0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 pipe([3, 6]) = 0\n', new FakeTarget((c) => (c.name === 'pipe' ? { ret: 0, fds: [20, 21] } : { ret: 10 })))
    expect([dup.result, dup.message]).toEqual(['error', 'runtime error in pipe call: duplicate fd 3 in script'])
  })
})
