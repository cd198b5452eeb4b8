#!/usr/bin/env node
// The conformance matrix (issue 14): every script of test/scripts/ on the Linux kernel and on tcplab's TCP
// with the 'linux' and the 'rfc' profiles, written to docs/conformance.md. Imports the compiled code: run
// `npm run build` first.
//
//   sudo node scripts/conformance.mjs [--from DIR] [--save DIR] [--out FILE] [--retries N]
//
// Without --from it runs, for IPv4 and IPv6, `tcplab script test/scripts/*.pkt --stack both --json` (root:
// the kernel side makes namespaces) and `--stack tcplab --profile rfc --json`, then reruns each script whose
// kernel verdict was not a pass on its own, up to --retries times (default 2: the kernel runs in real time
// and a loaded machine can miss packetdrill's 4 ms), and says how many needed it. --from DIR reads the runs
// a --save DIR kept (both-ipv4.jsonl, both-ipv6.jsonl, rfc-ipv4.jsonl, rfc-ipv6.jsonl), so the page can be
// rewritten without root. The times per script are measured here, in this process, on the linux profile.
//
// Every script that does not pass on tcplab's linux profile needs an entry in REASONS below: a cause
// (the group it is counted in) and why — "to fix: …" for what tcplab's TCB or target still lacks, or
// "on purpose: …" with the RFC section tcplab follows instead. The script exits 1 when a difference has
// no reason or a reason is left over for a script that now passes (the page is written either way).
// test/script/tcplab-corpus.test.ts checks the page against test/scripts/tcplab-passing.txt.
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { release } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const dist = (p) => import(join(root, 'dist', p))
const CLI = join(root, 'dist/lab/cli.js')
const SCRIPTS_DIR = 'test/scripts'
const VERSIONS = ['ipv4', 'ipv6']

/**
 * Why each script that does not pass on the linux profile differs. `cause` names the group; `why` starts
 * with "to fix:" (with where: the TCB in src/tcp or the script target in src/script/tcplab) or "on purpose:".
 */
const REASONS = {
  'open-simultaneous.pkt': {
    cause: 'window scale in a simultaneous-open SYN-ACK',
    why: 'on purpose: RFC 7323 §2.2 — a Window Scale option goes in a <SYN,ACK> only if the <SYN> received carried one; Linux\'s simultaneous-open SYN-ACK repeats its own SYN\'s options, window scale included, although the peer\'s SYN had none.',
  },
}

const PRR_RFC =
  'on purpose (rfc profile): RFC 6675 §5 holds cwnd at ssthresh through fast recovery, so the retransmissions leave at once and new data waits for pipe to fall, and only the end of queued data is pushed; Linux spreads the reduction over the round trip with PRR (RFC 6937) and pushes each multi-segment GSO packet, as the linux profile does.'

/** Why the rfc profile fails where the linux profile passes, for scripts the message alone does not explain. */
const RFC_REASONS = {
  'data-delayed-ack-cumulative.pkt': 'on purpose (rfc profile): a second full-sized segment is ACKed at once (RFC 9293 §3.8.6.3 SHLD-19, RFC 1122 §4.2.3.2); Linux waits while the application has not read, as the linux profile does.',
  'open-passive-wscale-only.pkt': 'on purpose (rfc profile): sender SWS avoidance against the largest window seen, the SYN\'s (RFC 9293 §3.8.6.2.1): the window-limited segment waits for the override timeout and carries no PSH; the linux profile bounds segments to half the window of the handshake\'s ACK and pushes them, as Linux does.',
  'window-limited-send.pkt': 'on purpose (rfc profile): as open-passive-wscale-only.pkt — RFC 9293 §3.8.6.2.1 sender SWS avoidance against the SYN\'s window.',
  'open-active-bad-tsecr-rst.pkt': 'on purpose (rfc profile): RFC 7323 applies its timestamp checks (PAWS, §5.3) in synchronized states only, so a SYN-ACK with any echo completes the handshake; Linux also refuses one whose echo it cannot have sent since its SYN, as the linux profile does.',
  'retrans-prr-proportional-cubic.pkt': PRR_RFC,
  'retrans-prr-proportional-reno.pkt': PRR_RFC,
  'retrans-prr-reduction-bound.pkt': PRR_RFC,
}

/** Why the rfc profile fails where the linux profile passes, read from the verdict's message. */
function rfcOnlyWhy(message) {
  if (/bad outbound TCP options/.test(message ?? '')) {
    return 'on purpose (rfc profile): tcplab\'s own SYN option order with SACK and no timestamps, and a SYN window of min(rcvBuf, 65535) (RFC 9293 §3.1 and RFC 7323 §2.2 fix neither); the linux profile writes Linux\'s.'
  }
  if (/timing error/.test(message ?? '')) {
    return 'on purpose (rfc profile): every ACK of data is delayed (RFC 9293 §3.8.6.3, RFC 1122 §4.2.3.2); the linux profile has Linux\'s quick-ack mode.'
  }
  if (/tcp_window/.test(message ?? '')) {
    return 'on purpose (rfc profile): the SYN window is min(rcvBuf, 65535) (RFC 7323 §2.2 leaves it to the receiver); the linux profile rounds it as Linux does.'
  }
  return 'on purpose (rfc profile): tcplab\'s own behaviour where the linux profile follows Linux.'
}

const args = parseArgs({
  options: {
    from: { type: 'string' },
    save: { type: 'string' },
    out: { type: 'string', default: 'docs/conformance.md' },
    retries: { type: 'string', default: '2' },
  },
}).values

const scripts = readdirSync(join(root, SCRIPTS_DIR)).filter((f) => f.endsWith('.pkt')).sort()
const files = scripts.map((f) => `${SCRIPTS_DIR}/${f}`)

/** One `tcplab script … --json` run; a run that did not finish (a crash, a signal) is tried once more. */
function cli(argv, again = true) {
  const r = spawnSync(process.execPath, [CLI, 'script', ...argv], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 28 })
  try {
    if (r.status !== 0 && r.status !== 1) throw new Error(`exit ${r.status ?? r.signal}`)
    return r.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l))
  } catch (e) {
    console.error(`tcplab script ${argv.length > 4 ? `(${argv.length} args)` : argv.join(' ')}: ${e.message}\n${r.stderr}`)
    if (again) return cli(argv, false)
    throw e
  }
}

/** The runs: both (kernel and linux profile) and rfc, per IP version; plus how many kernel reruns there were. */
function runAll() {
  const runs = {}
  let reruns = 0
  for (const v of VERSIONS) {
    const both = cli([...files, '--stack', 'both', '--json', '--ip-version', v])
    for (const [i, c] of both.entries()) {
      for (let n = 0; n < Number(args.retries) && both[i].kernel.result !== 'pass'; n++) {
        const again = cli([c.script, '--stack', 'both', '--json', '--ip-version', v])[0]
        reruns++
        if (again.kernel.result === 'pass') both[i] = { ...again, rerun: n + 1 }
      }
    }
    runs[`both-${v}`] = both
    runs[`rfc-${v}`] = cli([...files, '--stack', 'tcplab', '--profile', 'rfc', '--json', '--ip-version', v])
  }
  return { runs, reruns }
}

function load(dir) {
  const runs = {}
  for (const name of VERSIONS.flatMap((v) => [`both-${v}`, `rfc-${v}`])) {
    runs[name] = readFileSync(join(dir, `${name}.jsonl`), 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l))
  }
  const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8'))
  return { runs, reruns: meta.reruns, date: meta.date, kernel: meta.kernel }
}

/** Per-script time on the linux profile, in this process (parse excluded), for IPv4: mean and max µs. */
async function timeScripts() {
  const { parseScript } = await dist('script/parser.js')
  const { runTcplabScript } = await dist('script/tcplab/target.js')
  const times = []
  const withPython = []
  for (const f of scripts) {
    const script = parseScript(readFileSync(join(root, SCRIPTS_DIR, f), 'utf8'), { file: f })
    if (script.events.some((e) => e.action.kind === 'python')) {
      // Their time is python3's start, not tcplab's: timed once, apart.
      const t0 = process.hrtime.bigint()
      const v = await runTcplabScript(script, { ipVersion: 'ipv4' })
      if (v.result !== 'unsupported') withPython.push(Number(process.hrtime.bigint() - t0) / 1000)
      continue
    }
    await runTcplabScript(script, { ipVersion: 'ipv4' }) // warm-up
    const t0 = process.hrtime.bigint()
    const reps = 5
    for (let i = 0; i < reps; i++) await runTcplabScript(script, { ipVersion: 'ipv4' })
    times.push(Number(process.hrtime.bigint() - t0) / 1000 / reps)
  }
  const sorted = [...times].sort((a, b) => a - b)
  return {
    n: times.length,
    mean: times.reduce((a, b) => a + b, 0) / times.length,
    median: sorted[Math.floor(sorted.length / 2)],
    max: sorted[sorted.length - 1],
    python: withPython,
  }
}

function features() {
  const m = new Map()
  for (const line of readFileSync(join(root, SCRIPTS_DIR, 'INDEX.md'), 'utf8').split('\n')) {
    const x = /^- `([^`]+)`: (.*)$/.exec(line)
    if (x) m.set(x[1], x[2])
  }
  return m
}

const md = (s) => String(s).replace(/\|/g, '\\|')
const code = (s) => (s === null || s === undefined ? '(no packet)' : `\`${s.replace(/`/g, "'")}\``)
const short = (r) => (r.result === 'pass' ? 'pass' : `${r.result} :${r.line ?? '?'}`)
/** One verdict cell over both IP versions. */
function cell(a, b) {
  const x = short(a)
  const y = short(b)
  return x === y ? x : `v4 ${x}, v6 ${y}`
}

const { compareVerdicts } = await dist('lab/commands/script.js')
let data
if (args.from) data = load(args.from)
else {
  const r = runAll()
  data = { ...r, date: new Date().toISOString().slice(0, 10), kernel: release() }
  if (args.save) {
    mkdirSync(args.save, { recursive: true })
    for (const [k, v] of Object.entries(data.runs)) writeFileSync(join(args.save, `${k}.jsonl`), v.map((o) => JSON.stringify(o)).join('\n') + '\n')
    writeFileSync(join(args.save, 'meta.json'), JSON.stringify({ reruns: data.reruns, date: data.date, kernel: data.kernel }) + '\n')
  }
}
const timing = await timeScripts()
const index = features()

const rows = scripts.map((f) => {
  const get = (name) => data.runs[name].find((o) => o.script === `${SCRIPTS_DIR}/${f}`)
  const b4 = get('both-ipv4')
  const b6 = get('both-ipv6')
  if (!b4 || !b6) throw new Error(`${f}: missing from the runs (rerun without --from)`)
  const r4 = get('rfc-ipv4')
  const r6 = get('rfc-ipv6')
  const linuxPass = b4.tcplab.result === 'pass' && b6.tcplab.result === 'pass'
  const rfcPass = r4.result === 'pass' && r6.result === 'pass'
  // The first difference: IPv4's unless only IPv6 differs.
  const firstOf = (cmp4, cmp6, t4) => (t4.result !== 'pass' || cmp4.comparison !== 'same' ? { v: 'IPv4', c: cmp4 } : { v: 'IPv6', c: cmp6 })
  const linuxDiff = linuxPass ? undefined : firstOf(b4, b6, b4.tcplab)
  const rfc4 = compareVerdicts(b4.kernel, r4)
  const rfc6 = compareVerdicts(b6.kernel, r6)
  const rfcDiff = rfcPass ? undefined : firstOf(rfc4, rfc6, r4)
  return {
    f, b4, b6, r4, r6, linuxPass, rfcPass, linuxDiff, rfcDiff,
    kernelPass: b4.kernel.result === 'pass' && b6.kernel.result === 'pass',
    reruns: (b4.rerun ? 1 : 0) + (b6.rerun ? 1 : 0),
  }
})

const problems = []
for (const r of rows) {
  if (!r.linuxPass && !REASONS[r.f]) problems.push(`${r.f}: differs on the linux profile and has no reason in scripts/conformance.mjs`)
  if (r.linuxPass && REASONS[r.f]) problems.push(`${r.f}: passes on the linux profile now: remove its reason from scripts/conformance.mjs`)
  if (REASONS[r.f] && !/^(to fix|on purpose)\b/.test(REASONS[r.f].why)) problems.push(`${r.f}: a reason starts with "to fix" or "on purpose"`)
}

const n = rows.length
const pct = (k) => `${((100 * k) / n).toFixed(1)} %`
const linuxN = rows.filter((r) => r.linuxPass).length
const rfcN = rows.filter((r) => r.rfcPass).length
const kernelN = rows.filter((r) => r.kernelPass).length
const differing = rows.filter((r) => !r.linuxPass)
const groups = new Map()
for (const r of differing) {
  const cause = REASONS[r.f]?.cause ?? '(no reason given)'
  const g = groups.get(cause) ?? { rows: [], kind: (REASONS[r.f]?.why ?? '').startsWith('on purpose') ? 'on purpose' : 'to fix' }
  g.rows.push(r)
  groups.set(cause, g)
}
const lineOf = (r) => r.linuxDiff.c.line ?? (r.linuxDiff.c.tcplab ? r.linuxDiff.c.tcplab.line : null)

const out = []
out.push('# Conformance: the corpus on the Linux kernel and on tcplab\'s TCP')
out.push('')
out.push(`Generated by \`node scripts/conformance.mjs\` (as root) on ${data.date}, kernel ${data.kernel}, from`)
out.push('`tcplab script test/scripts/*.pkt --stack both --json` (the kernel and tcplab\'s default linux profile) and')
out.push('`--stack tcplab --profile rfc --json`, each for IPv4 and IPv6. Do not edit by hand: change the reasons in')
out.push('scripts/conformance.mjs and run it again. A script passes when it passes on both IP versions.')
out.push('')
out.push('## Summary')
out.push('')
out.push(`- Scripts: ${n}.`)
const repeated = rows.filter((r) => r.reruns > 0).map((r) => r.f)
out.push(`- Linux kernel: ${kernelN} of ${n} pass.${data.reruns > 0 ? ` The kernel side runs in real time on a shared machine: ${data.reruns} kernel run${data.reruns === 1 ? '' : 's'} that missed a packet's time ${data.reruns === 1 ? 'was' : 'were'} repeated alone${repeated.length > 0 ? ` and the repeat's verdict is shown (${repeated.join(', ')})` : ''}.` : ''}`)
out.push(`- tcplab, linux profile (the default): **${linuxN} of ${n} pass (${pct(linuxN)})**; ${differing.filter((r) => REASONS[r.f]?.why.startsWith('to fix')).length} differ with something to fix, ${differing.filter((r) => REASONS[r.f]?.why.startsWith('on purpose')).length} on purpose.`)
out.push(`- tcplab, rfc profile (\`--profile rfc\`): ${rfcN} of ${n} pass (${pct(rfcN)}).`)
out.push(`- Time per script on tcplab (linux profile, virtual time, in one process, parse excluded, on a machine shared with other jobs): ${(timing.median / 1000).toFixed(2)} ms median, ${(timing.mean / 1000).toFixed(2)} ms mean, ${(timing.max / 1000).toFixed(2)} ms at most over the ${timing.n} scripts without Python blocks; a script whose blocks run also starts python3 once (${timing.python.map((t) => `${(t / 1000).toFixed(0)} ms`).join(', ')}).`)
out.push('')
out.push('## Differences on the linux profile, by cause')
out.push('')
out.push('| cause | kind | scripts | first differing lines |')
out.push('| --- | --- | ---: | --- |')
for (const [cause, g] of [...groups.entries()].sort((a, b) => b[1].rows.length - a[1].rows.length || a[0].localeCompare(b[0]))) {
  out.push(`| ${md(cause)} | ${g.kind} | ${g.rows.length} | ${g.rows.map((r) => `${r.f}:${lineOf(r) ?? '?'}`).join(', ')} |`)
}
out.push('')
out.push('## Matrix')
out.push('')
out.push('Verdicts: `pass`, or `fail :LINE` / `unsupported :LINE` at the script\'s line; `v4 …, v6 …` where the IP versions differ.')
out.push('')
out.push('| script | what it pins | kernel | tcplab linux | tcplab rfc |')
out.push('| --- | --- | --- | --- | --- |')
for (const r of rows) {
  out.push(`| ${r.f} | ${md(index.get(r.f) ?? '')} | ${cell(r.b4.kernel, r.b6.kernel)} | ${cell(r.b4.tcplab, r.b6.tcplab)} | ${cell(r.r4, r.r6)} |`)
}
out.push('')
out.push('## Differences (linux profile)')
out.push('')
out.push('Each script that does not pass on tcplab\'s linux profile: the first line where the two stacks part, each')
out.push('stack\'s packet at that line (time on the script\'s clock), tcplab\'s verdict, and why.')
for (const r of differing) {
  const c = r.linuxDiff.c
  const t = c.tcplab
  out.push('')
  out.push(`### ${r.f}`)
  out.push('')
  out.push(`- ${r.linuxDiff.v}, line ${lineOf(r) ?? '?'}: tcplab ${t.result}${t.message ? `: ${md(t.message)}` : ''}`)
  if (c.comparison === 'differs') {
    out.push(`- kernel: ${code(c.kernelActual)}`)
    out.push(`- tcplab: ${code(c.tcplabActual)}`)
  }
  out.push(`- why: ${REASONS[r.f]?.why ?? '(none given)'}`)
}
out.push('')
out.push('## The rfc profile')
out.push('')
out.push('Scripts that pass on the linux profile and not on the rfc profile: where tcplab\'s own defaults part from Linux\'s')
out.push('on purpose. (Scripts that differ on both profiles are listed above.)')
out.push('')
out.push('| script | line | kernel | tcplab rfc | why |')
out.push('| --- | --- | --- | --- | --- |')
for (const r of rows.filter((x) => x.linuxPass && !x.rfcPass)) {
  const c = r.rfcDiff.c
  const t = r.rfcDiff.v === 'IPv4' ? r.r4 : r.r6
  out.push(`| ${r.f} | ${r.rfcDiff.v} :${c.line ?? t.line ?? '?'} | ${c.kernelActual ? code(c.kernelActual) : ''} | ${c.tcplabActual ? code(c.tcplabActual) : md(t.message ?? '')} | ${RFC_REASONS[r.f] ?? rfcOnlyWhy(t.message)} |`)
}
const rfcBetter = rows.filter((x) => !x.linuxPass && x.rfcPass)
if (rfcBetter.length > 0) {
  out.push('')
  out.push(`Passing on the rfc profile only (its ACKs are not Linux's quick ACKs, and it takes TCP_QUICKACK=0 as a no-op): ${rfcBetter.map((r) => r.f).join(', ')}.`)
}
out.push('')

writeFileSync(join(root, args.out), out.join('\n'))
console.log(`${args.out}: kernel ${kernelN}/${n}, tcplab linux ${linuxN}/${n} (${pct(linuxN)}), rfc ${rfcN}/${n} (${pct(rfcN)}), ${(timing.median / 1000).toFixed(2)} ms per script (median)`)
for (const p of problems) console.error(p)
process.exit(problems.length > 0 ? 1 : 0)
