/**
 * The packaged install: `npm pack` holds what every feature needs — dist/, and native/'s sources for the
 * packet-tx addon (not its build) — and the tarball installed into a scratch project runs: `tcplab --help`,
 * and (root) `handshake --via pcap --gso` through the addon that install built, against a kernel server.
 * The install builds three addons from the npm registry, so it takes a while; it is skipped with a reason
 * where the registry cannot be reached.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { itRoot } from '../helpers/root.js'
import { repoPath, requireBuilt, withLab } from '../helpers/lab.js'

const registryReason = ((): string | undefined => {
  const r = spawnSync('npm', ['view', 'cap', 'version'], { encoding: 'utf8', timeout: 30_000 })
  return r.status === 0 ? undefined : `the npm registry cannot be reached (npm view cap: ${(r.stderr || r.error?.message || '').trim().split('\n')[0]})`
})()

const maybe = registryReason === undefined ? describe : describe.skip

maybe(`npm pack, installed into a scratch project${registryReason ? ` — skipped: ${registryReason}` : ''}`, () => {
  let dir = ''
  let files: string[] = []
  let bin = ''

  beforeAll(() => {
    requireBuilt('dist/lab/cli.js')
    dir = mkdtempSync(join(tmpdir(), 'tcplab-pack-'))
    // dist/ is built already (pretest): pack without running prepare again.
    const out = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: repoPath('.'), encoding: 'utf8' })
    const info = JSON.parse(out) as Array<{ filename: string; files: Array<{ path: string }> }>
    files = info[0].files.map((f) => f.path)
    const proj = join(dir, 'proj')
    execFileSync('mkdir', [proj])
    writeFileSync(join(proj, 'package.json'), JSON.stringify({ name: 'scratch', version: '1.0.0', private: true }))
    execFileSync('npm', ['install', '--no-audit', '--no-fund', join(dir, info[0].filename)], { cwd: proj, encoding: 'utf8', stdio: 'pipe', timeout: 400_000 })
    bin = join(proj, 'node_modules', '.bin', 'tcplab')
  }, 420_000)

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it("holds dist/ and native/'s sources, and no native build output", () => {
    expect(files).toContain('dist/lab/cli.js')
    expect(files).toContain('native/binding.gyp')
    expect(files).toContain('native/packet_tx.c')
    // every C source binding.gyp compiles (a missing one breaks the addon's build in a packaged install)
    const gyp = JSON.parse(readFileSync(repoPath('native/binding.gyp'), 'utf8')) as { targets: Array<{ sources: string[] }> }
    for (const src of gyp.targets.flatMap((t) => t.sources)) expect(files).toContain(`native/${src}`)
    expect(files).toContain('native/package.json')
    expect(files.filter((f) => f.startsWith('native/build'))).toEqual([])
  })

  it('installs and runs: tcplab --help, and the packet-tx addon is built where the package can load it', () => {
    const help = spawnSync(bin, ['--help'], { encoding: 'utf8' })
    expect(help.status).toBe(0)
    expect(help.stdout.split('\n')[0]).toBe('Usage: tcplab <command> [options]')
    const built = readdirSync(join(dir, 'proj', 'node_modules', 'tcplab-packet-tx', 'build', 'Release'))
    expect(built).toContain('packet_tx.node')
  })

  itRoot('handshake --via pcap --gso from the installed package reaches a kernel echo server', async () => {
    await withLab(async (lab) => {
      const server = lab.spawn('b', [process.execPath, repoPath('dist/lab/cli.js'), 'echo-server', '--host', lab.b.ipv4, '--count', '1'], { stdio: ['ignore', 'pipe', 'ignore'] })
      await new Promise<void>((resolve) => server.stdout!.once('data', () => resolve()))
      const r = await lab.exec('a', [bin, 'handshake', `${lab.b.ipv4}:1935`, '--via', 'pcap', '--src', lab.a.owned.ipv4, '--iface', lab.a.iface, '--gso', '--send', '张三: ', '--idle', '300', '--json'], { allowFail: true })
      expect(r.stderr).toBe('')
      expect(JSON.parse(r.stdout)).toMatchObject({ result: 'established', received: '张三:  你好!', via: 'pcap' })
      server.kill()
    })
  }, 30_000)
})
