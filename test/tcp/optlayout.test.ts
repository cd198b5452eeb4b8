/**
 * The option layout per profile. 'linux' is pinned against the kernel: test/fixtures/linux-syn holds the
 * SYN, SYN+ACK and first ACK of connections between two Linux namespaces for every on/off combination of
 * timestamps, SACK and window scaling, IPv4 and IPv6 (scripts/capture-syn-options.sh wrote them; see the
 * fixtures README). For each packet the test reads the values the kernel chose (MSS, shift, TSval, TSecr),
 * asks optlayout for the same offer, emits it, and compares the option bytes. 'rfc' keeps tcplab's own
 * layout, which differs from Linux's only for SACK-permitted without timestamps.
 */
import { readFileSync } from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { emitOptions, optionsLen, parseOptions, type TcpOption } from '../../src/tcp/options.js'
import { dataOptions, NO_OPTIONS, synOptions, type SynOffer } from '../../src/tcp/optlayout.js'
import { seq } from '../../src/tcp/seq.js'
import { resolveConfig } from '../../src/tcp/types.js'

const DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'linux-syn')

/** One TCP segment of a fixture: its flags and the raw option bytes. */
interface Captured {
  flags: number
  options: Uint8Array
}

/** The TCP segments of a little-endian µs pcap of Ethernet frames (what tcpdump -w writes on a veth). */
function readTcp(file: string): Captured[] {
  const b = readFileSync(path.join(DIR, file))
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength)
  expect(v.getUint32(0, true)).toBe(0xa1b2c3d4)
  expect(v.getUint32(20, true)).toBe(1) // LINKTYPE_ETHERNET
  const out: Captured[] = []
  for (let off = 24; off < b.length; ) {
    const caplen = v.getUint32(off + 8, true)
    const f = b.subarray(off + 16, off + 16 + caplen)
    off += 16 + caplen
    const etherType = (f[12] << 8) | f[13]
    let tcp: Uint8Array
    if (etherType === 0x0800) {
      expect(f[14 + 9]).toBe(6)
      tcp = f.subarray(14 + (f[14] & 15) * 4)
    } else {
      expect(etherType).toBe(0x86dd)
      expect(f[14 + 6]).toBe(6) // next header TCP, no extension headers
      tcp = f.subarray(14 + 40)
    }
    out.push({ flags: tcp[13], options: Uint8Array.from(tcp.subarray(20, (tcp[12] >> 4) * 4)) })
  }
  return out
}

const emit = (o: TcpOption[]): Uint8Array => {
  const buf = new Uint8Array(optionsLen(o))
  emitOptions(o, buf, 0)
  return buf
}

/** The offer a captured SYN or SYN+ACK made, read from its options. */
function offerOf(opts: TcpOption[]): SynOffer {
  const offer: SynOffer = { mss: 0, sackPermitted: false, tsVal: undefined, tsEcr: 0, wscale: undefined }
  for (const o of opts) {
    if (o.kind === 'mss') offer.mss = o.value
    else if (o.kind === 'sackPermitted') offer.sackPermitted = true
    else if (o.kind === 'timestamp') [offer.tsVal, offer.tsEcr] = [o.value, o.echo]
    else if (o.kind === 'wscale') offer.wscale = o.shift
  }
  return offer
}

const COMBOS = [0, 1].flatMap((ts) => [0, 1].flatMap((sack) => [0, 1].map((ws) => ({ ts, sack, ws }))))

describe("optlayout 'linux' against the kernel's own SYNs (test/fixtures/linux-syn)", () => {
  for (const fam of [4, 6]) {
    for (const { ts, sack, ws } of COMBOS) {
      const file = `ts${ts}-sack${sack}-ws${ws}-ipv${fam}.pcap`
      it(`${file}: SYN, SYN+ACK and the ACK after them, byte for byte`, () => {
        const [syn, synAck, ack] = readTcp(file)
        expect([syn.flags, synAck.flags, ack.flags]).toEqual([0x02, 0x12, 0x10])
        for (const s of [syn, synAck]) {
          const offer = offerOf(parseOptions(s.options))
          // The capture offers exactly what the namespace's sysctls enabled.
          expect([offer.mss, offer.tsVal !== undefined, offer.sackPermitted, offer.wscale !== undefined]).toEqual([
            fam === 4 ? 1460 : 1440,
            ts === 1,
            sack === 1,
            ws === 1,
          ])
          expect(emit(synOptions('linux', offer))).toEqual(s.options)
        }
        // The first ACK: NOP, NOP, TS with timestamps, no options without.
        const a = parseOptions(ack.options)
        const t = a.find((o) => o.kind === 'timestamp')
        expect(emit(dataOptions(ts === 1, t?.value ?? 0, t?.echo ?? 0, undefined))).toEqual(ack.options)
      })
    }
  }

  it("the 'rfc' layout is Linux's except SACK-permitted without timestamps", () => {
    for (const fam of [4, 6]) {
      for (const { ts, sack, ws } of COMBOS) {
        const [syn] = readTcp(`ts${ts}-sack${sack}-ws${ws}-ipv${fam}.pcap`)
        const same = ts === 1 || sack === 0 || ws === 0
        const rfc = emit(synOptions('rfc', offerOf(parseOptions(syn.options))))
        if (same) expect(rfc).toEqual(syn.options)
        else expect(rfc).not.toEqual(syn.options)
      }
    }
  })
})

describe('optlayout, both profiles', () => {
  const offer = (o: Partial<SynOffer>): SynOffer => ({ mss: 1460, sackPermitted: true, tsVal: 7, tsEcr: 9, wscale: 7, ...o })
  it("'rfc' without timestamps: MSS, NOP, WS, NOP, NOP, SACK_PERM (tcplab's layout, not Linux's)", () => {
    expect(emit(synOptions('rfc', offer({ tsVal: undefined })))).toEqual(Uint8Array.of(2, 4, 0x05, 0xb4, 1, 3, 3, 7, 1, 1, 4, 2))
    expect(emit(synOptions('linux', offer({ tsVal: undefined })))).toEqual(Uint8Array.of(2, 4, 0x05, 0xb4, 1, 1, 4, 2, 1, 3, 3, 7))
  })

  it('every option on: MSS, SACK_PERM, TS, NOP, WS in both', () => {
    const want = Uint8Array.of(2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9, 1, 3, 3, 7)
    expect(emit(synOptions('rfc', offer({})))).toEqual(want)
    expect(emit(synOptions('linux', offer({})))).toEqual(want)
  })

  it('data segments: NOP, NOP, TS then NOP, NOP, SACK; nothing when neither (the shared empty list)', () => {
    expect(dataOptions(false, 0, 0, undefined)).toBe(NO_OPTIONS)
    expect(dataOptions(false, 0, 0, [])).toBe(NO_OPTIONS)
    expect(emit(dataOptions(true, 1, 2, [[seq(3), seq(4)]]))).toEqual(
      Uint8Array.of(1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 1, 5, 10, 0, 0, 0, 3, 0, 0, 0, 4),
    )
    expect(emit(dataOptions(false, 0, 0, [[seq(3), seq(4)]]))).toEqual(Uint8Array.of(1, 1, 5, 10, 0, 0, 0, 3, 0, 0, 0, 4))
  })

  it("TcpConfig.profile defaults to 'rfc' and rejects other names", () => {
    expect(resolveConfig().profile).toBe('rfc')
    expect(resolveConfig({ profile: 'linux' }).profile).toBe('linux')
    expect(() => resolveConfig({ profile: 'bsd' as never })).toThrow(/profile bsd is not one of rfc, linux/)
  })
})
