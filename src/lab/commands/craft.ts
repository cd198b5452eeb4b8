/** `tcplab craft`: build one IP packet carrying a TCP segment and print it as hex (or decoded JSON). */
import { parseEndpoint } from '../../net/addr.js'
import { buildTcpPacket, decodeIp } from '../../net/packet.js'
import type { TcpOption } from '../../tcp/options.js'
import { parseFlags, type TcpRepr } from '../../tcp/segment.js'
import { seq, type Seq } from '../../tcp/seq.js'
import { parseHexBytes, parseUint, usageError, type Command, type CommandArgs } from '../command.js'
import { packetToJson } from '../format.js'

const U32 = 0xffffffff

/** Options that add a TCP option, in the order they appear on the command line. */
const TCP_OPTION_FLAGS = new Set(['mss', 'wscale', 'sack-ok', 'sack', 'ts', 'nop', 'eol', 'opt'])

function tcpOption(name: string, value: string | undefined): TcpOption {
  const v = value ?? ''
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
  return buildTcpPacket(
    {
      src: src.addr,
      dst: dst.addr,
      ttl: ttlText !== undefined ? parseUint(v6 ? 'hop-limit' : 'ttl', ttlText, 0, 255) : 64,
      id: str('id') !== undefined ? parseUint('id', str('id')!, 0, 0xffff) : 1,
      dontFragment: v['df'] === true,
      flowLabel: str('flow-label') !== undefined ? parseUint('flow-label', str('flow-label')!, 0, 0xfffff) : 0,
      tos: str('tos') !== undefined ? parseUint('tos', str('tos')!, 0, 255) : 0,
    },
    tcp,
    v['bad-checksum'] === true ? 'bad' : 'compute',
  )
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
    tos: { type: 'string', arg: 'N', help: 'IPv4 TOS / IPv6 traffic class byte (default 0)' },
    'flow-label': { type: 'string', arg: 'N', help: 'IPv6 flow label (default 0)' },
    mss: { type: 'string', arg: 'N', help: 'MSS option (kind 2)' },
    wscale: { type: 'string', arg: 'N', help: 'window scale option (kind 3), shift count' },
    'sack-ok': { type: 'boolean', multiple: true, help: 'SACK-permitted option (kind 4)' },
    sack: { type: 'string', multiple: true, arg: 'L-R[,L-R…]', help: 'SACK option (kind 5) with 1 to 4 blocks' },
    ts: { type: 'string', multiple: true, arg: 'VAL,ECR', help: 'timestamps option (kind 8)' },
    nop: { type: 'boolean', multiple: true, help: 'NOP option (kind 1)' },
    eol: { type: 'boolean', multiple: true, help: 'end-of-option-list (kind 0)' },
    opt: { type: 'string', multiple: true, arg: 'KIND[:HEX]', help: 'any option kind with raw data bytes' },
    payload: { type: 'string', arg: 'TEXT', help: 'payload as UTF-8 text' },
    'payload-hex': { type: 'string', arg: 'HEX', help: 'payload as hex bytes' },
    'bad-checksum': { type: 'boolean', help: 'write a wrong TCP checksum on purpose' },
    json: { type: 'boolean', help: 'print the packet decoded as JSON (as decode --json) instead of hex' },
  },
  async run(args, io) {
    const bytes = craftFromArgs(args)
    if (args.values.json === true) io.stdout(JSON.stringify(packetToJson(decodeIp(bytes))))
    else io.stdout(Buffer.from(bytes).toString('hex'))
    return 0
  },
}
