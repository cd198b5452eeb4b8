/**
 * `tcplab decode`: decode hex packets from the arguments or stdin: one plain hex packet per line, or the
 * hex dumps of `tcpdump -x`/`-xx`/`-X` and `xxd` (offset lines, a packet per dump starting at offset 0).
 */
import { createInterface } from 'node:readline'
import { isWireError, WireError } from '../../tcp/errors.js'
import type { LinkKind } from '../../net/packet.js'
import { parseHexBytes, usageError, type Command, type Io } from '../command.js'
import { viewPacket } from '../decodeview.js'
import { packetToJson, packetToText } from '../format.js'

/** Decodes bytes to their output line (a JSON object, or tcpdump-style text) and whether it succeeded. */
export function decodeBytes(bytes: Uint8Array, link: LinkKind, json: boolean, verbose = false): { line: string; ok: boolean } {
  try {
    const p = viewPacket(bytes, link)
    return { line: json ? JSON.stringify(packetToJson(p)) : packetToText(p, bytes.length, { verbose }), ok: true }
  } catch (e) {
    return errorLine(e, json)
  }
}

function errorLine(e: unknown, json: boolean): { line: string; ok: false } {
  const err = isWireError(e) ? e : new WireError('ERR_BAD_ARGUMENT', e instanceof Error ? e.message : String(e))
  return {
    line: json ? JSON.stringify({ error: { code: err.code, message: err.message } }) : `error ${err.code}: ${err.message}`,
    ok: false,
  }
}

/** Decodes one hex line to its output line; returns the line plus whether it failed. */
export function decodeLine(hexText: string, link: LinkKind | 'auto', json: boolean, verbose = false): { line: string; ok: boolean } {
  let bytes: Uint8Array
  try {
    bytes = parseHexBytes(hexText, 'packet')
  } catch (e) {
    return errorLine(e, json)
  }
  return decodeBytes(bytes, link === 'auto' ? 'ip' : link, json, verbose)
}

/**
 * One line of a hex dump: `\t0x0010:  0a00 0002 …` (tcpdump -x, -xx, -X) or `00000010: 0a00 0002 …  ....`
 * (xxd). The offset is followed by whitespace; the hex groups end at the first double space (the ASCII
 * column of -X and xxd follows it).
 */
const DUMP_LINE = /^\s*(?:0x)?([0-9a-fA-F]{4,8}):\s+(.*)$/

/** Parses a dump line into its offset and bytes, or undefined when the line is not one. */
export function parseDumpLine(line: string): { offset: number; bytes: Uint8Array } | undefined {
  const m = DUMP_LINE.exec(line)
  if (!m) return undefined
  const hexPart = m[2].trimStart().split(/\s{2,}|\t/)[0]
  if (!/^[0-9a-fA-F]{2}(?:[0-9a-fA-F]{2})*(?: [0-9a-fA-F]{2}(?:[0-9a-fA-F]{2})*)*$/.test(hexPart.trim())) return undefined
  return { offset: parseInt(m[1], 16), bytes: parseHexBytes(hexPart, 'dump line') }
}

/** The input of decode, packet by packet: plain hex lines and hex dumps, mixed as they come. */
export type DecodeItem = { bytes: Uint8Array } | { text: string } | { error: WireError }

/**
 * Groups input lines into packets. A dump line at offset 0 starts a packet and the following ones
 * continue it (each at the offset reached so far); any other non-blank line ends it. A line that is not
 * hex right before a dump (tcpdump's summary line) is its header and is skipped; anywhere else it is
 * decoded as plain hex (and reported as an error there).
 */
export class DecodeInput {
  private dump: Uint8Array[] = []
  private dumpLen = 0
  private broken: WireError | undefined
  private pending: string | undefined

  /** Feeds one line; returns the packets it completed. */
  push(raw: string): DecodeItem[] {
    const out: DecodeItem[] = []
    const t = raw.trim()
    if (t === '' || t.startsWith('#')) return out
    const d = parseDumpLine(raw)
    if (d !== undefined) {
      if (d.offset === 0) {
        this.pending = undefined // the summary line above a dump
        this.flush(out)
      } else if (this.dump.length === 0 && this.broken === undefined) {
        this.flushPending(out)
        this.broken = new WireError('HEX_ERR_INVALID', `hex dump line at offset 0x${d.offset.toString(16)} without the lines before it`)
        return out
      } else if (d.offset !== this.dumpLen && this.broken === undefined) {
        this.broken = new WireError('HEX_ERR_INVALID', `hex dump line at offset 0x${d.offset.toString(16)}, expected 0x${this.dumpLen.toString(16)}`)
      }
      this.dump.push(d.bytes)
      this.dumpLen += d.bytes.length
      return out
    }
    this.flush(out)
    // Plain hex is a packet at once; anything else may be the summary line of a dump that follows.
    if (isPlainHex(t)) out.push({ text: t })
    else this.pending = t
    return out
  }

  /** Ends the input; returns what was still open. */
  end(): DecodeItem[] {
    const out: DecodeItem[] = []
    this.flush(out)
    return out
  }

  private flushPending(out: DecodeItem[]): void {
    if (this.pending !== undefined) out.push({ text: this.pending })
    this.pending = undefined
  }

  private flush(out: DecodeItem[]): void {
    this.flushPending(out)
    if (this.broken !== undefined) out.push({ error: this.broken })
    else if (this.dump.length > 0) out.push({ bytes: Buffer.concat(this.dump) })
    this.dump = []
    this.dumpLen = 0
    this.broken = undefined
  }
}

const isPlainHex = (t: string): boolean => /^(0x)?[0-9a-fA-F\s:]*$/.test(t)

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
    'decoding goes on; the exit code is 1 if any line failed. Blank lines and lines starting with # are skipped.\n' +
    'Hex dumps are read too: tcpdump -x, -xx (give --link ethernet for an Ethernet capture) and -X, and xxd;\n' +
    "each dump (offset lines from 0) is one packet, and tcpdump's summary line above it is skipped.\n" +
    'A malformed TCP option does not fail the packet: the options before it are shown, then [bad opt]\n' +
    '(in JSON, the option list ends with {"kind":"malformed","code":…} and the packet carries "warnings").\n' +
    '-v prints the IP header fields as tcpdump -v does (TOS/ECN, TTL, id, flags, options; class, flow label).',
  allowPositionals: true,
  options: {
    link: { type: 'string', arg: 'ip|ethernet', help: 'what the bytes start with (default ip: IPv4 or IPv6 by the version nibble)' },
    json: { type: 'boolean', help: 'one JSON object per packet' },
    verbose: { type: 'boolean', short: 'v', help: 'tcpdump -v style: the IP header fields and TCP checksum verdicts' },
  },
  async run(args, io) {
    const link = (args.values.link as string | undefined) ?? 'ip'
    if (link !== 'ip' && link !== 'ethernet') throw usageError(`--link must be ip or ethernet, got '${link}'`)
    const json = args.values.json === true
    const verbose = args.values.verbose === true
    let failed = false
    const emit = (items: DecodeItem[]): void => {
      for (const it of items) {
        const r = 'bytes' in it ? decodeBytes(it.bytes, link, json, verbose) : 'text' in it ? decodeLine(it.text, link, json, verbose) : errorLine(it.error, json)
        if (!r.ok) failed = true
        io.stdout(r.line)
      }
    }
    const input = new DecodeInput()
    if (args.positionals.length > 0) {
      for (const p of args.positionals) {
        for (const line of p.split(/\r?\n/)) emit(input.push(line))
        emit(input.end())
      }
    } else for await (const line of stdinLines(io)) emit(input.push(line))
    emit(input.end())
    return failed ? 1 : 0
  },
}
