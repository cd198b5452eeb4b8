/**
 * ARP (RFC 826) for Ethernet and IPv4 only, the one pairing the lab needs: a zero-copy view with named
 * offsets and a plain repr. Other hardware or protocol types are refused, not half-decoded.
 */
import { WireError } from '../tcp/errors.js'

/** Hardware type of Ethernet (IANA ARP parameters: 1). */
export const ARP_HTYPE_ETHERNET = 1
/** Protocol type of IPv4: its EtherType. */
export const ARP_PTYPE_IPV4 = 0x0800
/** Operation: request (RFC 826). */
export const ARP_OP_REQUEST = 1
/** Operation: reply (RFC 826). */
export const ARP_OP_REPLY = 2
/** Length of an Ethernet/IPv4 ARP packet. */
export const ARP_LEN = 28

/** Byte offsets of the fields for hlen 6, plen 4 (RFC 826 "Packet format"). */
export const ArpOffset = {
  HTYPE: 0,
  PTYPE: 2,
  HLEN: 4,
  PLEN: 5,
  OPER: 6,
  SHA: 8,
  SPA: 14,
  THA: 18,
  TPA: 24,
} as const

const O = ArpOffset

/** An Ethernet/IPv4 ARP packet as plain data; addresses are subarrays when parsed. */
export interface ArpRepr {
  /** 1 request, 2 reply; any other 16-bit value is kept as is. */
  op: 1 | 2 | number
  senderMac: Uint8Array
  senderIp: Uint8Array
  targetMac: Uint8Array
  targetIp: Uint8Array
}

const u16 = (b: Uint8Array, i: number): number => (b[i] << 8) | b[i + 1]
const put16 = (b: Uint8Array, i: number, v: number): void => {
  b[i] = v >>> 8
  b[i + 1] = v & 0xff
}

function checkAddr(name: string, a: Uint8Array, len: number): void {
  if (!(a instanceof Uint8Array) || a.length !== len) {
    throw new WireError(
      len === 6 ? 'ETH_ERR_BAD_ADDRESS' : 'IP_ERR_BAD_ADDRESS',
      `ARP ${name} needs ${len} bytes, got ${a?.length}`,
    )
  }
}

function checkUint(name: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new WireError('ARP_ERR_BAD_FIELD', `ARP ${name} ${String(v)} out of range 0..${max}`)
  }
}

/** The checks behind ArpView.check and the parser, without allocating a view. */
function validate(bytes: Uint8Array): void {
  if (bytes.length < ARP_LEN) {
    throw new WireError('ARP_ERR_TRUNCATED', `ARP packet needs 28 bytes, got ${bytes.length}`)
  }
  const htype = u16(bytes, O.HTYPE)
  const ptype = u16(bytes, O.PTYPE)
  if (htype !== ARP_HTYPE_ETHERNET || ptype !== ARP_PTYPE_IPV4 || bytes[O.HLEN] !== 6 || bytes[O.PLEN] !== 4) {
    throw new WireError(
      'ARP_ERR_UNSUPPORTED',
      `ARP htype ${htype} ptype 0x${ptype.toString(16)} hlen ${bytes[O.HLEN]} plen ${bytes[O.PLEN]}; ` +
        'only Ethernet/IPv4 (1, 0x800, 6, 4) is supported',
    )
  }
}

/**
 * A view over the bytes of an ARP packet. The constructor trusts its input; `ArpView.check` validates
 * untrusted bytes (length, then the four type and length fields).
 */
export class ArpView {
  constructor(readonly bytes: Uint8Array) {}

  /**
   * Throws `ARP_ERR_TRUNCATED` below 28 bytes and `ARP_ERR_UNSUPPORTED` unless htype 1, ptype 0x0800,
   * hlen 6, plen 4. Trailing bytes (Ethernet padding) are ignored.
   */
  static check(bytes: Uint8Array): ArpView {
    validate(bytes)
    return new ArpView(bytes)
  }

  get htype(): number {
    return u16(this.bytes, O.HTYPE)
  }
  set htype(v: number) {
    checkUint('hardware type', v, 0xffff)
    put16(this.bytes, O.HTYPE, v)
  }
  get ptype(): number {
    return u16(this.bytes, O.PTYPE)
  }
  set ptype(v: number) {
    checkUint('protocol type', v, 0xffff)
    put16(this.bytes, O.PTYPE, v)
  }
  get hlen(): number {
    return this.bytes[O.HLEN]
  }
  set hlen(v: number) {
    checkUint('hardware length', v, 0xff)
    this.bytes[O.HLEN] = v
  }
  get plen(): number {
    return this.bytes[O.PLEN]
  }
  set plen(v: number) {
    checkUint('protocol length', v, 0xff)
    this.bytes[O.PLEN] = v
  }
  get op(): number {
    return u16(this.bytes, O.OPER)
  }
  set op(v: number) {
    checkUint('operation', v, 0xffff)
    put16(this.bytes, O.OPER, v)
  }
  /** Sender hardware address; a subarray. */
  get senderMac(): Uint8Array {
    return this.bytes.subarray(O.SHA, O.SHA + 6)
  }
  set senderMac(a: Uint8Array) {
    checkAddr('sender MAC', a, 6)
    this.bytes.set(a, O.SHA)
  }
  get senderIp(): Uint8Array {
    return this.bytes.subarray(O.SPA, O.SPA + 4)
  }
  set senderIp(a: Uint8Array) {
    checkAddr('sender IP', a, 4)
    this.bytes.set(a, O.SPA)
  }
  get targetMac(): Uint8Array {
    return this.bytes.subarray(O.THA, O.THA + 6)
  }
  set targetMac(a: Uint8Array) {
    checkAddr('target MAC', a, 6)
    this.bytes.set(a, O.THA)
  }
  get targetIp(): Uint8Array {
    return this.bytes.subarray(O.TPA, O.TPA + 4)
  }
  set targetIp(a: Uint8Array) {
    checkAddr('target IP', a, 4)
    this.bytes.set(a, O.TPA)
  }
}

/** Parses an Ethernet/IPv4 ARP packet (see ArpView.check for errors); addresses are subarrays. */
export function parseArp(bytes: Uint8Array): ArpRepr {
  validate(bytes)
  const b = bytes
  return {
    op: u16(b, O.OPER),
    senderMac: b.subarray(O.SHA, O.SHA + 6),
    senderIp: b.subarray(O.SPA, O.SPA + 4),
    targetMac: b.subarray(O.THA, O.THA + 6),
    targetIp: b.subarray(O.TPA, O.TPA + 4),
  }
}

/** Bytes emitArp writes: always 28. */
export function arpLen(_repr?: ArpRepr): number {
  return ARP_LEN
}

/**
 * Writes the packet at `into[offset]` and returns 28. Throws `ARP_ERR_BAD_FIELD` for an op outside
 * 16 bits, `ETH_ERR_BAD_ADDRESS` / `IP_ERR_BAD_ADDRESS` for a wrong-length address, `ERR_BAD_ARGUMENT`
 * when `into` is too short.
 */
export function emitArp(repr: ArpRepr, into: Uint8Array, offset: number): number {
  checkUint('operation', repr.op, 0xffff)
  checkAddr('sender MAC', repr.senderMac, 6)
  checkAddr('sender IP', repr.senderIp, 4)
  checkAddr('target MAC', repr.targetMac, 6)
  checkAddr('target IP', repr.targetIp, 4)
  if (!Number.isInteger(offset) || offset < 0 || offset + ARP_LEN > into.length) {
    throw new WireError('ERR_BAD_ARGUMENT', `ARP needs 28 bytes at offset ${offset} of ${into.length}`)
  }
  put16(into, offset + O.HTYPE, ARP_HTYPE_ETHERNET)
  put16(into, offset + O.PTYPE, ARP_PTYPE_IPV4)
  into[offset + O.HLEN] = 6
  into[offset + O.PLEN] = 4
  put16(into, offset + O.OPER, repr.op)
  into.set(repr.senderMac, offset + O.SHA)
  into.set(repr.senderIp, offset + O.SPA)
  into.set(repr.targetMac, offset + O.THA)
  into.set(repr.targetIp, offset + O.TPA)
  return ARP_LEN
}
