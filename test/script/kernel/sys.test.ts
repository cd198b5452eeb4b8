/**
 * The kernel target's syscall wrapper without root: the errno table and constants against independent
 * sources (Node's own errno table, Python's socket/select/os/termios modules), the TCP_INFO reader on a
 * hand-built struct, the one-line error without the addon, and the addon's argument checks and fd guard.
 */
import { spawnSync } from 'node:child_process'
import { fstatSync } from 'node:fs'
import { constants as osConstants } from 'node:os'
import { describe, expect, it } from 'vitest'
import { WireError } from '../../../src/tcp/errors.js'
import { hasScriptSys, type ScriptSysModule } from '../../../src/net/native.js'
import { evalInt, LINUX_SYMBOLS } from '../../../src/script/symbols.js'
import { errnoNumber, errnoText } from '../../../src/script/errno.js'
import {
  createKernelSys,
  ERRNO,
  errnoName,
  errnoValue,
  LINUX,
  linuxSymbol,
  readTcpInfo,
  sockAddr,
  TCP_INFO_LAYOUT,
  TCP_INFO_MIN_LEN,
  tcpStateName,
} from '../../../src/script/kernel/sys.js'

const linux = process.platform === 'linux'

describe('errno table', () => {
  it('names the errnos a script checks, by their Linux values', () => {
    expect(errnoName(11)).toBe('EAGAIN')
    expect(errnoName(115)).toBe('EINPROGRESS')
    expect(errnoName(111)).toBe('ECONNREFUSED')
    expect(errnoName(32)).toBe('EPIPE')
    expect(errnoName(107)).toBe('ENOTCONN')
    expect(errnoName(104)).toBe('ECONNRESET')
    expect(errnoName(110)).toBe('ETIMEDOUT')
    expect(errnoName(22)).toBe('EINVAL')
    expect(errnoName(9)).toBe('EBADF')
    expect(errnoName(0)).toBeUndefined()
    expect(errnoName(4095)).toBe('ERRNO_4095')
    expect(errnoValue('EWOULDBLOCK')).toBe(11)
    expect(errnoValue('ENOTSUP')).toBe(95)
    expect(errnoValue('EDEADLOCK')).toBe(35)
    expect(errnoValue('ENOPE')).toBeUndefined()
    // every value has exactly one canonical name
    expect(new Set(Object.values(ERRNO)).size).toBe(Object.keys(ERRNO).length)
  })

  it.runIf(linux)("agrees with every errno Node knows on this Linux (os.constants.errno)", () => {
    const node = Object.entries(osConstants.errno)
    expect(node.length).toBeGreaterThan(70)
    for (const [name, value] of node) expect([name, errnoValue(name)]).toEqual([name, value])
  })
})

describe('script constants', () => {
  it('resolves symbols and errno names', () => {
    expect(linuxSymbol('SOCK_NONBLOCK')).toBe(2048)
    expect(linuxSymbol('SIOCINQ')).toBe(0x541b)
    expect(linuxSymbol('SIOCOUTQ')).toBe(0x5411)
    expect(linuxSymbol('EPOLLET')).toBe(2 ** 31)
    expect(linuxSymbol('ECONNRESET')).toBe(104)
    expect(linuxSymbol('NOT_A_SYMBOL')).toBeUndefined()
    expect(tcpStateName(1)).toBe('TCP_ESTABLISHED')
    expect(tcpStateName(10)).toBe('TCP_LISTEN')
  })

  it('is the one table the engine reads: every symbol and errno name, and a strerror text only for a known errno', () => {
    for (const [k, v] of Object.entries(LINUX)) expect([k, evalInt({ kind: 'word', name: k, line: 1, col: 1 })]).toEqual([k, v])
    for (const [k, v] of Object.entries(ERRNO)) expect([k, errnoNumber(k)]).toEqual([k, v])
    expect([errnoNumber('EWOULDBLOCK'), errnoNumber('ENOTSUP'), errnoNumber('ENOMSG'), errnoNumber('EBOGUS')]).toEqual([11, 95, 42, undefined])
    expect([errnoText('EAGAIN'), errnoText(115), errnoText('ENOMSG'), errnoText(0), errnoText(133)]).toEqual([
      'Resource temporarily unavailable', 'Operation now in progress', 'No message of desired type', 'Success', 'Unknown error 133',
    ])
    expect(LINUX_SYMBOLS.size).toBe(Object.keys(LINUX).length)
  })

  const python = linux ? spawnSync('python3', ['-c', 'print(1)']).status === 0 : false
  it.runIf(python)("agrees with Python's socket, select, os and termios modules on every name they share", () => {
    const py = `
import json, os, select, socket, termios
out = {}
for m in (socket, select, os, termios):
    for k in dir(m):
        v = getattr(m, k)
        if k.isupper() and isinstance(v, int) and not isinstance(v, bool) and k not in out:
            out[k] = int(v)
print(json.dumps(out))`
    const r = spawnSync('python3', ['-c', py])
    const known = JSON.parse(r.stdout.toString()) as Record<string, number>
    const shared = Object.entries(LINUX).filter(([k]) => k in known)
    expect(shared.length).toBeGreaterThan(100)
    for (const [k, v] of shared) expect([k, v]).toEqual([k, known[k]])
  })
})

/** A struct tcp_info (248 bytes, Linux 6.7's) with distinct values in the fields the test reads. */
function tcpInfoFixture(len = 248): Uint8Array {
  const b = new Uint8Array(len)
  const v = new DataView(b.buffer)
  b[0] = 1 // tcpi_state: TCP_ESTABLISHED
  b[1] = 3 // tcpi_ca_state: TCP_CA_Recovery
  b[2] = 2 // tcpi_retransmits
  b[5] = 7 // tcpi_options: TIMESTAMPS|SACK|WSCALE
  b[6] = 0x73 // tcpi_snd_wscale 3 (low nibble), tcpi_rcv_wscale 7 (high nibble)
  b[7] = 0x05 // tcpi_delivery_rate_app_limited 1 (bit 0), tcpi_fastopen_client_fail 2 (bits 1-2)
  v.setUint32(8, 204000, true) // tcpi_rto (us)
  v.setUint32(16, 1448, true) // tcpi_snd_mss
  v.setUint32(68, 1234, true) // tcpi_rtt
  v.setUint32(80, 10, true) // tcpi_snd_cwnd
  v.setUint32(100, 3, true) // tcpi_total_retrans
  if (len >= 112) v.setBigUint64(104, 2n ** 40n + 5n, true) // tcpi_pacing_rate
  if (len >= 232) v.setUint32(228, 65535, true) // tcpi_snd_wnd
  if (len >= 248) {
    v.setUint16(240, 4, true) // tcpi_total_rto
    v.setUint32(244, 999, true) // tcpi_total_rto_time
  }
  return b
}

describe('readTcpInfo', () => {
  it('reads struct tcp_info by field name, bitfields included', () => {
    const t = readTcpInfo(tcpInfoFixture())
    expect(t).toMatchObject({
      tcpi_state: LINUX.TCP_ESTABLISHED,
      tcpi_ca_state: LINUX.TCP_CA_Recovery,
      tcpi_retransmits: 2,
      tcpi_options: LINUX.TCPI_OPT_TIMESTAMPS | LINUX.TCPI_OPT_SACK | LINUX.TCPI_OPT_WSCALE,
      tcpi_snd_wscale: 3,
      tcpi_rcv_wscale: 7,
      tcpi_delivery_rate_app_limited: 1,
      tcpi_fastopen_client_fail: 2,
      tcpi_rto: 204000,
      tcpi_snd_mss: 1448,
      tcpi_rtt: 1234,
      tcpi_snd_cwnd: 10,
      tcpi_total_retrans: 3,
      tcpi_pacing_rate: 2n ** 40n + 5n,
      tcpi_snd_wnd: 65535,
      tcpi_total_rto: 4,
      tcpi_total_rto_time: 999,
    })
  })

  it("leaves fields an older kernel's shorter struct lacks undefined, and refuses less than the oldest", () => {
    const t = readTcpInfo(tcpInfoFixture(TCP_INFO_MIN_LEN))
    expect(t.tcpi_total_retrans).toBe(3)
    expect(t.tcpi_pacing_rate).toBeUndefined()
    expect(t.tcpi_snd_wnd).toBeUndefined()
    expect(() => readTcpInfo(new Uint8Array(TCP_INFO_MIN_LEN - 1))).toThrow(expect.objectContaining({ code: 'TCP_ERR_TRUNCATED' }))
    // a subarray at an offset reads from its own start
    const shifted = new Uint8Array(300)
    shifted.set(tcpInfoFixture(), 8)
    expect(readTcpInfo(shifted.subarray(8, 256)).tcpi_snd_mss).toBe(1448)
  })

  it('has a layout of naturally aligned, non-overlapping fields ending at 276 bytes (the AccECN bitfield word follows)', () => {
    let end = 8 // bytes 6 and 7 are the bitfields, read apart
    for (const [name, off, size] of TCP_INFO_LAYOUT) {
      expect([name, off % size]).toEqual([name, 0])
      if (off >= 8) {
        expect([name, off]).toEqual([name, end])
        end = off + size
      }
    }
    expect(end).toBe(276)
  })
})

/** A `require` that finds no addon, as Node says it. */
function notInstalled(id: string): never {
  throw Object.assign(new Error(`Cannot find module '${id}'\nRequire stack:\n- x`), { code: 'MODULE_NOT_FOUND' })
}

describe('createKernelSys without the addon', () => {
  const expectHint = (fn: () => unknown, also?: string) => {
    let err: unknown
    try {
      fn()
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(WireError)
    const e = err as WireError
    expect(e.code).toBe('DEV_ERR_NO_PACKET_TX')
    expect(e.message).not.toContain('\n')
    expect(e.message).toContain('npm rebuild tcplab-packet-tx')
    expect(e.message).toContain('python3, make and g++')
    if (also !== undefined) expect(e.message).toContain(also)
  }

  it('says what to install when the addon is missing', () => {
    expectHint(() => createKernelSys({ require: notInstalled }), 'is not installed')
  })

  it('says so when the addon fails to load, with the first line of why', () => {
    expectHint(() => createKernelSys({ require: () => { throw new Error('invalid ELF header\nmore') } }), 'invalid ELF header')
  })

  it('says so for a build from before the script part (no sys function)', () => {
    expectHint(() => createKernelSys({ require: () => ({ open() {}, send() {}, close() {} }) }), 'script part')
  })
})

describe('createKernelSys over a module', () => {
  it('puts each call\'s arguments in the addon\'s order and names the errno', async () => {
    const calls: [string, unknown[]][] = []
    const fake = {
      sys: (op: string, args: unknown[]) => (calls.push([op, args]), { ret: -1, errno: 11 }),
      sysAsync: async (op: string, args: unknown[]) => (calls.push([op, args]), { ret: 3, errno: 0, startNs: 1n, endNs: 2n }),
      tunOpen: () => 0,
      monotonicNs: () => 0n,
    } as unknown as ScriptSysModule
    const sys = createKernelSys({ module: fake })
    const data = new Uint8Array([1])
    const r = sys.recv(4, 100)
    expect(r).toEqual({ ret: -1, errno: 11, errnoName: 'EAGAIN' })
    sys.sendto(4, data)
    sys.getsockopt(4, LINUX.IPPROTO_TCP, LINUX.TCP_INFO)
    sys.setsockopt(4, LINUX.SOL_SOCKET, LINUX.SO_LINGER, { onoff: 1, linger: 0 }, 4)
    sys.epollCtl(5, LINUX.EPOLL_CTL_ADD, 4, { events: LINUX.EPOLLIN })
    const a = await sys.async.accept(3)
    expect(a).toEqual({ ret: 3, errno: 0, startNs: 1n, endNs: 2n, errnoName: undefined })
    expect(calls).toEqual([
      ['recv', [4, 100, 0]],
      ['sendto', [4, data, 0, null]],
      ['getsockopt', [4, 6, 11]],
      ['setsockopt', [4, 1, 13, { onoff: 1, linger: 0 }, 4]],
      ['epoll_ctl', [5, 1, 4, { events: 1 }]],
      ['accept', [3, 0]],
    ])
  })
})

/** The real addon, when this machine built it with the script part. */
function realAddon(): ScriptSysModule | undefined {
  if (!linux) return undefined
  try {
    const sys = createKernelSys()
    return hasScriptSys(sys.native) ? sys.native : undefined
  } catch {
    return undefined
  }
}

describe.runIf(realAddon() !== undefined)('the addon (no root needed)', () => {
  it('makes real calls and answers failures as data', async () => {
    const sys = createKernelSys()
    const s = sys.socket(LINUX.AF_INET, LINUX.SOCK_STREAM)
    expect(s.ret).toBeGreaterThan(2)
    const info = sys.getsockopt(s.ret, LINUX.IPPROTO_TCP, LINUX.TCP_INFO)
    expect(readTcpInfo(info.bytes!).tcpi_state).toBe(LINUX.TCP_CLOSE)
    expect(sys.read(s.ret, 10)).toMatchObject({ ret: -1, errnoName: 'ENOTCONN' })
    expect(sys.getsockopt(s.ret, LINUX.SOL_SOCKET, LINUX.SO_TYPE).value).toBe(LINUX.SOCK_STREAM)
    expect(sys.ioctl(s.ret, LINUX.SIOCOUTQ)).toMatchObject({ ret: 0, value: 0 })
    const t = await sys.async.poll([{ fd: s.ret, events: LINUX.POLLOUT }], 0)
    expect(t.endNs).toBeGreaterThanOrEqual(t.startNs)
    expect(sys.close(s.ret)).toMatchObject({ ret: 0, errno: 0, errnoName: undefined })
    expect(sys.close(s.ret)).toMatchObject({ ret: -1, errnoName: 'EBADF' })
    expect(sys.close(-1)).toMatchObject({ ret: -1, errnoName: 'EBADF' })
    const a = sys.native.monotonicNs()
    expect(sys.native.monotonicNs()).toBeGreaterThanOrEqual(a)
  })

  it("never acts on a descriptor it did not open (Node's own stay open)", () => {
    const sys = createKernelSys()
    expect(sys.close(1)).toMatchObject({ ret: -1, errnoName: 'EBADF' })
    expect(sys.close(2)).toMatchObject({ ret: -1, errnoName: 'EBADF' })
    expect(() => fstatSync(1)).not.toThrow()
    expect(() => fstatSync(2)).not.toThrow()
  })

  it('throws a TypeError with code ERR_BAD_ARGUMENT for bad arguments', () => {
    const mod = realAddon()!
    const bad = (fn: () => unknown) => expect(fn).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENT', name: 'TypeError' }))
    bad(() => mod.sys('nope' as never, [] as never))
    bad(() => mod.sys('read', ['x', 1] as never))
    bad(() => mod.sys('connect', [3, { family: 2, addr: '300.1.1.1', port: 1 }]))
    bad(() => mod.sys('connect', [3, sockAddr('198.18.0.1', 70000)]))
    bad(() => mod.sys('write', [3, 'text' as never]))
    bad(() => mod.sys('read', [3, 2 ** 40]))
    bad(() => mod.tunOpen('', 1500))
  })
})
