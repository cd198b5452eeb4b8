/**
 * Typed errors for every decoder and encoder. Codes are stable strings: scripts and the CLI's `--json`
 * output rely on them, so extend this list rather than renaming an entry (the ws style: WS_ERR_…).
 */

/** Every error code a codec, device or the CLI may raise. */
export type WireErrorCode =
  // TCP segment and options
  | 'TCP_ERR_TRUNCATED'
  | 'TCP_ERR_BAD_DATA_OFFSET'
  | 'TCP_ERR_BAD_CHECKSUM'
  | 'TCP_ERR_BAD_OPTION_LENGTH'
  | 'TCP_ERR_OPTION_OVERRUN'
  | 'TCP_ERR_OPTIONS_TOO_LONG'
  | 'TCP_ERR_BAD_FIELD'
  // IPv4 / IPv6
  | 'IP_ERR_TRUNCATED'
  | 'IP_ERR_BAD_VERSION'
  | 'IP_ERR_BAD_IHL'
  | 'IP_ERR_BAD_TOTAL_LENGTH'
  | 'IP_ERR_BAD_CHECKSUM'
  | 'IP_ERR_BAD_EXTENSION'
  | 'IP_ERR_BAD_FIELD'
  | 'IP_ERR_NOT_TCP'
  | 'IP_ERR_FRAGMENT'
  | 'IP_ERR_BAD_ADDRESS'
  // Ethernet / ARP
  | 'ETH_ERR_TRUNCATED'
  | 'ETH_ERR_BAD_ADDRESS'
  | 'ETH_ERR_BAD_FIELD'
  | 'ARP_ERR_TRUNCATED'
  | 'ARP_ERR_UNSUPPORTED'
  | 'ARP_ERR_BAD_FIELD'
  // capture files
  | 'PCAP_ERR_TRUNCATED'
  | 'PCAP_ERR_BAD_MAGIC'
  | 'PCAP_ERR_BAD_BLOCK'
  | 'PCAP_ERR_UNSUPPORTED_LINKTYPE'
  | 'PCAP_ERR_TOO_LARGE'
  // devices, privilege and the namespace lab (src/net)
  | 'DEV_ERR_NO_RAW_SOCKET'
  | 'DEV_ERR_NO_CAP'
  | 'DEV_ERR_NO_PACKET_TX'
  | 'DEV_ERR_PERMISSION'
  | 'DEV_ERR_NO_FIREWALL'
  | 'DEV_ERR_NETNS'
  // packetdrill scripts (src/script)
  | 'SCRIPT_ERR_SYNTAX'
  | 'DEV_ERR_CLOSED'
  | 'DEV_ERR_IO'
  | 'DEV_ERR_UNRESOLVED'
  /** A raw socket shares the kernel's address: the port is the kernel's (a listener or a connection of its own). */
  | 'DEV_ERR_PORT_IN_USE'
  /** The capture device's own address is already answered for (by the local kernel or a neighbour). */
  | 'DEV_ERR_ADDRESS_IN_USE'
  // hex input and generic
  | 'HEX_ERR_INVALID'
  | 'ERR_BAD_ARGUMENT'

/** The one error type every codec throws; `code` is stable, `message` is for people. */
export class WireError extends Error {
  override readonly name = 'WireError'
  constructor(
    readonly code: WireErrorCode,
    message: string,
  ) {
    super(message)
  }
}

/** True when `e` is a WireError (optionally with the given code). */
export function isWireError(e: unknown, code?: WireErrorCode): e is WireError {
  return e instanceof WireError && (code === undefined || e.code === code)
}
