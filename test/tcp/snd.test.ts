/**
 * The send ring on its own (src/tcp/snd.ts): writes that wrap, views that stop at the wrap, and a resize
 * (SO_SNDBUF on an open connection) that keeps every queued byte in order and never shrinks below it.
 */
import { describe, expect, it } from 'vitest'
import { SendBuffer } from '../../src/tcp/snd.js'

const bytes = (from: number, n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (from + i) & 0xff)

describe('SendBuffer', () => {
  it('takes what fits, wraps, and views stop at the ring\'s end', () => {
    const b = new SendBuffer(8)
    expect(b.write(bytes(0, 6))).toBe(6)
    b.consume(4)
    expect(b.write(bytes(6, 10))).toBe(6) // 2 queued + 6 = full
    expect([b.length, b.free]).toEqual([8, 0])
    expect([...b.view(0, 8)]).toEqual([4, 5, 6, 7]) // up to the wrap
    expect([...b.view(4, 8)]).toEqual([8, 9, 10, 11])
  })

  it('resize keeps the queued bytes in order across the wrap, and never goes below them', () => {
    const b = new SendBuffer(8)
    b.write(bytes(0, 6))
    b.consume(4)
    b.write(bytes(6, 6)) // queued 4..11, wrapped
    const handed = b.view(0, 4) // a segment already sent keeps its bytes
    b.resize(20)
    expect([b.capacity, b.length, b.free]).toEqual([20, 8, 12])
    expect([...b.view(0, 20)]).toEqual([...bytes(4, 8)])
    expect([...handed]).toEqual([4, 5, 6, 7])
    expect(b.write(bytes(12, 20))).toBe(12)
    expect([...b.view(0, 20)]).toEqual([...bytes(4, 20)])
    b.resize(3) // below what is queued: the ring stays at the queued length, and takes nothing more
    expect([b.capacity, b.length, b.free]).toEqual([20, 20, 0])
    b.consume(18)
    b.resize(3)
    expect([b.capacity, b.length, b.free, ...b.view(0, 3)]).toEqual([3, 2, 1, 22, 23])
  })

  it('resizes before the first write without allocating', () => {
    const b = new SendBuffer(4)
    b.resize(10)
    expect(b.write(bytes(0, 12))).toBe(10)
    expect([...b.view(0, 10)]).toEqual([...bytes(0, 10)])
  })
})
