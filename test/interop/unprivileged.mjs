// Run as an unprivileged user (setpriv to nobody, inside a lab namespace): every privileged operation
// must fail with one clear line naming what is missing. Prints one JSON line per operation.
//   node unprivileged.mjs <iface> <addr>
import { hasRawPrivilege, hasNetAdminPrivilege } from '../../dist/net/native.js'
import { openRawDevice } from '../../dist/net/rawdev.js'
import { openCapDevice } from '../../dist/net/capdev.js'
import { netnsUp } from '../../dist/net/netns.js'
import { installRstGuard } from '../../dist/net/rstguard.js'

const [iface, addr] = process.argv.slice(2)
const report = async (op, f) => {
  try {
    await f()
    console.log(JSON.stringify({ type: 'result', op, ok: true }))
  } catch (e) {
    console.log(JSON.stringify({ type: 'result', op, ok: false, code: e.code, message: e.message }))
  }
}
console.log(JSON.stringify({ type: 'privilege', raw: hasRawPrivilege(), admin: hasNetAdminPrivilege(), uid: process.getuid() }))
await report('raw', () => openRawDevice({ family: 4 }).close())
await report('cap', () => openCapDevice({ iface }).close())
await report('netns', async () => (await netnsUp()).down())
await report('guard', async () => (await installRstGuard({ addr, port: 40000 })).remove())
console.log(JSON.stringify({ type: 'end' }))
