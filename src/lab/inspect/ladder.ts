/**
 * A captured connection as a ladder diagram model (src/lab/ladder/model.ts): the client on the left, the
 * server on the right, one row per kept segment. A capture shows packets, not states, so each end's state
 * is inferred the RFC 9293 §3.3.2 way from what it sent and received, taking every segment as delivered
 * the moment it was captured (a segment the capture shows but the peer never got still moves the peer).
 */
import { TcpFlags, formatFlags } from '../../tcp/segment.js'
import { seqGe, type Seq } from '../../tcp/seq.js'
import type { LadderExchange, LadderRow } from '../ladder/model.js'
import type { TcpState } from '../../tcp/types.js'
import { endedText, endpointText, type ConnectionReport, type Role, type SegmentRecord } from './report.js'

/** RFC 9293 state names (the TCB's own type). */
export type State = TcpState

/** One end's inferred state and the sequence number its FIN took, once sent. */
interface EndState {
  state: State
  finSeq: number | undefined
  /** Came to SYN-RECEIVED from LISTEN: an RST sends it back there (RFC 9293 §3.10.7.4). */
  passive: boolean
}

/** The state change when `me` sends `seg`. */
function onSend(me: EndState, seg: SegmentRecord): void {
  const f = seg.flags
  if (f & TcpFlags.RST) {
    me.state = 'CLOSED'
    return
  }
  if (f & TcpFlags.SYN) {
    if (!(f & TcpFlags.ACK) && (me.state === 'CLOSED' || me.state === 'LISTEN')) me.state = 'SYN-SENT'
    return
  }
  if (f & TcpFlags.FIN) {
    if (me.finSeq === undefined) me.finSeq = (seg.seq + seg.len) >>> 0
    if (me.state === 'ESTABLISHED' || me.state === 'SYN-RECEIVED') me.state = 'FIN-WAIT-1'
    else if (me.state === 'CLOSE-WAIT') me.state = 'LAST-ACK'
  }
}

/** The state change when `me` receives `seg`. */
function onReceive(me: EndState, seg: SegmentRecord): void {
  const f = seg.flags
  const acksFin = (f & TcpFlags.ACK) !== 0 && me.finSeq !== undefined && seqGe(seg.ack as Seq, ((me.finSeq + 1) >>> 0) as Seq)
  if (f & TcpFlags.RST) {
    // LISTEN ignores an RST; a passive SYN-RECEIVED goes back to LISTEN; anything else is closed.
    if (me.state !== 'LISTEN') me.state = me.state === 'SYN-RECEIVED' && me.passive ? 'LISTEN' : 'CLOSED'
    return
  }
  if (f & TcpFlags.SYN) {
    if (f & TcpFlags.ACK) {
      if (me.state === 'SYN-SENT') me.state = 'ESTABLISHED'
    } else if (me.state === 'LISTEN') {
      me.state = 'SYN-RECEIVED'
      me.passive = true
    } else if (me.state === 'SYN-SENT') me.state = 'SYN-RECEIVED' // simultaneous open (§3.5, figure 8)
    return
  }
  const fin = (f & TcpFlags.FIN) !== 0
  switch (me.state) {
    case 'SYN-RECEIVED':
      if (f & TcpFlags.ACK) me.state = fin ? 'CLOSE-WAIT' : 'ESTABLISHED'
      break
    case 'ESTABLISHED':
      if (fin) me.state = 'CLOSE-WAIT'
      break
    case 'FIN-WAIT-1':
      if (fin) me.state = acksFin ? 'TIME-WAIT' : 'CLOSING'
      else if (acksFin) me.state = 'FIN-WAIT-2'
      break
    case 'FIN-WAIT-2':
      if (fin) me.state = 'TIME-WAIT'
      break
    case 'CLOSING':
      if (acksFin) me.state = 'TIME-WAIT'
      break
    case 'LAST-ACK':
      if (acksFin) me.state = 'CLOSED'
      break
    default:
      break
  }
}

/**
 * The ladder of a connection whose segments were kept (inspect with `keepSegments`). Without kept
 * segments the ladder has no rows. Times are microseconds after the connection's first packet.
 */
export function toLadder(conn: ConnectionReport): LadderExchange {
  const segs = conn.segments ?? []
  // Before its first packet: the client is CLOSED, the server LISTEN — or CLOSED when it refused, or
  // ESTABLISHED for both when the capture starts mid-connection.
  const midStream = conn.handshake === 'not-seen'
  const client: EndState = { state: midStream ? 'ESTABLISHED' : 'CLOSED', finSeq: undefined, passive: false }
  const server: EndState = {
    state: midStream ? 'ESTABLISHED' : conn.handshake === 'refused' ? 'CLOSED' : 'LISTEN',
    finSeq: undefined,
    passive: false,
  }
  const end = (r: Role): EndState => (r === 'client' ? client : server)
  const step = (s: SegmentRecord): void => {
    onSend(end(s.from), s)
    onReceive(end(s.from === 'client' ? 'server' : 'client'), s)
  }
  const gap = conn.segmentsElided
  const rows: LadderRow[] = segs.map((s, i) => {
    // The middle of a long connection is not drawn, but its SYNs, FINs, RSTs and state-moving ACKs still move the states.
    if (gap !== undefined && i === gap.after) for (const m of gap.inference) step(m)
    step(s)
    const row: LadderRow = {
      from: s.from === 'client' ? 'left' : 'right',
      timeUs: s.timeUs,
      flags: formatFlags(s.flags),
      seq: s.seq,
      ack: s.ack,
      hasAck: (s.flags & TcpFlags.ACK) !== 0,
      len: s.len,
      window: s.window,
      options: s.options,
      leftState: client.state,
      rightState: server.state,
    }
    const ws = conn.negotiated?.windowScale
    if (ws && !(s.flags & TcpFlags.SYN)) row.scaledWindow = s.window * 2 ** (s.from === 'client' ? ws.client : ws.server)
    else if (s.flags & TcpFlags.SYN) row.scaledWindow = s.window // RFC 7323 §2.2: never scaled on a SYN
    if (s.notes.length > 0) row.notes = [...s.notes]
    return row
  })
  const ex: LadderExchange = {
    title: `#${conn.index} ${endpointText(conn.client)} → ${endpointText(conn.server)}`,
    left: { label: 'client', endpoint: endpointText(conn.client) },
    right: { label: 'server', endpoint: endpointText(conn.server) },
    rows,
    outcome: endedText(conn),
  }
  if (gap !== undefined) ex.gap = { after: gap.after, omitted: gap.count }
  if (conn.isn.client !== null) ex.left.isn = conn.isn.client
  if (conn.isn.server !== null) ex.right.isn = conn.isn.server
  return ex
}

/**
 * One end's states inferred from the segments it sent (`mine`) and received, starting from `start` — for
 * live ladders, where our own states come from the TCB and the peer's are inferred the same way as in a
 * capture (every segment taken as delivered).
 */
export function inferStates(
  segs: ReadonlyArray<{ mine: boolean; flags: number; seq: number; ack: number; len: number }>,
  start: State,
): State[] {
  const me: EndState = { state: start, finSeq: undefined, passive: false }
  return segs.map((s) => {
    const rec = s as unknown as SegmentRecord
    if (s.mine) onSend(me, rec)
    else onReceive(me, rec)
    return me.state
  })
}
