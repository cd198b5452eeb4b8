/**
 * The neutral model every ladder diagram is drawn from: two ends and one row per segment, with the state
 * each end is in after it. Live runs fill it from the interface's packet and trace events; `tcplab
 * inspect` fills it from a capture (where states are inferred from what each end sent and received).
 */
import type { TcpOption } from '../../tcp/options.js'

/** One end of the exchange. */
export interface LadderEnd {
  /** Shown as the column title, e.g. "client" or "tcplab (userland)". */
  label: string
  /** Address and port as text, e.g. "198.18.0.1:40000" or "[2001:2::1]:40000". */
  endpoint: string
  /** The end's initial sequence number, when known (relative numbers are counted from it). */
  isn?: number
}

/** One segment on the wire. */
export interface LadderRow {
  /** Who sent it. */
  from: 'left' | 'right'
  /** Microseconds since the first row (or an absolute clock; renderers print differences). */
  timeUs: number
  /** Flags as letters in FSRPAUEC order (formatFlags). */
  flags: string
  /** Absolute sequence and acknowledgment numbers as on the wire. */
  seq: number
  ack: number
  /** True when the ACK flag is set (ack is meaningful). */
  hasAck: boolean
  /** Payload length. */
  len: number
  /** Window field as sent (unscaled) and, where known, the scaled value in bytes. */
  window: number
  scaledWindow?: number
  options: TcpOption[]
  /** State of each end after this segment, when known (RFC 9293 names). */
  leftState?: string
  rightState?: string
  /** Extra annotations: "retransmission", "bad checksum", "dropped by tcplab", "challenge ACK"… */
  notes?: string[]
  /** The segment never reached the other end (a loss injected or observed). */
  lost?: boolean
}

/** A whole exchange: the ladder of one connection. */
export interface LadderExchange {
  title?: string
  left: LadderEnd
  right: LadderEnd
  rows: LadderRow[]
  /** Closing line: "established", "refused (RST)", "closed with FIN both ways"… */
  outcome?: string
  /** Segments left out of `rows` (the middle of a long connection): `omitted` of them after `rows[after - 1]`. */
  gap?: { after: number; omitted: number }
}

/** How numbers are shown: relative to each side's ISN (Wireshark's default) or as on the wire. */
export interface LadderOptions {
  absolute?: boolean
  /** Colours (ANSI) for the text renderer; callers decide from TTY/NO_COLOR. */
  color?: boolean
  /** Terminal width for the text renderer (default 100). */
  width?: number
  /**
   * Most segments drawn (default {@link DEFAULT_LADDER_ROWS}): past it the first half and the last half
   * are drawn with a marked gap between them that says how many were left out.
   */
  maxRows?: number
  /**
   * Time-proportional vertical spacing: extra space before each segment in pixels per millisecond since
   * the previous one (text: one line per 17 px), capped at {@link MAX_TIME_GAP_PX} with a break mark
   * showing the time. Unset: even spacing. Mermaid ignores it.
   */
  timeScale?: number
}

/** Default most segments drawn in a ladder: the first 250 and the last 250 of a longer one. */
export const DEFAULT_LADDER_ROWS = 500
/** The longest time-proportional gap drawn (pixels); a longer one is drawn this tall with a break mark. */
export const MAX_TIME_GAP_PX = 340
