// A child process that owns something for the cleanup-owner tests, then waits (or exits) as asked.
// Imports the built code (dist/), like the CLI does. Records go to $TCPLAB_RUN_DIR (the test's own).
//   node owner-child.mjs lab            a lab, owned by this process; waits
//   node owner-child.mjs kept           a lab handed to nobody (as `tcplab netns up`); exits 0
//   node owner-child.mjs guard NS PORT  an RST guard inside namespace NS; waits
// Prints one JSON line: {"type":"up","id":…} or {"type":"guard","name":…}.
import { netnsUp } from '../../dist/net/netns.js'
import { installRstGuard } from '../../dist/net/rstguard.js'

const [mode, ns, port] = process.argv.slice(2)
if (mode === 'guard') {
  const g = await installRstGuard({ addr: '198.18.0.1', port: Number(port), netns: ns, backend: 'nft' })
  console.log(JSON.stringify({ type: 'guard', name: g.name }))
  setInterval(() => {}, 1 << 30)
} else {
  const lab = await netnsUp()
  if (mode === 'kept') lab.keep()
  console.log(JSON.stringify({ type: 'up', id: lab.id }))
  if (mode === 'lab') setInterval(() => {}, 1 << 30)
}
