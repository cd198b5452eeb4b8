/**
 * A closed stdout ends a command quietly: `tcplab decode … | head -1` and friends exit 0 with nothing on
 * stderr (no EPIPE trace), and a live command's RST guard is still removed on the way out.
 */
import { spawnSync } from 'node:child_process'
import { expect, it, describe } from 'vitest'
import { describeRoot } from '../helpers/root.js'
import { repoPath, requireBuilt, withLab } from '../helpers/lab.js'

const CLI = repoPath('dist/lab/cli.js')
const SYN = '4500003c00010000400666b90a0000010a0000029c4000500000000100000000a002ffff976b0000020405b40402080a000000010000000001030307'

/** Runs `pipeline` in bash and returns every stage's exit status, what reached the end, and stderr. */
function pipeline(cmd: string): { statuses: number[]; out: string; err: string } {
  const r = spawnSync('bash', ['-c', `${cmd}; echo "status \${PIPESTATUS[@]}" >&3`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe', 'pipe'] })
  const fd3 = (r.output[3] as string | null) ?? ''
  return { statuses: fd3.replace('status ', '').trim().split(' ').map(Number), out: r.stdout, err: r.stderr }
}

describe('a reader that goes away', () => {
  it('decode of 20,000 packets into head -1: one line out, decode exits 0, nothing on stderr', () => {
    requireBuilt('dist/lab/cli.js')
    const r = pipeline(`yes ${SYN} | head -n 20000 | node ${CLI} decode | head -1`)
    expect(r.out).toBe('IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [S], seq 1, win 65535, options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0\n')
    expect(r.statuses.slice(2)).toEqual([0, 0])
    expect(r.err).toBe('')
  })

  it('decode --json into head -c 10 ends the same way', () => {
    const j = pipeline(`yes ${SYN} | head -n 20000 | node ${CLI} decode --json | head -c 10`)
    expect(j.out).toBe('{"ip":{"ve')
    expect(j.statuses.slice(2)).toEqual([0, 0])
    expect(j.err).toBe('')
  })
})

describeRoot('a reader that goes away from a live command (root, namespace lab)', () => {
  it('handshake --via raw | head -1: exit 0, no trace, and the RST guard is gone', async () => {
    requireBuilt('dist/lab/cli.js')
    await withLab(async (lab) => {
      const server = lab.spawn('b', [process.execPath, CLI, 'echo-server', '--host', lab.b.ipv4, '--count', '1'], { stdio: ['ignore', 'pipe', 'ignore'] })
      await new Promise<void>((resolve) => server.stdout!.once('data', () => resolve()))
      const r = await lab.exec('a', ['bash', '-c', `node ${CLI} handshake ${lab.b.ipv4}:1935 --send x --idle 300 | head -1; echo "status \${PIPESTATUS[@]}"; nft list tables`])
      const lines = r.stdout.trim().split('\n')
      expect(lines[0]).toMatch(/^tcplab handshake: userland TCP over a raw socket, 198\.18\.0\.1:\d+ → 198\.18\.0\.2:1935$/)
      expect(lines[1]).toBe('status 0 0')
      expect(lines.slice(2)).toEqual([]) // no nft table left
      expect(r.stderr).toBe('')
      server.kill()
    })
  }, 30_000)
})
