/**
 * The script parser's error: a WireError whose message is `FILE:LINE:COL: …`, with the position kept as
 * fields so `--json` can report the line without parsing the message back.
 */
import { WireError, isWireError } from '../tcp/errors.js'

/** The stable code of every lexer and parser error. */
export const SCRIPT_ERR_SYNTAX = 'SCRIPT_ERR_SYNTAX'

/** A syntax (or parse-time semantic) error in a `.pkt` script, at a 1-based line and column. */
export class ScriptSyntaxError extends WireError {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly col: number,
    readonly detail: string,
  ) {
    super(SCRIPT_ERR_SYNTAX, `${file}:${line}:${col}: ${detail}`)
  }
}

/** True when `e` is a script syntax error. */
export function isScriptSyntaxError(e: unknown): e is ScriptSyntaxError {
  return e instanceof ScriptSyntaxError && isWireError(e, SCRIPT_ERR_SYNTAX)
}
