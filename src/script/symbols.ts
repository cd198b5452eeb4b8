/**
 * The Linux values of the symbolic constants scripts use in system call arguments (SOCK_STREAM, POLLIN…),
 * so the engine can compare poll revents and getsockopt values, and targets can make real calls.
 */
import type { Expr } from './ast.js'
import { errnoNumber } from './errno.js'
import { LINUX } from './linux.js'

/** Constant name → Linux value: src/script/linux.ts's table, as a map. */
export const LINUX_SYMBOLS: ReadonlyMap<string, number> = new Map(Object.entries(LINUX))

/** An integer expression's value: numbers, known constants, errno names, `A|B` and `htons(…)`; else undefined. */
export function evalInt(e: Expr): number | undefined {
  switch (e.kind) {
    case 'int':
      return e.value
    case 'word':
      return LINUX_SYMBOLS.get(e.name) ?? errnoNumber(e.name)
    case 'or': {
      let v = 0
      for (const o of e.operands) {
        const x = evalInt(o)
        if (x === undefined) return undefined
        v = (v | x) >>> 0
      }
      return v
    }
    case 'array':
      return e.items.length === 1 ? evalInt(e.items[0]!) : undefined
    case 'call':
      if ((e.name === 'htons' || e.name === 'htonl' || e.name === 'ntohs' || e.name === 'ntohl') && e.args.length === 1) return evalInt(e.args[0]!)
      return undefined
    default:
      return undefined
  }
}

/** How an argument reads in the script (a symbol's name, a number), for messages. */
export function exprText(e: Expr): string {
  switch (e.kind) {
    case 'word': return e.name
    case 'int': return e.text
    case 'ellipsis': return '...'
    case 'array': return `[${e.items.map(exprText).join(', ')}]`
    case 'or': return e.operands.map(exprText).join('|')
    default: return e.kind
  }
}

/**
 * A call's integer argument `i` (`...` or missing gives `dflt`); one a target cannot read throws the target's
 * own unsupported error, naming the argument and the target.
 */
export function intArg(call: { name: string; args: Expr[] }, i: number, dflt: number | undefined, unsupported: new (message: string) => Error, target: string): number {
  const e = call.args[i]
  if (e === undefined || e.kind === 'ellipsis') {
    if (dflt !== undefined) return dflt
    throw new unsupported(`${call.name}: argument ${i + 1} must be a number`)
  }
  const v = evalInt(e)
  if (v === undefined) throw new unsupported(`${call.name}: cannot evaluate argument ${i + 1} (${exprText(e)}) on the ${target}`)
  return v
}

/** The integer fields of a struct literal by name ({fd=3, events=POLLIN} → fd 3, events 1); others are left out. */
export function structInts(s: Extract<Expr, { kind: 'struct' }>): Map<string, number> {
  const m = new Map<string, number>()
  for (const f of s.items) {
    if (f.kind === 'assign' && f.target.kind === 'word') {
      const v = evalInt(f.value)
      if (v !== undefined) m.set(f.target.name, v)
    }
  }
  return m
}

/** Names of the flags set in `v` among `names` ("POLLIN|POLLOUT"), packetdrill's flags_to_string; "0" for none. */
export function flagsToString(v: number, names: readonly string[]): string {
  const parts: string[] = []
  let rest = v >>> 0
  for (const n of names) {
    const bit = LINUX_SYMBOLS.get(n)!
    if (bit !== 0 && (rest & bit) === bit) {
      parts.push(n)
      rest = (rest & ~bit) >>> 0
    }
  }
  if (rest !== 0) parts.push(`0x${rest.toString(16)}`)
  return parts.length === 0 ? '0' : parts.join('|')
}

/** The poll flags, in the order their names are printed. */
export const POLL_FLAG_NAMES = ['POLLIN', 'POLLPRI', 'POLLOUT', 'POLLERR', 'POLLHUP', 'POLLNVAL', 'POLLRDNORM', 'POLLRDBAND', 'POLLWRNORM', 'POLLWRBAND', 'POLLRDHUP'] as const
