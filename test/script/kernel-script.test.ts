/**
 * `tcplab script` against the Linux kernel (root): the whole corpus (test/scripts/*.pkt) on IPv4 and on IPv6
 * through the built CLI, failing variants that must fail at the right line in packetdrill's words, `--json`,
 * the usage errors, and that no script namespace is left behind — after a run and after SIGINT.
 * One file on purpose: the runs are real-time and use the machine's cores, so they do not overlap.
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, it } from 'vitest'
import { parseNetnsList } from '../../src/net/netns.js'
import { describeRoot } from '../helpers/root.js'
import { exitOf, repoPath, requireBuilt } from '../helpers/lab.js'

const CLI = repoPath('dist/lab/cli.js')
const CORPUS = readdirSync(repoPath('test/scripts')).filter((f) => f.endsWith('.pkt')).sort()
const dir = mkdtempSync(join(tmpdir(), 'tcplab-kscript-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/**
 * Corpus scripts that do not pass on the kernel target yet, each with the reason (none today: every script
 * passes on IPv4 and IPv6). A script listed here is expected to fail, so a fix shows up as a test failure.
 */
const NOT_PASSING: Record<'ipv4' | 'ipv6', Record<string, string>> = { ipv4: {}, ipv6: {} }

/** Script namespaces present now (`tcplab-s<id>-a`, the names the kernel target gives them). */
function scriptNamespaces(): string[] {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' })
  return parseNetnsList(r.stdout).filter((n) => /^tcplab-s[a-z0-9]+-a$/.test(n))
}

/** Runs the CLI in `cwd` and collects its lines. */
function cli(args: string[], cwd = dir): Promise<{ code: number | null; out: string[]; err: string[] }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [CLI, 'script', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    c.stdout.on('data', (d: Buffer) => (out += d.toString()))
    c.stderr.on('data', (d: Buffer) => (err += d.toString()))
    c.on('close', (code) => {
      const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '')
      resolve({ code, out: lines(out), err: lines(err) })
    })
  })
}

const INIT = '`sysctl -q net.ipv4.tcp_timestamps=0 net.ipv4.tcp_sack=0 net.ipv4.tcp_window_scaling=0`'
const OPEN = [
  INIT,
  '0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3',
  '+0    setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0',
  '+0    bind(3, ..., ...) = 0',
  '+0    listen(3, 1) = 0',
  '+0    < S 0:0(0) win 65535 <mss 1000>',
]
const ESTABLISHED = [...OPEN, '+0    > S. 0:0(0) ack 1 <mss 1460>', '+.1   < . 1:1(0) ack 1 win 65535', '+0    accept(3, ..., ...) = 4']

function write(name: string, lines: string[]): string {
  writeFileSync(join(dir, name), `${lines.join('\n')}\n`)
  return name
}

describeRoot('tcplab script against the kernel', () => {
  for (const ipv of ['ipv4', 'ipv6'] as const) {
    it(`passes the whole corpus on ${ipv} (${CORPUS.length} scripts)`, async () => {
      requireBuilt('dist/lab/cli.js', 'dist/script/kernel/child.js')
      const before = scriptNamespaces()
      const files = CORPUS.map((f) => `test/scripts/${f}`)
      const r = await cli(['--json', '--ip-version', ipv, ...files], repoPath('.'))
      const results = r.out.map((l) => JSON.parse(l) as { script: string; result: string; line: number | null; message: string | null })
      expect(results.map((x) => x.script)).toEqual(files)
      // A script that missed packetdrill's 4 ms timing tolerance (a real-time run on a shared 2-core machine)
      // gets one more run, alone; any other failure, or a second timing miss, stands. Retries are printed.
      const timingMiss = (m: string | null): boolean => m !== null && /timing error|Timed out waiting for packet/.test(m)
      const retried: string[] = []
      for (const [i, x] of results.entries()) {
        if (x.result === 'pass' || !timingMiss(x.message)) continue
        const again = await cli(['--json', '--ip-version', ipv, x.script], repoPath('.'))
        retried.push(`${x.script} (${x.message}) → ${JSON.parse(again.out[0]!).result}`)
        results[i] = JSON.parse(again.out[0]!)
      }
      if (retried.length > 0) console.log(`[issue13] corpus on ${ipv}: retried after a timing miss: ${retried.join('; ')}`)
      const failing = Object.fromEntries(results.filter((x) => x.result !== 'pass').map((x) => [x.script.replace('test/scripts/', ''), `${x.result} at line ${x.line}: ${x.message}`]))
      expect(failing).toEqual(Object.fromEntries(Object.keys(NOT_PASSING[ipv]).map((k) => [k, expect.any(String)])))
      expect(retried.length).toBeLessThanOrEqual(3)
      if (retried.length === 0) expect(r.code).toBe(Object.keys(NOT_PASSING[ipv]).length === 0 ? 0 : 1)
      expect(scriptNamespaces().filter((n) => !before.includes(n))).toEqual([])
    }, 600_000)
  }

  it('fails a wrong ACK at its line with packetdrill\'s message and both packets', async () => {
    const f = write('wrong-ack.pkt', [...OPEN, '+0    > S. 0:0(0) ack 2 <mss 1460>'])
    const r = await cli([f])
    expect(r.code).toBe(1)
    expect(r.out).toEqual([])
    expect(r.err[0]).toBe('wrong-ack.pkt:7: error handling packet: live packet field tcp_ack_seq: expected: 2 (0x2) vs actual: 1 (0x1)')
    expect(r.err[1]).toMatch(/^script packet: +\d+\.\d{6} S\. 0:0\(0\) ack 2 <mss 1460>$/)
    expect(r.err[2]).toMatch(/^actual packet: +\d+\.\d{6} S\. 0:0\(0\) ack 1 win \d+ <mss 1460>$/)
  }, 60_000)

  it('fails a packet that never comes: Timed out waiting for packet', async () => {
    const f = write('never.pkt', [...ESTABLISHED, '+0    > F. 1:1(0) ack 1'])
    const r = await cli([f])
    expect(r).toEqual({ code: 1, out: [], err: ['never.pkt:10: error handling packet: Timed out waiting for packet'] })
  }, 60_000)

  it('ends a failing run while a blocking accept() still waits in the kernel (the call never returns)', async () => {
    // The run used to hang here: process.exit() joined the threadpool thread stuck in accept().
    const f = write('pending-accept.pkt', [
      INIT,
      '0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3',
      '+0    setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0',
      '+0    bind(3, ..., ...) = 0',
      '+0    listen(3, 1) = 0',
      '+0...0.5 accept(3, ..., ...) = 4',
      '+0    < S 0:0(0) win 65535 <mss 1000>',
      '+0    > S. 0:0(0) ack 2 <mss 1460>',
    ])
    const r = await cli([f])
    expect(r.code).toBe(1)
    expect(r.err[0]).toBe('pending-accept.pkt:8: error handling packet: live packet field tcp_ack_seq: expected: 2 (0x2) vs actual: 1 (0x1)')
  }, 60_000)

  it('MSG_ZEROCOPY: the error queue\'s sock_extended_err checked field by field, with CMSG_LEVEL_IP as packetdrill\'s run_all.py defines it', async () => {
    const recv = (info: number, data: number) => [
      '+0    recvmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 0}], msg_flags=MSG_ERRQUEUE,',
      `       msg_control=[{cmsg_level=CMSG_LEVEL_IP, cmsg_type=CMSG_TYPE_RECVERR, cmsg_data={ee_errno=0, ee_origin=SO_EE_ORIGIN_ZEROCOPY, ee_type=0, ee_code=SO_EE_CODE_ZEROCOPY_COPIED, ee_info=${info}, ee_data=${data}}}]}, MSG_ERRQUEUE) = 0`,
    ]
    const zc = (info: number, data: number) => [
      ...ESTABLISHED.slice(0, 4),
      '+0    setsockopt(3, SOL_SOCKET, SO_ZEROCOPY, [1], 4) = 0',
      ...ESTABLISHED.slice(4),
      '+0    send(4, ..., 1000, MSG_ZEROCOPY) = 1000',
      '+0    > P. 1:1001(1000) ack 1',
      '+0    < . 1:1(0) ack 1001 win 65535',
      ...recv(info, data),
    ]
    const defs = ['-D', 'CMSG_LEVEL_IP=SOL_IP', '-D', 'CMSG_TYPE_RECVERR=IP_RECVERR']
    expect(await cli([write('zerocopy.pkt', zc(0, 0)), ...defs])).toEqual({ code: 0, out: ['zerocopy.pkt: ok'], err: [] })
    const bad = await cli([write('zerocopy-bad.pkt', zc(0, 1)), ...defs])
    expect(bad).toEqual({ code: 1, out: [], err: ['zerocopy-bad.pkt:14: runtime error in recvmsg call: Bad data in extended err 0: expected=1 actual=0'] })
  }, 60_000)

  it('getsockopt with a struct checks the fields it names: TCP_INFO by tcpi_ name, SO_LINGER', async () => {
    const lines = (cwnd: number) => [
      ...ESTABLISHED,
      '+0    getsockopt(4, SOL_TCP, TCP_INFO, {tcpi_state=TCP_ESTABLISHED, tcpi_snd_mss=1000, tcpi_snd_cwnd=10}, [104]) = 0',
      '+0    setsockopt(4, SOL_SOCKET, SO_LINGER, {onoff=1, linger=5}, 8) = 0',
      '+0    getsockopt(4, SOL_SOCKET, SO_LINGER, {onoff=1, linger=5}, [8]) = 0',
      `+0    getsockopt(4, SOL_TCP, TCP_INFO, {tcpi_snd_cwnd=${cwnd}}, [104]) = 0`,
    ]
    expect(await cli([write('info.pkt', lines(10))])).toEqual({ code: 0, out: ['info.pkt: ok'], err: [] })
    expect(await cli([write('info-bad.pkt', lines(11))])).toEqual({ code: 1, out: [], err: ['info-bad.pkt:13: runtime error in getsockopt call: Bad getsockopt tcpi_snd_cwnd: expected: 11 actual: 10'] })
  }, 60_000)

  it('open, sendfile, pipe and splice: a file sent whole, received data moved into a pipe and read from it', async () => {
    const file = join(dir, 'five-bytes')
    writeFileSync(file, Buffer.alloc(5)) // zeros: a script's payloads are zeros
    const lines = (spliced: number) => [
      ...ESTABLISHED,
      `+0    open("${file}", O_RDONLY) = 5`,
      '+0    sendfile(4, 5, [0], 5) = 5',
      '+0    > P. 1:6(5) ack 1',
      '+0    pipe([6, 7]) = 0',
      '+0    < P. 1:101(100) ack 6 win 65535',
      `+0    splice(4, NULL, 7, NULL, 60, 0) = ${spliced}`,
      '+0    read(6, ..., 100) = 60',
      '+0    read(4, ..., 100) = 40',
    ]
    expect(await cli([write('splice.pkt', lines(60))])).toEqual({ code: 0, out: ['splice.pkt: ok'], err: [] })
    expect(await cli([write('splice-bad.pkt', lines(61))])).toEqual({ code: 1, out: [], err: ['splice-bad.pkt:15: runtime error in splice call: Expected result 61 but got 60 with errno 0 (Success)'] })
  }, 60_000)

  it('fails a wrong errno with the real one, in strerror words', async () => {
    const f = write('errno.pkt', [
      ...ESTABLISHED,
      '+0    fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK) = 0',
      '+0    read(4, ..., 10) = -1 EINPROGRESS (Operation now in progress)',
    ])
    const r = await cli([f])
    expect(r).toEqual({
      code: 1,
      out: [],
      err: ['errno.pkt:11: runtime error in read call: Expected errno 115 (Operation now in progress) but got 11 (Resource temporarily unavailable)'],
    })
  }, 60_000)

  it('--json: one object per script, in order, pass and fail, exit 1', async () => {
    const bad = write('errno-json.pkt', [...ESTABLISHED, '+0    read(4, ..., 10) = -1 EBADF (Bad file descriptor)'])
    const good = write('good.pkt', [...ESTABLISHED, '+0    close(4) = 0', '+0    > F. 1:1(0) ack 1'])
    const r = await cli(['--json', bad, good])
    expect(r.code).toBe(1)
    expect(r.err).toEqual([])
    const [a, b] = r.out.map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(Object.keys(a!).sort()).toEqual(['col', 'events', 'line', 'message', 'result', 'script', 'stack'])
    expect(a).toMatchObject({ script: bad, stack: 'kernel', result: 'fail', line: 10 })
    expect(a!.message).toMatch(/^runtime error in read call: /)
    expect(b).toMatchObject({ script: good, stack: 'kernel', result: 'pass', line: null, message: null })
    const events = b!.events as Array<{ kind: string; line: number }>
    expect(events.map((e) => [e.kind, e.line])).toEqual([
      ['syscall', 2], ['syscall', 3], ['syscall', 4], ['syscall', 5], ['tcp', 6], ['tcp', 7], ['tcp', 8], ['syscall', 9], ['syscall', 10], ['tcp', 11],
    ])
  }, 60_000)

  it('says what is wrong in one line, exit 2', async () => {
    const f = write('any.pkt', ESTABLISHED)
    expect((await cli([f, '--ip-version', 'ipv5'])).code).toBe(2)
    if (spawnSync('setpriv', ['--version']).status === 0) {
      const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, 'script', f], { cwd: dir, encoding: 'utf8' })
      expect(r.status).toBe(2)
      expect(r.stderr.trim().split('\n')).toEqual([
        'tcplab script: the kernel script target needs root (CAP_NET_ADMIN) to make a network namespace and a TUN device: run it with sudo',
      ])
    }
  }, 60_000)

  it('--pcap records what crossed the TUN (FILE.N for several scripts); --ladder and --diagram draw it', async () => {
    const script = 'test/scripts/close-active-fin-wait.pkt'
    const pcap = join(dir, 'run.pcap')
    const svg = join(dir, 'run.svg')
    const r = await cli([script, '--pcap', pcap, '--ladder', '--diagram', svg], repoPath('.'))
    expect(r.code).toBe(0)
    expect(r.out[0]).toBe(`${script}: ok`)
    // tshark reads the capture (TCP; the kernel's own IPv6 router solicitations cross the TUN too): the
    // handshake, the kernel's FIN, our ACK and FIN, its last ACK.
    const flags = spawnSync('tshark', ['-r', pcap, '-Y', 'tcp', '-T', 'fields', '-e', 'tcp.flags.str'], { encoding: 'utf8' })
    expect(flags.status).toBe(0)
    expect(flags.stdout.trim().split('\n').map((f) => f.replace(/[·\s]/g, ''))).toEqual(['S', 'AS', 'A', 'AF', 'A', 'AF', 'A'])
    // The ladder of that connection: the script's peer on the left, the kernel on the right, and how it ended.
    expect(r.out).toContain('#1 198.19.2.1:40000 → 198.18.0.1:8080')
    expect(r.out.some((l) => /SYN-SENT ├─+►│ SYN-RECEIVED$/.test(l))).toBe(true)
    expect(r.out).toContain('outcome: closed with FIN both ways (server closed first)')
    expect(readFileSync(svg, 'utf8')).toMatch(/^<\?xml [^\n]*\n<svg /)
    // Several scripts: one capture each, numbered by the script's place in the list.
    const two = await cli([script, 'test/scripts/open-passive-no-options.pkt', '--pcap', pcap], repoPath('.'))
    expect(two.code).toBe(0)
    expect([existsSync(`${pcap}.1`), existsSync(`${pcap}.2`)]).toEqual([true, true])
  }, 120_000)

  it('the TUN has the offloads packetdrill\'s has: a 10-segment write leaves in TSO packets, their checksums finished in the capture', async () => {
    const lines = (line: string) => [...ESTABLISHED, '+0    write(4, ..., 10000) = 10000', line]
    const pcap = join(dir, 'tso.pcap')
    const one = await cli([write('tso.pkt', lines('+0    > P. 1:10001(10000) ack 1')), '--pcap', pcap])
    expect(one).toEqual({ code: 0, out: ['tso.pkt: ok'], err: [] })
    // tshark sees super-segments (several MSS of 1000 each, as the kernel's TSO autosizing cuts the write)
    // adding up to the 10000 bytes, each with a TCP checksum tshark verifies good (status 1).
    const t = spawnSync('tshark', ['-r', pcap, '-o', 'tcp.check_checksum:TRUE', '-Y', 'tcp.len > 0', '-T', 'fields', '-e', 'tcp.len', '-e', 'tcp.checksum.status'], { encoding: 'utf8' })
    expect(t.status).toBe(0)
    const sent = t.stdout.trim().split('\n').map((l) => l.split('\t').map(Number))
    expect(sent.map(([, status]) => status)).toEqual(sent.map(() => 1))
    expect(sent.reduce((n, [len]) => n + len!, 0)).toBe(10000)
    expect(sent.every(([len]) => len! % 1000 === 0)).toBe(true)
    expect(Math.max(...sent.map(([len]) => len!))).toBeGreaterThan(1000)
    // A line for the first 1000 bytes only fails as under packetdrill: the live super-segment is not cut to fit.
    const cut = await cli([write('tso-cut.pkt', lines('+0    > . 1:1001(1000) ack 1'))])
    expect(cut.code).toBe(1)
    expect(cut.err[0]).toMatch(/^tso-cut\.pkt:11: error handling packet: live packet payload: expected 1000 bytes vs actual [1-9]0000? bytes$/)
    expect(cut.err[0]).not.toContain('actual 1000 bytes')
  }, 60_000)

  it('--mss: a longer inbound data line arrives as one GRO super-segment of that size (tcpi_rcv_mss shows it)', async () => {
    const lines = (mss: number) => [
      ...ESTABLISHED,
      '+0    < P. 1:3001(3000) ack 1 win 65535',
      '+0    read(4, ..., 3000) = 3000',
      `+0    getsockopt(4, SOL_TCP, TCP_INFO, {tcpi_rcv_mss=${mss}}, [104]) = 0`,
    ]
    expect(await cli([write('gro.pkt', lines(1000)), '--mss', '1000'])).toEqual({ code: 0, out: ['gro.pkt: ok'], err: [] })
    // Without --mss the same line is one plain 3000-byte segment: the kernel measures 3000, capped at its own
    // advertised MSS (1460).
    expect(await cli([write('gro-plain.pkt', lines(1460))])).toEqual({ code: 0, out: ['gro-plain.pkt: ok'], err: [] })
  }, 60_000)

  it('runs shell commands with PACKETDRILL_PID set, as packetdrill does (helpers such as set_sysctls.py need it)', async () => {
    const name = write('pid.pkt', ['`test -n "$PACKETDRILL_PID" && test "$PACKETDRILL_PID" -gt 1`', ...ESTABLISHED.slice(1)])
    const r = await cli([name])
    expect(r.err).toEqual([])
    expect({ code: r.code, out: r.out }).toEqual({ code: 0, out: [`${name}: ok`] })
  }, 60_000)

  it('removes the namespace and its child on SIGINT', async () => {
    const f = write('long.pkt', ['0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3', '+60 close(3) = 0'])
    const before = scriptNamespaces()
    const c = spawn(process.execPath, [CLI, 'script', f], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
    let mine: string[] = []
    // Wait (bounded) until the run's namespace exists, so the signal comes mid-script.
    for (let i = 0; i < 200 && mine.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 50))
      mine = scriptNamespaces().filter((n) => !before.includes(n))
    }
    expect(mine).toHaveLength(1)
    c.kill('SIGINT')
    const { code, signal } = await exitOf(c)
    expect(signal === 'SIGINT' || code === 130).toBe(true)
    expect(scriptNamespaces().filter((n) => !before.includes(n))).toEqual([])
    const left = spawnSync('ip', ['netns', 'pids', mine[0]!], { encoding: 'utf8' })
    expect(left.status).not.toBe(0)
  }, 60_000)
})
