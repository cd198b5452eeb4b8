/**
 * packetdrill's msghdr literal read field by field, and recvmsg's outputs against it, in packetdrill's order and words: msg_flags, then each cmsg's
 * level, type, length and data — an int, the error queue's sock_extended_err field by field, and
 * scm_timestamping's software stamp within the tolerance of its script time.
 */
import { describe, expect, it } from 'vitest'
import { parseMsghdr, recvmsgMismatch as judge, MsghdrUnsupported, type GotCmsg, type StampClock, type WantCmsg } from '../../src/script/msghdr.js'
import { parseScript } from '../../src/script/parser.js'
import type { SyscallEvent } from '../../src/script/ast.js'

const int = (v: number) => {
  const b = Buffer.alloc(4)
  b.writeInt32LE(v)
  return b
}
/** sock_extended_err (16 bytes) and the offender's sockaddr_in after it. */
const ee = (f: { errno?: number; origin?: number; type?: number; code?: number; info?: number; data?: number }, addrLen = 16) => {
  const b = Buffer.alloc(16 + addrLen)
  b.writeUInt32LE(f.errno ?? 0, 0)
  b[4] = f.origin ?? 0
  b[5] = f.type ?? 0
  b[6] = f.code ?? 0
  b.writeUInt32LE(f.info ?? 0, 8)
  b.writeUInt32LE(f.data ?? 0, 12)
  return b
}
/** struct scm_timestamping with the software stamp at `us` µs of wall time. */
const stamp = (us: number) => {
  const b = Buffer.alloc(48)
  b.writeBigInt64LE(BigInt(Math.floor(us / 1e6)), 0)
  b.writeBigInt64LE(BigInt((us % 1e6) * 1000), 8)
  return b
}
const res = (msgFlags: number, cmsgs: GotCmsg[]) => ({ msgFlags, cmsgs })
/** The judge with recvmsg's result as one value, as a target has it. */
const recvmsgMismatch = (flags: number, want: WantCmsg[], r: { msgFlags: number; cmsgs: GotCmsg[] }, clock: StampClock) => judge(flags, want, r.msgFlags, r.cmsgs, clock)
const clock = { realtimeAt: 1_700_000_000_000_000, tolerance: 4000 }

describe('recvmsgMismatch', () => {
  it('msg_flags first, in hex as packetdrill prints them', () => {
    expect(recvmsgMismatch(0x2000, [], res(0x2020, []), clock)).toBe('Expected msg_flags 0x00002000 but got 0x00002020')
    expect(recvmsgMismatch(0, [], res(0, []), clock)).toBeUndefined()
  })

  it('an int cmsg: level, type, length, value; and the count both ways', () => {
    const want = [{ level: 6, type: 36, data: 700 }]
    expect(recvmsgMismatch(0, want, res(0, [{ level: 6, type: 36, data: int(700) }]), clock)).toBeUndefined()
    expect(recvmsgMismatch(0, want, res(0, [{ level: 1, type: 36, data: int(700) }]), clock)).toBe('Bad level in cmsg 0: expected=6 actual=1')
    expect(recvmsgMismatch(0, want, res(0, [{ level: 6, type: 35, data: int(700) }]), clock)).toBe('Bad type in cmsg 0: expected=36 actual=35')
    expect(recvmsgMismatch(0, want, res(0, [{ level: 6, type: 36, data: Buffer.alloc(8) }]), clock)).toBe('Bad len in cmsg 0: expected=20 actual=24')
    expect(recvmsgMismatch(0, want, res(0, [{ level: 6, type: 36, data: int(699) }]), clock)).toBe('Bad data in cmsg 0: expected=700 actual=699')
    expect(recvmsgMismatch(0, want, res(0, []), clock)).toBe('received only 0 cmsgs')
    expect(recvmsgMismatch(0, [], res(0, [{ level: 6, type: 36, data: int(1) }]), clock)).toBe('received more than 0 cmsgs')
  })

  it('sock_extended_err: each field by name, the offender address counted in the length (IPv4 16, IPv6 28)', () => {
    const e = { errno: 0, origin: 5, type: 0, code: 1, info: 2, data: 3 }
    const want = [{ level: 0, type: 11, ee: e }]
    expect(recvmsgMismatch(0, want, res(0, [{ level: 0, type: 11, data: ee(e) }]), clock)).toBeUndefined()
    expect(recvmsgMismatch(0, want, res(0, [{ level: 0, type: 11, data: ee({ ...e, info: 9 }) }]), clock)).toBe('Bad info in extended err 0: expected=2 actual=9')
    expect(recvmsgMismatch(0, want, res(0, [{ level: 0, type: 11, data: ee({ ...e, origin: 4 }) }]), clock)).toBe('Bad origin in extended err 0: expected=5 actual=4')
    expect(recvmsgMismatch(0, want, res(0, [{ level: 0, type: 11, data: ee(e, 28) }]), clock)).toBe('Bad len in cmsg 0: expected=48 actual=60')
    const want6 = [{ level: 41, type: 25, ee: e }]
    expect(recvmsgMismatch(0, want6, res(0, [{ level: 41, type: 25, data: ee(e, 28) }]), clock)).toBeUndefined()
  })

  it('scm_timestamping: the software stamp within the tolerance of its script time, 0 unchecked', () => {
    const want = [{ level: 1, type: 37, ts: 20_000 }]
    const at = (us: number) => res(0, [{ level: 1, type: 37, data: stamp(clock.realtimeAt + us) }])
    expect(recvmsgMismatch(0, want, at(23_999), clock)).toBeUndefined()
    expect(recvmsgMismatch(0, want, at(16_000), clock)).toBeUndefined()
    expect(recvmsgMismatch(0, want, at(24_001), clock)).toBe(
      `Bad timestamp 0 in scm_timestamping 0: expected=${clock.realtimeAt + 20_000} (20000) actual=${clock.realtimeAt + 24_001} (24001) start=${clock.realtimeAt}`,
    )
    expect(recvmsgMismatch(0, [{ level: 1, type: 37, ts: 0 }], at(999_999), clock)).toBeUndefined()
  })
})

describe('parseMsghdr', () => {
  const msg = (text: string) => (parseScript(`0 recvmsg(3, ${text}, 0) = 0\n`, { file: 't.pkt' }).events[0]!.action as SyscallEvent).args[1]

  it('reads the name flag, iovec lengths, msg_flags and every cmsg form', () => {
    expect(
      parseMsghdr('recvmsg', msg(`{msg_name(...)=..., msg_iov(2)=[{..., 10}, {..., 0}], msg_flags=MSG_ERRQUEUE|MSG_TRUNC,
        msg_control=[{cmsg_level=SOL_TCP, cmsg_type=TCP_CM_INQ, cmsg_data=700},
                     {cmsg_level=SOL_SOCKET, cmsg_type=SCM_TIMESTAMPING, cmsg_data={scm_sec=1, scm_nsec=20000000}},
                     {cmsg_level=SOL_IP, cmsg_type=IP_RECVERR, cmsg_data={ee_errno=ENOMSG, ee_origin=SO_EE_ORIGIN_TIMESTAMPING, ee_type=0, ee_code=0, ee_info=SCM_TSTAMP_SND, ee_data=1999}}]}`)),
    ).toEqual({
      name: true,
      iov: [10, 0],
      flags: 0x2020,
      cmsgs: [
        { level: 6, type: 36, data: 700 },
        { level: 1, type: 37, ts: 1_020_000 },
        { level: 0, type: 11, ee: { errno: 42, origin: 4, type: 0, code: 0, info: 0, data: 1999 } },
      ],
    })
    expect(parseMsghdr('sendmsg', msg('{msg_iov(1)=[{..., 5}], msg_flags=0}'))).toEqual({ name: false, iov: [5], flags: 0, cmsgs: undefined })
  })

  it('says what it cannot read, as a MsghdrUnsupported', () => {
    expect(() => parseMsghdr('recvmsg', msg('{msg_iov(1)=..., msg_flags=0}'))).toThrow(MsghdrUnsupported)
    expect(() => parseMsghdr('recvmsg', msg('{msg_iov(1)=[{..., 5}], msg_bogus=1}'))).toThrow('recvmsg: msghdr field msg_bogus is not supported')
    expect(() => parseMsghdr('recvmsg', msg('{msg_iov(1)=[{..., 5}], msg_control=[{cmsg_level=SOL_TCP, cmsg_type=TCP_CM_INQ, cmsg_data=...}]}'))).toThrow(MsghdrUnsupported)
  })
})
