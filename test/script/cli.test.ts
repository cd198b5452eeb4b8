import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { rmSync } from 'node:fs'

const CLI = join(import.meta.dirname, '../../dist/lab/cli.js')
const dir = mkdtempSync(join(tmpdir(), 'tcplab-script-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Runs the built CLI in `dir`, so file names in messages are the short ones given. */
function run(...args: string[]): { code: number | null; out: string[]; err: string[] } {
  const r = spawnSync(process.execPath, [CLI, 'script', ...args], { cwd: dir, encoding: 'utf8' })
  const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '')
  return { code: r.status, out: lines(r.stdout), err: lines(r.stderr) }
}

writeFileSync(
  join(dir, 'good.pkt'),
  [
    '--tolerance_usecs=10000',
    '`true`',
    '0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3',
    '+0 bind(3, ..., ...) = 0',
    '+0 listen(3, 1) = 0',
    '+0 < S 0:0(0) win 1000 <mss 1000>',
    '+0 > S. 0:0(0) ack 1 <...>',
    '+0 %{ pass }%',
    '',
  ].join('\n'),
)
writeFileSync(join(dir, 'bad.pkt'), '0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 < S 0:0(0) win 1000 <mss 1000\n')
writeFileSync(join(dir, 'port.pkt'), '0 bind(3, {sa_family=AF_INET, sin_port=htons(PORT)}, 16) = 0\n')

describe('tcplab script --dry-run', () => {
  it('prints FILE: ok (N events) and exits 0 when every script parses', () => {
    expect(run('good.pkt', '--dry-run')).toEqual({ code: 0, out: ['good.pkt: ok (6 events)'], err: [] })
  })

  it('prints FILE:LINE:COL for a script that does not parse, goes on, and exits 1', () => {
    expect(run('bad.pkt', 'good.pkt', '--dry-run')).toEqual({
      code: 1,
      out: ['good.pkt: ok (6 events)'],
      err: ["bad.pkt:3:1: expected ',' or '>', got end of file"],
    })
  })

  it('substitutes -D NAME=VALUE (also --define and -DNAME=VALUE)', () => {
    expect(run('port.pkt', '--dry-run', '-D', 'PORT=8080')).toEqual({ code: 0, out: ['port.pkt: ok (1 events)'], err: [] })
    expect(run('port.pkt', '--dry-run', '--define=PORT=8080').code).toBe(0)
    expect(run('port.pkt', '--dry-run', '-DPORT=8080').code).toBe(0)
    // without the definition PORT is a plain word, which parses too: the engine will reject it
    expect(run('port.pkt', '--dry-run').code).toBe(0)
  })

  it('--json prints one object per script in the documented shape', () => {
    const r = run('good.pkt', 'bad.pkt', 'missing.pkt', '--dry-run', '--json', '--stack', 'tcplab')
    expect(r.code).toBe(1)
    expect(r.err).toEqual([])
    expect(r.out.map((l) => JSON.parse(l))).toEqual([
      {
        script: 'good.pkt', stack: 'tcplab', result: 'pass', line: null, col: null, message: null,
        events: [{ kind: 'syscall', line: 3 }, { kind: 'syscall', line: 4 }, { kind: 'syscall', line: 5 }, { kind: 'tcp', line: 6 }, { kind: 'tcp', line: 7 }, { kind: 'python', line: 8 }],
      },
      { script: 'bad.pkt', stack: 'tcplab', result: 'error', line: 3, col: 1, message: "expected ',' or '>', got end of file", events: [] },
      { script: 'missing.pkt', stack: 'tcplab', result: 'error', line: null, col: null, message: 'cannot read missing.pkt (ENOENT)', events: [] },
    ])
  })

  it('names an unreadable file in one line, exit 1', () => {
    expect(run('missing.pkt', '--dry-run')).toEqual({ code: 1, out: [], err: ['missing.pkt: cannot read missing.pkt (ENOENT)'] })
  })
})

describe('tcplab script: flags and usage errors', () => {
  it('accepts the issue\'s flags in both spellings', () => {
    const r = run('good.pkt', '--dry-run', '--stack', 'kernel', '--ip-version', 'ipv6', '--tolerance-usecs', '5000', '--tolerance_usecs=6000',
      '--ladder', '--diagram', 'x.svg', '--pcap', 'x.pcap', '--mss', '1000', '--mtu', '1500', '--local_ip=192.0.2.1', '--remote-ip', '192.0.2.2',
      '--strict_segments', '--non_fatal=packet,syscall', '--tcp-ts-tick-usecs', '1000', '--dry_run')
    expect(r).toEqual({ code: 0, out: ['good.pkt: ok (6 events)'], err: [] })
  })

  it('runs --stack tcplab without root: good.pkt\'s Python block comes before accept(), so it has no socket, exit 1', () => {
    // As under packetdrill (and on the kernel target): a connection no accept() has taken has no fd to read TCP_INFO from.
    expect(run('good.pkt', '--stack', 'tcplab')).toEqual({ code: 1, out: [], err: ["good.pkt:8: runtime error in code: can't find getsockopt to get TCP info"] })
  })

  it('rejects bad flags with one line and exit 2, or a JSON error with --json', () => {
    expect(run('--dry-run')).toEqual({ code: 2, out: [], err: ["tcplab script: no script given (see 'tcplab script --help')"] })
    expect(run('good.pkt', '--dry-run', '--stack', 'bsd')).toEqual({ code: 2, out: [], err: ["tcplab script: --stack must be kernel, tcplab or both, got 'bsd'"] })
    expect(run('good.pkt', '--dry-run', '--ip-version', '4').err).toEqual(["tcplab script: --ip-version must be ipv4 or ipv6, got '4'"])
    expect(run('good.pkt', '--dry-run', '--tolerance_usecs=0').err).toEqual(["tcplab script: --tolerance-usecs must be an integer from 1 to 2147483647, got '0'"])
    expect(run('good.pkt', '--dry-run', '-D', 'NOEQUALS').err).toEqual(["tcplab script: -D takes NAME=VALUE, got 'NOEQUALS'"])
    expect(run('good.pkt', '--dry-run', '--local-ip', 'nope').err).toEqual(["tcplab script: --local-ip must be an IP address, got 'nope'"])
    expect(run('good.pkt', '--dry-run', '--non-fatal', 'timing').err).toEqual(["tcplab script: --non-fatal takes packet and/or syscall, comma-separated, got 'timing'"])
    const d = run('good.pkt', '--dry-run', '--diagram', 'x.txt')
    expect(d.code).toBe(2)
    expect(d.err[0]).toMatch(/^tcplab script: cannot tell the diagram format of "x\.txt"/)
    const j = run('good.pkt', '--dry-run', '--stack', 'bsd', '--json')
    expect(j).toEqual({ code: 2, out: [JSON.stringify({ error: { code: 'ERR_BAD_ARGUMENT', message: "--stack must be kernel, tcplab or both, got 'bsd'" } })], err: [] })
    expect(run('good.pkt', '--bogus').code).toBe(2)
  })
})
