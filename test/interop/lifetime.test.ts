/**
 * Lifetimes of the live commands, against the real kernel: a raw listener lives until `--count`
 * connections are served, whatever the garbage collector does. The child runs with `--expose-gc` and a
 * preload that collects every 100 ms (test/interop/gc-preload.mjs); three kernel clients come 14 s apart.
 * Before the raw device kept itself reachable, such a listener exited 0 within a second of the first
 * collection, with nobody served.
 */
import { afterAll, expect, it } from 'vitest'
import { describeRoot } from '../helpers/root.js'
import { exitOf, labChild, repoPath, requireBuilt, withLab } from '../helpers/lab.js'
import { expectNothingLeft } from '../helpers/interop.js'

const PORT = 1937
const GAP_MS = 14_000

describeRoot('raw listener lifetime under forced garbage collection (root, namespace lab)', () => {
  afterAll(() => expectNothingLeft())

  it('listen --via raw --count 3 serves three kernel clients spread over 28 s with gc() forced throughout', async () => {
    requireBuilt('dist/lab/cli.js')
    await withLab(async (lab) => {
      const a = lab.a.ipv4
      const ln = labChild(lab, 'a', [
        process.execPath, '--expose-gc', '--import', repoPath('test/interop/gc-preload.mjs'),
        repoPath('dist/lab/cli.js'), 'listen', String(PORT), '--via', 'raw', '--ip', a, '--echo', '--count', '3', '--json',
      ])
      let exited = false
      const done = exitOf(ln.child).then((r) => {
        exited = true
        return r
      })
      const lines: string[] = []
      ln.child.stdout!.removeAllListeners('data')
      ln.child.stdout!.on('data', (d: Buffer) => lines.push(...d.toString().split('\n').filter(Boolean)))
      let err = ''
      ln.child.stderr!.on('data', (d: Buffer) => (err += d.toString()))
      const replies: string[] = []
      for (let i = 0; i < 3; i++) {
        await new Promise((r) => setTimeout(r, i === 0 ? 1500 : GAP_MS))
        // Still there after the wait and every collection in it.
        expect(exited, `listener exited before client ${i + 1}: ${err}`).toBe(false)
        const r = await lab.exec('b', ['python3', '-c', `
import socket
c = socket.create_connection(('${a}', ${PORT}), timeout=5)
c.sendall('client ${i + 1}'.encode())
print(c.recv(100).decode(), flush=True)
c.close()
`])
        replies.push(r.stdout.trim())
      }
      expect(replies).toEqual(['client 1 你好!', 'client 2 你好!', 'client 3 你好!'])
      expect(await done).toEqual({ code: 0, signal: null })
      expect(err).toBe('')
      expect(lines.map((l) => (JSON.parse(l) as { received: string }).received)).toEqual(['client 1', 'client 2', 'client 3'])
    })
  }, 60_000)
})
