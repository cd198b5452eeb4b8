/**
 * Loss recovery, one policy per file behind one interface (recovery.ts), chosen once the handshake says
 * whether SACK is in use: NewReno (RFC 6582 with RFC 5681 fast retransmit and RFC 3042 limited transmit,
 * newreno.ts) without it, RFC 6675 with RACK-TLP loss detection (RFC 8985; sack-recovery.ts and rack.ts)
 * with it. As gVisor's lossRecovery (reno_recovery.go, sack_recovery.go) and Linux's tcp_recovery.c.
 */
import type { Seq } from '../seq.js'
import { NewRenoRecovery } from './newreno.js'
import type { LossRecovery, RecoveryHost } from './recovery.js'
import { SackRecovery } from './sack-recovery.js'

export { RecoveryView, type LossRecovery, type RecoveryActions, type RecoveryHost, type RecoverySource } from './recovery.js'
export { NewRenoRecovery } from './newreno.js'
export { SackRecovery } from './sack-recovery.js'

/** The recovery for a connection: SACK's when both ends agreed on it (RFC 2018), else NewReno; `recover` starts at `una`. */
export function createRecovery(sack: boolean, host: RecoveryHost, una: Seq): LossRecovery {
  return sack ? new SackRecovery(host, una) : new NewRenoRecovery(host, una)
}
