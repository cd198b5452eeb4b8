/**
 * The library's promise: the seed's echo pair written once for node:net runs on tcplab's userland TCP by
 * changing one import. The examples run unchanged on the kernel, then with the import swapped, as root in
 * a namespace lab, against kernel peers.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { describeRoot, itRoot } from '../helpers/root.js'
import { LineReader, exitOf, repoPath, withLab } from '../helpers/lab.js'

const SERVER = repoPath('examples/echo-server.mjs')
const CLIENT = repoPath('examples/echo-client.mjs')
const KERNEL_IMPORT = "import * as net from 'node:net' // the kernel's TCP"
const TCPLAB_IMPORT = "import * as net from 'tcplab' // tcplab's userland TCP, the same code"

/** Writes a copy of an example with only the import line changed, next to it (so 'tcplab' resolves). */
function onTcplab(path: string): string {
  const text = readFileSync(path, 'utf8')
  expect(text.split('\n').filter((l) => l.startsWith('import '))).toEqual([KERNEL_IMPORT])
  const out = path.replace(/\.mjs$/, `.tcplab-${process.pid}.mjs`)
  writeFileSync(out, text.replace(KERNEL_IMPORT, TCPLAB_IMPORT))
  return out
}

describe('the examples on node:net', () => {
  it('echo-server answers echo-client on loopback', async () => {
    const probe = createServer().listen(0, '127.0.0.1')
    await once(probe, 'listening')
    const port = String((probe.address() as { port: number }).port)
    probe.close()
    await once(probe, 'close')
    const s = spawn(process.execPath, [SERVER, '127.0.0.1', port, '1'], { stdio: ['ignore', 'pipe', 'pipe'] })
    await new LineReader(s).next(/^listening on/)
    const c = spawn(process.execPath, [CLIENT, '127.0.0.1', port], { stdio: ['ignore', 'pipe', 'pipe'] })
    const reply = await new LineReader(c).next(/./)
    expect(reply).toBe('张三:  你好!')
    expect(await exitOf(s)).toEqual({ code: 0, signal: null })
  })
})

describeRoot("the same examples on tcplab's userland TCP (one import changed)", () => {
  itRoot('userland server ← kernel client, and userland client → kernel server', async () => {
    const server = onTcplab(SERVER)
    const client = onTcplab(CLIENT)
    try {
      await withLab(async (lab) => {
        // userland echo server in side a, the unchanged (kernel) client in side b
        const s = lab.spawn('a', [process.execPath, server, lab.a.ipv4, '1935', '1'], { stdio: ['ignore', 'pipe', 'pipe'] })
        await new LineReader(s).next(/^listening on 198\.18\.0\.1:1935$/)
        const k = await lab.exec('b', [process.execPath, CLIENT, lab.a.ipv4, '1935'], { timeoutMs: 20_000 })
        expect(k.stdout).toBe('张三:  你好!\n')
        expect(await exitOf(s)).toEqual({ code: 0, signal: null })
        // the unchanged (kernel) server in side b, the userland client in side a
        const ks = lab.spawn('b', [process.execPath, SERVER, lab.b.ipv4, '1935', '1'], { stdio: ['ignore', 'pipe', 'pipe'] })
        await new LineReader(ks).next(/^listening on/)
        const u = await lab.exec('a', [process.execPath, client, lab.b.ipv4, '1935'], { timeoutMs: 20_000 })
        expect(u.stderr).toBe('')
        expect(u.stdout).toBe('张三:  你好!\n')
        expect(await exitOf(ks)).toEqual({ code: 0, signal: null })
        // the RST guards are gone from side a
        expect((await lab.exec('a', ['nft', 'list', 'tables'])).stdout).not.toMatch(/tcplab_/)
      })
    } finally {
      rmSync(server, { force: true })
      rmSync(client, { force: true })
    }
  })
})

describeRoot('connect(port, host) as node:net takes it (root, namespace lab)', () => {
  it('reaches the host given, not 127.0.0.1, and the echo comes back', async () => {
    await withLab(async (lab) => {
      const server = lab.spawn('b', [process.execPath, SERVER, lab.b.ipv4, '1935', '1'], { stdio: ['ignore', 'pipe', 'pipe'] })
      await new LineReader(server).next(/^listening on/)
      const script = `
const net = await import(${JSON.stringify(repoPath('dist/index.js'))})
const s = net.connect(1935, ${JSON.stringify(lab.b.ipv4)}, () => s.write('张三: '))
s.on('data', (d) => { console.log(JSON.stringify({ reply: d.toString(), remote: s.remoteAddress })); s.end() })
s.on('error', (e) => console.log(JSON.stringify({ error: e.message })))
`
      const r = await lab.exec('a', [process.execPath, '--input-type=module', '-e', script])
      expect(JSON.parse(r.stdout.trim().split('\n')[0])).toEqual({ reply: '张三:  你好!', remote: lab.b.ipv4 })
      expect(await exitOf(server)).toEqual({ code: 0, signal: null })
    })
  }, 30_000)
})
