/**
 * The TCB's timers as one record: earliest() is the minimum of the running timers, clearAll() stops them,
 * and the TCB's pollAt reads the record (a delayed ACK, the retransmission timer, TIME-WAIT's 2×MSL).
 */
import { describe, expect, it } from 'vitest'
import { TcbTimers } from '../../src/tcp/timers.js'
import { L, R, drain, send, tcbEstablished, tcbTimeWait } from './helpers.js'

describe('TcbTimers', () => {
  it('earliest() is the smallest running timer, undefined when none runs', () => {
    const t = new TcbTimers()
    expect(t.earliest()).toBeUndefined()
    t.delayedAck = 50
    expect(t.earliest()).toBe(50)
    t.rtx = 70
    t.timeWait = 40
    expect(t.earliest()).toBe(40)
    t.pto = 30
    t.reo = 35
    expect(t.earliest()).toBe(30)
    t.pto = undefined
    expect(t.earliest()).toBe(35)
    t.rtx = 0 // a timer due at time 0 still counts
    expect(t.earliest()).toBe(0)
  })

  it('clearAll() stops every timer and resets the retransmission timer to its retransmit role', () => {
    const t = new TcbTimers()
    Object.assign(t, { rtx: 1, rtxKind: 'persist', pto: 2, reo: 3, timeWait: 4, delayedAck: 5 })
    t.clearAll()
    expect({ ...t }).toEqual({ rtx: undefined, rtxKind: 'retransmit', pto: undefined, reo: undefined, timeWait: undefined, delayedAck: undefined })
    expect(t.earliest()).toBeUndefined()
  })
})

describe('the TCB keeps its timers in the record and pollAt reads it', () => {
  it('a delayed ACK, then the retransmission timer; ABORT clears them all', () => {
    const t = tcbEstablished({ ackDelay: 40_000 })
    send(t, { seq: R(0), ack: L(0), payload: 'x' }, 1_000)
    expect(t.timers.delayedAck).toBe(41_000)
    expect(t.pollAt()).toBe(41_000)
    t.send(new Uint8Array(10))
    expect(drain(t, 2_000)).toHaveLength(1) // the data carries the ACK: the delayed ACK is off
    expect(t.timers.delayedAck).toBeUndefined()
    expect(t.timers.rtx).toBe(2_000 + t.rtt.current)
    expect(t.timers.rtxKind).toBe('retransmit')
    expect(t.pollAt()).toBe(t.timers.rtx)
    t.abort()
    expect(t.timers.earliest()).toBeUndefined()
    expect(t.pollAt()).toBe(0) // the RST waits to go out
    drain(t, 3_000)
    expect(t.pollAt()).toBeUndefined()
  })

  it('TIME-WAIT runs only its 2×MSL timer', () => {
    const t = tcbTimeWait()
    expect({ ...t.timers, timeWait: 'set' }).toEqual({ rtx: undefined, rtxKind: 'retransmit', pto: undefined, reo: undefined, timeWait: 'set', delayedAck: undefined })
    expect(t.pollAt()).toBe(t.timers.timeWait)
    expect(t.timers.timeWait).toBe(2 * t.config.msl)
  })
})
