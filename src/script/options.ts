/**
 * The option names packetdrill accepts on a script's `--` lines (and on its command line), with whether
 * each takes a value. Names are kept in packetdrill's underscore form; a dash spelling is accepted too.
 */

/** Option name (underscore form) → true when it takes a value. */
export const SCRIPT_OPTIONS: ReadonlyMap<string, boolean> = new Map([
  ['ip_version', true],
  ['bind_port', true],
  ['code_command', true],
  ['code_format', true],
  ['code_sockopt', true],
  ['connect_port', true],
  ['remote_ip', true],
  ['local_ip', true],
  ['gateway_ip', true],
  ['netmask_ip', true],
  ['speed', true],
  ['mss', true],
  ['mtu', true],
  ['init_scripts', true],
  ['tolerance_usecs', true],
  ['tolerance_percent', true],
  ['wire_client', false],
  ['wire_server', false],
  ['wire_server_ip', true],
  ['wire_server_at', true],
  ['wire_server_port', true],
  ['wire_client_dev', true],
  ['wire_server_dev', true],
  ['so_filename', true],
  ['so_flags', true],
  ['tcp_ts_ecr_scaled', false],
  ['tcp_ts_tick_usecs', true],
  ['strict_segments', false],
  ['non_fatal', true],
  ['dry_run', false],
  ['is_anyip', false],
  ['send_omit_free', false],
  ['psp_udp_port', true],
  ['debug', false],
  ['define', true],
  ['verbose', false],
])

/** `tolerance-usecs` → `tolerance_usecs`: the one form the AST and the engine use. */
export function normaliseOptionName(name: string): string {
  return name.replace(/-/g, '_')
}

/** Splits a `-D`/`--define` argument `NAME=VALUE`; undefined when there is no name or no `=`. */
export function splitDefinition(text: string): { name: string; value: string } | undefined {
  const eq = text.indexOf('=')
  if (eq <= 0) return undefined
  return { name: text.slice(0, eq), value: text.slice(eq + 1) }
}
