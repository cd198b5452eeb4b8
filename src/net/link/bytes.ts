/**
 * Byte helpers and fixed link addresses shared by the link layer (ARP, NDP, IP over Ethernet). The
 * per-packet paths compare in place rather than through views, so nothing is allocated per frame.
 */

/** ff:ff:ff:ff:ff:ff. */
export const BROADCAST_MAC = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
/** 00:00:00:00:00:00 (an ARP request's unknown target). */
export const ZERO_MAC = new Uint8Array(6)

/** Whether `a` and `b` hold the same bytes. */
export const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Whether `buf` holds `b` at `off`. */
export const bytesAt = (buf: Uint8Array, off: number, b: Uint8Array): boolean => {
  if (off + b.length > buf.length) return false
  for (let i = 0; i < b.length; i++) if (buf[off + i] !== b[i]) return false
  return true
}
