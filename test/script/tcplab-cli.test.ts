import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { readCaptureFile } from '../../src/net/pcap.js'
import { parseIpv4 } from '../../src/net/ipv4.js'
import { parseTcp } from '../../src/tcp/segment.js'
import { compareVerdicts } from '../../src/lab/commands/script.js'
import type { ScriptVerdict } from '../../src/script/engine.js'

const CLI = join(import.meta.dirname, '../../dist/lab/cli.js')
const dir = mkdtempSync(join(tmpdir(), 'tcplab-script-tcplab-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function run(...args: string[]): { code: number | null; out: string[]; err: string[] } {
  const r = spawnSync(process.execPath, [CLI, 'script', ...args], { cwd: dir, encoding: 'utf8' })
  const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '')
  return { code: r.status, out: lines(r.stdout), err: lines(r.stderr) }
}

const HEAD = [
  '`sysctl -q net.ipv4.tcp_timestamps=0 net.ipv4.tcp_sack=1 net.ipv4.tcp_window_scaling=1`',
  '0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3',
  '+0    bind(3, ..., ...) = 0',
  '+0    listen(3, 1) = 0',
  '+0    < S 0:0(0) win 65535 <mss 1000,sackOK,nop,nop>',
  '+0    > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK>',
  '+.1   < . 1:1(0) ack 1 win 65535',
  '+0    accept(3, ..., ...) = 4',
]
writeFileSync(join(dir, 'ok.pkt'), [...HEAD, '+0 write(4, ..., 100) = 100', '+0 > P. 1:101(100) ack 1', ''].join('\n'))
writeFileSync(join(dir, 'bad.pkt'), [...HEAD, '+0 write(4, ..., 100) = 100', '+0 > P. 1:101(100) ack 2', ''].join('\n'))
writeFileSync(join(dir, 'shell.pkt'), ['`echo hi`', '0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3', ''].join('\n'))

describe('tcplab script --stack tcplab (no root)', () => {
  it('prints FILE: ok, packetdrill\'s lines for a failure, the unsupported reason; exit 1 when one does not pass', () => {
    const r = run('ok.pkt', 'bad.pkt', 'shell.pkt', '--stack', 'tcplab')
    expect(r.code).toBe(1)
    expect(r.out).toEqual(['ok.pkt: ok'])
    expect(r.err).toEqual([
      'bad.pkt:10: error handling packet: live packet field tcp_ack_seq: expected: 2 (0x2) vs actual: 1 (0x1)',
      'script packet:  0.100000 P. 1:101(100) ack 2 ',
      'actual packet:  0.100000 P. 1:101(100) ack 1 win 64240 ',
      'shell.pkt:1: shell command `echo hi` cannot run on the tcplab target (only sysctl net.ipv4.tcp_* settings are mapped)',
    ])
    expect(run('ok.pkt', '--stack', 'tcplab')).toEqual({ code: 0, out: ['ok.pkt: ok'], err: [] })
  })

  it('--profile rfc runs tcplab\'s own defaults (the window field as min(rcvBuf, 65535)); a bad profile, or one for the kernel, is a usage error', () => {
    expect(run('bad.pkt', '--stack', 'tcplab', '--profile', 'rfc').err.slice(2)).toEqual(['actual packet:  0.100000 P. 1:101(100) ack 1 win 65535 '])
    expect(run('bad.pkt', '--stack', 'tcplab', '--profile', 'linux').err.slice(2)).toEqual(['actual packet:  0.100000 P. 1:101(100) ack 1 win 64240 '])
    expect(run('ok.pkt', '--stack', 'tcplab', '--profile', 'bsd')).toEqual({ code: 2, out: [], err: ["tcplab script: --profile must be linux or rfc, got 'bsd'"] })
    // --json says which profile ran
    expect(JSON.parse(run('ok.pkt', '--stack', 'tcplab', '--profile', 'rfc', '--json').out[0]!).profile).toBe('rfc')
    expect(JSON.parse(run('ok.pkt', '--stack', 'tcplab', '--json').out[0]!).profile).toBe('linux')
    expect(run('ok.pkt', '--profile', 'rfc')).toEqual({
      code: 2, out: [], err: ["tcplab script: --profile chooses the tcplab target's TCB profile: use it with --stack tcplab or both"],
    })
  })

  it('--json: one object per script, stack tcplab', () => {
    const r = run('ok.pkt', 'bad.pkt', '--stack', 'tcplab', '--json')
    const [a, b] = r.out.map((l) => JSON.parse(l))
    expect(a).toMatchObject({ script: 'ok.pkt', stack: 'tcplab', result: 'pass', line: null, message: null })
    expect(b).toMatchObject({ script: 'bad.pkt', stack: 'tcplab', result: 'fail', line: 10, message: 'live packet field tcp_ack_seq: expected: 2 (0x2) vs actual: 1 (0x1)' })
  })

  it('--pcap records every packet in and out on the virtual clock', async () => {
    const pcap = join(dir, 'ok.pcap')
    expect(run('ok.pkt', '--stack', 'tcplab', '--pcap', pcap).code).toBe(0)
    const got: Array<[string, number]> = []
    for await (const p of readCaptureFile(pcap)) {
      const t = parseTcp(parseIpv4(p.data).payload)
      got.push([`${t.srcPort === 8080 ? '>' : '<'}${t.flags.toString(16)}`, Number(p.timestampNs / 1000n)])
    }
    // SYN in, SYN+ACK out at 0; ACK in, data out at 100 ms exactly.
    expect(got).toEqual([['<2', 0], ['>12', 0], ['<10', 100_000], ['>18', 100_000]])
  })

  it('--stack both without root exits 2 with one line', () => {
    if (spawnSync('setpriv', ['--version']).status !== 0) return
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, 'script', 'ok.pkt', '--stack', 'both'], { cwd: dir, encoding: 'utf8' })
    expect(r.status).toBe(2)
    expect(r.stderr.trim().split('\n')).toEqual([
      'tcplab script: --stack both runs the kernel side too: the kernel script target needs root (CAP_NET_ADMIN) to make a network namespace and a TUN device: run it with sudo',
    ])
  })
})

describe('--stack both: comparing two verdicts', () => {
  const verdict = (stack: string, over: Partial<ScriptVerdict>): ScriptVerdict => ({
    script: 's.pkt', stack, result: 'pass', line: null, col: null, message: null, events: [], text: [], warnings: [], ...over,
  })
  it('same: equal result, line and message', () => {
    expect(compareVerdicts(verdict('kernel', {}), verdict('tcplab', {}))).toMatchObject({ stack: 'both', comparison: 'same', line: null })
    const f = { result: 'fail' as const, line: 7, message: 'Timed out waiting for packet' }
    expect(compareVerdicts(verdict('kernel', f), verdict('tcplab', f)).comparison).toBe('same')
  })
  it('differs: the earlier failing line and each stack\'s packet there, with its time', () => {
    const k = verdict('kernel', { events: [{ kind: 'tcp', line: 15, time: 100_100, packet: '> . 1:1(0) ack 101 win 64140 ' }] })
    const t = verdict('tcplab', { result: 'fail', line: 15, message: 'timing error', events: [{ kind: 'tcp', line: 15, time: 140_000, packet: '> . 1:1(0) ack 101 win 65535 ' }] })
    const c = compareVerdicts(k, t)
    expect(c).toMatchObject({ comparison: 'differs', line: 15, kernelActual: '0.100100 > . 1:1(0) ack 101 win 64140', tcplabActual: '0.140000 > . 1:1(0) ack 101 win 65535' })
    expect(Object.keys(c)).toEqual(['script', 'stack', 'comparison', 'line', 'kernelActual', 'tcplabActual', 'kernel', 'tcplab'])
    expect(c.kernel).toMatchObject({ stack: 'kernel', result: 'pass' })
  })
  it('unsupported on either side', () => {
    expect(compareVerdicts(verdict('kernel', {}), verdict('tcplab', { result: 'unsupported', line: 3, message: 'x' }))).toMatchObject({ comparison: 'unsupported', line: 3 })
  })
})
