/*
 * tcplab's packet addon: AF_PACKET sockets for the capture device.
 *
 * Transmit: one socket per device, bound with protocol 0 so it receives nothing, with a virtio_net_hdr in
 * front of every frame (PACKET_VNET_HDR) so that one send can hand the kernel a TCP super-frame that its
 * GSO splits into MSS-sized segments, as the kernel's own TCP does with TSO off. Synchronous and
 * non-blocking: send() returns the bytes sent or -errno (EAGAIN when the socket's buffer is full), never
 * throws on the hot path. offloads() tells the capture device how large a capture buffer an interface needs.
 *
 * Receive (rxOpen/rxRead/rxClose/rxStats): a packet socket with PACKET_AUXDATA, so every frame comes with
 * the kernel's tp_status — TP_STATUS_CSUMNOTREADY when the sender left its checksum to offload
 * (CHECKSUM_PARTIAL), TP_STATUS_CSUM_VALID when the kernel verified it — which libpcap (through `cap`)
 * cannot hand over. Readiness comes from the Node event loop (a uv_poll_t), and the JS callback reads a
 * batch of frames straight into a buffer it owns; a frame longer than the room given is reported with its
 * real length (MSG_TRUNC), never delivered cut short.
 */
#include <errno.h>
#include <stdio.h>
#include <net/if.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <stdlib.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if_arp.h>
#include <node_api.h>
#include <uv.h>
#include "watch.h"

#define CHECK(call)                                                            \
  do {                                                                         \
    if ((call) != napi_ok) {                                                   \
      napi_throw_error(env, "ERR_NAPI", "tcplab packet_tx: " #call " failed"); \
      return NULL;                                                             \
    }                                                                          \
  } while (0)

/* Throws Error(message) with .code = the errno's name (EPERM, ENODEV, ...) and .errno = the number. */
static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  const char *name = "EIO";
  switch (err) {
    case EPERM: name = "EPERM"; break;
    case EACCES: name = "EACCES"; break;
    case ENODEV: name = "ENODEV"; break;
    case ENXIO: name = "ENXIO"; break;
    case EINVAL: name = "EINVAL"; break;
    case ENOPROTOOPT: name = "ENOPROTOOPT"; break;
    case EAFNOSUPPORT: name = "EAFNOSUPPORT"; break;
    case EMFILE: name = "EMFILE"; break;
    case ENFILE: name = "ENFILE"; break;
    case ENOBUFS: name = "ENOBUFS"; break;
    case ENAMETOOLONG: name = "ENAMETOOLONG"; break;
  }
  napi_value code, message, error, num;
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &error);
  napi_create_int32(env, err, &num);
  napi_set_named_property(env, error, "errno", num);
  napi_throw(env, error);
  return NULL;
}

/* open(ifname: string, sndbuf: number): number — the socket's fd. */
static napi_value Open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) {
    napi_throw_type_error(env, "ERR_BAD_ARGUMENT", "open(ifname, sndbuf)");
    return NULL;
  }
  char ifname[IF_NAMESIZE + 1];
  size_t len = 0;
  if (napi_get_value_string_utf8(env, argv[0], ifname, sizeof ifname, &len) != napi_ok || len == 0 ||
      len >= IF_NAMESIZE) {
    napi_throw_type_error(env, "ERR_BAD_ARGUMENT", "interface name must be a string of 1..15 characters");
    return NULL;
  }
  int32_t sndbuf = 0;
  CHECK(napi_get_value_int32(env, argv[1], &sndbuf));
  unsigned ifindex = if_nametoindex(ifname);
  if (ifindex == 0) return throw_errno(env, "if_nametoindex", errno);
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket(AF_PACKET)", errno);
  int one = 1;
  if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "setsockopt(PACKET_VNET_HDR)", e);
  }
  if (sndbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) < 0) {
    /* Without CAP_NET_ADMIN, ask for what the host allows. */
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  }
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = 0; /* receive nothing: this socket only sends */
  sll.sll_ifindex = (int)ifindex;
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "bind(AF_PACKET)", e);
  }
  napi_value out;
  CHECK(napi_create_int32(env, fd, &out));
  return out;
}

/*
 * send(fd, frame, length, gsoType, gsoSize, hdrLen, csumStart, csumOffset): number.
 * gsoType 0 with csumOffset 0 sends the frame as it is (its checksums already filled in). Otherwise the
 * kernel completes the TCP checksum from csumStart (the field holds the pseudo-header sum) and, with
 * gsoType VIRTIO_NET_HDR_GSO_TCPV4/TCPV6, cuts the payload after hdrLen into gsoSize pieces.
 * Returns the bytes sent, or -errno.
 */
static napi_value Send(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 8) {
    napi_throw_type_error(env, "ERR_BAD_ARGUMENT", "send(fd, frame, length, gsoType, gsoSize, hdrLen, csumStart, csumOffset)");
    return NULL;
  }
  int32_t fd, length, gso_type, gso_size, hdr_len, csum_start, csum_offset;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  napi_typedarray_type type;
  size_t count = 0;
  void *data = NULL;
  napi_value ab;
  size_t byte_offset = 0;
  if (napi_get_typedarray_info(env, argv[1], &type, &count, &data, &ab, &byte_offset) != napi_ok ||
      type != napi_uint8_array) {
    napi_throw_type_error(env, "ERR_BAD_ARGUMENT", "frame must be a Uint8Array");
    return NULL;
  }
  CHECK(napi_get_value_int32(env, argv[2], &length));
  CHECK(napi_get_value_int32(env, argv[3], &gso_type));
  CHECK(napi_get_value_int32(env, argv[4], &gso_size));
  CHECK(napi_get_value_int32(env, argv[5], &hdr_len));
  CHECK(napi_get_value_int32(env, argv[6], &csum_start));
  CHECK(napi_get_value_int32(env, argv[7], &csum_offset));
  if (length < ETH_HLEN || (size_t)length > count) {
    napi_throw_range_error(env, "ERR_BAD_ARGUMENT", "length must be within the frame and at least 14");
    return NULL;
  }
  struct virtio_net_hdr vh;
  memset(&vh, 0, sizeof vh);
  if (csum_offset != 0) {
    vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    vh.csum_start = (uint16_t)csum_start;
    vh.csum_offset = (uint16_t)csum_offset;
  }
  if (gso_type != 0) {
    vh.gso_type = (uint8_t)gso_type;
    vh.gso_size = (uint16_t)gso_size;
    vh.hdr_len = (uint16_t)hdr_len;
  }
  const uint8_t *frame = (const uint8_t *)data;
  struct iovec iov[2] = {{&vh, sizeof vh}, {(void *)frame, (size_t)length}};
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = iov;
  msg.msg_iovlen = 2;
  ssize_t n = sendmsg(fd, &msg, MSG_DONTWAIT);
  napi_value out;
  CHECK(napi_create_int32(env, n < 0 ? -errno : (int32_t)(n - (ssize_t)sizeof vh), &out));
  return out;
}

/* close(fd): void. */
static napi_value Close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd = -1;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, "ERR_BAD_ARGUMENT", "close(fd)");
    return NULL;
  }
  close(fd);
  return NULL;
}

/*
 * offloads(ifname): number — which receive-size offloads are on for the interface, as bits (1 TSO, 2 UFO,
 * 4 GSO, 8 GRO, 16 LRO), or -errno. These are the features libpcap checks before it sizes its capture
 * ring: with any of them on, a frame may be a 64 KB super-segment, so each ring slot takes 64 KB and a
 * buffer of a given size holds about 40 times fewer frames (the capture device asks for a larger one).
 * Read with the legacy SIOCETHTOOL gets, which need no privilege.
 */
static napi_value Offloads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char ifname[IFNAMSIZ];
  size_t len = 0;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], ifname, sizeof ifname, &len) != napi_ok || len == 0) {
    napi_throw_type_error(env, "ERR_BAD_ARGUMENT", "offloads(ifname)");
    return NULL;
  }
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  int32_t result = 0;
  if (fd < 0) {
    result = -errno;
  } else {
    static const struct { uint32_t cmd; int32_t bit; uint32_t mask; } gets[] = {
        {ETHTOOL_GTSO, 1, 0}, {ETHTOOL_GUFO, 2, 0}, {ETHTOOL_GGSO, 4, 0}, {ETHTOOL_GGRO, 8, 0},
        {ETHTOOL_GFLAGS, 16, ETH_FLAG_LRO},
    };
    for (size_t i = 0; i < sizeof gets / sizeof gets[0]; i++) {
      struct ethtool_value ev = {.cmd = gets[i].cmd, .data = 0};
      struct ifreq ifr;
      memset(&ifr, 0, sizeof ifr);
      memcpy(ifr.ifr_name, ifname, len < IFNAMSIZ ? len : IFNAMSIZ - 1);
      ifr.ifr_data = (char *)&ev;
      if (ioctl(fd, SIOCETHTOOL, &ifr) < 0) {
        /* A feature the driver cannot report is off; a missing interface is an answer of its own. */
        if (errno == ENODEV) {
          result = -ENODEV;
          break;
        }
        continue;
      }
      if (gets[i].mask != 0 ? (ev.data & gets[i].mask) != 0 : ev.data != 0) result |= gets[i].bit;
    }
    close(fd);
  }
  napi_value out;
  CHECK(napi_create_int32(env, result, &out));
  return out;
}

/* ------------------------------------------------------------------------------------------------- */
/* Receive path */

/* Words of per-frame metadata rxRead writes: offset in the buffer, bytes there, real length, tp_status. */
#define RX_META_WORDS 4

typedef struct rx_handle {
  fd_watch w; /* first: the watch frees the rx_handle it starts; w.fd is the socket, closed by the watch */
  /* PACKET_IGNORE_OUTGOING missing (kernels before 4.20): rxRead skips PACKET_OUTGOING itself. */
  int skip_outgoing;
  uint32_t max_frame;
} rx_handle;

static rx_handle *rx_unwrap(napi_env env, napi_value v) {
  void *data = NULL;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external || napi_get_value_external(env, v, &data) != napi_ok) return NULL;
  return (rx_handle *)data;
}

/*
 * rxOpen(ifname, rcvbuf, maxFrame, onReadable): external — a receive socket on `ifname` for every
 * protocol, promiscuous (the device owns a MAC of its own), blind to frames this host sends, with
 * PACKET_AUXDATA on and a receive buffer of `rcvbuf` bytes (forced past rmem_max with CAP_NET_ADMIN).
 * onReadable(status) is called from the event loop whenever frames wait. Throws an Error with .code (an
 * errno name, or ERR_NOT_ETHERNET with .arphrd for an interface without Ethernet framing).
 */
static napi_value RxOpen(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  napi_valuetype cbt = napi_undefined;
  if (argc >= 4) napi_typeof(env, argv[3], &cbt);
  if (argc < 4 || cbt != napi_function) {
    napi_throw_type_error(env, "ERR_BAD_ARGUMENT", "rxOpen(ifname, rcvbuf, maxFrame, onReadable)");
    return NULL;
  }
  char ifname[IF_NAMESIZE + 1];
  size_t len = 0;
  if (napi_get_value_string_utf8(env, argv[0], ifname, sizeof ifname, &len) != napi_ok || len == 0 || len >= IF_NAMESIZE) {
    napi_throw_type_error(env, "ERR_BAD_ARGUMENT", "interface name must be a string of 1..15 characters");
    return NULL;
  }
  int32_t rcvbuf = 0, max_frame = 0;
  CHECK(napi_get_value_int32(env, argv[1], &rcvbuf));
  CHECK(napi_get_value_int32(env, argv[2], &max_frame));
  if (max_frame < ETH_HLEN || max_frame > (1 << 24)) {
    napi_throw_range_error(env, "ERR_BAD_ARGUMENT", "maxFrame must be 14..16777216");
    return NULL;
  }
  unsigned ifindex = if_nametoindex(ifname);
  if (ifindex == 0) return throw_errno(env, "if_nametoindex", errno);
  /* Protocol 0 until bind: a socket made with ETH_P_ALL would queue frames of every interface meanwhile. */
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket(AF_PACKET)", errno);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, ifname, len);
  if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "ioctl(SIOCGIFHWADDR)", e);
  }
  /* Loopback frames carry an Ethernet header too (libpcap calls both DLT_EN10MB). */
  int hw = ifr.ifr_hwaddr.sa_family;
  if (hw != ARPHRD_ETHER && hw != ARPHRD_LOOPBACK) {
    close(fd);
    char msg[96];
    snprintf(msg, sizeof msg, "%s is not an Ethernet interface (ARPHRD %d)", ifname, hw);
    napi_value c, m, e, n;
    napi_create_string_utf8(env, "ERR_NOT_ETHERNET", NAPI_AUTO_LENGTH, &c);
    napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
    napi_create_error(env, c, m, &e);
    napi_create_int32(env, hw, &n);
    napi_set_named_property(env, e, "arphrd", n);
    napi_throw(env, e);
    return NULL;
  }
  int one = 1;
  if (setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof one) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "setsockopt(PACKET_AUXDATA)", e);
  }
  int skip_outgoing = setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) < 0;
  if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0) {
    /* Without CAP_NET_ADMIN, ask for what the host allows. */
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  }
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = (int)ifindex;
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "bind(AF_PACKET)", e);
  }
  /* Frames to the device's own MAC are not the interface's: promiscuous mode, undone when the socket closes. */
  struct packet_mreq mr;
  memset(&mr, 0, sizeof mr);
  mr.mr_ifindex = (int)ifindex;
  mr.mr_type = PACKET_MR_PROMISC;
  if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "setsockopt(PACKET_ADD_MEMBERSHIP)", e);
  }
  uv_loop_t *loop = NULL;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == NULL) {
    close(fd);
    napi_throw_error(env, "ERR_NAPI", "tcplab packet_tx: no event loop");
    return NULL;
  }
  rx_handle *h = (rx_handle *)calloc(1, sizeof *h);
  if (h == NULL) {
    close(fd);
    return throw_errno(env, "calloc", ENOMEM);
  }
  h->skip_outgoing = skip_outgoing;
  h->max_frame = (uint32_t)max_frame;
  if (!watch_start(env, &h->w, loop, fd, 1, argv[3], "tcplab.packetRx", "tcplab packet_tx")) return NULL;
  napi_value ext;
  if (napi_create_external(env, h, watch_finalize, NULL, &ext) != napi_ok) {
    watch_shutdown(env, &h->w);
    watch_release(&h->w);
    napi_throw_error(env, "ERR_NAPI", "tcplab packet_tx: napi_create_external failed");
    return NULL;
  }
  return ext;
}

/*
 * rxRead(rx, buffer, offset, meta, maxFrames): number — reads up to maxFrames waiting frames into
 * buffer from `offset`, each at an 8-byte-aligned place after the last, while at least maxFrame + 4
 * bytes are left; for frame i, meta[4i..4i+3] = offset, bytes stored, real length, tp_status. A frame
 * whose real length exceeds maxFrame has only maxFrame bytes stored and takes no room (the next frame
 * overwrites it): the caller counts it truncated. A VLAN tag the kernel took out of the frame
 * (TP_STATUS_VLAN_VALID) is put back, as libpcap does. Returns the frames read (0: none waiting), or
 * -errno when the very first read failed.
 */
static napi_value RxRead(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  rx_handle *h = argc >= 5 ? rx_unwrap(env, argv[0]) : NULL;
  if (h == NULL) {
    napi_throw_type_error(env, "ERR_BAD_ARGUMENT", "rxRead(rx, buffer, offset, meta, maxFrames)");
    return NULL;
  }
  napi_typedarray_type type, mtype;
  size_t count = 0, mcount = 0, bo = 0;
  void *data = NULL, *mdata = NULL;
  napi_value ab;
  if (napi_get_typedarray_info(env, argv[1], &type, &count, &data, &ab, &bo) != napi_ok || type != napi_uint8_array ||
      napi_get_typedarray_info(env, argv[3], &mtype, &mcount, &mdata, &ab, &bo) != napi_ok || mtype != napi_uint32_array) {
    napi_throw_type_error(env, "ERR_BAD_ARGUMENT", "buffer must be a Uint8Array and meta a Uint32Array");
    return NULL;
  }
  int32_t offset = 0, max_frames = 0;
  CHECK(napi_get_value_int32(env, argv[2], &offset));
  CHECK(napi_get_value_int32(env, argv[4], &max_frames));
  if (offset < 0 || (size_t)offset > count || max_frames < 0 || (size_t)max_frames > mcount / RX_META_WORDS) {
    napi_throw_range_error(env, "ERR_BAD_ARGUMENT", "offset must be within the buffer and meta hold 4 words per frame");
    return NULL;
  }
  napi_value out;
  if (h->w.closed) {
    CHECK(napi_create_int32(env, -EBADF, &out));
    return out;
  }
  uint8_t *buf = (uint8_t *)data;
  uint32_t *meta = (uint32_t *)mdata;
  size_t off = (size_t)offset;
  const size_t cap = h->max_frame;
  int32_t got = 0, result = 0;
  /* Outgoing frames skipped by hand (old kernels) do not count against the batch, but are bounded too. */
  for (int32_t reads = 0; got < max_frames && reads < 4 * max_frames + 4; reads++) {
    if (count - off < cap + 4) break;
    uint8_t *frame = buf + off;
    struct iovec iov = {frame, cap};
    union {
      struct cmsghdr align;
      char bytes[CMSG_SPACE(sizeof(struct tpacket_auxdata))];
    } control;
    struct sockaddr_ll from;
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_name = &from;
    msg.msg_namelen = sizeof from;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.bytes;
    msg.msg_controllen = sizeof control.bytes;
    /* MSG_TRUNC: the return value is the frame's real length even when only `cap` bytes fit. */
    ssize_t n = recvmsg(h->w.fd, &msg, MSG_TRUNC | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (got == 0 && errno != EAGAIN && errno != EWOULDBLOCK) result = -errno;
      break;
    }
    if (h->skip_outgoing && from.sll_pkttype == PACKET_OUTGOING) continue;
    uint32_t status = 0;
    const struct tpacket_auxdata *aux = NULL;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_PACKET && c->cmsg_type == PACKET_AUXDATA &&
          c->cmsg_len >= CMSG_LEN(sizeof(struct tpacket_auxdata))) {
        aux = (const struct tpacket_auxdata *)CMSG_DATA(c);
        status = aux->tp_status;
      }
    }
    size_t real = (size_t)n;
    size_t stored = real > cap ? cap : real;
    if (aux != NULL && (status & TP_STATUS_VLAN_VALID) != 0 && stored >= 2 * ETH_ALEN) {
      /* The tag goes back between the MACs and the EtherType; room for it was kept (cap + 4). */
      uint16_t tpid = (status & TP_STATUS_VLAN_TPID_VALID) != 0 ? aux->tp_vlan_tpid : ETH_P_8021Q;
      memmove(frame + 2 * ETH_ALEN + 4, frame + 2 * ETH_ALEN, stored - 2 * ETH_ALEN);
      frame[12] = (uint8_t)(tpid >> 8);
      frame[13] = (uint8_t)tpid;
      frame[14] = (uint8_t)(aux->tp_vlan_tci >> 8);
      frame[15] = (uint8_t)aux->tp_vlan_tci;
      stored += 4;
      real += 4;
    }
    uint32_t *m = meta + (size_t)got * RX_META_WORDS;
    m[0] = (uint32_t)off;
    m[1] = (uint32_t)stored;
    m[2] = real > UINT32_MAX ? UINT32_MAX : (uint32_t)real;
    m[3] = status;
    got++;
    if (stored == real) off += (stored + 7) & ~(size_t)7;
  }
  CHECK(napi_create_int32(env, result != 0 ? result : got, &out));
  return out;
}

/* rxStats(rx): [packets, drops] — PACKET_STATISTICS since the last call (the kernel resets them on read). */
static napi_value RxStats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  rx_handle *h = argc >= 1 ? rx_unwrap(env, argv[0]) : NULL;
  if (h == NULL) {
    napi_throw_type_error(env, "ERR_BAD_ARGUMENT", "rxStats(rx)");
    return NULL;
  }
  struct tpacket_stats st;
  memset(&st, 0, sizeof st);
  socklen_t sl = sizeof st;
  if (!h->w.closed && getsockopt(h->w.fd, SOL_PACKET, PACKET_STATISTICS, &st, &sl) < 0) memset(&st, 0, sizeof st);
  napi_value out, p, d;
  CHECK(napi_create_array_with_length(env, 2, &out));
  CHECK(napi_create_uint32(env, st.tp_packets, &p));
  CHECK(napi_create_uint32(env, st.tp_drops, &d));
  napi_set_element(env, out, 0, p);
  napi_set_element(env, out, 1, d);
  return out;
}

/* rxClose(rx): void — stops polling and closes the socket (idempotent). */
static napi_value RxClose(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  rx_handle *h = argc >= 1 ? rx_unwrap(env, argv[0]) : NULL;
  if (h == NULL) {
    napi_throw_type_error(env, "ERR_BAD_ARGUMENT", "rxClose(rx)");
    return NULL;
  }
  watch_shutdown(env, &h->w);
  return NULL;
}

napi_value script_sys_init(napi_env env, napi_value exports); /* native/script_sys.c */
static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, Open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"send", NULL, Send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, Close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"offloads", NULL, Offloads, NULL, NULL, NULL, napi_enumerable, NULL},
      {"rxOpen", NULL, RxOpen, NULL, NULL, NULL, napi_enumerable, NULL},
      {"rxRead", NULL, RxRead, NULL, NULL, NULL, napi_enumerable, NULL},
      {"rxStats", NULL, RxStats, NULL, NULL, NULL, napi_enumerable, NULL},
      {"rxClose", NULL, RxClose, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  napi_value v;
  napi_create_int32(env, VIRTIO_NET_HDR_GSO_TCPV4, &v);
  napi_set_named_property(env, exports, "GSO_TCPV4", v);
  napi_create_int32(env, VIRTIO_NET_HDR_GSO_TCPV6, &v);
  napi_set_named_property(env, exports, "GSO_TCPV6", v);
  napi_create_int32(env, TP_STATUS_CSUMNOTREADY, &v);
  napi_set_named_property(env, exports, "TP_STATUS_CSUMNOTREADY", v);
  napi_create_int32(env, TP_STATUS_CSUM_VALID, &v);
  napi_set_named_property(env, exports, "TP_STATUS_CSUM_VALID", v);
  napi_create_int32(env, TP_STATUS_VLAN_VALID, &v);
  napi_set_named_property(env, exports, "TP_STATUS_VLAN_VALID", v);
  if (script_sys_init(env, exports) == NULL) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
