// The seed's echo client: sends '张三: ' and prints the reply. Change the one import to run it on tcplab.
import * as net from 'node:net' // the kernel's TCP
// import * as net from 'tcplab' // tcplab's userland TCP, the same code

const [host = '127.0.0.1', port = '1935', message = '张三: '] = process.argv.slice(2)
const socket = net.connect({ host, port: Number(port) }, () => socket.write(message))
socket.setEncoding('utf8')
socket.on('data', (reply) => {
  console.log(reply)
  socket.end()
})
socket.on('error', (e) => {
  console.error(e.message)
  process.exitCode = 1
})
