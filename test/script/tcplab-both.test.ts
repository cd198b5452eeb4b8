/**
 * --stack both as root: each script on the kernel (a throwaway namespace) and on tcplab, one comparison per
 * script. Two corpus scripts whose comparison does not rest on timing: errno-enotconn (system calls only)
 * and open-active-no-options, whose SYN the linux profile writes as the kernel does and the rfc profile
 * (--profile rfc) in tcplab's own order; a generous tolerance keeps the kernel's real-time side from
 * missing packetdrill's 4 ms under load.
 */
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { expect, it } from 'vitest'
import { describeRoot } from '../helpers/root.js'
import { repoPath } from '../helpers/lab.js'

const CLI = join(import.meta.dirname, '../../dist/lab/cli.js')

describeRoot('tcplab script --stack both (root)', () => {
  it('prints same for a script both stacks pass, and differs with both actual SYNs where the rfc profile writes its options in another order', () => {
    const a = 'test/scripts/errno-enotconn.pkt'
    const b = 'test/scripts/open-active-no-options.pkt'
    const both = (...extra: string[]) =>
      spawnSync(process.execPath, [CLI, 'script', a, b, '--stack', 'both', '--tolerance-usecs', '100000', ...extra], { cwd: repoPath('.'), encoding: 'utf8' })
    const linux = both()
    expect(linux.stdout.split('\n').filter((l) => l !== '')).toEqual([`${a}: same (pass)`, `${b}: same (pass)`])
    expect(linux.status).toBe(0)
    const r = both('--profile', 'rfc')
    expect(r.status).toBe(1)
    const out = r.stdout.split('\n').filter((l) => l !== '')
    expect(out[0]).toBe(`${a}: same (pass)`)
    expect(out).toHaveLength(2)
    const [head, kernel, tcplab] = out[1]!.split(' | ')
    expect(head).toBe(`${b}: differs at line 7: kernel pass; tcplab fail at line 7: bad outbound TCP options`)
    expect(kernel).toMatch(/^kernel actual: 0\.0\d{5} > S 0:0\(0\) win \d+ <mss 1460,nop,nop,sackOK,nop,wscale 10>$/)
    expect(tcplab).toBe('tcplab actual: 0.000000 > S 0:0(0) win 65535 <mss 1460,nop,wscale 10,nop,nop,sackOK>')
    const j = spawnSync(process.execPath, [CLI, 'script', b, '--stack', 'both', '--profile', 'rfc', '--json', '--tolerance-usecs', '100000'], { cwd: repoPath('.'), encoding: 'utf8' })
    const c = JSON.parse(j.stdout)
    expect(c).toMatchObject({ script: b, stack: 'both', comparison: 'differs', line: 7, kernel: { stack: 'kernel', result: 'pass' }, tcplab: { stack: 'tcplab', result: 'fail', line: 7 } })
  }, 60_000)
})
