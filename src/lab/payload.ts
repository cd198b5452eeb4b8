/**
 * What the live commands send and keep: `--send TEXT` (with `--escapes`, backslash escapes as `echo -e`
 * reads them), `--send-hex HEX`, `--send-file FILE`, and `--save FILE`, every byte received written to a
 * file (the JSON keeps only the first 64 KiB, so a download is checked with sha256sum on the file).
 */
import * as fs from 'node:fs'
import { WireError } from '../tcp/errors.js'
import { parseHexBytes, usageError } from './command.js'

/** Single-character escapes of {@link parseEscapes}, as `echo -e` and C know them. */
const SIMPLE_ESCAPES: Readonly<Record<string, number>> = {
  n: 0x0a,
  r: 0x0d,
  t: 0x09,
  '0': 0x00,
  a: 0x07,
  b: 0x08,
  e: 0x1b,
  f: 0x0c,
  v: 0x0b,
  '\\': 0x5c,
}

/**
 * The bytes of `text` with backslash escapes read: `\n \r \t \0 \a \b \e \f \v \\` and `\xHH` (exactly two
 * hex digits, any byte); everything else is UTF-8. An unknown or cut escape is a usage error naming it
 * (never passed through silently: `\q` is more likely a typo than a wish for two bytes).
 */
export function parseEscapes(text: string, what = '--send'): Uint8Array {
  const out: number[] = []
  let plain = ''
  const flush = (): void => {
    if (plain !== '') out.push(...Buffer.from(plain, 'utf8'))
    plain = ''
  }
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]
    if (ch !== '\\') {
      plain += ch
      continue
    }
    flush()
    const next = text[i + 1]
    if (next === undefined) throw usageError(`${what}: a lone '\\' at the end (write '\\\\' for a backslash)`)
    if (next === 'x') {
      const hex = text.slice(i + 2, i + 4)
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw usageError(`${what}: '\\x' needs two hex digits, got '\\x${hex}'`)
      out.push(parseInt(hex, 16))
      i += 3
      continue
    }
    const b = SIMPLE_ESCAPES[next]
    if (b === undefined) throw usageError(`${what}: unknown escape '\\${next}' (known: \\n \\r \\t \\0 \\a \\b \\e \\f \\v \\\\ \\xHH)`)
    out.push(b)
    i += 1
  }
  flush()
  return new Uint8Array(out)
}

/** The payload options of a command's parsed values. */
export interface SendValues {
  send?: string | undefined
  escapes?: boolean | undefined
  'send-hex'?: string | undefined
  'send-file'?: string | undefined
}

/**
 * The bytes to send from `--send` (UTF-8, or escapes read with `--escapes`), `--send-hex` or `--send-file`;
 * undefined when none was given. More than one, or `--escapes` without `--send`, is a one-line usage error.
 */
export function sendPayload(v: SendValues): Uint8Array | undefined {
  const given = (['send', 'send-hex', 'send-file'] as const).filter((k) => v[k] !== undefined)
  if (given.length > 1) throw usageError(`give one of --send, --send-hex, --send-file, not ${given.map((k) => `--${k}`).join(' and ')}`)
  if (v.escapes === true && v.send === undefined) throw usageError('--escapes reads the escapes in --send TEXT: give --send')
  if (v.send !== undefined) return v.escapes === true ? parseEscapes(v.send) : new Uint8Array(Buffer.from(v.send, 'utf8'))
  if (v['send-hex'] !== undefined) return parseHexBytes(v['send-hex'], '--send-hex')
  const file = v['send-file']
  if (file === undefined) return undefined
  try {
    return new Uint8Array(fs.readFileSync(file))
  } catch (e) {
    const code = (e as { code?: string }).code
    throw usageError(`cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message.split('\n')[0]}`)
  }
}

/** A file that gets every byte received, in order (`--save`). */
export class SaveFile {
  private fd: number
  /** Bytes written so far. */
  bytes = 0

  /** Creates (or truncates) `path` at once, so a bad path fails before any packet is sent. */
  constructor(readonly path: string) {
    try {
      this.fd = fs.openSync(path, 'w')
    } catch (e) {
      throw usageError(`cannot write ${path}: ${(e as Error).message.split('\n')[0]}`)
    }
  }

  /** Appends a chunk (synchronously: chunks arrive in order and must land in order). */
  write(d: Uint8Array | string): void {
    if (this.fd < 0) throw new WireError('DEV_ERR_CLOSED', `${this.path} is already closed`)
    const b = typeof d === 'string' ? Buffer.from(d, 'utf8') : d
    let off = 0
    while (off < b.length) off += fs.writeSync(this.fd, b, off, b.length - off)
    this.bytes += b.length
  }

  /** Closes the file. Idempotent. */
  close(): void {
    if (this.fd >= 0) {
      fs.closeSync(this.fd)
      this.fd = -1
    }
  }
}

/**
 * The file connection `n` (1-based, in accept order) of `listen --save FILE` writes: FILE itself when the
 * listener serves one connection, else FILE.1, FILE.2, … (concurrent connections never interleave in one file).
 */
export function saveFileFor(path: string, n: number, count: number): string {
  return count === 1 ? path : `${path}.${n}`
}
