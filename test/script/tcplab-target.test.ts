import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { parseScript } from '../../src/script/parser.js'
import { runScript, type RunConfig } from '../../src/script/engine.js'
import { runTcplabScript, TcplabTarget, tcplabTargetOptions } from '../../src/script/tcplab/target.js'

const MS = 1000

function run(src: string, cfg: RunConfig = {}, profile: 'linux' | 'rfc' = 'linux') {
  return runTcplabScript(parseScript(src, { file: 't.pkt' }), cfg, undefined, profile)
}

/** Runs on a target the test keeps, to read its virtual clock afterwards. */
async function runKeep(src: string) {
  const script = parseScript(src, { file: 't.pkt' })
  const target = new TcplabTarget(tcplabTargetOptions(script, {}))
  const start = target.now()
  const v = await runScript(script, target, { stack: 'tcplab' })
  return { v, target, elapsed: () => target.now() - start }
}

/** Times (script µs) of the events on `lines`, as the run recorded them. */
function timesOf(v: { events: Array<{ line: number; time: number }> }, ...lines: number[]): number[] {
  return lines.map((l) => v.events.find((e) => e.line === l)!.time)
}

const NO_TS = '`sysctl -q net.ipv4.tcp_timestamps=0 net.ipv4.tcp_sack=1 net.ipv4.tcp_window_scaling=1`\n'

const PASSIVE = `${NO_TS}0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0    setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
+0    bind(3, ..., ...) = 0
+0    listen(3, 1) = 0
+0    < S 0:0(0) win 65535 <mss 1000,sackOK,nop,nop>
+0    > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK>
+.1   < . 1:1(0) ack 1 win 65535
+0    accept(3, ..., ...) = 4
`

describe('tcplab target: scripts that pass', () => {
  it('active open: the SYN with the options exactly as Linux writes them (MSS, SACK-perm, TS, NOP, wscale), data both ways (the first data ACKed at once: quick-ack mode), close', async () => {
    const v = await run(`\`sysctl -q net.ipv4.tcp_timestamps=1 net.ipv4.tcp_sack=1 net.ipv4.tcp_window_scaling=1\`
0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0    fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0
+0    connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0    > S 0:0(0) win 64240 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>
+.1   < S. 0:0(0) ack 1 win 65535 <mss 1000,sackOK,TS val 700 ecr 100,nop,wscale 7>
+0    > . 1:1(0) ack 1 <nop,nop,TS val 200 ecr 700>
+0    getsockopt(3, SOL_SOCKET, SO_ERROR, [0], [4]) = 0
+0    write(3, ..., 500) = 500
+0    > P. 1:501(500) ack 1 <nop,nop,TS val 200 ecr 700>
+.1   < P. 1:301(300) ack 501 win 1000 <nop,nop,TS val 800 ecr 200>
+0    > . 501:501(0) ack 301 <nop,nop,TS val 300 ecr 800>
+0    read(3, ..., 1000) = 300
+0    close(3) = 0
+0    > F. 501:501(0) ack 301 <nop,nop,TS val 300 ecr 800>
+.1   < F. 301:301(0) ack 502 win 1000 <nop,nop,TS val 900 ecr 300>
+0    > . 502:502(0) ack 302 <nop,nop,TS val 400 ecr 900>
`)
    expect(v.text).toEqual([])
    expect(v).toMatchObject({ stack: 'tcplab', result: 'pass', line: null, message: null })
  })

  it('passive open, data both ways and the passive close through LAST-ACK, at the scripted times (the FIN\'s ACK delayed 40 ms: ping-pong mode, as the kernel does it)', async () => {
    const v = await run(`${PASSIVE}+0    < P. 1:101(100) ack 1 win 65535
+0    read(4, ..., 1000) = 100
+0    write(4, ..., 200) = 200
+0    > P. 1:201(200) ack 101
+.1   < F. 101:101(0) ack 201 win 65535
+.04  > . 201:201(0) ack 102
+0    read(4, ..., 1000) = 0
+0    close(4) = 0
+0    > F. 201:201(0) ack 102
+.1   < . 102:102(0) ack 202 win 65535
`)
    expect(v.text).toEqual([])
    expect(v.result).toBe('pass')
    expect(timesOf(v, 7, 13, 15, 18)).toEqual([0, 100 * MS, 240 * MS, 240 * MS])
  })

  it('runs a script with two RTO retransmissions in virtual time: exact times, 300 ms then 600 ms', async () => {
    // tcp_early_retrans=0: no tail loss probe ahead of the RTO (tcplab: RACK-TLP off).
    const { v, elapsed } = await runKeep(`${PASSIVE.replace('tcp_window_scaling=1', 'tcp_window_scaling=1 net.ipv4.tcp_early_retrans=0')}+0    write(4, ..., 1000) = 1000
+0    > P. 1:1001(1000) ack 1
+.3   > P. 1:1001(1000) ack 1
+.6   > P. 1:1001(1000) ack 1
+.1   < . 1:1(0) ack 1001 win 65535
`)
    expect(v.text).toEqual([])
    expect(v.result).toBe('pass')
    // RFC 6298 after one 100 ms sample: SRTT 100 ms, RTTVAR 50 ms → RTO 300 ms, then doubled.
    expect(timesOf(v, 11, 12, 13, 14)).toEqual([100 * MS, 400 * MS, 1000 * MS, 1100 * MS])
    expect(elapsed()).toBe(1100 * MS)
  })

  it('a blocking accept() returns when the handshake\'s last ACK comes in, at that virtual time', async () => {
    const v = await run(`${NO_TS}0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0    bind(3, ..., ...) = 0
+0    listen(3, 1) = 0
+0...0.250 accept(3, ..., ...) = 4
+.1   < S 0:0(0) win 65535 <mss 1000,sackOK,nop,nop>
+0    > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK>
+.15  < . 1:1(0) ack 1 win 65535
+0    write(4, ..., 10) = 10
+0    > P. 1:11(10) ack 1
`, { toleranceUsecs: 1 })
    expect(v.text).toEqual([])
    expect(v.result).toBe('pass')
  })

  it('a blocking read() returns when data arrives; a second one gets the FIN\'s 0', async () => {
    const v = await run(`${PASSIVE}+0...0.200 read(4, ..., 1000) = 10
+.2   < P. 1:11(10) ack 1 win 65535
+0...0.100 read(4, ..., 1000) = 0
+.1   < F. 11:11(0) ack 1 win 65535
`, { toleranceUsecs: 1 })
    expect(v.text).toEqual([])
    expect(v.result).toBe('pass')
  })
})

describe('tcplab target: poll() in virtual time', () => {
  it('a blocking poll returns when the SYN-ACK makes the socket writable; one with nothing to report returns 0 at its timeout', async () => {
    const v = await run(`${NO_TS}0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0    fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0
+0    connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0    > S 0:0(0) <...>
+0    poll([{fd=3, events=POLLOUT, revents=0}], 1, 0) = 0
+0...0.1 poll([{fd=3, events=POLLOUT, revents=POLLOUT}], 1, 1000) = 1
+.1   < S. 0:0(0) ack 1 win 65535 <mss 1000,nop,nop,sackOK>
+0    > . 1:1(0) ack 1
+0...0.25 poll([{fd=3, events=POLLIN, revents=0}], 1, 250) = 0
+.3   < F. 1:1(0) ack 1 win 65535
+0    poll([{fd=3, events=POLLIN|POLLOUT|POLLRDHUP, revents=POLLIN|POLLOUT|POLLRDHUP}], 1, 0) = 1
`, { toleranceUsecs: 1 })
    expect(v.text).toEqual([])
    expect(v.result).toBe('pass')
  })
})

describe('tcplab target: a call made while a blocking one is in progress', () => {
  it('the engine waits for the blocked call (packetdrill waits up to 1 s): the clock stops when it returns, not 1 s later', async () => {
    const { v, elapsed } = await runKeep(`${PASSIVE}+0...0.1 poll([{fd=4, events=POLLIN, revents=0}], 1, 100) = 0
+.05  getsockopt(4, SOL_SOCKET, SO_ERROR, [0], [4]) = 0
`)
    expect(v.text).toEqual([])
    expect(v.result).toBe('pass')
    expect(elapsed()).toBe(200 * MS)
  })
})

describe('tcplab target: an orphan in FIN-WAIT-2 lives max(tcp_fin_timeout, 3.5 RTO), as Linux\'s tcp_fin_time', () => {
  // tcp_fin_timeout=1 and two 100 ms RTT samples (RTO 250 ms here: 3.5 RTO is less than the 1 s).
  const ORPHAN = `${PASSIVE.replace('tcp_window_scaling=1', 'tcp_window_scaling=1 net.ipv4.tcp_fin_timeout=1')}+0    close(4) = 0
+0    > F. 1:1(0) ack 1
+.1   < . 1:1(0) ack 2 win 65535
`
  it('a FIN 0.9 s after FIN-WAIT-2 began still finds it (ACK, TIME-WAIT)', async () => {
    const v = await run(`${ORPHAN}+0.9  < F. 1:1(0) ack 2 win 65535
+0    > . 2:2(0) ack 2
`)
    expect(v.text).toEqual([])
    expect(v.result).toBe('pass')
  })
  it('a FIN 1.1 s after finds no connection: RST', async () => {
    const v = await run(`${ORPHAN}+1.1  < F. 1:1(0) ack 2 win 65535
+0    > R 2:2(0)
`)
    expect(v.text).toEqual([])
    expect(v.result).toBe('pass')
  })
})

describe('tcplab target: SO_LINGER', () => {
  it('with a timeout, close() returns when the FIN is acknowledged', async () => {
    const v = await run(`${PASSIVE}+0    setsockopt(4, SOL_SOCKET, SO_LINGER, {onoff=1, linger=5}, 8) = 0
+0...0.1 close(4) = 0
+0    > F. 1:1(0) ack 1
+.1   < . 1:1(0) ack 2 win 65535
`, { toleranceUsecs: 1 })
    expect(v.text).toEqual([])
    expect(v.result).toBe('pass')
  })
  it('with a timeout, close() gives up after it when no ACK comes', async () => {
    const v = await run(`${PASSIVE}+0    setsockopt(4, SOL_SOCKET, SO_LINGER, {onoff=1, linger=1}, 8) = 0
+0...1 close(4) = 0
`, { toleranceUsecs: 1 })
    expect(v.text).toEqual([])
    expect(v.result).toBe('pass')
  })
})

describe('tcplab target: errnos as Linux returns them', () => {
  it('a blocking connect() answered by RST/ACK returns ECONNREFUSED', async () => {
    const v = await run(`${NO_TS}0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0...0.1 connect(3, ..., ...) = -1 ECONNREFUSED (Connection refused)
*     > S 0:0(0) <...>
+.1   < R. 0:0(0) ack 1 win 0
+0    read(3, ..., 10) = 0
`)
    expect(v.text).toEqual([])
    expect(v.result).toBe('pass')
  })

  it('non-blocking: connect EINPROGRESS then EALREADY, read EAGAIN, accept EAGAIN; SO_ERROR reports ECONNREFUSED once', async () => {
    const v = await run(`${NO_TS}0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0    fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0
+0    connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0    connect(3, ..., ...) = -1 EALREADY (Operation already in progress)
+0    read(3, ..., 10) = -1 EAGAIN (Resource temporarily unavailable)
+0    > S 0:0(0) <...>
+.1   < R. 0:0(0) ack 1 win 0
+0    getsockopt(3, SOL_SOCKET, SO_ERROR, [ECONNREFUSED], [4]) = 0
+0    getsockopt(3, SOL_SOCKET, SO_ERROR, [0], [4]) = 0
+0    socket(..., SOCK_STREAM|SOCK_NONBLOCK, IPPROTO_TCP) = 4
+0    bind(4, ..., ...) = 0
+0    listen(4, 1) = 0
+0    accept(4, ..., ...) = -1 EAGAIN (Resource temporarily unavailable)
`)
    expect(v.text).toEqual([])
    expect(v.result).toBe('pass')
  })

  it('a wrong errno fails at its line with packetdrill\'s words', async () => {
    const v = await run(`${PASSIVE}+0    fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK) = 0
+0    read(4, ..., 10) = -1 EINPROGRESS (Operation now in progress)
`)
    expect(v).toMatchObject({ result: 'fail', line: 11, message: 'runtime error in read call: Expected errno 115 (Operation now in progress) but got 11 (Resource temporarily unavailable)' })
  })
})

describe('tcplab target: scatter/gather and flags', () => {
  it('sendmsg and recvmsg with a written-out iovec; recv(MSG_WAITALL) waits for every byte', async () => {
    const v = await run(`${PASSIVE}+0    sendmsg(4, {msg_name(...)=..., msg_iov(2)=[{..., 300}, {..., 200}], msg_flags=0}, 0) = 500
+0    > P. 1:501(500) ack 1
+0    < P. 1:101(100) ack 501 win 65535
+0    recvmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 1000}], msg_flags=0}, 0) = 100
+0...0.1 recv(4, ..., 300, MSG_WAITALL) = 300
+.05  < P. 101:201(100) ack 501 win 65535
+.05  < P. 201:401(200) ack 501 win 65535
`)
    expect(v.text).toEqual([])
    expect(v.result).toBe('pass')
  })

  it('a flag or option it does not honour is unsupported, by name', async () => {
    const more = await run(`${PASSIVE}+0    send(4, ..., 10, MSG_MORE) = 10
`)
    expect(more).toMatchObject({ result: 'unsupported', line: 10, message: 'send: MSG_MORE on the tcplab target' })
    const tos = await run(`${PASSIVE}+0    setsockopt(4, SOL_IP, IP_TOS, [4], 4) = 0
`)
    expect(tos).toMatchObject({ result: 'unsupported', line: 10, message: 'setsockopt IP_TOS (level 0): not supported on the tcplab target' })
  })

  it('TCP_QUICKACK: 0 delays the ACK of the first data (linux: ping-pong mode; rfc: what it does anyway), 1 after the read sends it at once (the order the kernel needs: --stack both); getsockopt reads the mode', async () => {
    const src = `${PASSIVE}+0    setsockopt(4, IPPROTO_TCP, TCP_QUICKACK, [0], 4) = 0
+0    < P. 1:101(100) ack 1 win 65535
+.04  > . 1:1(0) ack 101
`
    expect(await run(src, {}, 'rfc')).toMatchObject({ result: 'pass' })
    expect(await run(src)).toMatchObject({ result: 'pass' })
    const flush = `${PASSIVE}+0    setsockopt(4, IPPROTO_TCP, TCP_QUICKACK, [0], 4) = 0
+0    getsockopt(4, IPPROTO_TCP, TCP_QUICKACK, [0], [4]) = 0
+0    < P. 1:101(100) ack 1 win 65535
+.01  read(4, ..., 100) = 100
+0    setsockopt(4, IPPROTO_TCP, TCP_QUICKACK, [1], 4) = 0
+0    > . 1:1(0) ack 101
+0    getsockopt(4, IPPROTO_TCP, TCP_QUICKACK, [1], [4]) = 0
`
    expect(await run(flush)).toMatchObject({ result: 'pass' })
    expect(await run(`${PASSIVE.split('+.1')[0]}+0    setsockopt(3, IPPROTO_TCP, TCP_QUICKACK, [0], 4) = 0\n`)).toMatchObject({ result: 'unsupported' })
  })
})

describe('tcplab target: TCP_INQ', () => {
  const INQ = `${PASSIVE}+0    setsockopt(4, SOL_TCP, TCP_INQ, [1], 4) = 0
+0    getsockopt(4, SOL_TCP, TCP_INQ, [1], [4]) = 0
+0    < P. 1:1001(1000) ack 1 win 65535
+0    > . 1:1(0) ack 1001
`
  it('recvmsg hands back TCP_CM_INQ with the bytes still queued after the read (0 once drained, 1 at EOF)', async () => {
    const v = await run(`${INQ}+0    recvmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 300}], msg_flags=0, msg_control=[{cmsg_level=SOL_TCP, cmsg_type=TCP_CM_INQ, cmsg_data=700}]}, 0) = 300
+0    recvmsg(4, {msg_name(...)=..., msg_iov(2)=[{..., 200}, {..., 800}], msg_flags=0, msg_control=[{cmsg_level=SOL_TCP, cmsg_type=TCP_CM_INQ, cmsg_data=0}]}, 0) = 700
+0    < F. 1001:1001(0) ack 1 win 65535
+.04  > . 1:1(0) ack 1002
+0    recvmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 100}], msg_flags=0, msg_control=[{cmsg_level=SOL_TCP, cmsg_type=TCP_CM_INQ, cmsg_data=1}]}, 0) = 0
`)
    expect(v.text).toEqual([])
    expect(v.result).toBe('pass')
  })

  it('a wrong cmsg_data, msg_flags, or a cmsg the socket does not send fails the call in the kernel target\'s words', async () => {
    const call = (control: string, flags = '0') =>
      run(`${INQ}+0    recvmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 300}], msg_flags=${flags}${control}}, 0) = 300
`)
    expect(await call(', msg_control=[{cmsg_level=SOL_TCP, cmsg_type=TCP_CM_INQ, cmsg_data=699}]')).toMatchObject({ result: 'fail', line: 14, message: 'runtime error in recvmsg call: Bad data in cmsg 0: expected=699 actual=700' })
    expect(await call(', msg_control=[{cmsg_level=SOL_TCP, cmsg_type=TCP_CM_INQ, cmsg_data=700}]', 'MSG_TRUNC')).toMatchObject({ result: 'fail', line: 14, message: 'runtime error in recvmsg call: Expected msg_flags 0x00000020 but got 0x00000000' })
    expect(await call('')).toMatchObject({ result: 'fail', line: 14, message: 'runtime error in recvmsg call: received more than 0 cmsgs' })
    const off = await run(`${PASSIVE}+0    < P. 1:1001(1000) ack 1 win 65535
+0    > . 1:1(0) ack 1001
+0    recvmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 300}], msg_flags=0, msg_control=[{cmsg_level=SOL_TCP, cmsg_type=TCP_CM_INQ, cmsg_data=700}]}, 0) = 300
`)
    expect(off).toMatchObject({ result: 'fail', line: 12, message: 'runtime error in recvmsg call: received only 0 cmsgs' })
  })
})

describe('tcplab target: ICMP port unreachable (each script checked against the kernel with --stack both)', () => {
  const SYN = `\`sysctl -q net.ipv4.tcp_timestamps=0 net.ipv4.tcp_sack=1 net.ipv4.tcp_window_scaling=1 net.ipv4.tcp_rmem="4096 131072 6291456"\`
0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0    fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0
+0    connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0    > S 0:0(0) <mss 1460,nop,nop,sackOK,nop,wscale 7>
`
  for (const ipVersion of ['ipv4', 'ipv6'] as const) {
    it(`${ipVersion}: in SYN-SENT a hard error: SO_ERROR ECONNREFUSED once, nothing more sent, writes EPIPE`, async () => {
      const v = await run(`${SYN}+.01  < icmp unreachable port_unreachable [0:0(0)]
+0    getsockopt(3, SOL_SOCKET, SO_ERROR, [ECONNREFUSED], [4]) = 0
+0    getsockopt(3, SOL_SOCKET, SO_ERROR, [0], [4]) = 0
+0    write(3, ..., 10) = -1 EPIPE (Broken pipe)
+2    getsockopt(3, SOL_SOCKET, SO_ERROR, [0], [4]) = 0
`, { ipVersion })
      expect(v.text).toEqual([])
      expect(v.result).toBe('pass')
    })

    it(`${ipVersion}: a quoted sequence number not in flight is ignored: the SYN is retransmitted at 1 s`, async () => {
      const v = await run(`${SYN}+.01  < icmp unreachable port_unreachable [5:5(0)]
+0    getsockopt(3, SOL_SOCKET, SO_ERROR, [0], [4]) = 0
+.99  > S 0:0(0) <mss 1460,nop,nop,sackOK,nop,wscale 7>
`, { ipVersion })
      expect(v.text).toEqual([])
      expect(v.result).toBe('pass')
    })

    it(`${ipVersion}: in ESTABLISHED a soft error: the connection goes on, SO_ERROR reads ECONNREFUSED once`, async () => {
      const v = await run(`${SYN}+.1   < S. 0:0(0) ack 1 win 65535 <mss 1000,nop,nop,sackOK>
+0    > . 1:1(0) ack 1
+0    write(3, ..., 10) = 10
+0    > P. 1:11(10) ack 1
+.01  < icmp unreachable port_unreachable [1:11(10)]
+0    getsockopt(3, SOL_SOCKET, SO_ERROR, [ECONNREFUSED], [4]) = 0
+0    getsockopt(3, SOL_SOCKET, SO_ERROR, [0], [4]) = 0
+.1   < . 1:1(0) ack 11 win 65535
+0    write(3, ..., 10) = 10
+0    > P. 11:21(10) ack 1
`, { ipVersion })
      expect(v.text).toEqual([])
      expect(v.result).toBe('pass')
    })
  }

  it('any other ICMP error is named unsupported before the run', async () => {
    const v = await run(`${SYN}+.01  < icmp unreachable host_unreachable [0:0(0)]\n`)
    expect(v).toMatchObject({ result: 'unsupported', line: 6, message: 'icmp unreachable host_unreachable: the tcplab target acts on ICMP port unreachable only' })
  })
})

describe('tcplab target: Python blocks (each script checked against the kernel with --stack both)', () => {
  const python3 = spawnSync('python3', ['-c', ''], { stdio: 'ignore' }).status === 0
  it.skipIf(!python3)('TCP_INFO after a passive open: state, options, both window scales, snd_mss, the initial window', async () => {
    const v = await run(`// TCP_INFO after a passive open (read by a Python block, as packetdrill hands it): ESTABLISHED, the options
// both sides agreed (TS, SACK, window scale 7 and ours), the peer's MSS, Linux's initial window of 10 segments.
\`sysctl -q net.ipv4.tcp_timestamps=1 net.ipv4.tcp_sack=1 net.ipv4.tcp_window_scaling=1 net.ipv4.tcp_rmem="4096 131072 33554432" net.ipv4.tcp_congestion_control=cubic\`
0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0    setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
+0    bind(3, ..., ...) = 0
+0    listen(3, 1) = 0
+0    %{ assert tcpi_state == TCP_LISTEN, tcpi_state }%

+0    < S 0:0(0) win 32792 <mss 1000,sackOK,TS val 100 ecr 0,nop,wscale 7>
+0    > S. 0:0(0) ack 1 <mss 1460,sackOK,TS val 100 ecr 100,nop,wscale 10>
+.1   < . 1:1(0) ack 1 win 257 <nop,nop,TS val 110 ecr 100>
+0    accept(3, ..., ...) = 4
+0    %{
assert tcpi_state == TCP_ESTABLISHED, tcpi_state
want = TCPI_OPT_TIMESTAMPS | TCPI_OPT_SACK | TCPI_OPT_WSCALE
assert tcpi_options & want == want, tcpi_options
assert tcpi_snd_wscale == 7, tcpi_snd_wscale
assert tcpi_rcv_wscale == 10, tcpi_rcv_wscale
assert tcpi_snd_mss == 1000 - 12, tcpi_snd_mss
assert tcpi_snd_cwnd == 10, tcpi_snd_cwnd
}%
`)
    expect(v.text).toEqual([])
    expect(v.result).toBe('pass')
  })

  it.skipIf(!python3)('TCP_INFO along an RTO: backoff 1 and the RTO doubled, kept after the ACK of the retransmission (no sample, Karn), cwnd 1, the RTT', async () => {
    const v = await run(`// TCP_INFO after a retransmission timeout: the sender is in the Loss state (TCP_CA_Loss), with one
// retransmission and a doubled RTO (RFC 6298 5.5); the ACK of the retransmission returns it to Open.
\`sysctl -q net.ipv4.tcp_timestamps=0 net.ipv4.tcp_sack=1 net.ipv4.tcp_window_scaling=1 net.ipv4.tcp_early_retrans=0 net.ipv4.tcp_autocorking=0 net.ipv4.tcp_congestion_control=cubic\`
0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0    setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
+0    bind(3, ..., ...) = 0
+0    listen(3, 1) = 0

+0    < S 0:0(0) win 65535 <mss 1000,sackOK,nop,nop>
+0    > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK>
+.1   < . 1:1(0) ack 1 win 65535
+0    accept(3, ..., ...) = 4
+0    %{ rto_before = tcpi_rto }%

+0    write(4, ..., 1000) = 1000
+0    > P. 1:1001(1000) ack 1
+.25~+.45 > P. 1:1001(1000) ack 1
+0    %{
assert tcpi_backoff == 1, tcpi_backoff
assert tcpi_rto == 2 * rto_before, (tcpi_rto, rto_before)
assert tcpi_snd_cwnd == 1, tcpi_snd_cwnd
}%
+.1   < . 1:1(0) ack 1001 win 65535
+0    %{
assert tcpi_backoff == 1, tcpi_backoff
assert tcpi_rto == 2 * rto_before, (tcpi_rto, rto_before)
assert 90000 <= tcpi_rtt <= 110000, tcpi_rtt
assert tcpi_snd_mss == 1000 and tcpi_options == TCPI_OPT_SACK, (tcpi_snd_mss, tcpi_options)
}%
`)
    expect(v.text).toEqual([])
    expect(v.result).toBe('pass')
  })

  it.skipIf(!python3)('a failing block fails the script at its line with Python\'s last line', async () => {
    const v = await run(`${PASSIVE}+0    %{ assert tcpi_snd_cwnd == 9, tcpi_snd_cwnd }%\n`)
    expect(v).toMatchObject({ result: 'fail', line: 10, message: "error executing code: 'python3' returned non-zero status 1 (AssertionError: 10)" })
  })

  it('a block that reads a field the TCB does not expose makes the script unsupported, naming the fields', async () => {
    const v = await run(`${PASSIVE}+0    %{ assert tcpi_lost == 0 and tcpi_ato == 0 and tcpi_state == 1 }%\n`)
    expect(v).toMatchObject({ result: 'unsupported', line: 10, message: 'a Python block reads tcpi_lost, tcpi_ato: the tcplab target does not fill them yet (the TCB does not expose them)' })
  })
})

describe('tcplab target: getsockopt with a struct value (checked against the kernel with --stack both)', () => {
  it('checks the TCP_INFO fields it names (those the target fills) and SO_LINGER\'s', async () => {
    const v = await run(`\`sysctl -q net.ipv4.tcp_timestamps=0 net.ipv4.tcp_sack=1 net.ipv4.tcp_window_scaling=1\`
0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0    setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
+0    bind(3, ..., ...) = 0
+0    listen(3, 1) = 0
+0    < S 0:0(0) win 65535 <mss 1000,sackOK,nop,nop>
+0    > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK>
+.1   < . 1:1(0) ack 1 win 65535
+0    accept(3, ..., ...) = 4
+0    < P. 1:101(100) ack 1 win 65535
+0    read(4, ..., 1000) = 100
+0    > . 1:1(0) ack 101
+0    getsockopt(4, SOL_TCP, TCP_INFO, {tcpi_state=TCP_ESTABLISHED, tcpi_snd_mss=1000, tcpi_snd_cwnd=10, tcpi_options=TCPI_OPT_SACK}, [104]) = 0
+0    setsockopt(4, SOL_SOCKET, SO_LINGER, {onoff=1, linger=5}, 8) = 0
+0    getsockopt(4, SOL_SOCKET, SO_LINGER, {onoff=1, linger=5}, [8]) = 0
+0    shutdown(4, SHUT_WR) = 0
+0    > F. 1:1(0) ack 101
+0    getsockopt(4, SOL_TCP, TCP_INFO, {tcpi_state=TCP_FIN_WAIT1}, [104]) = 0
`)
    expect(v.text).toEqual([])
    expect(v.result).toBe('pass')
  })

  it('a wrong field fails the call in the kernel target\'s words; a field not filled is unsupported, named', async () => {
    const bad = await run(`${PASSIVE}+0    getsockopt(4, SOL_TCP, TCP_INFO, {tcpi_state=TCP_ESTABLISHED, tcpi_snd_cwnd=9}, [104]) = 0\n`)
    expect(bad).toMatchObject({ result: 'fail', line: 10, message: 'runtime error in getsockopt call: Bad getsockopt tcpi_snd_cwnd: expected: 9 actual: 10' })
    const un = await run(`${PASSIVE}+0    getsockopt(4, SOL_TCP, TCP_INFO, {tcpi_state=TCP_ESTABLISHED, tcpi_lost=0}, [104]) = 0\n`)
    expect(un).toMatchObject({ result: 'unsupported', line: 10, message: 'getsockopt TCP_INFO: the tcplab target does not fill tcpi_lost yet (the TCB does not expose it)' })
  })
})

describe('tcplab target: NULL buffers', () => {
  it('write, send, read and recv with a NULL buffer fail with EFAULT when they get to the copy, and change nothing', async () => {
    const v = await run(`${PASSIVE}+0    write(4, NULL, 100) = -1 EFAULT (Bad address)
+0    send(4, NULL, 100, 0) = -1 EFAULT (Bad address)
+0    fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK) = 0
+0    read(4, NULL, 100) = -1 EAGAIN (Resource temporarily unavailable)
+0    < P. 1:101(100) ack 1 win 65535
+0    > . 1:1(0) ack 101
+0    read(4, NULL, 100) = -1 EFAULT (Bad address)
+0    recv(4, NULL, 100, MSG_PEEK) = -1 EFAULT (Bad address)
+0    read(4, ..., 1000) = 100
+0    write(4, ..., 10) = 10
+0    > P. 1:11(10) ack 101
`)
    expect(v.text).toEqual([])
    expect(v.result).toBe('pass')
  })
})

describe('tcplab target: urgent data as Linux\'s socket gives it', () => {
  const URG = '+0    < PU. 1:11(10) ack 1 win 65535 urg 10\n'
  it('recv(MSG_OOB) takes the urgent byte once; read() stops at the mark and skips it', async () => {
    const v = await run(`${PASSIVE}+0    recv(4, ..., 1, MSG_OOB) = -1 EINVAL (Invalid argument)
${URG}+0    recv(4, ..., 1, MSG_OOB) = 1
+0    recv(4, ..., 1, MSG_OOB) = -1 EINVAL (Invalid argument)
+0    fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK) = 0
+0    read(4, ..., 100) = 9
+0    read(4, ..., 100) = -1 EAGAIN (Resource temporarily unavailable)
`)
    expect(v.text).toEqual([])
    expect(v.result).toBe('pass')
  })

  it('with SO_OOBINLINE the byte stays in the stream: the read stops at the mark, the next one returns it', async () => {
    const v = await run(`${PASSIVE}+0    setsockopt(4, SOL_SOCKET, SO_OOBINLINE, [1], 4) = 0
${URG}+0    recv(4, ..., 1, MSG_OOB) = -1 EINVAL (Invalid argument)
+0    read(4, ..., 100) = 9
+0    read(4, ..., 100) = 1
`)
    expect(v.text).toEqual([])
    expect(v.result).toBe('pass')
  })
})

describe('tcplab target: scripts that must fail', () => {
  it('a wrong ack fails at its line, with the live field in packetdrill\'s message and both packets', async () => {
    const v = await run(`${PASSIVE}+0    < P. 1:101(100) ack 1 win 65535
+0    > . 1:1(0) ack 100
`)
    expect(v).toMatchObject({ result: 'fail', line: 11, message: 'live packet field tcp_ack_seq: expected: 100 (0x64) vs actual: 101 (0x65)' })
    expect(v.text).toEqual([
      't.pkt:11: error handling packet: live packet field tcp_ack_seq: expected: 100 (0x64) vs actual: 101 (0x65)',
      'script packet:  0.100000 . 1:1(0) ack 100 ',
      'actual packet:  0.100000 . 1:1(0) ack 101 win 64140 ',
    ])
  })

  it('a packet the stack never sends times out after 2 s of virtual time', async () => {
    const { v, elapsed } = await runKeep(`${PASSIVE}+0    > P. 1:11(10) ack 1
`)
    expect(v).toMatchObject({ result: 'fail', line: 10, message: 'Timed out waiting for packet' })
    expect(elapsed()).toBe(100 * MS + 2_000 * MS)
  })

  it('a call that would block but is not written as blocking is reported as blocked, after the tolerance', async () => {
    const v = await run(`${PASSIVE}+0    read(4, ..., 10) = 10
`)
    expect(v).toMatchObject({ result: 'fail', line: 10 })
    expect(v.message).toMatch(/^runtime error in read call: system call blocked/)
  })
})

describe('tcplab target: socket buffers', () => {
  it('SO_SNDBUF on an open connection resizes its send buffer: a write the old one could not take is taken whole', async () => {
    const script = (sndbuf: number): string => `${PASSIVE}+0 setsockopt(4, SOL_SOCKET, SO_SNDBUF, [${sndbuf}], 4) = 0
+0 fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK) = 0
+0 write(4, ..., 100000) = 100000
`
    expect(await run(script(200000))).toMatchObject({ result: 'pass' })
    // The same write against a buffer of 2 × 30000 bytes takes 60000, as the socket now holds no more.
    const small = await run(script(30000))
    expect(small).toMatchObject({ result: 'fail', line: 12, message: 'runtime error in write call: Expected result 100000 but got 60000 with errno 0 (Success)' })
  })
})

describe('tcplab target: what it cannot run is unsupported, named', () => {
  it('a sysctl with no tcplab setting', async () => {
    const v = await run('`sysctl -q net.ipv4.tcp_frto=0`\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n')
    expect(v).toMatchObject({ result: 'unsupported', line: 1, message: 'sysctl net.ipv4.tcp_frto=0: no tcplab setting for it' })
  })

  it('a shell command other than sysctl', async () => {
    const v = await run('0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 `ip link set lo mtu 1400`\n')
    expect(v).toMatchObject({ result: 'unsupported', line: 2 })
    expect(v.message).toContain('`ip link set lo mtu 1400`')
  })

  it('a Python block reading SO_MEMINFO, and a socket option tcplab has no knob for', async () => {
    expect(await run('0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 %{ print(SK_MEMINFO_RCVBUF) }%\n')).toMatchObject({
      result: 'unsupported', line: 2, message: 'a Python block reads SK_MEMINFO_RCVBUF: the tcplab target does not fill it yet (the TCB does not expose it)',
    })
    const o = await run('0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 setsockopt(3, IPPROTO_TCP, TCP_CORK, [1], 4) = 0\n')
    expect(o).toMatchObject({ result: 'unsupported', line: 2, message: 'setsockopt TCP_CORK: tcplab has no corking' })
  })

  it('a setsockopt TCP_FASTOPEN_KEY whose key is not a written-out string', async () => {
    const v = await run('0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 setsockopt(3, SOL_TCP, TCP_FASTOPEN_KEY, [1], 16) = 0\n')
    expect(v).toMatchObject({ result: 'unsupported', line: 2 })
  })
})

describe('tcplab target: TCP Fast Open (RFC 7413) as Linux does it', () => {
  const CLIENT = '`sysctl -q net.ipv4.tcp_fastopen=1 net.ipv4.tcp_timestamps=1 net.ipv4.tcp_sack=1 net.ipv4.tcp_window_scaling=1`\n'
  const KEY = 'net.ipv4.tcp_fastopen_key=a1a1a1a1-b2b2b2b2-c3c3c3c3-d4d4d4d4'
  const tfo = (sysctls: string): string => `\`sysctl -q net.ipv4.tcp_timestamps=0 net.ipv4.tcp_sack=1 net.ipv4.tcp_window_scaling=1 ${sysctls}\`\n`

  it('client: a cookie request, then the cookie and the data on the next SYN (layouts with timestamps, as the kernel sends them)', async () => {
    const v = await run(`${CLIENT}0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0
+0 sendto(3, ..., 0, MSG_FASTOPEN, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0 > S 0:0(0) <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7,FO,nop,nop>
+.01 < S. 1000:1000(0) ack 1 win 65535 <mss 1000,sackOK,TS val 1 ecr 100,nop,wscale 7,FO 0102030405060708,nop,nop>
+0 > . 1:1(0) ack 1 <nop,nop,TS val 110 ecr 1>
+0 %{ assert (tcpi_options & TCPI_OPT_SYN_DATA) == 0, tcpi_options }%
+.01 socket(..., SOCK_STREAM, IPPROTO_TCP) = 4
+0 fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK) = 0
+0 sendto(4, ..., 2000, MSG_FASTOPEN, ..., ...) = 960
+0 > S 0:960(960) <mss 1460,sackOK,TS val 120 ecr 0,nop,wscale 7,FO 0102030405060708,nop,nop>
+.01 < S. 2000:2000(0) ack 961 win 65535 <mss 1000,sackOK,TS val 2 ecr 120,nop,wscale 7>
+0 > . 961:961(0) ack 1 <nop,nop,TS val 130 ecr 2>
+0 %{ assert (tcpi_options & TCPI_OPT_SYN_DATA) != 0, tcpi_options }%
`)
    // The second SYN's data: the cached MSS (1000) less the 40 bytes Linux keeps for options.
    expect(v).toMatchObject({ result: 'pass' })
  })

  it('client: SYN data the SYN+ACK does not acknowledge goes again at once, pushed; a blocking sendto waits for the handshake', async () => {
    const v = await run(`${tfo('net.ipv4.tcp_fastopen=5')}0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0...0.010 sendto(3, ..., 1000, MSG_FASTOPEN, ..., ...) = 1000
+0 > S 0:1000(1000) <mss 1460,nop,nop,sackOK,nop,wscale 7>
+.01 < S. 0:0(0) ack 1 win 65535 <mss 1460,nop,nop,sackOK,nop,wscale 7>
+0 > P. 1:1001(1000) ack 1
+0 %{ assert (tcpi_options & TCPI_OPT_SYN_DATA) == 0, tcpi_options }%
`)
    expect(v).toMatchObject({ result: 'pass' })
  })

  it('client: a NULL buffer sends the SYN without data and fails the call (EINPROGRESS; EFAULT after a blocking connect)', async () => {
    const v = await run(`${tfo('net.ipv4.tcp_fastopen=5')}0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0
+0 sendto(3, NULL, 10, MSG_FASTOPEN, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0 > S 0:0(0) <mss 1460,nop,nop,sackOK,nop,wscale 7>
+.01 socket(..., SOCK_STREAM, IPPROTO_TCP) = 4
+0...0.010 sendto(4, NULL, 10, MSG_FASTOPEN, ..., ...) = -1 EFAULT (Bad address)
+0 > S 0:0(0) <mss 1460,nop,nop,sackOK,nop,wscale 7>
+.01 < S. 0:0(0) ack 1 win 65535 <mss 1460,nop,nop,sackOK,nop,wscale 7>
+.2 > . 1:1(0) ack 1
`)
    // The blocking writer waited for the handshake, so the ACK of the SYN+ACK waited to ride on its data
    // (Linux's sk_write_pending, 200 ms): the kernel runs this script to the same times.
    expect(v).toMatchObject({ result: 'pass' })
  })

  it('client: without tcp_fastopen bit 0x1, sendto(MSG_FASTOPEN) is EOPNOTSUPP and TCP_FASTOPEN_CONNECT too', async () => {
    const v = await run(`${tfo('net.ipv4.tcp_fastopen=2')}0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 sendto(3, ..., 10, MSG_FASTOPEN, ..., ...) = -1 EOPNOTSUPP (Operation not supported)
+0 setsockopt(3, SOL_TCP, TCP_FASTOPEN_CONNECT, [1], 4) = -1 EOPNOTSUPP (Operation not supported)
`)
    expect(v).toMatchObject({ result: 'pass' })
  })

  // Each script below passes on the kernel too (IPv4), checked with \`tcplab script\` as root.
  const ADDRS = '--local_ip=192.168.0.1\n--remote_ip=192.0.2.1\n'

  it("server: a cookie request is answered with Linux's cookie for the key; the SYN with it and data makes a child accept() returns at once", async () => {
    const v = await run(`${ADDRS}${tfo(`net.ipv4.tcp_fastopen=0x402 ${KEY}`)}0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < S 0:0(0) win 65535 <mss 1460,sackOK,nop,nop,FO,nop,nop>
+0 > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,FO 3021b9d889017eeb,nop,nop>
+.01 < . 1:1(0) ack 1 win 65535
+0 accept(3, ..., ...) = 4
+0 < F. 1:1(0) ack 1 win 65535
+0 > . 1:1(0) ack 2
+0 close(4) = 0
+0 > F. 1:1(0) ack 2
+.01 < . 2:2(0) ack 2 win 65535
+0 close(3) = 0
+.01 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+.01 < S 1000:1010(10) win 65535 <mss 1460,sackOK,nop,nop,FO 3021b9d889017eeb,nop,nop>
+0 > S. 0:0(0) ack 1011 <mss 1460,nop,nop,sackOK>
+0 accept(3, ..., ...) = 4
+0 %{ assert (tcpi_options & TCPI_OPT_SYN_DATA) != 0, tcpi_options }%
+0 read(4, ..., 100) = 10
+0 write(4, ..., 20) = 20
+0 > P. 1:21(20) ack 11
+.01 < . 11:11(0) ack 21 win 65535
`)
    expect(v).toMatchObject({ result: 'pass' })
  })

  it('server: without a Fast Open queue (no TCP_FASTOPEN, no 0x400) the option is ignored and the SYN data not taken', async () => {
    const v = await run(`${ADDRS}${tfo(`net.ipv4.tcp_fastopen=0x2 ${KEY}`)}0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < S 0:10(10) win 65535 <mss 1460,sackOK,nop,nop,FO 0000000000000000,nop,nop>
+0 > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK>
`)
    expect(v).toMatchObject({ result: 'pass' })
  })

  it('server: a wrong cookie is answered with the right one and its SYN data is not taken', async () => {
    const v = await run(`${ADDRS}${tfo(`net.ipv4.tcp_fastopen=0x2 ${KEY}`)}0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
+0 bind(3, ..., ...) = 0
+0 setsockopt(3, SOL_TCP, TCP_FASTOPEN, [1], 4) = 0
+0 listen(3, 1) = 0
+0 < S 100:110(10) win 65535 <mss 1460,sackOK,nop,nop,FO 0000000000000000,nop,nop>
+0 > S. 0:0(0) ack 101 <mss 1460,nop,nop,sackOK,FO 3021b9d889017eeb,nop,nop>
+.01 < . 101:101(0) ack 1 win 65535
+0 accept(3, ..., ...) = 4
+0 %{ assert (tcpi_options & TCPI_OPT_SYN_DATA) == 0, tcpi_options }%
`)
    expect(v).toMatchObject({ result: 'pass' })
  })
})
