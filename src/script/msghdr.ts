/**
 * packetdrill's msghdr for sendmsg/recvmsg — `{msg_name(...)=..., msg_iov(n)=[{..., len}, …], msg_flags=…,
 * msg_control=[{cmsg_level=…, cmsg_type=…, cmsg_data=…}, …]}` — read once for both targets, and recvmsg's
 * outputs judged against it in packetdrill's order and words: msg_flags, then each control message's level,
 * type, length and data (an int, the error queue's sock_extended_err field by field, or scm_timestamping's
 * software stamp within the tolerance of its script time).
 */
import type { Expr } from './ast.js'
import { evalInt, structInts } from './symbols.js'

/** A control message a script expects (or sends): an int, a sock_extended_err, or a software timestamp. */
export interface WantCmsg {
  level: number
  type: number
  data?: number
  ee?: { errno: number; origin: number; type: number; code: number; info: number; data: number }
  /** scm_timestamping's software stamp, in script µs (0: not checked). */
  ts?: number
}

/** What a msghdr literal says. */
export interface Msghdr {
  /** `msg_name(...)=...`: the script's remote address goes with the call. */
  name: boolean
  /** Each iovec's length. */
  iov: number[]
  /** msg_flags as written (recvmsg's expected flags). */
  flags: number | undefined
  cmsgs: WantCmsg[] | undefined
}

/** A field a target cannot read; it reports the script `unsupported` with this message. */
export class MsghdrUnsupported extends Error {}

/** Runs a reader and turns its MsghdrUnsupported into the target's own `unsupported` error type. */
export function readingAs<T>(read: () => T, as: new (message: string) => Error): T {
  try {
    return read()
  } catch (e) {
    if (e instanceof MsghdrUnsupported) throw new as(e.message)
    throw e
  }
}

/** The iovec lengths of `[{..., 100}, {..., 200}]`. */
export function iovLengths(name: string, iov: Expr | undefined): number[] {
  if (iov?.kind !== 'array') throw new MsghdrUnsupported(`${name}: the iovec array must be written out`)
  return iov.items.map((it) => {
    const last = it.kind === 'struct' ? it.items[it.items.length - 1] : undefined
    const n = last === undefined ? undefined : last.kind === 'assign' ? evalInt(last.value) : evalInt(last)
    if (n === undefined) throw new MsghdrUnsupported(`${name}: cannot read an iovec length`)
    return n
  })
}

/** Reads a msghdr literal; `name` is the call's name, for messages. */
export function parseMsghdr(name: string, m: Expr | undefined): Msghdr {
  if (m?.kind !== 'struct') throw new MsghdrUnsupported(`${name}: the msghdr must be written out as {msg_name(...)=..., msg_iov(n)=[...], ...}`)
  const out: Msghdr = { name: false, iov: [], flags: undefined, cmsgs: undefined }
  for (const f of m.items) {
    if (f.kind !== 'assign' || (f.target.kind !== 'word' && f.target.kind !== 'call')) throw new MsghdrUnsupported(`${name}: unexpected msghdr field`)
    const v = f.value
    switch (f.target.name) {
      case 'msg_name':
        out.name = true
        break
      case 'msg_namelen':
        break
      case 'msg_iov':
        out.iov = iovLengths(name, v)
        break
      case 'msg_flags':
        if (v.kind === 'ellipsis') break
        out.flags = evalInt(v)
        if (out.flags === undefined) throw new MsghdrUnsupported(`${name}: cannot evaluate msg_flags`)
        break
      case 'msg_control':
        if (v.kind === 'ellipsis') break
        if (v.kind !== 'array') throw new MsghdrUnsupported(`${name}: msg_control must be an array of cmsgs`)
        out.cmsgs = v.items.map((it) => cmsgOf(name, it))
        break
      default:
        throw new MsghdrUnsupported(`${name}: msghdr field ${f.target.name} is not supported`)
    }
  }
  return out
}

function cmsgOf(name: string, it: Expr): WantCmsg {
  const c = it.kind === 'struct' ? structInts(it) : undefined
  const level = c?.get('cmsg_level')
  const type = c?.get('cmsg_type')
  const raw = it.kind === 'struct' ? it.items.find((x) => x.kind === 'assign' && x.target.kind === 'word' && x.target.name === 'cmsg_data') : undefined
  const data = raw?.kind === 'assign' ? raw.value : undefined
  if (level !== undefined && type !== undefined && data?.kind === 'struct') {
    const f = structInts(data)
    // {scm_sec=…, scm_nsec=…}: a software timestamp in script time (the first of scm_timestamping's three).
    if (f.has('scm_sec') || f.has('scm_nsec')) return { level, type, ts: (f.get('scm_sec') ?? 0) * 1_000_000 + Math.trunc((f.get('scm_nsec') ?? 0) / 1000) }
    // {ee_errno=…, ee_origin=…, …}: a sock_extended_err from the error queue (IP_RECVERR / IPV6_RECVERR).
    return { level, type, ee: { errno: f.get('ee_errno') ?? 0, origin: f.get('ee_origin') ?? 0, type: f.get('ee_type') ?? 0, code: f.get('ee_code') ?? 0, info: f.get('ee_info') ?? 0, data: f.get('ee_data') ?? 0 } }
  }
  const d = c?.get('cmsg_data')
  if (level === undefined || type === undefined || d === undefined) throw new MsghdrUnsupported(`${name}: only cmsgs with an integer, sock_extended_err or scm_timestamping cmsg_data are supported`)
  return { level, type, data: d }
}

/** How a script time becomes the wall clock the kernel stamps with, and how close a stamp must be. */
export interface StampClock {
  /** CLOCK_REALTIME µs at script time 0. */
  realtimeAt: number
  tolerance: number
}

/** A control message as received: its level, type and data bytes. */
export interface GotCmsg {
  level: number
  type: number
  data: Uint8Array
}

/** cmsg_len of a control message with `n` data bytes (CMSG_LEN on 64-bit Linux: a 16-byte header). */
const cmsgLen = (n: number): number => 16 + n

/** A received int control message's bytes (host order, as the kernel writes them). */
export function intCmsgData(v: number): Uint8Array {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setInt32(0, v, true)
  return b
}

/** recvmsg's outputs against the script's msg_flags and cmsgs, in packetdrill's order and words; undefined when they agree. */
export function recvmsgMismatch(flags: number, want: readonly WantCmsg[], gotFlags: number, got: readonly GotCmsg[], clock: StampClock): string | undefined {
  const hex = (n: number) => '0x' + (n >>> 0).toString(16).toUpperCase().padStart(8, '0')
  if (gotFlags !== flags) return `Expected msg_flags ${hex(flags)} but got ${hex(gotFlags)}`
  const n = Math.min(got.length, want.length)
  for (let i = 0; i < n; i++) {
    const e = want[i]!
    const c = got[i]!
    const d = new DataView(c.data.buffer, c.data.byteOffset, c.data.byteLength)
    if (c.level !== e.level) return `Bad level in cmsg ${i}: expected=${e.level} actual=${c.level}`
    if (c.type !== e.type) return `Bad type in cmsg ${i}: expected=${e.type} actual=${c.type}`
    if (e.ts !== undefined) {
      // struct scm_timestamping: three timespecs (software, deprecated, hardware), 16 bytes each.
      if (c.data.length !== 48) return `Bad len in cmsg ${i}: expected=${cmsgLen(48)} actual=${cmsgLen(c.data.length)}`
      if (e.ts === 0) continue
      const actual = Number(d.getBigInt64(0, true)) * 1_000_000 + Math.trunc(Number(d.getBigInt64(8, true)) / 1000)
      const expected = clock.realtimeAt + e.ts
      if (Math.abs(expected - actual) > clock.tolerance) {
        return `Bad timestamp 0 in scm_timestamping ${i}: expected=${expected} (${expected - clock.realtimeAt}) actual=${actual} (${actual - clock.realtimeAt}) start=${clock.realtimeAt}`
      }
      continue
    }
    if (e.ee) {
      // ip(v6)_recv_error hands back the sock_extended_err (16 bytes) and the offender's sockaddr after it.
      const len = 16 + (e.level === 0 ? 16 : 28)
      if (c.data.length !== len) return `Bad len in cmsg ${i}: expected=${cmsgLen(len)} actual=${cmsgLen(c.data.length)}`
      const gotEe = { errno: d.getUint32(0, true), origin: d.getUint8(4), type: d.getUint8(5), code: d.getUint8(6), info: d.getUint32(8, true), data: d.getUint32(12, true) }
      for (const k of ['errno', 'origin', 'type', 'code', 'info', 'data'] as const) {
        if (gotEe[k] !== e.ee[k] >>> 0) return `Bad ${k} in extended err ${i}: expected=${e.ee[k] >>> 0} actual=${gotEe[k]}`
      }
      continue
    }
    // An int's cmsg: cmsg_len is the 16-byte header and 4 data bytes.
    if (c.data.length !== 4) return `Bad len in cmsg ${i}: expected=${cmsgLen(4)} actual=${cmsgLen(c.data.length)}`
    const v = d.getInt32(0, true)
    if (v !== ((e.data ?? 0) | 0)) return `Bad data in cmsg ${i}: expected=${e.data} actual=${v}`
  }
  if (got.length > want.length) return `received more than ${n} cmsgs`
  if (got.length < want.length) return `received only ${n} cmsgs`
  return undefined
}
