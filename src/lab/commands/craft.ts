/** `tcplab craft`: build one IP packet carrying a TCP segment and print it as hex (or decoded JSON). */
import { parseEndpoint } from '../../net/addr.js'
import { parseIp } from '../../net/addr.js'
import { emitIpv4Header, emitIpv4Options, IPPROTO_TCP, type Ipv4Option } from '../../net/ipv4.js'
import { emitIpv6Extensions, emitIpv6Header, type Ipv6Extension } from '../../net/ipv6.js'
import { namedToOption, type NamedOption, type TcpOption } from '../../tcp/options.js'
import { emitTcp, parseFlags, tcpLen, type TcpRepr } from '../../tcp/segment.js'
import { viewIp } from '../decodeview.js'
import { seq, type Seq } from '../../tcp/seq.js'
import { parseHexBytes, parseUint, usageError, type Command, type CommandArgs } from '../command.js'
import { packetToJson } from '../format.js'

const U32 = 0xffffffff

/** Options that add a TCP option, in the order they appear on the command line. */
const TCP_OPTION_FLAGS = new Set(['mss', 'wscale', 'sack-ok', 'sack', 'ts', 'nop', 'eol', 'opt', 'tfo', 'exp-tfo', 'md5', 'mptcp', 'uto', 'ao', 'edo'])

/** `HEX` or `req` (an empty cookie: a cookie request, RFC 7413 §4.1.1). */
const cookieArg = (flag: string, v: string): Uint8Array => (v === 'req' ? new Uint8Array(0) : parseHexBytes(v, `--${flag} cookie`))

/** The named options of issue 15, from their flags. */
function namedOption(name: string, v: string): NamedOption | undefined {
  switch (name) {
    case 'tfo':
      return { kind: 'tfo', type: 34, cookie: cookieArg(name, v) }
    case 'exp-tfo':
      return { kind: 'tfo', type: 254, cookie: cookieArg(name, v) }
    case 'md5':
      return { kind: 'md5', digest: parseHexBytes(v, '--md5 digest') }
    case 'mptcp': {
      const m = /^(\w+)(?::(\w+))?(?::([0-9a-fA-F]*))?$/.exec(v)
      if (!m) throw usageError(`--mptcp takes SUBTYPE[:FLAGS[:HEX]], got '${v}'`)
      return { kind: 'mptcp', subtype: parseUint('mptcp', m[1], 0, 15), flags: parseUint('mptcp', m[2] ?? '0', 0, 15), data: parseHexBytes(m[3] ?? '', '--mptcp data') }
    }
    case 'uto': {
      const m = /^(\w+?)(s|m)?$/.exec(v)
      if (!m) throw usageError(`--uto takes N[s|m], got '${v}'`)
      return { kind: 'uto', minutes: m[2] === 'm', timeout: parseUint('uto', m[1], 0, 0x7fff) }
    }
    case 'ao': {
      const m = /^(\w+),(\w+),([0-9a-fA-F]*)$/.exec(v)
      if (!m) throw usageError(`--ao takes KEYID,RNEXTKEYID,MACHEX, got '${v}'`)
      return { kind: 'tcpAo', keyId: parseUint('ao', m[1], 0, 255), rNextKeyId: parseUint('ao', m[2], 0, 255), mac: parseHexBytes(m[3], '--ao MAC') }
    }
    case 'edo': {
      if (v === 'supported') return { kind: 'edo', type: 253 }
      const m = /^(\w+)(?:,(\w+))?$/.exec(v)
      if (!m) throw usageError(`--edo takes supported or HDRLEN[,SEGLEN], got '${v}'`)
      const n: NamedOption = { kind: 'edo', type: 253, headerLength: parseUint('edo', m[1], 0, 0xffff) }
      if (m[2] !== undefined) n.segmentLength = parseUint('edo', m[2], 0, 0xffff)
      return n
    }
  }
  return undefined
}

function tcpOption(name: string, value: string | undefined): TcpOption {
  const v = value ?? ''
  const named = namedOption(name, v)
  if (named !== undefined) {
    try {
      return namedToOption(named)
    } catch (e) {
      throw usageError(`--${name}: ${(e as Error).message}`)
    }
  }
  switch (name) {
    case 'mss':
      return { kind: 'mss', value: parseUint('mss', v, 0, 0xffff) }
    case 'wscale':
      return { kind: 'wscale', shift: parseUint('wscale', v, 0, 255) }
    case 'sack-ok':
      return { kind: 'sackPermitted' }
    case 'nop':
      return { kind: 'nop' }
    case 'eol':
      return { kind: 'eol' }
    case 'sack': {
      const blocks = v.split(',').map((b): [Seq, Seq] => {
        const m = /^\s*([^-\s]+)\s*-\s*([^-\s]+)\s*$/.exec(b)
        if (!m) throw usageError(`--sack takes L-R[,L-R…], got '${v}'`)
        return [seq(parseUint('sack', m[1], 0, U32)), seq(parseUint('sack', m[2], 0, U32))]
      })
      if (blocks.length < 1 || blocks.length > 4) throw usageError('--sack takes 1 to 4 blocks')
      return { kind: 'sack', blocks }
    }
    case 'ts': {
      const m = /^([^,]+),([^,]+)$/.exec(v)
      if (!m) throw usageError(`--ts takes VAL,ECR, got '${v}'`)
      return { kind: 'timestamp', value: parseUint('ts', m[1], 0, U32), echo: parseUint('ts', m[2], 0, U32) }
    }
    case 'opt': {
      const m = /^(\w+)(?::([0-9a-fA-F]*))?$/.exec(v)
      if (!m) throw usageError(`--opt takes KIND[:HEX], got '${v}'`)
      return { kind: 'unknown', type: parseUint('opt', m[1], 0, 255), data: parseHexBytes(m[2] ?? '', '--opt data') }
    }
  }
  throw usageError(`unknown TCP option flag --${name}`)
}

/** One --ip-opt: nop, eol, rr:N (N empty slots), ts:N (N timestamp slots), ra, or KIND:HEX. */
function ipOption(v: string): Ipv4Option {
  if (v === 'nop') return { kind: 'nop' }
  if (v === 'eol') return { kind: 'eol' }
  if (v === 'ra') return { kind: 'unknown', type: 148, data: new Uint8Array(2) } // RFC 2113 router alert, value 0
  let m = /^(rr|lsrr|ssrr):([^:]+)$/.exec(v)
  if (m) {
    // RFC 791: RR with N empty slots (pointer 4, the first); LSRR/SSRR with the listed addresses.
    const type = { rr: 7, lsrr: 131, ssrr: 137 }[m[1] as 'rr']
    if (m[1] === 'rr' && /^\d+$/.test(m[2])) return { kind: 'route', type, pointer: 4, data: new Uint8Array(4 * parseUint('ip-opt', m[2], 1, 9)) }
    const addrs = m[2].split(',').map((a) => {
      const b = parseIp(a)
      if (b.length !== 4) throw usageError(`--ip-opt ${m![1]} takes IPv4 addresses, got '${a}'`)
      return b
    })
    const data = new Uint8Array(4 * addrs.length)
    addrs.forEach((a, i) => data.set(a, 4 * i))
    return { kind: 'route', type, pointer: 4, data }
  }
  m = /^ts:(\d+)$/.exec(v)
  if (m) return { kind: 'timestamp', pointer: 5, overflow: 0, flag: 0, data: new Uint8Array(4 * parseUint('ip-opt', m[1], 1, 9)) }
  m = /^(\w+):([0-9a-fA-F]*)$/.exec(v)
  if (m) return { kind: 'unknown', type: parseUint('ip-opt', m[1], 2, 255), data: parseHexBytes(m[2], '--ip-opt data') }
  throw usageError(`--ip-opt takes nop, eol, ra, rr:N, rr:ADDR[,ADDR…], lsrr:…, ssrr:…, ts:N or KIND:HEX, got '${v}'`)
}

/** One --ext: hbh, dst, rt:ADDR[,ADDR…] (type 0), frag:ID[:OFFSET[:M]]. */
function ipv6Extension(v: string): Ipv6Extension {
  if (v === 'hbh') return { kind: 'hopByHop', nextHeader: 0, options: new Uint8Array(0) }
  if (v === 'dst') return { kind: 'destination', nextHeader: 0, options: new Uint8Array(0) }
  let m = /^rt:(.+)$/.exec(v)
  if (m) {
    const addrs = m[1].split(',').map((a) => {
      const b = parseIp(a)
      if (b.length !== 16) throw usageError(`--ext rt takes IPv6 addresses, got '${a}'`)
      return b
    })
    const data = new Uint8Array(4 + 16 * addrs.length)
    addrs.forEach((a, i) => data.set(a, 4 + 16 * i))
    return { kind: 'routing', nextHeader: 0, routingType: 0, segmentsLeft: addrs.length, data }
  }
  m = /^frag:(\w+)(?::(\w+))?(?::(m))?$/i.exec(v)
  if (m) return { kind: 'fragment', nextHeader: 0, id: parseUint('ext', m[1], 0, 0xffffffff), offset: parseUint('ext', m[2] ?? '0', 0, 0x1fff), moreFragments: m[3] !== undefined }
  throw usageError(`--ext takes hbh, dst, rt:ADDR[,ADDR…] or frag:ID[:OFFSET[:m]], got '${v}'`)
}

/** Builds the packet bytes from parsed arguments (exported for tests). */
export function craftFromArgs(args: CommandArgs): Uint8Array {
  const v = args.values
  const str = (k: string): string | undefined => v[k] as string | undefined
  if (!str('src') || !str('dst')) throw usageError("craft needs --src IP:PORT and --dst IP:PORT (see 'tcplab craft --help')")
  const src = parseEndpoint(str('src')!)
  const dst = parseEndpoint(str('dst')!)
  if (src.addr.length !== dst.addr.length) throw usageError('--src and --dst must both be IPv4 or both IPv6')
  const v6 = src.addr.length === 16
  if (v6 && str('ttl') !== undefined) throw usageError('IPv6 has no TTL: use --hop-limit')
  if (!v6 && str('hop-limit') !== undefined) throw usageError('--hop-limit is for IPv6: use --ttl')
  if (v6 && str('id') !== undefined) throw usageError('IPv6 has no identification field: --id is for IPv4')
  if (str('payload') !== undefined && str('payload-hex') !== undefined) throw usageError('give --payload or --payload-hex, not both')
  for (const k of ['mf', 'frag-offset', 'ip-opt']) {
    if (v6 && v[k] !== undefined) throw usageError(`--${k} is for IPv4 (IPv6 fragments: --ext frag:ID[:OFFSET[:m]])`)
  }
  if (!v6 && v['ext'] !== undefined) throw usageError('--ext is for IPv6 extension headers (IPv4: --ip-opt)')
  if (str('tos') !== undefined && (str('dscp') !== undefined || str('ecn') !== undefined)) throw usageError('give --tos or --dscp/--ecn, not both')

  const options = args.ordered.filter((o) => TCP_OPTION_FLAGS.has(o.name)).map((o) => tcpOption(o.name, o.value))
  const payload =
    str('payload-hex') !== undefined
      ? parseHexBytes(str('payload-hex')!, '--payload-hex')
      : new Uint8Array(Buffer.from(str('payload') ?? '', 'utf8'))
  const tcp: TcpRepr = {
    srcPort: src.port,
    dstPort: dst.port,
    seq: seq(str('seq') !== undefined ? parseUint('seq', str('seq')!, 0, U32) : 0),
    ack: seq(str('ack') !== undefined ? parseUint('ack', str('ack')!, 0, U32) : 0),
    flags: parseFlags(str('flags') ?? 'S'),
    window: str('win') !== undefined ? parseUint('win', str('win')!, 0, 0xffff) : 65535,
    urgent: str('urg') !== undefined ? parseUint('urg', str('urg')!, 0, 0xffff) : 0,
    options,
    payload,
  }
  const ttlText = v6 ? str('hop-limit') : str('ttl')
  const ttl = ttlText !== undefined ? parseUint(v6 ? 'hop-limit' : 'ttl', ttlText, 0, 255) : 64
  let tos = str('tos') !== undefined ? parseUint('tos', str('tos')!, 0, 255) : 0
  if (str('dscp') !== undefined) tos = (parseUint('dscp', str('dscp')!, 0, 63) << 2) | (tos & 3)
  if (str('ecn') !== undefined) tos = (tos & 0xfc) | ecnArg(str('ecn')!)
  const list = (k: string): string[] => (v[k] as string[] | undefined) ?? []
  const segLen = tcpLen(tcp)
  const checksum = v['bad-checksum'] === true ? { checksum: 'bad' as const } : undefined
  if (!v6) {
    const options = emitIpv4Options(list('ip-opt').map(ipOption))
    const out = new Uint8Array(20 + options.length + segLen)
    const hl = emitIpv4Header(
      {
        src: src.addr, dst: dst.addr, protocol: IPPROTO_TCP, ttl,
        id: str('id') !== undefined ? parseUint('id', str('id')!, 0, 0xffff) : 1,
        dscp: tos >> 2, ecn: tos & 3, dontFragment: v['df'] === true, moreFragments: v['mf'] === true,
        fragmentOffset: str('frag-offset') !== undefined ? parseUint('frag-offset', str('frag-offset')!, 0, 0x1fff) : 0,
        options,
      },
      segLen, out, 0,
    )
    emitTcp(tcp, out, hl, { src: src.addr, dst: dst.addr }, checksum)
    return out
  }
  const chain = list('ext').map(ipv6Extension)
  const ext = emitIpv6Extensions(chain, IPPROTO_TCP)
  // RFC 8200 §8.1: with a Routing header the pseudo-header holds the final destination.
  const rt = chain.filter((e): e is Extract<Ipv6Extension, { kind: 'routing' }> => e.kind === 'routing').pop()
  const finalDst = rt !== undefined ? rt.data.subarray(rt.data.length - 16) : dst.addr
  const out = new Uint8Array(40 + ext.bytes.length + segLen)
  const hl = emitIpv6Header(
    {
      src: src.addr, dst: dst.addr, trafficClass: tos, hopLimit: ttl, nextHeader: ext.nextHeader, extensions: ext.bytes,
      flowLabel: str('flow-label') !== undefined ? parseUint('flow-label', str('flow-label')!, 0, 0xfffff) : 0,
    },
    segLen, out, 0,
  )
  emitTcp(tcp, out, hl, { src: src.addr, dst: finalDst }, checksum)
  return out
}

/** --ecn: 0..3 or a codepoint name (RFC 3168 §5: not-ect, ect1, ect0, ce). */
function ecnArg(t: string): number {
  const named = { 'not-ect': 0, ect1: 1, ect0: 2, ce: 3 }[t.toLowerCase()]
  return named ?? parseUint('ecn', t, 0, 3)
}


/** The `craft` command. */
export const craftCommand: Command = {
  name: 'craft',
  usage: '--src IP:PORT --dst IP:PORT [options]',
  summary: 'Build one IPv4 or IPv6 packet carrying a TCP segment and print it as one line of lowercase hex.',
  description:
    'TCP options are written in the order given on the command line. IPv6 addresses go in brackets:\n' +
    '--src [2001:db8::1]:40000. Defaults: flags S, ttl/hop limit 64, window 65535, seq/ack 0, IPv4 id 1,\n' +
    'no options, correct checksums. Numbers may be decimal or 0x-hex.',
  options: {
    src: { type: 'string', arg: 'IP:PORT', help: 'source address and port' },
    dst: { type: 'string', arg: 'IP:PORT', help: 'destination address and port (same family as --src)' },
    flags: { type: 'string', arg: 'LETTERS', help: 'TCP flags from FSRPAUEC, e.g. SA for SYN+ACK (default S)' },
    seq: { type: 'string', arg: 'N', help: 'sequence number (default 0)' },
    ack: { type: 'string', arg: 'N', help: 'acknowledgment number (default 0; written whether or not A is set)' },
    win: { type: 'string', arg: 'N', help: 'window field, unscaled (default 65535)' },
    urg: { type: 'string', arg: 'N', help: 'urgent pointer (default 0)' },
    ttl: { type: 'string', arg: 'N', help: 'IPv4 time to live (default 64)' },
    'hop-limit': { type: 'string', arg: 'N', help: 'IPv6 hop limit (default 64)' },
    id: { type: 'string', arg: 'N', help: 'IPv4 identification (default 1)' },
    df: { type: 'boolean', help: "set IPv4 Don't Fragment" },
    mf: { type: 'boolean', help: 'set IPv4 More Fragments' },
    'frag-offset': { type: 'string', arg: 'N', help: 'IPv4 fragment offset, in 8-byte units (default 0)' },
    tos: { type: 'string', arg: 'N', help: 'IPv4 TOS / IPv6 traffic class byte (default 0)' },
    dscp: { type: 'string', arg: 'N', help: 'DSCP, the TOS/traffic class top 6 bits (0..63)' },
    ecn: { type: 'string', arg: 'N|not-ect|ect1|ect0|ce', help: 'ECN, the TOS/traffic class low 2 bits' },
    'ip-opt': { type: 'string', multiple: true, arg: 'OPT', help: 'IPv4 option, in order: nop, eol, ra, rr:N, rr|lsrr|ssrr:ADDR[,ADDR…], ts:N or KIND:HEX (padded with EOL)' },
    ext: { type: 'string', multiple: true, arg: 'EXT', help: 'IPv6 extension header, in order: hbh, dst, rt:ADDR[,ADDR…] (type 0), frag:ID[:OFFSET[:m]]' },
    'flow-label': { type: 'string', arg: 'N', help: 'IPv6 flow label (default 0)' },
    mss: { type: 'string', arg: 'N', help: 'MSS option (kind 2)' },
    wscale: { type: 'string', arg: 'N', help: 'window scale option (kind 3), shift count' },
    'sack-ok': { type: 'boolean', multiple: true, help: 'SACK-permitted option (kind 4)' },
    sack: { type: 'string', multiple: true, arg: 'L-R[,L-R…]', help: 'SACK option (kind 5) with 1 to 4 blocks' },
    ts: { type: 'string', multiple: true, arg: 'VAL,ECR', help: 'timestamps option (kind 8)' },
    nop: { type: 'boolean', multiple: true, help: 'NOP option (kind 1)' },
    eol: { type: 'boolean', multiple: true, help: 'end-of-option-list (kind 0)' },
    opt: { type: 'string', multiple: true, arg: 'KIND[:HEX]', help: 'any option kind with raw data bytes' },
    tfo: { type: 'string', multiple: true, arg: 'HEX|req', help: 'TCP Fast Open option (kind 34): a 4..16-byte cookie, or req for a cookie request' },
    'exp-tfo': { type: 'string', multiple: true, arg: 'HEX|req', help: 'experimental TFO (kind 254, magic 0xF989)' },
    md5: { type: 'string', multiple: true, arg: 'HEX', help: 'TCP MD5 signature option (kind 19), a 16-byte digest' },
    mptcp: { type: 'string', multiple: true, arg: 'SUB[:FLAGS[:HEX]]', help: 'MPTCP option (kind 30): subtype, the 4 bits beside it, data' },
    uto: { type: 'string', multiple: true, arg: 'N[s|m]', help: 'User Timeout option (kind 28), seconds or minutes' },
    ao: { type: 'string', multiple: true, arg: 'KEYID,RNEXT,HEX', help: 'TCP-AO option (kind 29): key IDs and MAC' },
    edo: { type: 'string', multiple: true, arg: 'supported|HDR[,SEG]', help: 'EDO option (kind 253, ExID 0x0ED0): header and segment length' },
    payload: { type: 'string', arg: 'TEXT', help: 'payload as UTF-8 text' },
    'payload-hex': { type: 'string', arg: 'HEX', help: 'payload as hex bytes' },
    'bad-checksum': { type: 'boolean', help: 'write a wrong TCP checksum on purpose' },
    json: { type: 'boolean', help: 'print the packet decoded as JSON (as decode --json) instead of hex' },
  },
  async run(args, io) {
    const bytes = craftFromArgs(args)
    if (args.values.json === true) io.stdout(JSON.stringify(packetToJson(viewIp(bytes))))
    else io.stdout(Buffer.from(bytes).toString('hex'))
    return 0
  },
}
