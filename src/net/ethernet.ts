/**
 * Ethernet II frames (IEEE 802.3 clause 3) with at most one 802.1Q / 802.1ad tag: a zero-copy view with
 * named offsets and a plain repr. Frames are as a capture or a packet socket shows them: no preamble,
 * no FCS.
 */
import { WireError } from '../tcp/errors.js'

/** EtherType of IPv4 (RFC 894). */
export const ETHERTYPE_IPV4 = 0x0800
/** EtherType of ARP (RFC 826). */
export const ETHERTYPE_ARP = 0x0806
/** EtherType of IPv6 (RFC 2464). */
export const ETHERTYPE_IPV6 = 0x86dd
/** TPID of an 802.1Q VLAN tag (C-tag). */
export const ETHERTYPE_VLAN = 0x8100
/** TPID of an 802.1ad service tag (S-tag), the outer tag of QinQ. */
export const ETHERTYPE_QINQ = 0x88a8

/** Header length without a tag: two addresses and the EtherType. */
export const ETHERNET_HEADER_LEN = 14
/** A tag adds TPID and TCI. */
export const VLAN_TAG_LEN = 4
/** The shortest frame on the wire without FCS (64 − 4); shorter frames are padded (IEEE 802.3 §4.2.3.3). */
export const ETHERNET_MIN_FRAME_LEN = 60

/** Byte offsets of the header fields; the tag fields exist only when TPID is 0x8100 or 0x88a8. */
export const EthernetOffset = {
  DST: 0,
  SRC: 6,
  ETHERTYPE: 12,
  /** The same two bytes as ETHERTYPE, read as a tag protocol identifier. */
  TPID: 12,
  TCI: 14,
  INNER_ETHERTYPE: 16,
  PAYLOAD: 14,
  TAGGED_PAYLOAD: 18,
} as const

const O = EthernetOffset

/** One VLAN tag: the TPID it came with and the TCI fields (PCP, DEI, VID). */
export interface VlanTag {
  /** 0x8100 (802.1Q) or 0x88a8 (802.1ad); emit writes 0x8100 when absent. */
  tpid?: number
  /** Priority code point, 3 bits. */
  pcp: number
  /** Drop eligible indicator. */
  dei: boolean
  /** VLAN identifier, 12 bits. */
  id: number
}

/**
 * An Ethernet frame as plain data. With a tag, `etherType` is the one after the tag. Only one tag is
 * decoded: for QinQ the inner 0x8100 tag stays at the front of the payload, with `etherType` 0x8100.
 */
export interface EthernetRepr {
  dst: Uint8Array
  src: Uint8Array
  vlan?: VlanTag
  etherType: number
  /** Everything after the header, link padding included: the next layer knows its own length. */
  payload: Uint8Array
}

const u16 = (b: Uint8Array, i: number): number => (b[i] << 8) | b[i + 1]
const put16 = (b: Uint8Array, i: number, v: number): void => {
  b[i] = v >>> 8
  b[i + 1] = v & 0xff
}

const isTpid = (t: number): boolean => t === ETHERTYPE_VLAN || t === ETHERTYPE_QINQ

function checkUint(name: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new WireError('ETH_ERR_BAD_FIELD', `Ethernet ${name} ${String(v)} out of range 0..${max}`)
  }
}

function checkMac(name: string, a: Uint8Array): void {
  if (!(a instanceof Uint8Array)) {
    // A plain array of six numbers is the usual mistake: name the type, not its (correct) length.
    const v: unknown = a
    const kind = v === null ? 'null' : typeof v !== 'object' ? typeof v : (Object.getPrototypeOf(v)?.constructor?.name ?? 'object')
    const len = Array.isArray(v) || ArrayBuffer.isView(v) ? ` of length ${(v as { length: number }).length}` : ''
    throw new WireError('ETH_ERR_BAD_ADDRESS', `Ethernet ${name} address needs a Uint8Array of 6 bytes, got ${kind}${len}`)
  }
  if (a.length !== 6) throw new WireError('ETH_ERR_BAD_ADDRESS', `Ethernet ${name} address needs 6 bytes, got ${a.length}`)
}

/** The checks behind EthernetView.check and the parser, without allocating a view. */
function validate(bytes: Uint8Array): void {
  if (bytes.length < ETHERNET_HEADER_LEN) {
    throw new WireError('ETH_ERR_TRUNCATED', `Ethernet header needs 14 bytes, got ${bytes.length}`)
  }
  if (isTpid(u16(bytes, O.TPID)) && bytes.length < ETHERNET_HEADER_LEN + VLAN_TAG_LEN) {
    throw new WireError('ETH_ERR_TRUNCATED', `tagged Ethernet header needs 18 bytes, got ${bytes.length}`)
  }
}

/**
 * A view over the bytes of an Ethernet frame. The constructor trusts its input; `EthernetView.check`
 * validates untrusted bytes. Tag accessors are meaningful only when `tagged`.
 */
export class EthernetView {
  constructor(readonly bytes: Uint8Array) {}

  /** Checks that the header (and the tag, when the TPID says there is one) is present. */
  static check(bytes: Uint8Array): EthernetView {
    validate(bytes)
    return new EthernetView(bytes)
  }

  /** A subarray: writes through it change the frame. */
  get dst(): Uint8Array {
    return this.bytes.subarray(O.DST, O.DST + 6)
  }
  set dst(a: Uint8Array) {
    checkMac('destination', a)
    this.bytes.set(a, O.DST)
  }
  get src(): Uint8Array {
    return this.bytes.subarray(O.SRC, O.SRC + 6)
  }
  set src(a: Uint8Array) {
    checkMac('source', a)
    this.bytes.set(a, O.SRC)
  }
  /** The two bytes at offset 12: the EtherType, or the TPID of a tag. */
  get outerEtherType(): number {
    return u16(this.bytes, O.ETHERTYPE)
  }
  set outerEtherType(v: number) {
    checkUint('EtherType', v, 0xffff)
    put16(this.bytes, O.ETHERTYPE, v)
  }
  /** True when offset 12 holds 0x8100 or 0x88a8. */
  get tagged(): boolean {
    return isTpid(u16(this.bytes, O.TPID))
  }
  /** Tag control information: PCP (3 bits), DEI (1), VID (12). */
  get tci(): number {
    return u16(this.bytes, O.TCI)
  }
  set tci(v: number) {
    checkUint('TCI', v, 0xffff)
    put16(this.bytes, O.TCI, v)
  }
  get pcp(): number {
    return this.bytes[O.TCI] >>> 5
  }
  set pcp(v: number) {
    checkUint('PCP', v, 7)
    this.bytes[O.TCI] = (v << 5) | (this.bytes[O.TCI] & 0x1f)
  }
  get dei(): boolean {
    return (this.bytes[O.TCI] & 0x10) !== 0
  }
  set dei(v: boolean) {
    this.bytes[O.TCI] = v ? this.bytes[O.TCI] | 0x10 : this.bytes[O.TCI] & ~0x10
  }
  get vlanId(): number {
    return u16(this.bytes, O.TCI) & 0x0fff
  }
  set vlanId(v: number) {
    checkUint('VLAN id', v, 0xfff)
    put16(this.bytes, O.TCI, (u16(this.bytes, O.TCI) & 0xf000) | v)
  }
  /** The EtherType of the payload: after the tag when tagged. */
  get etherType(): number {
    return u16(this.bytes, this.tagged ? O.INNER_ETHERTYPE : O.ETHERTYPE)
  }
  set etherType(v: number) {
    checkUint('EtherType', v, 0xffff)
    put16(this.bytes, this.tagged ? O.INNER_ETHERTYPE : O.ETHERTYPE, v)
  }
  /** 14, or 18 with a tag. */
  get headerLen(): number {
    return this.tagged ? O.TAGGED_PAYLOAD : O.PAYLOAD
  }
  get payload(): Uint8Array {
    return this.bytes.subarray(this.headerLen)
  }
}

/** Parses a frame; the payload is a subarray. Throws `ETH_ERR_TRUNCATED`. */
export function parseEthernet(bytes: Uint8Array): EthernetRepr {
  validate(bytes)
  const b = bytes
  const outer = u16(b, O.ETHERTYPE)
  const repr: EthernetRepr = {
    dst: b.subarray(O.DST, O.DST + 6),
    src: b.subarray(O.SRC, O.SRC + 6),
    etherType: outer,
    payload: b.subarray(O.PAYLOAD),
  }
  if (isTpid(outer)) {
    const tci = u16(b, O.TCI)
    repr.vlan = { tpid: outer, pcp: tci >>> 13, dei: (tci & 0x1000) !== 0, id: tci & 0x0fff }
    repr.etherType = u16(b, O.INNER_ETHERTYPE)
    repr.payload = b.subarray(O.TAGGED_PAYLOAD)
  }
  return repr
}

/** Header bytes emit writes: 14, or 18 with a tag. */
export function ethernetHeaderLen(repr: Pick<EthernetRepr, 'vlan'> & Partial<EthernetRepr>): number {
  return repr.vlan ? O.TAGGED_PAYLOAD : O.PAYLOAD
}

/** Bytes emitEthernet writes: header plus payload, or at least 60 with `pad`. */
export function ethernetLen(
  repr: Pick<EthernetRepr, 'vlan' | 'payload'> & Partial<EthernetRepr>,
  opts?: { pad?: boolean },
): number {
  const n = ethernetHeaderLen(repr) + repr.payload.length
  return opts?.pad && n < ETHERNET_MIN_FRAME_LEN ? ETHERNET_MIN_FRAME_LEN : n
}

/**
 * Writes the header only and returns its length; the caller writes the payload right after it. Throws
 * `ETH_ERR_BAD_FIELD` / `ETH_ERR_BAD_ADDRESS` on a bad field, `ERR_BAD_ARGUMENT` when `into` is too short.
 */
export function emitEthernetHeader(
  repr: Omit<EthernetRepr, 'payload'>,
  into: Uint8Array,
  offset: number,
): number {
  return writeHeader(repr, into, offset, 0)
}

function writeHeader(repr: Omit<EthernetRepr, 'payload'>, into: Uint8Array, offset: number, extra: number): number {
  checkMac('destination', repr.dst)
  checkMac('source', repr.src)
  checkUint('EtherType', repr.etherType, 0xffff)
  const v = repr.vlan
  if (v) {
    const tpid = v.tpid ?? ETHERTYPE_VLAN
    if (!isTpid(tpid)) {
      throw new WireError('ETH_ERR_BAD_FIELD', `VLAN TPID 0x${tpid.toString(16)} is neither 0x8100 nor 0x88a8`)
    }
    checkUint('PCP', v.pcp, 7)
    checkUint('VLAN id', v.id, 0xfff)
  }
  const hl = ethernetHeaderLen(repr)
  if (!Number.isInteger(offset) || offset < 0 || offset + hl + extra > into.length) {
    throw new WireError('ERR_BAD_ARGUMENT', `Ethernet needs ${hl + extra} bytes at offset ${offset} of ${into.length}`)
  }
  into.set(repr.dst, offset + O.DST)
  into.set(repr.src, offset + O.SRC)
  if (v) {
    put16(into, offset + O.TPID, v.tpid ?? ETHERTYPE_VLAN)
    put16(into, offset + O.TCI, (v.pcp << 13) | (v.dei ? 0x1000 : 0) | v.id)
    put16(into, offset + O.INNER_ETHERTYPE, repr.etherType)
  } else {
    put16(into, offset + O.ETHERTYPE, repr.etherType)
  }
  return hl
}

/**
 * Writes the frame at `into[offset]` and returns the bytes written. No padding unless `pad` is set (a
 * packet socket or the kernel pads short frames); with it, zeros fill the frame up to 60 bytes.
 */
export function emitEthernet(
  repr: EthernetRepr,
  into: Uint8Array,
  offset: number,
  opts?: { pad?: boolean },
): number {
  const n = ethernetLen(repr, opts)
  const hl = writeHeader(repr, into, offset, n - ethernetHeaderLen(repr))
  into.set(repr.payload, offset + hl)
  const end = offset + hl + repr.payload.length
  if (end < offset + n) into.fill(0, end, offset + n)
  return n
}
