// The seed's echo server, written once. Run it on the kernel's TCP as it is, or on tcplab's userland TCP
// (as root) by changing the one import below.
import * as net from 'node:net' // the kernel's TCP
// import * as net from 'tcplab' // tcplab's userland TCP, the same code

const [host = '127.0.0.1', port = '1935', count = '5'] = process.argv.slice(2)
let served = 0
const server = net.createServer((socket) => {
  socket.on('data', (message) => socket.write(`${message} 你好!`))
  socket.on('end', () => socket.end())
  socket.on('close', () => {
    if (++served === Number(count)) server.close()
  })
})
server.listen({ host, port: Number(port), backlog: 4 }, () => console.log(`listening on ${host}:${port}`))
