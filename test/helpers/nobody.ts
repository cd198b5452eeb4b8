/**
 * Children run as nobody (setpriv to uid 65534) cannot read a repository cloned into a private directory
 * (root's home is 0700). They get what they import from a world-readable copy instead: dist/, the package
 * manifest (ESM: "type": "module"), the test scripts they run, and the native addons (raw-socket, cap,
 * tcplab's packet-tx), staged once per test process under the system's temporary directory and removed at
 * exit.
 */
import { chmodSync, cpSync, existsSync, mkdtempSync, readdirSync, realpathSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { repoPath } from './lab.js'

let staged: string | undefined

/** What a nobody child needs, copied from the repository. */
const PARTS = ['package.json', 'dist', 'test/interop', 'test/hostile']
const ADDONS = ['raw-socket', 'cap', 'tcplab-packet-tx']

/** Makes every directory of `dir` (and `dir`) searchable and every file readable by anyone. */
function openUp(dir: string): void {
  chmodSync(dir, 0o755)
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    const st = statSync(p)
    if (st.isDirectory()) openUp(p)
    else chmodSync(p, st.mode | 0o444 | (st.mode & 0o100 ? 0o011 : 0))
  }
}

/** The root of the world-readable copy (made on first use). */
export function nobodyRoot(): string {
  if (staged !== undefined) return staged
  const root = mkdtempSync(join(tmpdir(), 'tcplab-nobody-'))
  process.once('exit', () => rmSync(root, { recursive: true, force: true }))
  for (const part of PARTS) cpSync(repoPath(part), join(root, part), { recursive: true })
  for (const addon of ADDONS) {
    const from = repoPath(`node_modules/${addon}`)
    // node_modules/tcplab-packet-tx is a link to native/: copy what it points at.
    if (existsSync(from)) cpSync(realpathSync(from), join(root, 'node_modules', addon), { recursive: true, dereference: true })
  }
  openUp(root)
  staged = root
  return root
}

/** `rel` (a repository path such as 'dist/lab/cli.js') inside the world-readable copy. */
export function nobodyPath(rel: string): string {
  return join(nobodyRoot(), rel)
}
