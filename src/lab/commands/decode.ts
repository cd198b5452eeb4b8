/** `tcplab decode`: decode hex packets from the arguments or stdin, one per line. */
import { createInterface } from 'node:readline'
import { isWireError, WireError } from '../../tcp/errors.js'
import { decodePacket, type LinkKind } from '../../net/packet.js'
import { parseHexBytes, usageError, type Command, type Io } from '../command.js'
import { packetToJson, packetToText } from '../format.js'

/** Decodes one hex line to its output line; returns undefined-free result plus whether it failed. */
export function decodeLine(hexText: string, link: LinkKind | 'auto', json: boolean): { line: string; ok: boolean } {
  try {
    const bytes = parseHexBytes(hexText, 'packet')
    const p = decodePacket(bytes, link === 'auto' ? 'ip' : link)
    return { line: json ? JSON.stringify(packetToJson(p)) : packetToText(p, bytes.length), ok: true }
  } catch (e) {
    const err = isWireError(e) ? e : new WireError('ERR_BAD_ARGUMENT', e instanceof Error ? e.message : String(e))
    return {
      line: json ? JSON.stringify({ error: { code: err.code, message: err.message } }) : `error ${err.code}: ${err.message}`,
      ok: false,
    }
  }
}

async function* stdinLines(io: Io): AsyncGenerator<string> {
  const rl = createInterface({ input: io.stdin, crlfDelay: Infinity })
  for await (const line of rl) yield line
}

/** The `decode` command. */
export const decodeCommand: Command = {
  name: 'decode',
  usage: '[HEX…]',
  summary: 'Decode packets given as hex arguments, or one hex packet per line on stdin.',
  description:
    'Default output is one tcpdump-style line per packet; --json prints one JSON object per line. A line\n' +
    'that cannot be decoded prints an error for that line ({"error":{"code","message"}} with --json) and\n' +
    'decoding goes on; the exit code is 1 if any line failed. Blank lines and lines starting with # are skipped.',
  allowPositionals: true,
  options: {
    link: { type: 'string', arg: 'ip|ethernet', help: 'what the bytes start with (default ip: IPv4 or IPv6 by the version nibble)' },
    json: { type: 'boolean', help: 'one JSON object per packet' },
  },
  async run(args, io) {
    const link = (args.values.link as string | undefined) ?? 'ip'
    if (link !== 'ip' && link !== 'ethernet') throw usageError(`--link must be ip or ethernet, got '${link}'`)
    const json = args.values.json === true
    let failed = false
    const handle = (text: string): void => {
      const t = text.trim()
      if (t === '' || t.startsWith('#')) return
      const r = decodeLine(t, link, json)
      if (!r.ok) failed = true
      io.stdout(r.line)
    }
    if (args.positionals.length > 0) for (const p of args.positionals) handle(p)
    else for await (const line of stdinLines(io)) handle(line)
    return failed ? 1 : 0
  },
}
