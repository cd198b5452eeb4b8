/**
 * The TUN network's addresses: netmask → prefix length, prefix comparison, and the gateway a script gets when it
 * moves the local address to another subnet without naming one (packetdrill's fastopen/server scripts set
 * --local_ip=192.168.0.2 --remote_ip=10.248.0.2 on their own lines).
 */
import { describe, expect, it } from 'vitest'
import { gatewayFor, prefixLength, samePrefix } from '../../../src/script/kernel/target.js'

describe('TUN addresses', () => {
  it('prefixLength of dotted and IPv6 masks', () => {
    expect([prefixLength('255.255.255.0'), prefixLength('255.255.0.0'), prefixLength('255.255.255.255'), prefixLength('0.0.0.0')]).toEqual([24, 16, 32, 0])
    expect([prefixLength('255.255.254.0'), prefixLength('ffff:ffff:ffff:ffff::'), prefixLength('ffff:ff80::')]).toEqual([23, 64, 25])
  })

  it('samePrefix compares the first bits only, within one family', () => {
    expect(samePrefix('198.18.0.1', '198.18.0.2', 24)).toBe(true)
    expect(samePrefix('192.168.0.2', '198.18.0.2', 24)).toBe(false)
    expect(samePrefix('192.168.1.2', '192.168.0.2', 24)).toBe(false)
    expect(samePrefix('192.168.1.2', '192.168.0.2', 23)).toBe(true)
    expect(samePrefix('192.168.2.2', '192.168.0.2', 23)).toBe(false)
    expect(samePrefix('2001:2::1', '2001:2::2', 64)).toBe(true)
    expect(samePrefix('2001:2::1', '198.18.0.1', 0)).toBe(false)
  })

  it('the default gateway when it is on the local subnet, else the local address itself (an on-link gateway)', () => {
    expect(gatewayFor('198.18.0.1', '255.255.255.0', '198.18.0.2')).toBe('198.18.0.2')
    expect(gatewayFor('192.168.0.2', '255.255.255.0', '198.18.0.2')).toBe('192.168.0.2')
    expect(gatewayFor('2001:2::1', 'ffff:ffff:ffff:ffff::', '2001:2::2')).toBe('2001:2::2')
    expect(gatewayFor('fd3d:a0b:17d6::1', 'ffff:ffff:ffff:ffff::', '2001:2::2')).toBe('fd3d:a0b:17d6::1')
  })
})
