import { isIP } from 'node:net'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  formatEndpoint,
  formatIp,
  formatMac,
  ipEquals,
  isIpv4Mapped,
  parseEndpoint,
  parseIp,
  parseMac,
} from '../../src/net/addr.js'
import { isWireError, type WireErrorCode } from '../../src/tcp/errors.js'
import { checkFuzz, toHex, codeOf } from '../helpers/codecLaws.js'

/** WHATWG URL host serialisation: RFC 5952 minus the dotted-quad tail (it prints ::ffff:102:304). */
const urlHost = (s: string): string => new URL(`http://[${s}]/`).hostname.slice(1, -1)

describe('parseIp', () => {
  it.each([
    ['0.0.0.0', '00000000'],
    ['127.0.0.1', '7f000001'],
    ['255.255.255.255', 'ffffffff'],
    ['10.9.0.2', '0a090002'],
    ['::', '00000000000000000000000000000000'],
    ['::1', '00000000000000000000000000000001'],
    ['1::', '00010000000000000000000000000000'],
    ['2001:db8::1', '20010db8000000000000000000000001'],
    ['2001:DB8:0:0:8:800:200C:417A', '20010db80000000000080800200c417a'], // RFC 4291 §2.2 example
    ['FF01::101', 'ff010000000000000000000000000101'],
    ['fe80::ff:fe00:a', 'fe80000000000000000000fffe00000a'],
    ['0000:0000:0000:0000:0000:0000:0000:0001', '00000000000000000000000000000001'],
    ['1:2:3:4:5:6:7::', '00010002000300040005000600070000'], // :: standing for one group
    ['::2:3:4:5:6:7:8', '00000002000300040005000600070008'],
    ['::ffff:1.2.3.4', '00000000000000000000ffff01020304'],
    ['::13.1.68.3', '0000000000000000000000000d014403'], // RFC 4291 §2.2 form 3
    ['1:2:3:4:5:6:1.2.3.4', '00010002000300040005000601020304'],
    ['64:ff9b::192.0.2.33', '0064ff9b0000000000000000c0000221'],
  ])('%s', (text, bytes) => {
    expect(toHex(parseIp(text))).toBe(bytes)
  })

  it.each([
    '',
    ' 1.2.3.4',
    '1.2.3.4 ',
    '1.2.3',
    '1.2.3.4.5',
    '1.2.3.256',
    '01.2.3.4', // leading zero: octal in inet_aton, refused here
    '1.2.3.04',
    '1.2.3.-1',
    '1.2..4',
    '0x7f.0.0.1',
    '1e2.0.0.1',
    ':',
    ':::',
    '1::2::3',
    ':1::',
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7:8::',
    '::1:2:3:4:5:6:7:8',
    '12345::',
    '00001::',
    'g::',
    'fe80::1%eth0', // zone ids belong to sockets, not addresses
    '::ffff:1.2.3',
    '::ffff:01.2.3.4',
    '::1.2.3.4:5',
    '1.2.3.4::',
    '1:2:3:4:5:6:7:1.2.3.4',
    '[::1]',
  ])('rejects %j', (text) => {
    expect(codeOf(() => parseIp(text))).toBe('IP_ERR_BAD_ADDRESS')
  })

  it('accepts exactly what node:net isIP accepts, on strings made of address characters', () => {
    const chars = fc.constantFrom(...'0123456789abcdefABCDEF:.'.split(''), ':', ':', '.', '0', '1', 'f')
    const text = fc.oneof(
      fc.string({ unit: chars, maxLength: 45 }),
      // mutate a canonical address: it keeps the shape, so both accept and reject get exercised
      fc
        .tuple(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.nat(), chars)
        .map(([b, at, c]) => {
          const s = formatIp(b)
          const i = at % (s.length + 1)
          return s.slice(0, i) + c + s.slice(i + (at & 1))
        }),
    )
    fc.assert(
      fc.property(text, (s) => {
        const ours = codeOf(() => parseIp(s)) === 'no error'
        expect(ours, s).toBe(isIP(s) !== 0)
      }),
      { numRuns: 5000 },
    )
  })
})

describe('formatIp', () => {
  it.each([
    // RFC 5952 §4.1 leading zeros, §4.2.1 longest run, §4.2.2 no single group, §4.2.3 first tie, §4.3 lowercase
    ['2001:0db8::0001', '2001:db8::1'],
    ['2001:db8:0:0:0:0:2:1', '2001:db8::2:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:DB8::AAAA', '2001:db8::aaaa'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['1:0:0:0:0:0:0:0', '1::'],
    ['1:0:2:3:4:5:6:0', '1:0:2:3:4:5:6:0'],
    ['fe80:0:0:0:0:ff:fe00:a', 'fe80::ff:fe00:a'],
    ['0:0:0:0:0:ffff:c000:0280', '::ffff:192.0.2.128'], // RFC 5952 §5: IPv4-mapped in mixed notation
    ['::ffff:0.0.0.0', '::ffff:0.0.0.0'],
    ['::1.2.3.4', '::102:304'], // IPv4-compatible (deprecated) stays hex
    ['::fffe:1.2.3.4', '::fffe:102:304'],
    ['10.9.0.1', '10.9.0.1'],
  ])('%s → %s', (text, expected) => {
    expect(formatIp(parseIp(text))).toBe(expected)
  })

  it.each([0, 3, 5, 6, 15, 17])('rejects %i bytes', (n) => {
    expect(codeOf(() => formatIp(new Uint8Array(n)))).toBe('IP_ERR_BAD_ADDRESS')
  })

  /** 16 bytes where whole zero groups are common, so compression cases come up. */
  const v6 = fc
    .array(fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff })), {
      minLength: 8,
      maxLength: 8,
    })
    .map((words) => {
      const b = new Uint8Array(16)
      words.forEach((w, i) => {
        b[2 * i] = w >>> 8
        b[2 * i + 1] = w & 0xff
      })
      return b
    })

  it('matches the WHATWG URL serialiser (Node) on random IPv6 addresses', () => {
    fc.assert(
      fc.property(v6, (b) => {
        const ours = formatIp(b)
        if (isIpv4Mapped(b)) expect(ours).toMatch(/^::ffff:\d+\.\d+\.\d+\.\d+$/)
        else expect(ours).toBe(urlHost(ours.toUpperCase()))
        // whichever notation, Node reads the same address back
        expect(urlHost(ours)).toBe(urlHost(toHex(b).replace(/(....)(?!$)/g, '$1:')))
      }),
      { numRuns: 3000 },
    )
  })

  it('round trips bytes → text → bytes and text → bytes → canonical text', () => {
    fc.assert(
      fc.property(fc.oneof(v6, fc.uint8Array({ minLength: 4, maxLength: 4 })), (b) => {
        const s = formatIp(b)
        expect(toHex(parseIp(s))).toBe(toHex(b))
        expect(formatIp(parseIp(s))).toBe(s)
      }),
      { numRuns: 2000 },
    )
  })

  it('canonicalises any accepted spelling: full groups, upper case, leading zeros, mixed tail', () => {
    fc.assert(
      fc.property(v6, fc.boolean(), fc.boolean(), (b, upper, dotted) => {
        const groups: string[] = []
        for (let i = 0; i < 16; i += 2) groups.push(((b[i] << 8) | b[i + 1]).toString(16).padStart(4, '0'))
        let s = groups.join(':')
        if (dotted) s = `${groups.slice(0, 6).join(':')}:${b[12]}.${b[13]}.${b[14]}.${b[15]}`
        if (upper) s = s.toUpperCase()
        const canon = formatIp(b)
        expect(formatIp(parseIp(s))).toBe(canon)
        expect(ipEquals(parseIp(s), b)).toBe(true)
      }),
      { numRuns: 1000 },
    )
  })
})

describe('parseEndpoint / formatEndpoint', () => {
  it.each([
    ['1.2.3.4:80', '01020304', 80],
    ['127.0.0.1:0', '7f000001', 0],
    ['10.9.0.2:65535', '0a090002', 65535],
    ['[2001:db8::1]:80', '20010db8000000000000000000000001', 80],
    ['[::1]:443', '00000000000000000000000000000001', 443],
    ['[::ffff:1.2.3.4]:8080', '00000000000000000000ffff01020304', 8080],
  ])('%s', (text, addr, port) => {
    const ep = parseEndpoint(text)
    expect(toHex(ep.addr)).toBe(addr)
    expect(ep.port).toBe(port)
    expect(parseEndpoint(formatEndpoint(ep.addr, ep.port))).toEqual(ep)
  })

  it.each([
    '1.2.3.4',
    '1.2.3.4:',
    '1.2.3.4:65536',
    '1.2.3.4:-1',
    '1.2.3.4:+80',
    '1.2.3.4:8o',
    '1.2.3.4:123456',
    '1.2.3.4: 80',
    '1.2.3.256:80',
    ':80',
    '2001:db8::1:80', // IPv6 without brackets is ambiguous
    '[2001:db8::1]80',
    '[2001:db8::1]:',
    '[2001:db8::1',
    '[1.2.3.4]:80',
    '[fe80::1%eth0]:80',
    'localhost:80',
    '',
  ])('rejects %j with ERR_BAD_ARGUMENT', (text) => {
    expect(codeOf(() => parseEndpoint(text))).toBe('ERR_BAD_ARGUMENT')
  })

  it('formats with brackets for IPv6 only', () => {
    expect(formatEndpoint(parseIp('10.9.0.1'), 9999)).toBe('10.9.0.1:9999')
    expect(formatEndpoint(parseIp('2001:db8:0:0:1::1'), 80)).toBe('[2001:db8::1:0:0:1]:80')
    expect(formatEndpoint(parseIp('::ffff:10.0.0.1'), 1)).toBe('[::ffff:10.0.0.1]:1')
  })

  it.each([-1, 65536, 1.5, Number.NaN])('formatEndpoint rejects port %s', (port) => {
    expect(codeOf(() => formatEndpoint(parseIp('1.2.3.4'), port))).toBe('ERR_BAD_ARGUMENT')
  })

  it('formatEndpoint rejects an address of the wrong length', () => {
    expect(codeOf(() => formatEndpoint(new Uint8Array(5), 80))).toBe('IP_ERR_BAD_ADDRESS')
  })

  it('round trips any address and port', () => {
    const addr = fc.oneof(
      fc.uint8Array({ minLength: 4, maxLength: 4 }),
      fc.uint8Array({ minLength: 16, maxLength: 16 }),
    )
    fc.assert(
      fc.property(addr, fc.integer({ min: 0, max: 0xffff }), (a, port) => {
        const ep = parseEndpoint(formatEndpoint(a, port))
        expect(toHex(ep.addr)).toBe(toHex(a))
        expect(ep.port).toBe(port)
      }),
      { numRuns: 1000 },
    )
  })
})

describe('parseMac / formatMac', () => {
  it('parses and prints lowercase', () => {
    expect(toHex(parseMac('02:00:00:00:00:0a'))).toBe('02000000000a')
    expect(toHex(parseMac('FF:ff:Ff:fF:ff:FF'))).toBe('ffffffffffff')
    expect(formatMac(parseMac('AA:BB:CC:DD:EE:0F'))).toBe('aa:bb:cc:dd:ee:0f')
    expect(formatMac(new Uint8Array([0x33, 0x33, 0, 0, 0, 0x16]))).toBe('33:33:00:00:00:16')
  })

  it.each([
    '',
    '02:00:00:00:00',
    '02:00:00:00:00:0a:0b',
    '2:00:00:00:00:0a',
    '002:00:00:00:00:0a',
    '02-00-00-00-00-0a',
    '0200.0000.000a',
    'gg:00:00:00:00:0a',
    '02:00:00:00:00:0a ',
    '02::00:00:00:0a',
  ])('rejects %j', (text) => {
    expect(codeOf(() => parseMac(text))).toBe('ETH_ERR_BAD_ADDRESS')
  })

  it.each([0, 5, 7, 8])('formatMac rejects %i bytes', (n) => {
    expect(codeOf(() => formatMac(new Uint8Array(n)))).toBe('ETH_ERR_BAD_ADDRESS')
  })

  it('round trips', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 6, maxLength: 6 }), (b) => {
        const s = formatMac(b)
        expect(s).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/)
        expect(toHex(parseMac(s))).toBe(toHex(b))
      }),
    )
  })
})

describe('ipEquals', () => {
  it('compares bytes and length', () => {
    expect(ipEquals(parseIp('10.0.0.1'), parseIp('10.0.0.1'))).toBe(true)
    expect(ipEquals(parseIp('10.0.0.1'), parseIp('10.0.0.2'))).toBe(false)
    expect(ipEquals(parseIp('::1'), parseIp('0::0:1'))).toBe(true)
    expect(ipEquals(parseIp('::1'), parseIp('::2'))).toBe(false)
    // an IPv4 address and its IPv4-mapped form are different bytes
    expect(ipEquals(parseIp('1.2.3.4'), parseIp('::ffff:1.2.3.4'))).toBe(false)
    // a subarray view compares by content
    const buf = new Uint8Array([9, 10, 9, 0, 1, 9])
    expect(ipEquals(buf.subarray(1, 5), parseIp('10.9.0.1'))).toBe(true)
  })
})

describe('fuzz: the text parsers return or throw a WireError', () => {
  const latin1 = (b: Uint8Array) => Buffer.from(b).toString('latin1')
  const seeds = (...xs: string[]) => xs.map((x) => new Uint8Array(Buffer.from(x, 'latin1')))
  it('parseIp', () => {
    checkFuzz(
      (b) => parseIp(latin1(b)),
      seeds('10.9.0.1', '::ffff:1.2.3.4', '2001:db8::1', 'fe80::ff:fe00:a', '1:2:3:4:5:6:7:8'),
    )
  })
  it('parseEndpoint', () => {
    checkFuzz((b) => parseEndpoint(latin1(b)), seeds('1.2.3.4:80', '[2001:db8::1]:443', '[::ffff:1.2.3.4]:0'))
  })
  it('parseMac', () => {
    checkFuzz((b) => parseMac(latin1(b)), seeds('02:00:00:00:00:0a', 'ff:ff:ff:ff:ff:ff'))
  })
})
