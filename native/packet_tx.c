/*
 * tcplab's packet transmit addon: one AF_PACKET socket per device, used only to send, with a
 * virtio_net_hdr in front of every frame (PACKET_VNET_HDR) so that one send can hand the kernel a TCP
 * super-frame that its GSO splits into MSS-sized segments, as the kernel's own TCP does with TSO off.
 *
 * Synchronous and non-blocking: send() returns the bytes sent or -errno (EAGAIN when the socket's
 * buffer is full), never throws on the hot path. The socket is bound with protocol 0, so it receives
 * nothing; the capture device (libpcap through `cap`) keeps doing the receiving. offloads() tells the
 * capture device how large a capture buffer an interface needs.
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
#include <unistd.h>
#include <node_api.h>

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

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, Open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"send", NULL, Send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, Close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"offloads", NULL, Offloads, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  napi_value v;
  napi_create_int32(env, VIRTIO_NET_HDR_GSO_TCPV4, &v);
  napi_set_named_property(env, exports, "GSO_TCPV4", v);
  napi_create_int32(env, VIRTIO_NET_HDR_GSO_TCPV6, &v);
  napi_set_named_property(env, exports, "GSO_TCPV6", v);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
