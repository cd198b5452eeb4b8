/**
 * tcplab as a library: the wire codecs, the userland TCP, the devices, the interface that runs one on
 * the other with a net.Socket-like Duplex on top, capture inspection and the ladder renderers.
 */

// Errors, sequence numbers, checksums
export { WireError, isWireError, type WireErrorCode } from './tcp/errors.js'
export * from './tcp/seq.js'
export * from './tcp/checksum.js'

// TCP wire format
export * from './tcp/options.js'
export * from './tcp/segment.js'

// The userland TCP
export { Tcb, TcpUserError, rstForClosed, LEGAL_TRANSITIONS, type TcbStats, type TcbInfo, type CaState, type StateHook } from './tcp/tcb.js'
export { Listener, COOKIE_MSS, type ListenerOptions, type ListenerStats } from './tcp/listener.js'
export { SackScoreboard, SentLog, Rack, isDsack, rackSentAfter, MAX_SACK_RANGES, DUP_THRESH, SEG_SACKED, SEG_LOST, SEG_RETRANS } from './tcp/sack.js'
export * from './tcp/types.js'
export * from './tcp/trace.js'
export { isnFor, createIsnGenerator, isnClock, defaultSecret } from './tcp/isn.js'
export { createCongestionControl, CC_NAMES, Reno, Cubic, type CongestionControl, type CcName, type LossKind } from './tcp/cc/index.js'
export { synOptions, dataOptions, synWindow, type SynOffer } from './tcp/optlayout.js'
export { TcbTimers, type RtxKind } from './tcp/timers.js'

// Network layer codecs and capture files
export * from './net/addr.js'
export * from './net/ipv4.js'
export {
  Ipv6View, parseIpv6, emitIpv6, emitIpv6Header, ipv6HeaderLen, ipv6Len,
  IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_FRAGMENT, IPPROTO_ESP, IPPROTO_AH, IPPROTO_ICMPV6, IPPROTO_NONE, IPPROTO_DSTOPTS,
  type Ipv6Repr, type Ipv6Parsed, type Ipv6Fragment,
} from './net/ipv6.js'
export * from './net/ethernet.js'
export * from './net/arp.js'
export * from './net/packet.js'
export * from './net/pcap.js'

// Devices and the namespace lab
export * from './net/device.js'
export { memoryPair, faultInjector, tracer, pcapTap, type MemoryDevice, type FaultOptions, type FaultDevice } from './net/memdev.js'
export { openRawDevice, type RawDevice, type RawDeviceOptions } from './net/rawdev.js'
export { openCapDevice, ipOverEthernet, ArpAgent, NdpAgent, NeighborCache, type CapDevice, type CapDeviceOptions } from './net/capdev.js'
export {
  netnsUp,
  netnsDown,
  cleanupAll,
  listLabs,
  describeOffloads,
  LAB_PLAN,
  type Lab,
  type LabSide,
  type LabSideName,
  type LabTopology,
  type LabBridge,
  type LabOffloads,
  type NetnsUpOptions,
} from './net/netns.js'
export { installRstGuard, type RstGuard, type RstGuardOptions } from './net/rstguard.js'
export { registerCleanup, runCleanups } from './net/cleanup.js'
export { hasRawPrivilege, loadRawSocket, loadCap, loadPacketTx } from './net/native.js'
export { GsoCoalescer, gsoSegment, type GsoMeta } from './net/gso.js'

// Running the TCP on a device: the interface, sockets and servers like node:net's
export { Interface, NetError, type InterfaceOptions, type PacketEvent } from './lab/stack/iface.js'
export { Connection, PortListener } from './lab/stack/connection.js'
export { VirtualClock } from './lab/stack/clock.js'
export { TcpSocket, TcpServer, connect as connectOn, createServer as createServerOn, type TcpConnectOptions, type TcpServerOptions, type ConnectRetry } from './lab/stack/socket.js'
// node:net's entry points over a live userland stack: change one import, keep the application code
export { connect, createServer, LiveServer, type ConnectOptions, type ServerOptions, type StackChoice } from './lab/stack/api.js'
export { openLiveStack, openLiveDevice, drain, routeTo, type LiveStack, type LiveStackOptions, type Via } from './lab/stack/live.js'

// Seeing TCP: captures, ladders, the seed's echo pair
export { inspect, toLadder, type InspectOptions, type Inspection, type ConnectionReport } from './lab/inspect/index.js'
export { renderText, renderMermaid, renderSvg, renderHtml, renderToFile, type LadderExchange, type LadderRow, type LadderEnd, type LadderOptions } from './lab/ladder/index.js'
export { runEchoServer, runEchoClient, ECHO_DEFAULTS, type NetLike } from './lab/echo.js'
