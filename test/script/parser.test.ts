import { describe, expect, it } from 'vitest'
import { parseScript } from '../../src/script/parser.js'
import { isScriptSyntaxError, SCRIPT_ERR_SYNTAX } from '../../src/script/errors.js'
import type { Action, Expr } from '../../src/script/ast.js'

/** A copy without line/col, for comparing structure; positions have their own tests below. */
function strip<T>(v: T): T {
  if (Array.isArray(v)) return v.map(strip) as T
  if (v !== null && typeof v === 'object') {
    const o: Record<string, unknown> = {}
    for (const [k, x] of Object.entries(v)) if (k !== 'line' && k !== 'col') o[k] = strip(x)
    return o as T
  }
  return v
}

/** The single event's action of a one-line script, positions stripped. */
function action(line: string, defines?: Record<string, string>): Action {
  const s = parseScript(line, { file: 't.pkt', defines })
  expect(s.events).toHaveLength(1)
  return strip(s.events[0]!.action)
}

/** The message of the error parsing `src` throws; fails if it is not a SCRIPT_ERR_SYNTAX. */
function err(src: string, defines?: Record<string, string>): string {
  try {
    parseScript(src, { file: 't.pkt', defines })
  } catch (e) {
    expect(isScriptSyntaxError(e)).toBe(true)
    expect((e as { code: string }).code).toBe(SCRIPT_ERR_SYNTAX)
    return (e as Error).message
  }
  throw new Error(`parsed: ${src}`)
}

const int = (value: number, text = String(value)): Expr => ({ kind: 'int', value, text, hex: false }) as Expr
const word = (name: string): Expr => ({ kind: 'word', name }) as Expr
const ell = { kind: 'ellipsis' } as Expr

describe('script structure', () => {
  it('reads options, the init command, events and the cleanup command, with positions', () => {
    const s = parseScript('// x\n--tolerance_usecs=10000\n--local-ip 192.0.2.1\n--strict-segments\n`init.sh`\n0 close(3) = 0\n`cleanup`\n', { file: 'f.pkt' })
    expect(s).toEqual({
      file: 'f.pkt',
      options: [
        { name: 'tolerance_usecs', value: '10000', line: 2, col: 1 },
        { name: 'local_ip', value: '192.0.2.1', line: 3, col: 1 },
        { name: 'strict_segments', line: 4, col: 1 },
      ],
      init: { kind: 'shell', command: 'init.sh', line: 5, col: 1 },
      events: [
        {
          time: { kind: 'absolute', usecs: 0, line: 6, col: 1 },
          action: { kind: 'syscall', name: 'close', args: [{ kind: 'int', value: 3, text: '3', hex: false, line: 6, col: 9 }], result: { kind: 'int', value: 0, text: '0', hex: false, line: 6, col: 14 }, line: 6, col: 3 },
          line: 6,
          col: 1,
        },
      ],
      cleanup: { kind: 'shell', command: 'cleanup', line: 7, col: 1 },
    })
  })

  it('reads every time form, in exact microseconds', () => {
    const s = parseScript('0 close(3) = 0\n+0.1 close(3) = 0\n1.005 close(3) = 0\n* > . 1:1(0)\n1~2.5 > . 1:1(0)\n+.25~+1 > . 1:1(0)\n+0...1.2 close(3) = 0\n')
    expect(s.events.map((e) => strip(e.time))).toEqual([
      { kind: 'absolute', usecs: 0 },
      { kind: 'relative', usecs: 100000 },
      { kind: 'absolute', usecs: 1005000 },
      { kind: 'any' },
      { kind: 'absoluteRange', usecs: 1000000, endUsecs: 2500000 },
      { kind: 'relativeRange', usecs: 250000, endUsecs: 1000000 },
      { kind: 'relative', usecs: 0 },
    ])
    expect(strip(s.events[6]!.action)).toMatchObject({ kind: 'syscall', name: 'close', blockingEndUsecs: 1200000 })
  })

  it('reads shell and python events', () => {
    expect(action('+0 `sysctl -q net.ipv4.tcp_sack=0`')).toEqual({ kind: 'shell', command: 'sysctl -q net.ipv4.tcp_sack=0' })
    expect(action('+0 %{\nassert tcpi_rto == 1000\n}%')).toEqual({ kind: 'python', code: '\nassert tcpi_rto == 1000\n' })
  })

  it('normalises option spellings, strips a quoted value, and takes --name value only on the same line', () => {
    const s = parseScript('--tolerance-usecs 5000\n--non_fatal=packet,syscall\n--ip_version="ipv6"\n--wire_client\n0 close(3) = 0')
    expect(strip(s.options)).toEqual([
      { name: 'tolerance_usecs', value: '5000' },
      { name: 'non_fatal', value: 'packet,syscall' },
      { name: 'ip_version', value: 'ipv6' },
      { name: 'wire_client' },
    ])
  })
})

describe('TCP packet lines', () => {
  it('reads an inbound SYN with every common option', () => {
    expect(action('+0 < S 0:0(0) win 32792 <mss 1000,sackOK,TS val 7 ecr 0,nop,wscale 7>')).toEqual({
      kind: 'tcp', direction: 'inbound', encapsulation: [], ipInfo: {}, flags: 'S', seq: { start: 0, end: 0, len: 0 }, win: 32792,
      options: [{ kind: 'mss', value: 1000 }, { kind: 'sackOK' }, { kind: 'timestamp', val: 7, ecr: 0 }, { kind: 'nop' }, { kind: 'wscale', shift: 7 }],
    })
  })

  it('reads an outbound segment with <...>, and no window check when win is absent', () => {
    expect(action('+0 > P. 1:1001(1000) ack 1 <...>')).toEqual({
      kind: 'tcp', direction: 'outbound', encapsulation: [], ipInfo: {}, flags: 'P.', seq: { start: 1, end: 1001, len: 1000 }, ack: 1, options: 'any',
    })
  })

  it('reads flags, ports, urg, IP annotations, SACK blocks, FO/FOEXP, md5, eol and AccECN', () => {
    expect(action('+0 < [ce] 1000>80 SEW 0:0(0) win 10 urg 5 <FO 0011AABB,sack 1:2 3:4,eol,eol,eol,eol>')).toEqual({
      kind: 'tcp', direction: 'inbound', encapsulation: [], ipInfo: { ecn: 'ce' }, ports: { src: 1000, dst: 80 }, flags: 'SEW',
      seq: { start: 0, end: 0, len: 0 }, win: 10, urg: 5,
      options: [{ kind: 'fastopen', experimental: false, cookie: '0011aabb' }, { kind: 'sack', blocks: [{ left: 1, right: 2 }, { left: 3, right: 4 }] }, { kind: 'eol' }, { kind: 'eol' }, { kind: 'eol' }, { kind: 'eol' }],
    })
    expect(action('+0 < . 1:1(0) win 10 <md5 000102030405060708090a0b0c0d0e0f,FOEXP,nop,nop>')).toMatchObject({
      options: [{ kind: 'md5', digest: '000102030405060708090a0b0c0d0e0f' }, { kind: 'fastopen', experimental: true, cookie: '' }, { kind: 'nop' }, { kind: 'nop' }],
    })
    expect(action('+0 > S 0:0(0) <ECN e1b 1 ceb 2 e0b 3,nop>')).toMatchObject({
      options: [{ kind: 'accecn', fields: [{ name: 'e1b', value: 1 }, { name: 'ceb', value: 2 }, { name: 'e0b', value: 3 }] }, { kind: 'nop' }],
    })
    expect(action('+0 > (tos 0x10,flowlabel 0x12) - 1:1(0)')).toMatchObject({ ipInfo: { tos: 0x10, flowLabel: 0x12 }, flags: '' })
    expect(action('+0 > [ect01] . 1:1(0)')).toMatchObject({ ipInfo: { ecn: 'ect01' }, flags: '.' })
    expect(action('+0 > (ttl 3) S.5 0:0(0)')).toMatchObject({ ipInfo: { ttl: 3 }, flags: 'S.5' })
    expect(action('+0 > [flowlabel 0xfffff] .3 1:1(0)')).toMatchObject({ ipInfo: { flowLabel: 0xfffff }, flags: '.3' })
  })

  it('reads an outer IP header', () => {
    expect(action('+0 > ipv4 192.0.2.1 > 192.0.2.2: [ttl 3] S 0:0(0)')).toMatchObject({
      encapsulation: [{ version: 4, ipInfo: {}, src: '192.0.2.1', dst: '192.0.2.2' }],
      ipInfo: { ttl: 3 },
    })
    expect(action('+0 > ipv6 (tos 0x2) fd00::1 > fd00::2: S 0:0(0)')).toMatchObject({
      encapsulation: [{ version: 6, ipInfo: { tos: 2 }, src: 'fd00::1', dst: 'fd00::2' }],
    })
  })

  it('reads UDP and ICMP lines', () => {
    expect(action('+0 < udp (100)')).toEqual({ kind: 'udp', direction: 'inbound', encapsulation: [], ipInfo: {}, len: 100 })
    expect(action('+0 > udp 53>5353 (0)')).toEqual({ kind: 'udp', direction: 'outbound', encapsulation: [], ipInfo: {}, ports: { src: 53, dst: 5353 }, len: 0 })
    expect(action('+0 < icmp unreachable frag_needed mtu 1200 [1:1461(1460)]')).toEqual({
      kind: 'icmp', direction: 'inbound', encapsulation: [], ipInfo: {}, type: 'unreachable', code: 'frag_needed', mtu: 1200,
      echoed: { protocol: 'tcp', seq: { start: 1, end: 1461, len: 1460 } },
    })
    expect(action('+0 > icmp echo_reply id 7 [raw (8)]')).toEqual({
      kind: 'icmp', direction: 'outbound', encapsulation: [], ipInfo: {}, type: 'echo_reply', id: 7, echoed: { protocol: 'raw', len: 8 },
    })
    expect(action('+0 < icmp unreachable port_unreachable [udp (10)]')).toMatchObject({ code: 'port_unreachable', echoed: { protocol: 'udp', len: 10 } })
  })
})

describe('syscall lines', () => {
  it('reads socket, bind with a sockaddr, and an errno with its note', () => {
    expect(action('0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3')).toEqual({ kind: 'syscall', name: 'socket', args: [ell, word('SOCK_STREAM'), word('IPPROTO_TCP')], result: int(3) })
    expect(action('+0 bind(3, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr("192.0.2.1")}, 16) = 0')).toEqual({
      kind: 'syscall', name: 'bind', result: int(0),
      args: [int(3), {
        kind: 'struct', items: [
          { kind: 'assign', target: word('sa_family'), value: word('AF_INET') },
          { kind: 'assign', target: word('sin_port'), value: { kind: 'call', name: 'htons', args: [int(8080)] } },
          { kind: 'assign', target: word('sin_addr'), value: { kind: 'call', name: 'inet_addr', args: [{ kind: 'string', value: '192.0.2.1', ellipsis: false }] } },
        ],
      }, int(16)],
    })
    expect(action('+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)')).toEqual({
      kind: 'syscall', name: 'connect', args: [int(3), ell, ell], result: int(-1), errno: 'EINPROGRESS', note: 'Operation now in progress',
    })
  })

  it('reads arrays, ors, hex, strings with ..., and struct literals of every shape', () => {
    expect(action('+0 setsockopt(3, SOL_SOCKET, SO_LINGER, {onoff=1, linger=0}, 8) = 0')).toMatchObject({
      args: [int(3), word('SOL_SOCKET'), word('SO_LINGER'), { kind: 'struct', items: [
        { kind: 'assign', target: word('onoff'), value: int(1) }, { kind: 'assign', target: word('linger'), value: int(0) }] }, int(8)],
    })
    expect(action('+0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK|0x800) = 0')).toMatchObject({
      args: [int(3), word('F_SETFL'), { kind: 'or', operands: [word('O_RDWR'), word('O_NONBLOCK'), { kind: 'int', value: 0x800, text: '0x800', hex: true }] }],
    })
    expect(action('+0 write(4, "ab" "cd"..., 4) = 4')).toMatchObject({ args: [int(4), { kind: 'string', value: 'abcd', ellipsis: true }, int(4)] })
    expect(action('+0 getsockopt(3, SOL_SOCKET, SO_ERROR, [ECONNREFUSED], [4]) = 0')).toMatchObject({
      args: [int(3), word('SOL_SOCKET'), word('SO_ERROR'), { kind: 'array', items: [word('ECONNREFUSED')] }, { kind: 'array', items: [int(4)] }],
    })
    expect(action('+0 writev(3, [{..., 2}, {..., 3}], 2) = 5')).toMatchObject({
      args: [int(3), { kind: 'array', items: [{ kind: 'struct', items: [ell, int(2)] }, { kind: 'struct', items: [ell, int(3)] }] }, int(2)],
    })
    expect(action('+0 sendmsg(3, {msg_name(...)=..., msg_iov(1)=[{..., 10}], msg_flags=0}, 0) = 10')).toMatchObject({
      args: [int(3), { kind: 'struct', items: [
        { kind: 'assign', target: { kind: 'call', name: 'msg_name', args: [ell] }, value: ell },
        { kind: 'assign', target: { kind: 'call', name: 'msg_iov', args: [int(1)] }, value: { kind: 'array', items: [{ kind: 'struct', items: [ell, int(10)] }] } },
        { kind: 'assign', target: word('msg_flags'), value: int(0) },
      ] }, int(0)],
    })
    expect(action('+0 poll([{fd=3, events=POLLIN|POLLOUT, revents=POLLOUT}], 1, 0) = 1')).toMatchObject({
      args: [{ kind: 'array', items: [{ kind: 'struct', items: [
        { kind: 'assign', target: word('fd'), value: int(3) },
        { kind: 'assign', target: word('events'), value: { kind: 'or', operands: [word('POLLIN'), word('POLLOUT')] } },
        { kind: 'assign', target: word('revents'), value: word('POLLOUT') },
      ] }] }, int(1), int(0)],
    })
    expect(action('+0 getsockopt(3, SOL_TCP, TCP_INFO, {tcpi_state=TCP_ESTABLISHED, tcpi_rto=...}, [256]) = 0')).toMatchObject({
      args: [int(3), word('SOL_TCP'), word('TCP_INFO'), { kind: 'struct', items: [
        { kind: 'assign', target: word('tcpi_state'), value: word('TCP_ESTABLISHED') },
        { kind: 'assign', target: word('tcpi_rto'), value: ell },
      ] }, { kind: 'array', items: [int(256)] }],
    })
    expect(action('+0 recvmsg(3, {msg_name(...)=..., msg_iov(1)=[{..., 0}], msg_flags=MSG_ERRQUEUE, msg_control=[{cmsg_level=SOL_IP, cmsg_type=IP_RECVERR, cmsg_data={ee_errno=0}}]}, MSG_ERRQUEUE) = 0')).toMatchObject({ name: 'recvmsg' })
    expect(action('+0 epoll_ctl(5, EPOLL_CTL_ADD, 3, {events=EPOLLIN, fd=3}) = 0')).toMatchObject({ name: 'epoll_ctl' })
    expect(action('+0 ioctl(3, SIOCOUTQ, [0]) = 0')).toMatchObject({ args: [int(3), word('SIOCOUTQ'), { kind: 'array', items: [int(0)] }] })
    expect(action('+0 close() = 0 (no fd)')).toEqual({ kind: 'syscall', name: 'close', args: [], result: int(0), note: 'no fd' })
  })

  it('keeps a 64-bit integer\'s text', () => {
    expect(action('+0 f(0xffffffffffffffff) = 0')).toMatchObject({ args: [{ kind: 'int', text: '0xffffffffffffffff', hex: true }] })
  })
})

describe('-D substitution, as packetdrill\'s lexer does it', () => {
  it('replaces plain words by integers (strtol base 0), strings, commands and words', () => {
    const d = { PORT: '0x1f90', ADDR: '"192.0.2.9"', FAM: 'AF_INET6', OCT: '010', N: '-3' }
    expect(action('+0 f(PORT, ADDR, FAM, OCT, N) = 0', d)).toEqual({
      kind: 'syscall', name: 'f', args: [int(8080), { kind: 'string', value: '192.0.2.9', ellipsis: false }, word('AF_INET6'), int(8), int(-3)], result: int(0),
    })
    expect(action('+0 CMD', { CMD: '`echo hi`' })).toEqual({ kind: 'shell', command: 'echo hi' })
    expect(action('+0 > FLAGS 0:0(0)', { FLAGS: 'S' })).toMatchObject({ flags: 'S' })
  })

  it('never replaces a keyword, and the command line wins over a script\'s --define', () => {
    expect(action('+0 < S 0:0(0) win 1', { win: '5', S: 'F' })).toMatchObject({ flags: 'F', win: 1 })
    const s = parseScript('--define=X=7\n--define=Y=8\n0 f(X, Y) = 0', { defines: { X: '1' } })
    expect(strip(s.events[0]!.action)).toMatchObject({ args: [int(1), int(8)] })
  })
})

describe('errors: FILE:LINE:COL, expected …, got …', () => {
  it('reports the token where the grammar stopped', () => {
    expect(err('')).toBe('t.pkt:1:1: expected an event (a time such as 0, +0.1 or *), got end of file')
    expect(err('0 close(3) = 0\n+0 < S 0:0(0) win 10 <mss 1000')).toBe("t.pkt:2:31: expected ',' or '>', got end of file")
    expect(err('0 close(3 = 0')).toBe("t.pkt:1:11: expected ',' or ')', got '='")
    expect(err('0 close(3)')).toBe("t.pkt:1:11: expected '=' and the expected result, got end of file")
    expect(err('0 close(3) = 0\n  junk')).toBe("t.pkt:2:3: expected an event time or the cleanup command, got 'junk'")
    expect(err('0 close(3) = 0\n`a`\n`b`')).toBe("t.pkt:3:1: expected end of file after the cleanup command, got '`b`'")
    expect(err('0 < Q 0:0(0) win 1')).toBe("t.pkt:1:5: invalid TCP flag 'Q' in 'Q'")
    expect(err('0 < E1 0:0(0) win 1')).toBe("t.pkt:1:5: conflicting TCP flag '1' in 'E1'")
    expect(err('0 < 0:0(0) win 1')).toBe("t.pkt:1:6: expected '>', got ':'")
    expect(err('0 < S 0:0(0) win 1 <bogus>')).toBe("t.pkt:1:21: expected a TCP option (nop, eol, mss, wscale, sackOK, sack, TS, FO, FOEXP, md5, ECN), got 'bogus'")
    expect(err('0 f([[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]) = 0'))
      .toBe('t.pkt:1:68: brackets nested deeper than 64')
    expect(err('0 %')).toBe("t.pkt:1:3: expected a packet (< or >), a syscall, a `command` or a %{ }% block, got '%'")
  })

  it('makes packetdrill\'s parse-time checks', () => {
    expect(err('0 < S 0:1(0) win 1')).toBe('t.pkt:1:7: inconsistent TCP sequence numbers and payload size: 0+0 is not 1')
    expect(err('0 < S 0:0(0)')).toBe('t.pkt:1:3: window must be specified for inbound packets')
    expect(err('0 < S 0:0(0) win 1 <...>')).toBe('t.pkt:1:20: <...> for TCP options can only be used with outbound packets')
    expect(err('0 < [ect01] S 0:0(0) win 1')).toBe('t.pkt:1:5: [ect01] can only be used with outbound packets')
    expect(err('0 < [ect0] udp (1)')).toBe('t.pkt:1:5: ECN can only be used with TCP packets')
    expect(err('* close(3) = 0')).toBe('t.pkt:1:1: event time * can only be used with outbound packets')
    expect(err('0~1 < . 1:1(0) win 1')).toBe('t.pkt:1:1: event time range can only be used with outbound packets')
    expect(err('2~1 > . 1:1(0)')).toBe('t.pkt:1:3: time range is backwards')
    expect(err('-1 close(3) = 0')).toBe('t.pkt:1:1: negative time -1')
    expect(err('0 > . 1:1(0) win 65536')).toBe('t.pkt:1:18: a window out of range (0 to 65535), got 65536')
    expect(err('0 > . 4294967296:4294967296(0)')).toBe('t.pkt:1:7: a sequence number (start:end(length)) out of range (0 to 4294967295), got 4294967296')
    expect(err('0 > S 0:0(0) <sack 1:2 3:4 5:6 7:8 9:10>')).toBe('t.pkt:1:14: TCP option list too long (42 bytes, at most 40)')
    expect(err('0 > S 0:0(0) <mss 1000,nop>')).toBe('t.pkt:1:14: TCP options are not padded to a multiple of 4 bytes (5 bytes)')
    expect(err('0 > S 0:0(0) <FO abc,nop,nop>')).toBe("t.pkt:1:18: a fast open cookie must be an even number of hex digits, got 'abc'")
    expect(err('0 > (tos 16) S 0:0(0)')).toBe("t.pkt:1:10: expected tos as a 0x… hex number, got '16'")
  })

  it('checks option lines as packetdrill does', () => {
    expect(err('--foo=1\n0 close(3) = 0')).toBe("t.pkt:1:1: unknown option '--foo'")
    expect(err('--mss\n0 close(3) = 0')).toBe("t.pkt:1:1: option '--mss' requires a value")
    expect(err('--strict_segments=1\n0 close(3) = 0')).toBe("t.pkt:1:1: option '--strict_segments' takes no value")
    expect(err('--define=X\n0 close(3) = 0')).toBe("t.pkt:1:1: bad definition 'X', expected NAME=VALUE")
    expect(err('0 close(3) = 0\n--mss=1')).toBe("t.pkt:2:1: expected an event time or the cleanup command, got '--mss=1'")
  })
})
