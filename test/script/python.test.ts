/**
 * Python blocks (`%{ }%`): the snapshot variables read from the kernel's structs, the one program built from
 * every block, and the engine's part — which socket a block sees, when the program runs, and how a failing
 * block is reported (packetdrill's words, the block's line). The program runs in a real python3.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseScript } from '../../src/script/parser.js'
import { runScript } from '../../src/script/engine.js'
import type { CodeSnapshot } from '../../src/script/target.js'
import { ccInfoVars, memInfoVars, pythonErrorLine, pythonErrorSummary, pythonProgram, tcpInfoVars, PY_TCP_INFO_LEN } from '../../src/script/python.js'
import { FakeTarget, seg } from './fake-target.js'

/** struct tcp_info with distinct values in fields of each width, bitfields included (Linux 6.x layout). */
function tcpInfo(len = PY_TCP_INFO_LEN): Uint8Array {
  const b = new Uint8Array(len)
  const v = new DataView(b.buffer)
  b[0] = 1 // tcpi_state ESTABLISHED
  b[1] = 4 // tcpi_ca_state Loss
  b[5] = 0x27 // tcpi_options: TS|SACK|WSCALE|SYN_DATA
  b[6] = 0x78 // snd_wscale 8 (low nibble), rcv_wscale 7 (high nibble)
  b[7] = 0x01 // delivery_rate_app_limited
  v.setUint32(8, 1_000_000, true) // tcpi_rto
  v.setUint32(80, 10, true) // tcpi_snd_cwnd
  v.setUint32(100, 2, true) // tcpi_total_retrans
  if (len >= 112) v.setBigUint64(104, 2n ** 40n + 7n, true) // tcpi_pacing_rate
  if (len >= 244) v.setUint16(242, 3, true) // tcpi_total_rto_recoveries
  if (len >= 280) v.setUint32(276, (5 << 8) | (9 << 4) | (2 << 2) | 1, true) // options2 5, fail_mode 9, opt_seen 2, ecn_mode 1
  return b
}

const asMap = (vars: readonly (readonly [string, bigint])[]) => new Map(vars)

describe('snapshot variables', () => {
  it("tcp_info: packetdrill's symbols, then every field by name, bitfields included", () => {
    const m = asMap(tcpInfoVars(tcpInfo()))
    expect(m.get('TCP_ESTABLISHED')).toBe(1n)
    expect(m.get('TCP_CA_Loss')).toBe(4n)
    expect(m.get('TCPI_OPT_SYN_DATA')).toBe(32n)
    expect(m.get('TCPI_OPT_TFO_CHILD')).toBe(128n)
    expect([m.get('tcpi_state'), m.get('tcpi_ca_state'), m.get('tcpi_options')]).toEqual([1n, 4n, 0x27n])
    expect([m.get('tcpi_snd_wscale'), m.get('tcpi_rcv_wscale'), m.get('tcpi_delivery_rate_app_limited')]).toEqual([8n, 7n, 1n])
    expect([m.get('tcpi_rto'), m.get('tcpi_snd_cwnd'), m.get('tcpi_total_retrans')]).toEqual([1_000_000n, 10n, 2n])
    expect(m.get('tcpi_pacing_rate')).toBe(2n ** 40n + 7n)
    expect(m.get('tcpi_total_rto_recoveries')).toBe(3n)
    expect([m.get('tcpi_ecn_mode'), m.get('tcpi_accecn_opt_seen'), m.get('tcpi_accecn_fail_mode'), m.get('tcpi_options2')]).toEqual([1n, 2n, 9n, 5n])
    expect(m.size).toBe(24 + 71) // packetdrill gives 71 tcpi_ fields
  })

  it("an older kernel's shorter struct reads 0 past its end, as packetdrill's zeroed buffer does", () => {
    const m = asMap(tcpInfoVars(tcpInfo(104)))
    expect(m.get('tcpi_total_retrans')).toBe(2n)
    expect(m.get('tcpi_pacing_rate')).toBe(0n)
    expect(m.get('tcpi_snd_wnd')).toBe(0n)
    expect(m.get('tcpi_ecn_mode')).toBe(0n)
  })

  it('TCP_CC_INFO: every reading the answer is long enough for; none for an algorithm without it', () => {
    const b = new Uint8Array(20)
    const v = new DataView(b.buffer)
    v.setUint32(0, 1000, true)
    v.setUint32(4, 2, true)
    v.setUint32(8, 5000, true)
    v.setUint32(12, 256, true)
    v.setUint32(16, 512, true)
    const m = asMap(ccInfoVars(b))
    expect([m.get('bbr_bw_lo'), m.get('bbr_bw_hi'), m.get('bbr_bw'), m.get('bbr_min_rtt'), m.get('bbr_pacing_gain'), m.get('bbr_cwnd_gain')]).toEqual([1000n, 2n, (2n << 32n) + 1000n, 5000n, 256n, 512n])
    expect([m.get('dctcp_enabled'), m.get('dctcp_ce_state'), m.get('dctcp_alpha')]).toEqual([1000n, 0n, 2n])
    expect([m.get('tcpv_enabled'), m.get('tcp_rtt'), m.get('tcp_minrtt')]).toEqual([1000n, 5000n, 256n])
    expect(ccInfoVars(b.subarray(0, 16)).map(([n]) => n)).toEqual(['dctcp_enabled', 'dctcp_ce_state', 'dctcp_alpha', 'dctcp_ab_ecn', 'dctcp_ab_tot', 'tcpv_enabled', 'tcpv_rttcnt', 'tcp_rtt', 'tcp_minrtt'])
    expect(ccInfoVars(new Uint8Array(0))).toEqual([])
  })

  it('SO_MEMINFO: the nine SK_MEMINFO_ entries in order', () => {
    const b = new Uint8Array(36)
    const v = new DataView(b.buffer)
    for (let i = 0; i < 9; i++) v.setUint32(4 * i, 100 + i, true)
    expect(memInfoVars(b)).toEqual([
      ['SK_MEMINFO_RMEM_ALLOC', 100n], ['SK_MEMINFO_RCVBUF', 101n], ['SK_MEMINFO_WMEM_ALLOC', 102n], ['SK_MEMINFO_SNDBUF', 103n],
      ['SK_MEMINFO_FWD_ALLOC', 104n], ['SK_MEMINFO_WMEM_QUEUED', 105n], ['SK_MEMINFO_OPTMEM', 106n], ['SK_MEMINFO_BACKLOG', 107n],
      ['SK_MEMINFO_DROPS', 108n],
    ])
  })
})

/** Runs a program in the real python3, as the kernel target does. */
function python3(source: string): Promise<{ status: number; output: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'tcplab-pytest-'))
  const path = join(dir, 'code.py')
  writeFileSync(path, source)
  return new Promise((resolve) => {
    const c = spawn('python3', [path])
    let out = ''
    c.stdout.on('data', (d: Buffer) => (out += d))
    c.stderr.on('data', (d: Buffer) => (out += d))
    c.on('close', (code) => {
      rmSync(dir, { recursive: true, force: true })
      resolve({ status: code ?? 1, output: out })
    })
  })
}

describe('the program', () => {
  it('each block after its own snapshot, named by file and line; text exact', () => {
    const src = pythonProgram([
      { file: "a'b.pkt", line: 7, code: 'assert x == 1', vars: [['x', 1n]] },
      { file: "a'b.pkt", line: 9, code: '\nassert x == 2\n', vars: [['x', 2n]] },
    ])
    expect(src.endsWith("x = 1\n\n_file = 'a\\'b.pkt'\n_line = 7\nassert x == 1\n\nx = 2\n\n_file = 'a\\'b.pkt'\n_line = 9\n\nassert x == 2\n\n")).toBe(true)
    expect(src.startsWith('import sys\nimport traceback\ndef excepthook(etype, value, tb):\n')).toBe(true)
  })

  it('in python3: a passing program exits 0; a failing block names its script line and its exception', async () => {
    const ok = await python3(pythonProgram([{ file: 't.pkt', line: 3, code: 'assert tcpi_snd_cwnd == 10, tcpi_snd_cwnd', vars: tcpInfoVars(tcpInfo()) }]))
    expect(ok).toEqual({ status: 0, output: '' })
    const bad = await python3(
      pythonProgram([
        { file: 't.pkt', line: 3, code: 'assert tcpi_snd_cwnd == 10', vars: tcpInfoVars(tcpInfo()) },
        { file: 't.pkt', line: 5, code: 'assert tcpi_rto == 200000, tcpi_rto', vars: tcpInfoVars(tcpInfo()) },
      ]),
    )
    expect(bad.status).toBe(1)
    expect(bad.output.split('\n')[0]).toBe('t.pkt:5: error in Python code')
    expect(pythonErrorLine(bad.output)).toBe(5)
    expect(pythonErrorSummary(bad.output)).toBe('AssertionError: 1000000')
  })
})

/** A fake stack with Python blocks: snapshots say which fd they were taken on; the program runs in python3. */
class PyTarget extends FakeTarget {
  readonly snapshots: number[] = []
  programs: string[] = []
  snapshot: (fd: number) => CodeSnapshot = (fd) => {
    const b = tcpInfo()
    b[80] = fd // tcpi_snd_cwnd carries the fd, so a block can see which socket it got
    return { vars: tcpInfoVars(b) }
  }
  async codeSnapshot(fd: number): Promise<CodeSnapshot> {
    this.snapshots.push(fd)
    return this.snapshot(fd)
  }
  async runPython(source: string): Promise<{ status: number; output: string }> {
    this.programs.push(source)
    return python3(source)
  }
}

const ISN = 1_000_000_000
const PASSIVE = (block: string) => `
0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0    %{ assert tcpi_snd_cwnd == 10 }%
+0    bind(3, ..., ...) = 0
+0    listen(3, 1) = 0
+0    < S 0:0(0) win 65535 <mss 1000>
+0    > S. 0:0(0) ack 1 <mss 1460>
+.1   < . 1:1(0) ack 1 win 65535
+0    accept(3, ..., ...) = 4
+0    %{ ${block} }%
`

function passiveTarget(): PyTarget {
  const t = new PyTarget()
  t.send(10, seg({ flags: 'S.', seq: ISN, ack: 1, options: [{ kind: 'mss', value: 1460 }] }))
  return t
}

describe('Python blocks in a run', () => {
  it('a block sees the socket under test: the last socket(), then the accepted one; the program runs once, at the end', async () => {
    const t = passiveTarget()
    const v = await runScript(parseScript(PASSIVE('assert tcpi_snd_cwnd == 11, tcpi_snd_cwnd'), { file: 't.pkt' }), t)
    expect(v.message).toBeNull()
    expect(v.result).toBe('pass')
    expect(t.snapshots).toEqual([10, 11])
    expect(t.programs).toHaveLength(1)
    expect(v.events.filter((e) => e.kind === 'python').map((e) => [e.line, e.time])).toEqual([[3, 0], [10, 100_010]])
  })

  it("a failing block fails the script at the block's line, in packetdrill's words, Python's lines first", async () => {
    const t = passiveTarget()
    const v = await runScript(parseScript(PASSIVE('assert tcpi_snd_cwnd == 4, tcpi_snd_cwnd'), { file: 't.pkt' }), t)
    expect(v.result).toBe('fail')
    expect(v.line).toBe(10)
    expect(v.message).toBe("error executing code: 'python3' returned non-zero status 1 (AssertionError: 11)")
    expect(v.text[0]).toBe('t.pkt:10: error in Python code')
    expect(v.text[v.text.length - 1]).toBe("t.pkt: error executing code: 'python3' returned non-zero status 1")
  })

  it('a block before any socket is an error; a block after an inbound SYN and before accept() sees fd -1', async () => {
    const none = await runScript(parseScript('0 %{ pass }%\n', { file: 't.pkt' }), new PyTarget())
    expect([none.result, none.line, none.message]).toEqual(['error', 1, 'runtime error in code: no socket to use for code'])
    const t = passiveTarget()
    t.snapshot = (fd) => (fd < 0 ? { error: "can't find getsockopt to get TCP info" } : { vars: [] })
    const src = PASSIVE('pass').replace('+.1   < . 1:1(0) ack 1 win 65535', '+0 %{ pass }%\n+.1   < . 1:1(0) ack 1 win 65535')
    const v = await runScript(parseScript(src, { file: 't.pkt' }), t)
    expect([v.result, v.line, v.message]).toEqual(['error', 8, "runtime error in code: can't find getsockopt to get TCP info"])
    expect(t.snapshots).toEqual([10, -1])
    expect(t.programs).toEqual([])
  })

  it('a failure before the end runs no Python at all (packetdrill stops at the first error)', async () => {
    const t = passiveTarget()
    const v = await runScript(parseScript(PASSIVE('pass') + '+0 write(4, ..., 10) = 9\n', { file: 't.pkt' }), t)
    expect(v.result).toBe('fail')
    expect(v.line).toBe(11)
    expect(t.programs).toEqual([])
  })
})
