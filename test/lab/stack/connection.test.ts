/**
 * The connection table: lookup by exact 4-tuple, and chains of connections whose tuples share a hash.
 * Colliding tuples are made, not searched for: every step of tupleHash is invertible, so the ports that
 * give another address pair the same hash can be computed backwards from it.
 */
import { describe, expect, it } from 'vitest'
import { Connection, ConnectionTable, tupleHash } from '../../../src/lab/stack/connection.js'
import type { Interface } from '../../../src/lab/stack/iface.js'
import type { Tcb } from '../../../src/tcp/tcb.js'
import type { FourTuple } from '../../../src/tcp/types.js'

const P = 0x01000193
/** P's inverse modulo 2^32 (Newton's iteration doubles the correct bits each round). */
let PINV = P
for (let i = 0; i < 5; i++) PINV = Math.imul(PINV, 2 - Math.imul(P, PINV))

/** Ports (local, remote) that give `local`–`remote` the hash `h`, or undefined when one would be 0. */
function portsFor(h: number, local: Uint8Array, remote: Uint8Array): [number, number] | undefined {
  let x = (h ^ (h >>> 16)) >>> 0
  for (let i = local.length - 1; i >= 0; i--) x = (Math.imul(x, PINV) ^ local[i]) >>> 0
  for (let i = remote.length - 1; i >= 0; i--) x = (Math.imul(x, PINV) ^ remote[i]) >>> 0
  const v = (Math.imul(x, PINV) ^ 0x811c9dc5) >>> 0
  const lport = v >>> 16
  const rport = v & 0xffff
  return lport === 0 || rport === 0 ? undefined : [lport, rport]
}

/** A tuple on another remote address with the same hash as `t`. */
function collidingWith(t: FourTuple, firstByte: number): FourTuple {
  const h = tupleHash(t.localAddr, t.localPort, t.remoteAddr, t.remotePort)
  for (let b = firstByte; b < 256; b++) {
    const remoteAddr = new Uint8Array([10, 0, 0, b])
    const ports = portsFor(h, t.localAddr, remoteAddr)
    if (ports !== undefined) return { localAddr: t.localAddr, localPort: ports[0], remoteAddr, remotePort: ports[1] }
  }
  throw new Error('no colliding tuple')
}

/** A connection around a stand-in TCB: the table reads only its tuple. */
function conn(tuple: FourTuple): Connection {
  return new Connection({ ttl: undefined, tos: undefined } as unknown as Interface, { tuple } as unknown as Tcb)
}

function find(table: ConnectionTable, t: FourTuple): Connection | undefined {
  return table.lookup(t.localAddr, t.localPort, t.remoteAddr, t.remotePort)
}

const a: FourTuple = { localAddr: new Uint8Array([10, 0, 0, 1]), localPort: 50000, remoteAddr: new Uint8Array([10, 0, 0, 2]), remotePort: 80 }
const b = collidingWith(a, 3)
const c = collidingWith(a, b.remoteAddr[3] + 1)

describe('ConnectionTable', () => {
  it('builds three different tuples with one hash (the chain the tests below need)', () => {
    const h = tupleHash(a.localAddr, a.localPort, a.remoteAddr, a.remotePort)
    expect(tupleHash(b.localAddr, b.localPort, b.remoteAddr, b.remotePort)).toBe(h)
    expect(tupleHash(c.localAddr, c.localPort, c.remoteAddr, c.remotePort)).toBe(h)
    expect(new Set([a.remoteAddr[3], b.remoteAddr[3], c.remoteAddr[3]]).size).toBe(3)
  })

  it('finds each connection of a chain by its exact tuple, and nothing by the tuple seen from the other side', () => {
    const table = new ConnectionTable()
    const [ca, cb, cc] = [conn(a), conn(b), conn(c)]
    table.add(ca)
    table.add(cb)
    table.add(cc)
    expect(table.size).toBe(3)
    expect(find(table, a)).toBe(ca)
    expect(find(table, b)).toBe(cb)
    expect(find(table, c)).toBe(cc)
    expect(table.lookup(a.remoteAddr, a.remotePort, a.localAddr, a.localPort)).toBeUndefined()
    expect(table.lookup(a.localAddr, a.localPort, a.remoteAddr, a.remotePort + 1)).toBeUndefined()
    // Newest first within a bucket.
    expect([...table.values()]).toEqual([cc, cb, ca])
  })

  it('unlinks from the middle, the head and the end of a chain, and keeps each TCB mapped to its connection', () => {
    const table = new ConnectionTable()
    const [ca, cb, cc] = [conn(a), conn(b), conn(c)]
    for (const x of [ca, cb, cc]) table.add(x)
    table.remove(cb) // middle: cc → cb → ca
    expect(find(table, b)).toBeUndefined()
    expect(find(table, a)).toBe(ca)
    expect(find(table, c)).toBe(cc)
    expect([...table.values()]).toEqual([cc, ca])
    table.remove(cc) // head
    expect(find(table, c)).toBeUndefined()
    expect(find(table, a)).toBe(ca)
    expect([...table.values()]).toEqual([ca])
    table.remove(ca) // the last one: the bucket goes
    expect(table.size).toBe(0)
    expect([...table.values()]).toEqual([])
    expect(find(table, a)).toBeUndefined()
    for (const x of [ca, cb, cc]) {
      expect(x.next).toBeUndefined()
      expect(table.ofTcb(x.tcb)).toBe(x)
    }
  })
})
