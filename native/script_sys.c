/*
 * tcplab's script addon part: what the packetdrill kernel target needs from C (Linux only).
 *
 * TUN: tunOpen makes a layer-3 TUN device without packet info (IFF_TUN|IFF_NO_PI), non-blocking, with its
 * MTU set and its link up; addresses and routes are left to `ip` inside the namespace. tunRead/tunWrite move
 * one packet and answer -errno, never throw; tunWatch polls the fd on the Node event loop (a uv_poll_t) so
 * inbound-to-the-script packets are picked up as soon as the kernel emits them; monotonicNs is the clock
 * every timestamp here comes from.
 *
 * Syscalls: sys(op, args) makes one real socket call and answers { ret, errno, ...outputs }; sysAsync does
 * the same on the libuv threadpool (napi_create_async_work) so a blocking call (accept, connect, read,
 * poll, epoll_wait...) does not stall the event loop, and adds startNs/endNs around the call. Arguments are
 * copied into C memory before the call and outputs copied back after it, so nothing JS owns is touched from
 * a worker thread. Bad arguments are programming errors and throw a TypeError with code ERR_BAD_ARGUMENT;
 * a failing syscall is data ({ ret: -1, errno }).
 *
 * Only descriptors this module opened (socket, accept, epoll_create, tunOpen) are acted on; any other
 * non-negative fd answers EBADF without a syscall, so a script's close(3) can never close one of Node's
 * own descriptors (its epoll fd, a pipe to the parent) and take the process down with it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <node_api.h>
#include <uv.h>
#include "watch.h"

#define SCHECK(call)                                                            \
  do {                                                                          \
    if ((call) != napi_ok) {                                                    \
      napi_throw_error(env, "ERR_NAPI", "tcplab script_sys: " #call " failed"); \
      return NULL;                                                              \
    }                                                                           \
  } while (0)

/* Limits on what JS may ask us to allocate: well above anything a script does, far below harm. */
#define MAX_BYTES (64u << 20)
#define MAX_VEC 4096
#define MAX_OPT 65536

static napi_value bad_arg(napi_env env, const char *msg) {
  napi_throw_type_error(env, "ERR_BAD_ARGUMENT", msg);
  return NULL;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- descriptors this module opened (see the header comment) ---- */

#define OWNED_MAX 65536
static uint64_t owned[OWNED_MAX / 64];

static void own(int fd) {
  if (fd >= 0 && fd < OWNED_MAX) __atomic_fetch_or(&owned[fd / 64], 1ull << (fd % 64), __ATOMIC_SEQ_CST);
}
static void disown(int fd) {
  if (fd >= 0 && fd < OWNED_MAX) __atomic_fetch_and(&owned[fd / 64], ~(1ull << (fd % 64)), __ATOMIC_SEQ_CST);
}
/* Negative fds go to the kernel (its own EBADF); other fds only when we opened them. */
static int may_use(int fd) {
  if (fd < 0) return 1;
  if (fd >= OWNED_MAX) return 0;
  return (__atomic_load_n(&owned[fd / 64], __ATOMIC_SEQ_CST) >> (fd % 64)) & 1;
}

/* ---- argument readers ---- */

/* A number or a BigInt as int64. */
static int get_i64(napi_env env, napi_value v, int64_t *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return 0;
  if (t == napi_number) return napi_get_value_int64(env, v, out) == napi_ok;
  if (t == napi_bigint) {
    bool lossless;
    return napi_get_value_bigint_int64(env, v, out, &lossless) == napi_ok;
  }
  return 0;
}

static int is_nullish(napi_env env, napi_value v) {
  napi_valuetype t;
  return v == NULL || (napi_typeof(env, v, &t) == napi_ok && (t == napi_undefined || t == napi_null));
}

/* A Buffer or Uint8Array: its bytes (not copied). */
static int get_bytes(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return 0;
  napi_typedarray_type type;
  size_t n;
  void *p;
  if (napi_get_typedarray_info(env, v, &type, &n, &p, NULL, NULL) != napi_ok) return 0;
  if (type != napi_uint8_array && type != napi_uint8_clamped_array) return 0;
  *data = (uint8_t *)p;
  *len = n;
  return 1;
}

static int prop(napi_env env, napi_value obj, const char *name, napi_value *out) {
  bool has = false;
  if (napi_has_named_property(env, obj, name, &has) != napi_ok || !has) return 0;
  if (napi_get_named_property(env, obj, name, out) != napi_ok) return 0;
  return !is_nullish(env, *out);
}

static int is_object(napi_env env, napi_value v) {
  napi_valuetype t;
  return napi_typeof(env, v, &t) == napi_ok && t == napi_object;
}

static int get_len(napi_env env, napi_value v, size_t max, size_t *out);

/*
 * {nullPointer: n}: a NULL buffer of n bytes, for scripts that pass NULL on purpose (the kernel answers
 * EFAULT, as packetdrill's syscall_bad_arg scripts expect). Leaves c->buf NULL.
 */
static int null_pointer_arg(napi_env env, napi_value v, size_t *len) {
  napi_value n;
  return is_object(env, v) && prop(env, v, "nullPointer", &n) && get_len(env, n, MAX_BYTES, len);
}

/* {family, addr, port, flowinfo?, scopeId?} → sockaddr; family 0 (AF_UNSPEC) needs nothing else. */
static int get_sockaddr(napi_env env, napi_value v, struct sockaddr_storage *ss, socklen_t *len) {
  if (!is_object(env, v)) return 0;
  napi_value f, a, p, x;
  int64_t family = -1, port = 0, n = 0;
  if (!prop(env, v, "family", &f) || !get_i64(env, f, &family)) return 0;
  memset(ss, 0, sizeof *ss);
  if (family == AF_UNSPEC) {
    ss->ss_family = AF_UNSPEC;
    *len = sizeof(struct sockaddr);
    return 1;
  }
  if (family != AF_INET && family != AF_INET6) return 0;
  char text[INET6_ADDRSTRLEN + 1];
  size_t tl = 0;
  if (!prop(env, v, "addr", &a) || napi_get_value_string_utf8(env, a, text, sizeof text, &tl) != napi_ok) return 0;
  if (prop(env, v, "port", &p) && (!get_i64(env, p, &port) || port < 0 || port > 65535)) return 0;
  if (family == AF_INET) {
    struct sockaddr_in *s = (struct sockaddr_in *)ss;
    s->sin_family = AF_INET;
    s->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, text, &s->sin_addr) != 1) return 0;
    *len = sizeof *s;
  } else {
    struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
    s->sin6_family = AF_INET6;
    s->sin6_port = htons((uint16_t)port);
    if (inet_pton(AF_INET6, text, &s->sin6_addr) != 1) return 0;
    if (prop(env, v, "flowinfo", &x) && get_i64(env, x, &n)) s->sin6_flowinfo = htonl((uint32_t)n);
    if (prop(env, v, "scopeId", &x) && get_i64(env, x, &n)) s->sin6_scope_id = (uint32_t)n;
    *len = sizeof *s;
  }
  return 1;
}

static napi_value sockaddr_to_js(napi_env env, const struct sockaddr_storage *ss, socklen_t len) {
  napi_value o, v;
  char text[INET6_ADDRSTRLEN];
  if (len < sizeof(sa_family_t)) return NULL;
  if (napi_create_object(env, &o) != napi_ok) return NULL;
  napi_create_int32(env, ss->ss_family, &v);
  napi_set_named_property(env, o, "family", v);
  if (ss->ss_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
    const struct sockaddr_in *s = (const struct sockaddr_in *)ss;
    inet_ntop(AF_INET, &s->sin_addr, text, sizeof text);
    napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, o, "addr", v);
    napi_create_int32(env, ntohs(s->sin_port), &v);
    napi_set_named_property(env, o, "port", v);
  } else if (ss->ss_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
    const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;
    inet_ntop(AF_INET6, &s->sin6_addr, text, sizeof text);
    napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, o, "addr", v);
    napi_create_int32(env, ntohs(s->sin6_port), &v);
    napi_set_named_property(env, o, "port", v);
    napi_create_uint32(env, ntohl(s->sin6_flowinfo), &v);
    napi_set_named_property(env, o, "flowinfo", v);
    napi_create_uint32(env, s->sin6_scope_id, &v);
    napi_set_named_property(env, o, "scopeId", v);
  }
  return o;
}

/* ---- one call: arguments in, the syscall, outputs out ---- */

enum {
  OP_SOCKET, OP_BIND, OP_LISTEN, OP_ACCEPT, OP_CONNECT, OP_READ, OP_WRITE, OP_SEND, OP_SENDTO, OP_RECV,
  OP_RECVFROM, OP_SENDMSG, OP_RECVMSG, OP_WRITEV, OP_READV, OP_CLOSE, OP_SHUTDOWN, OP_SETSOCKOPT,
  OP_GETSOCKOPT, OP_FCNTL, OP_IOCTL, OP_POLL, OP_EPOLL_CREATE, OP_EPOLL_CREATE1, OP_EPOLL_CTL, OP_EPOLL_WAIT,
  OP_OPEN, OP_SENDFILE, OP_PIPE, OP_SPLICE,
  OP_COUNT
};

static const char *const op_names[OP_COUNT] = {
    "socket", "bind", "listen", "accept", "connect", "read", "write", "send", "sendto", "recv",
    "recvfrom", "sendmsg", "recvmsg", "writev", "readv", "close", "shutdown", "setsockopt",
    "getsockopt", "fcntl", "ioctl", "poll", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait",
    "open", "sendfile", "pipe", "splice",
};

/* What getsockopt hands back: an int, a struct linger, or raw bytes (TCP_INFO, or a length was given). */
enum { OPT_INT, OPT_LINGER, OPT_RAW };

typedef struct sys_call {
  int op;
  int fd;
  int fd2; /* sendfile's in_fd, splice's fd_out */
  char path[4096]; /* open() */
  int has_off; /* sendfile: an offset was given */
  int64_t off;
  int pipefd[2];
  int64_t a[4]; /* the op's integer arguments after fd, in order */
  struct sockaddr_storage addr;
  socklen_t addrlen;
  int has_addr;
  uint8_t *buf; /* input bytes, or room for output bytes */
  size_t len;
  struct iovec *iov;
  int iovcnt;
  uint8_t *control;
  size_t controllen;
  struct pollfd *pfds;
  int npfds;
  struct epoll_event ev;
  int has_ev;
  struct epoll_event *events;
  int optkind;
  /* results */
  int64_t ret;
  int err;
  socklen_t optlen;
  struct sockaddr_storage peer;
  socklen_t peerlen;
  int msg_flags;
  size_t out_controllen;
  int ivalue;
  uint64_t start_ns, end_ns;
  napi_async_work work;
  napi_deferred deferred;
} sys_call;

#ifdef MSG_ZEROCOPY
#define MSG_ZEROCOPY_FLAG MSG_ZEROCOPY
#else
#define MSG_ZEROCOPY_FLAG 0x4000000
#endif

static void free_call(sys_call *c) {
  /*
   * A MSG_ZEROCOPY send lends these pages to the kernel until the peer has acknowledged the data (the error
   * queue says when): freeing them now would let the memory be reused under the kernel's feet, and the wire
   * would carry whatever comes next. A script's process is short-lived; the bytes are let go with it, as
   * packetdrill keeps its zerocopy buffers.
   */
  int lent = (c->op == OP_SEND || c->op == OP_SENDTO || c->op == OP_SENDMSG) && (c->a[0] & MSG_ZEROCOPY_FLAG) && c->ret >= 0;
  if (!lent) free(c->buf);
  free(c->iov);
  free(c->control);
  free(c->pfds);
  free(c->events);
  free(c);
}

static int alloc_buf(sys_call *c, size_t n) {
  c->buf = (uint8_t *)calloc(1, n > 0 ? n : 1);
  c->len = n;
  return c->buf != NULL;
}

static int copy_bytes(napi_env env, napi_value v, sys_call *c) {
  uint8_t *p;
  size_t n;
  if (!get_bytes(env, v, &p, &n) || n > MAX_BYTES || !alloc_buf(c, n)) return 0;
  memcpy(c->buf, p, n);
  return 1;
}

/* A length for an output buffer. */
static int get_len(napi_env env, napi_value v, size_t max, size_t *out) {
  int64_t n;
  if (!get_i64(env, v, &n) || n < 0 || (uint64_t)n > max) return 0;
  *out = (size_t)n;
  return 1;
}

/* Buffers → one copied region split into iovecs (writev, sendmsg). */
static int iov_from_buffers(napi_env env, napi_value arr, sys_call *c) {
  bool is = false;
  uint32_t n = 0;
  if (napi_is_array(env, arr, &is) != napi_ok || !is || napi_get_array_length(env, arr, &n) != napi_ok || n > MAX_VEC) return 0;
  size_t total = 0;
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    uint8_t *p;
    size_t l;
    if (napi_get_element(env, arr, i, &e) != napi_ok || !get_bytes(env, e, &p, &l)) return 0;
    total += l;
    if (total > MAX_BYTES) return 0;
  }
  /*
   * Each buffer gets its own place with a gap after it, as separately allocated buffers have: the kernel
   * merges zerocopy (MSG_ZEROCOPY) fragments that touch on one page, so touching buffers would turn a
   * script's 18 one-byte iovecs into one fragment where packetdrill's give 18.
   */
  const size_t gap = 64;
  if (!alloc_buf(c, total + (size_t)n * gap)) return 0;
  c->iov = (struct iovec *)calloc(n > 0 ? n : 1, sizeof *c->iov);
  if (c->iov == NULL) return 0;
  size_t off = 0;
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    uint8_t *p = NULL;
    size_t l = 0;
    napi_get_element(env, arr, i, &e);
    get_bytes(env, e, &p, &l);
    memcpy(c->buf + off, p, l);
    c->iov[i].iov_base = c->buf + off;
    c->iov[i].iov_len = l;
    off += l + gap;
  }
  c->iovcnt = (int)n;
  return 1;
}

/* Lengths → one zeroed region split into iovecs (readv, recvmsg); the bytes read come back contiguous. */
static int iov_from_lengths(napi_env env, napi_value arr, sys_call *c) {
  bool is = false;
  uint32_t n = 0;
  if (napi_is_array(env, arr, &is) != napi_ok || !is || napi_get_array_length(env, arr, &n) != napi_ok || n > MAX_VEC) return 0;
  size_t total = 0;
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    size_t l;
    if (napi_get_element(env, arr, i, &e) != napi_ok || !get_len(env, e, MAX_BYTES, &l)) return 0;
    total += l;
    if (total > MAX_BYTES) return 0;
  }
  if (!alloc_buf(c, total)) return 0;
  c->iov = (struct iovec *)calloc(n > 0 ? n : 1, sizeof *c->iov);
  if (c->iov == NULL) return 0;
  size_t off = 0;
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    size_t l = 0;
    napi_get_element(env, arr, i, &e);
    get_len(env, e, MAX_BYTES, &l);
    c->iov[i].iov_base = c->buf + off;
    c->iov[i].iov_len = l;
    off += l;
  }
  c->iovcnt = (int)n;
  return 1;
}

/* [{level, type, data: Buffer | number}] → a control buffer (a number is the common 4-byte int form). */
static int cmsgs_from_js(napi_env env, napi_value arr, sys_call *c) {
  bool is = false;
  uint32_t n = 0;
  if (napi_is_array(env, arr, &is) != napi_ok || !is || napi_get_array_length(env, arr, &n) != napi_ok || n > 64) return 0;
  size_t total = 0;
  for (uint32_t i = 0; i < n; i++) {
    napi_value e, d;
    uint8_t *p;
    size_t l = 4;
    int64_t x;
    if (napi_get_element(env, arr, i, &e) != napi_ok || !is_object(env, e) || !prop(env, e, "data", &d)) return 0;
    if (!get_i64(env, d, &x) && !get_bytes(env, d, &p, &l)) return 0;
    if (l > MAX_OPT) return 0;
    total += CMSG_SPACE(l);
  }
  if (n == 0) return 1;
  c->control = (uint8_t *)calloc(1, total);
  if (c->control == NULL) return 0;
  c->controllen = total;
  struct msghdr m;
  memset(&m, 0, sizeof m);
  m.msg_control = c->control;
  m.msg_controllen = total;
  struct cmsghdr *h = CMSG_FIRSTHDR(&m);
  for (uint32_t i = 0; i < n && h != NULL; i++) {
    napi_value e, d, lv, tv;
    int64_t level = 0, type = 0, x = 0;
    uint8_t *p = NULL;
    size_t l = 4;
    napi_get_element(env, arr, i, &e);
    if (!prop(env, e, "level", &lv) || !get_i64(env, lv, &level) || !prop(env, e, "type", &tv) || !get_i64(env, tv, &type)) return 0;
    prop(env, e, "data", &d);
    int32_t ix = 0;
    if (get_i64(env, d, &x)) {
      ix = (int32_t)x;
      p = (uint8_t *)&ix;
    } else {
      get_bytes(env, d, &p, &l);
    }
    h->cmsg_level = (int)level;
    h->cmsg_type = (int)type;
    h->cmsg_len = CMSG_LEN(l);
    memcpy(CMSG_DATA(h), p, l);
    h = CMSG_NXTHDR(&m, h);
  }
  return 1;
}

static napi_value cmsgs_to_js(napi_env env, uint8_t *control, size_t len) {
  napi_value arr;
  if (napi_create_array(env, &arr) != napi_ok) return NULL;
  struct msghdr m;
  memset(&m, 0, sizeof m);
  m.msg_control = control;
  m.msg_controllen = len;
  uint32_t i = 0;
  for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h != NULL; h = CMSG_NXTHDR(&m, h)) {
    napi_value o, v;
    napi_create_object(env, &o);
    napi_create_int32(env, h->cmsg_level, &v);
    napi_set_named_property(env, o, "level", v);
    napi_create_int32(env, h->cmsg_type, &v);
    napi_set_named_property(env, o, "type", v);
    size_t dl = h->cmsg_len >= CMSG_LEN(0) ? h->cmsg_len - CMSG_LEN(0) : 0;
    napi_create_buffer_copy(env, dl, CMSG_DATA(h), NULL, &v);
    napi_set_named_property(env, o, "data", v);
    napi_set_element(env, arr, i++, o);
  }
  return arr;
}

static sys_call *bad_call(napi_env env, const char *msg) {
  bad_arg(env, msg);
  return NULL;
}

#define NEED(cond, msg) \
  do {                  \
    if (!(cond)) {      \
      free_call(c);     \
      return bad_call(env, msg); \
    }                   \
  } while (0)

/* Reads op and args into a new call (NULL with a TypeError thrown on bad arguments). */
static sys_call *parse_call(napi_env env, napi_value opv, napi_value args) {
  char name[24];
  size_t nl = 0;
  if (napi_get_value_string_utf8(env, opv, name, sizeof name, &nl) != napi_ok) return bad_call(env, "sys(op, args): op must be a string");
  int op = -1;
  for (int i = 0; i < OP_COUNT; i++)
    if (strcmp(name, op_names[i]) == 0) op = i;
  if (op < 0) {
    char msg[80];
    snprintf(msg, sizeof msg, "sys: unknown op '%s'", name);
    return bad_call(env, msg);
  }
  bool isarr = false;
  uint32_t argc = 0;
  if (napi_is_array(env, args, &isarr) != napi_ok || !isarr || napi_get_array_length(env, args, &argc) != napi_ok)
    return bad_call(env, "sys(op, args): args must be an array");
  napi_value av[6];
  for (uint32_t i = 0; i < 6; i++) {
    av[i] = NULL;
    if (i < argc) napi_get_element(env, args, i, &av[i]);
    if (av[i] != NULL && is_nullish(env, av[i])) av[i] = NULL;
  }
  sys_call *c = (sys_call *)calloc(1, sizeof *c);
  if (c == NULL) return bad_call(env, "sys: out of memory");
  c->op = op;
  c->fd = -1;
  int64_t fd = -1;
  /* Every op but socket, epoll_create(1) and poll starts with an fd. */
  if (op != OP_SOCKET && op != OP_EPOLL_CREATE && op != OP_EPOLL_CREATE1 && op != OP_POLL && op != OP_OPEN && op != OP_PIPE) {
    NEED(av[0] != NULL && get_i64(env, av[0], &fd) && fd >= INT32_MIN && fd <= INT32_MAX, "sys: args[0] must be an fd (integer)");
    c->fd = (int)fd;
  }
  /* Integer argument i (0-based over args) into a[slot]; `dflt` when absent and optional. */
#define INT_ARG(i, slot, required, dflt)                                             \
  do {                                                                               \
    if (av[i] == NULL) {                                                             \
      NEED(!(required), "sys: missing integer argument");                            \
      c->a[slot] = (dflt);                                                           \
    } else {                                                                         \
      NEED(get_i64(env, av[i], &c->a[slot]), "sys: argument must be a number or BigInt"); \
    }                                                                                \
  } while (0)
  switch (op) {
    case OP_SOCKET:
      INT_ARG(0, 0, 1, 0);
      INT_ARG(1, 1, 1, 0);
      INT_ARG(2, 2, 0, 0);
      break;
    case OP_BIND:
    case OP_CONNECT:
      NEED(av[1] != NULL && get_sockaddr(env, av[1], &c->addr, &c->addrlen), "sys: args[1] must be {family, addr, port}");
      c->has_addr = 1;
      break;
    case OP_LISTEN:
      INT_ARG(1, 0, 1, 0);
      break;
    case OP_ACCEPT: /* [fd, flags?]: accept4 flags (SOCK_NONBLOCK, SOCK_CLOEXEC) */
      INT_ARG(1, 0, 0, 0);
      break;
    case OP_READ: /* [fd, len] */
    case OP_RECV: /* [fd, len, flags?] */
    case OP_RECVFROM:
      if (av[1] != NULL && null_pointer_arg(env, av[1], &c->len)) {
        c->buf = NULL;
      } else {
        NEED(av[1] != NULL && get_len(env, av[1], MAX_BYTES, &c->len) && alloc_buf(c, c->len), "sys: args[1] must be a length or {nullPointer}");
      }
      INT_ARG(2, 0, 0, 0);
      break;
    case OP_WRITE: /* [fd, data] */
    case OP_SEND: /* [fd, data, flags?] */
    case OP_SENDTO: /* [fd, data, flags?, addr?] */
      if (av[1] != NULL && null_pointer_arg(env, av[1], &c->len)) {
        c->buf = NULL;
      } else {
        NEED(av[1] != NULL && copy_bytes(env, av[1], c), "sys: args[1] must be a Buffer, a Uint8Array or {nullPointer}");
      }
      INT_ARG(2, 0, 0, 0);
      if (op == OP_SENDTO && av[3] != NULL) {
        NEED(get_sockaddr(env, av[3], &c->addr, &c->addrlen), "sys: args[3] must be {family, addr, port}");
        c->has_addr = 1;
      }
      break;
    case OP_WRITEV:
      NEED(av[1] != NULL && iov_from_buffers(env, av[1], c), "sys: args[1] must be an array of Buffers");
      break;
    case OP_READV:
      NEED(av[1] != NULL && iov_from_lengths(env, av[1], c), "sys: args[1] must be an array of lengths");
      break;
    case OP_SENDMSG: /* [fd, {iov: Buffer[], addr?, cmsgs?}, flags?] */
    case OP_RECVMSG: /* [fd, {iov: number[], control?: number}, flags?] */ {
      napi_value m = av[1], v;
      NEED(m != NULL && is_object(env, m) && prop(env, m, "iov", &v), "sys: args[1] must be {iov, ...}");
      if (op == OP_SENDMSG) {
        NEED(iov_from_buffers(env, v, c), "sys: msg.iov must be an array of Buffers");
        if (prop(env, m, "addr", &v)) {
          NEED(get_sockaddr(env, v, &c->addr, &c->addrlen), "sys: msg.addr must be {family, addr, port}");
          c->has_addr = 1;
        }
        if (prop(env, m, "cmsgs", &v)) NEED(cmsgs_from_js(env, v, c), "sys: msg.cmsgs must be [{level, type, data}]");
      } else {
        NEED(iov_from_lengths(env, v, c), "sys: msg.iov must be an array of lengths");
        size_t cl = 0;
        if (prop(env, m, "control", &v)) NEED(get_len(env, v, MAX_OPT, &cl), "sys: msg.control must be a length");
        if (cl > 0) {
          c->control = (uint8_t *)calloc(1, cl);
          NEED(c->control != NULL, "sys: out of memory");
          c->controllen = cl;
        }
      }
      INT_ARG(2, 0, 0, 0);
      break;
    }
    case OP_CLOSE:
      break;
    case OP_SHUTDOWN:
      INT_ARG(1, 0, 1, 0);
      break;
    case OP_OPEN: /* [path, flags, mode?] */ {
      size_t pl = 0;
      NEED(av[0] != NULL && napi_get_value_string_utf8(env, av[0], c->path, sizeof c->path, &pl) == napi_ok && pl > 0 && pl < sizeof c->path - 1,
           "sys: args[0] must be a path");
      INT_ARG(1, 0, 1, 0);
      INT_ARG(2, 1, 0, 0);
      break;
    }
    case OP_SENDFILE: /* [out_fd, in_fd, offset: number | null, count] */ {
      int64_t in = -1;
      NEED(av[1] != NULL && get_i64(env, av[1], &in) && in >= INT32_MIN && in <= INT32_MAX, "sys: args[1] must be an fd");
      c->fd2 = (int)in;
      if (av[2] != NULL) {
        NEED(get_i64(env, av[2], &c->off), "sys: args[2] must be an offset or null");
        c->has_off = 1;
      }
      INT_ARG(3, 0, 1, 0);
      break;
    }
    case OP_PIPE: /* [] → fds */
      break;
    case OP_SPLICE: /* [fd_in, fd_out, len, flags]: both offsets NULL, as scripts write them */ {
      int64_t out = -1;
      NEED(av[1] != NULL && get_i64(env, av[1], &out) && out >= INT32_MIN && out <= INT32_MAX, "sys: args[1] must be an fd");
      c->fd2 = (int)out;
      INT_ARG(2, 0, 1, 0);
      INT_ARG(3, 1, 0, 0);
      break;
    }
    case OP_SETSOCKOPT: /* [fd, level, name, value: number | {onoff, linger} | Buffer | string, optlen?] */ {
      INT_ARG(1, 0, 1, 0);
      INT_ARG(2, 1, 1, 0);
      napi_value v = av[3], on, lg;
      int64_t x;
      size_t natural;
      uint8_t tmp[sizeof(struct linger)];
      char str[256];
      uint8_t *src = tmp;
      napi_valuetype t = napi_undefined;
      if (v != NULL) napi_typeof(env, v, &t);
      if (v != NULL && get_i64(env, v, &x)) {
        int32_t i = (int32_t)x;
        memcpy(tmp, &i, sizeof i);
        natural = sizeof i;
      } else if (v != NULL && get_bytes(env, v, &src, &natural)) {
        NEED(natural <= MAX_OPT, "sys: option value too long");
      } else if (t == napi_string) {
        /* Strings (TCP_CONGESTION) go without their NUL, as setsockopt(..., "reno", 4) does. */
        NEED(napi_get_value_string_utf8(env, v, str, sizeof str, &natural) == napi_ok, "sys: bad string option");
        src = (uint8_t *)str;
      } else if (t == napi_object && prop(env, v, "onoff", &on) && prop(env, v, "linger", &lg)) {
        int64_t a, b;
        NEED(get_i64(env, on, &a) && get_i64(env, lg, &b), "sys: linger fields must be integers");
        struct linger l = {(int)a, (int)b};
        memcpy(tmp, &l, sizeof l);
        natural = sizeof l;
      } else {
        NEED(0, "sys: setsockopt value must be a number, {onoff, linger}, a Buffer or a string");
      }
      size_t optlen = natural;
      if (av[4] != NULL) NEED(get_len(env, av[4], MAX_OPT, &optlen), "sys: optlen must be a length");
      /* A given optlen larger than the value reads zeros past it, never memory we do not own. */
      NEED(alloc_buf(c, optlen > natural ? optlen : natural), "sys: out of memory");
      memcpy(c->buf, src, natural);
      c->optlen = (socklen_t)optlen;
      break;
    }
    case OP_GETSOCKOPT: /* [fd, level, name, optlen?] */ {
      INT_ARG(1, 0, 1, 0);
      INT_ARG(2, 1, 1, 0);
      size_t want;
      if (av[3] != NULL) {
        NEED(get_len(env, av[3], MAX_OPT, &want), "sys: optlen must be a length");
        c->optkind = OPT_RAW;
      } else if (c->a[0] == SOL_SOCKET && c->a[1] == SO_LINGER) {
        want = sizeof(struct linger);
        c->optkind = OPT_LINGER;
      } else if (c->a[0] == IPPROTO_TCP && c->a[1] == TCP_INFO) {
        want = 512; /* more than any kernel's struct tcp_info: the kernel says how much it filled */
        c->optkind = OPT_RAW;
      } else {
        want = sizeof(int);
        c->optkind = OPT_INT;
      }
      NEED(alloc_buf(c, want), "sys: out of memory");
      c->optlen = (socklen_t)want;
      break;
    }
    case OP_FCNTL: /* [fd, cmd, arg?] */
      INT_ARG(1, 0, 1, 0);
      INT_ARG(2, 1, 0, 0);
      break;
    case OP_IOCTL: /* [fd, request, intIn?] — an int in and out (SIOCINQ, SIOCOUTQ, FIONBIO) */
      INT_ARG(1, 0, 1, 0);
      INT_ARG(2, 1, 0, 0);
      break;
    case OP_POLL: /* [[{fd, events}], timeoutMs] */ {
      bool is = false;
      uint32_t n = 0;
      NEED(av[0] != NULL && napi_is_array(env, av[0], &is) == napi_ok && is && napi_get_array_length(env, av[0], &n) == napi_ok && n <= MAX_VEC,
           "sys: poll args[0] must be an array of {fd, events}");
      c->pfds = (struct pollfd *)calloc(n > 0 ? n : 1, sizeof *c->pfds);
      NEED(c->pfds != NULL, "sys: out of memory");
      for (uint32_t i = 0; i < n; i++) {
        napi_value e, f, ev;
        int64_t fdv, evv = 0;
        NEED(napi_get_element(env, av[0], i, &e) == napi_ok && is_object(env, e) && prop(env, e, "fd", &f) && get_i64(env, f, &fdv),
             "sys: poll entries must be {fd, events}");
        if (prop(env, e, "events", &ev)) NEED(get_i64(env, ev, &evv), "sys: poll events must be an integer");
        c->pfds[i].fd = (int)fdv;
        c->pfds[i].events = (short)evv;
      }
      c->npfds = (int)n;
      INT_ARG(1, 0, 0, -1);
      break;
    }
    case OP_EPOLL_CREATE: /* [size] */
    case OP_EPOLL_CREATE1: /* [flags] */
      INT_ARG(0, 0, 0, op == OP_EPOLL_CREATE ? 1 : 0);
      break;
    case OP_EPOLL_CTL: /* [epfd, op, fd, {events, data?}?] — data defaults to the fd, as packetdrill's {fd=N} */ {
      INT_ARG(1, 0, 1, 0);
      INT_ARG(2, 1, 1, 0);
      if (av[3] != NULL) {
        napi_value ev, d;
        int64_t evv = 0, dv = c->a[1];
        NEED(is_object(env, av[3]), "sys: epoll_ctl args[3] must be {events, data?}");
        if (prop(env, av[3], "events", &ev)) NEED(get_i64(env, ev, &evv), "sys: epoll events must be an integer");
        if (prop(env, av[3], "data", &d)) NEED(get_i64(env, d, &dv), "sys: epoll data must be a number or BigInt");
        c->ev.events = (uint32_t)evv;
        c->ev.data.u64 = (uint64_t)dv;
        c->has_ev = 1;
      }
      break;
    }
    case OP_EPOLL_WAIT: /* [epfd, maxevents, timeoutMs] */
      INT_ARG(1, 0, 1, 0);
      INT_ARG(2, 1, 0, -1);
      NEED(c->a[0] <= MAX_VEC, "sys: maxevents too large");
      c->events = (struct epoll_event *)calloc(c->a[0] > 0 ? (size_t)c->a[0] : 1, sizeof *c->events);
      NEED(c->events != NULL, "sys: out of memory");
      break;
  }
#undef INT_ARG
  return c;
}

/* The syscall itself; runs on the calling thread or a threadpool worker and touches no JS. */
static void run_call(sys_call *c) {
  long r = -1;
  int fd = c->fd;
  int fd_first = c->op != OP_SOCKET && c->op != OP_EPOLL_CREATE && c->op != OP_EPOLL_CREATE1 && c->op != OP_POLL && c->op != OP_OPEN && c->op != OP_PIPE;
  int second = c->op == OP_SENDFILE || c->op == OP_SPLICE;
  if ((fd_first && !may_use(fd)) || (second && !may_use(c->fd2))) {
    c->ret = -1;
    c->err = EBADF;
    return;
  }
  const struct sockaddr *sa = c->has_addr ? (const struct sockaddr *)&c->addr : NULL;
  struct msghdr m;
  memset(&m, 0, sizeof m);
  errno = 0;
  switch (c->op) {
    case OP_SOCKET:
      r = socket((int)c->a[0], (int)c->a[1], (int)c->a[2]);
      if (r >= 0) own((int)r);
      break;
    case OP_BIND: r = bind(fd, sa, c->addrlen); break;
    case OP_LISTEN: r = listen(fd, (int)c->a[0]); break;
    case OP_ACCEPT:
      c->peerlen = sizeof c->peer;
      r = accept4(fd, (struct sockaddr *)&c->peer, &c->peerlen, (int)c->a[0]);
      if (r >= 0) own((int)r);
      break;
    case OP_CONNECT: r = connect(fd, sa, c->addrlen); break;
    case OP_READ: r = read(fd, c->buf, c->len); break;
    case OP_WRITE: r = write(fd, c->buf, c->len); break;
    case OP_SEND: r = send(fd, c->buf, c->len, (int)c->a[0]); break;
    case OP_SENDTO: r = sendto(fd, c->buf, c->len, (int)c->a[0], sa, c->has_addr ? c->addrlen : 0); break;
    case OP_RECV: r = recv(fd, c->buf, c->len, (int)c->a[0]); break;
    case OP_RECVFROM:
      c->peerlen = sizeof c->peer;
      r = recvfrom(fd, c->buf, c->len, (int)c->a[0], (struct sockaddr *)&c->peer, &c->peerlen);
      break;
    case OP_SENDMSG:
      m.msg_name = (void *)sa;
      m.msg_namelen = c->has_addr ? c->addrlen : 0;
      m.msg_iov = c->iov;
      m.msg_iovlen = (size_t)c->iovcnt;
      m.msg_control = c->control;
      m.msg_controllen = c->controllen;
      r = sendmsg(fd, &m, (int)c->a[0]);
      break;
    case OP_RECVMSG:
      m.msg_name = &c->peer;
      m.msg_namelen = sizeof c->peer;
      m.msg_iov = c->iov;
      m.msg_iovlen = (size_t)c->iovcnt;
      m.msg_control = c->control;
      m.msg_controllen = c->controllen;
      r = recvmsg(fd, &m, (int)c->a[0]);
      c->peerlen = m.msg_namelen;
      c->msg_flags = m.msg_flags;
      c->out_controllen = m.msg_controllen;
      break;
    case OP_WRITEV: r = writev(fd, c->iov, c->iovcnt); break;
    case OP_READV: r = readv(fd, c->iov, c->iovcnt); break;
    case OP_CLOSE:
      /* Disowned before the number is freed, so a socket() racing on another thread keeps its mark. */
      disown(fd);
      r = close(fd);
      break;
    case OP_SHUTDOWN: r = shutdown(fd, (int)c->a[0]); break;
    case OP_OPEN:
      r = open(c->path, (int)c->a[0], (mode_t)c->a[1]);
      if (r >= 0) own((int)r);
      break;
    case OP_SENDFILE: {
      off_t o = (off_t)c->off;
      r = sendfile(fd, c->fd2, c->has_off ? &o : NULL, (size_t)c->a[0]);
      c->off = (int64_t)o;
      break;
    }
    case OP_PIPE:
      r = pipe(c->pipefd);
      if (r == 0) {
        own(c->pipefd[0]);
        own(c->pipefd[1]);
      }
      break;
    case OP_SPLICE: r = splice(fd, NULL, c->fd2, NULL, (size_t)c->a[0], (unsigned)c->a[1]); break;
    case OP_SETSOCKOPT: r = setsockopt(fd, (int)c->a[0], (int)c->a[1], c->buf, c->optlen); break;
    case OP_GETSOCKOPT: r = getsockopt(fd, (int)c->a[0], (int)c->a[1], c->buf, &c->optlen); break;
    case OP_FCNTL: r = fcntl(fd, (int)c->a[0], (long)c->a[1]); break;
    case OP_IOCTL: {
      int v = (int)c->a[1];
      r = ioctl(fd, (unsigned long)c->a[0], &v);
      c->ivalue = v;
      break;
    }
    case OP_POLL: r = poll(c->pfds, (nfds_t)c->npfds, (int)c->a[0]); break;
    case OP_EPOLL_CREATE:
      r = epoll_create((int)c->a[0]);
      if (r >= 0) own((int)r);
      break;
    case OP_EPOLL_CREATE1:
      r = epoll_create1((int)c->a[0]);
      if (r >= 0) own((int)r);
      break;
    case OP_EPOLL_CTL: r = epoll_ctl(fd, (int)c->a[0], (int)c->a[1], c->has_ev ? &c->ev : NULL); break;
    case OP_EPOLL_WAIT: r = epoll_wait(fd, c->events, (int)c->a[0], (int)c->a[1]); break;
  }
  c->ret = r;
  c->err = r < 0 ? errno : 0;
}

static void set_i(napi_env env, napi_value o, const char *k, int64_t x) {
  napi_value v;
  napi_create_int64(env, x, &v);
  napi_set_named_property(env, o, k, v);
}

/* {ret, errno, ...outputs} (startNs/endNs when timed). */
static napi_value make_result(napi_env env, sys_call *c, int timed) {
  napi_value o, v;
  if (napi_create_object(env, &o) != napi_ok) return NULL;
  set_i(env, o, "ret", c->ret);
  set_i(env, o, "errno", c->err);
  int ok = c->ret >= 0;
  switch (c->op) {
    case OP_READ:
    case OP_RECV:
    case OP_RECVFROM:
    case OP_READV:
    case OP_RECVMSG:
      if (ok) {
        /* MSG_TRUNC may report more than fitted: hand over only what was stored. */
        size_t n = c->buf == NULL ? 0 : (size_t)c->ret < c->len ? (size_t)c->ret : c->len;
        napi_create_buffer_copy(env, n, c->buf, NULL, &v);
        napi_set_named_property(env, o, "data", v);
      }
      if (ok && (c->op == OP_RECVFROM || c->op == OP_RECVMSG)) {
        v = sockaddr_to_js(env, &c->peer, c->peerlen);
        if (v != NULL) napi_set_named_property(env, o, "addr", v);
      }
      if (ok && c->op == OP_RECVMSG) {
        set_i(env, o, "msgFlags", c->msg_flags);
        v = cmsgs_to_js(env, c->control, c->out_controllen);
        if (v != NULL) napi_set_named_property(env, o, "cmsgs", v);
      }
      break;
    case OP_ACCEPT:
      if (ok) {
        v = sockaddr_to_js(env, &c->peer, c->peerlen);
        if (v != NULL) napi_set_named_property(env, o, "addr", v);
      }
      break;
    case OP_GETSOCKOPT:
      if (!ok) break;
      set_i(env, o, "optlen", c->optlen);
      if (c->optkind == OPT_INT) {
        /* A few options answer in one byte (the kernel shrinks optlen); read what was written. */
        int32_t x = 0;
        if (c->optlen >= 4) memcpy(&x, c->buf, 4);
        else if (c->optlen >= 1) x = c->buf[0];
        set_i(env, o, "value", x);
      } else if (c->optkind == OPT_LINGER) {
        struct linger l;
        memcpy(&l, c->buf, sizeof l);
        napi_value lo;
        napi_create_object(env, &lo);
        set_i(env, lo, "onoff", l.l_onoff);
        set_i(env, lo, "linger", l.l_linger);
        napi_set_named_property(env, o, "linger", lo);
      } else {
        napi_create_buffer_copy(env, c->optlen, c->buf, NULL, &v);
        napi_set_named_property(env, o, "bytes", v);
      }
      break;
    case OP_IOCTL:
      if (ok) set_i(env, o, "value", c->ivalue);
      break;
    case OP_PIPE:
      if (ok) {
        napi_value arr;
        napi_create_array_with_length(env, 2, &arr);
        for (uint32_t i = 0; i < 2; i++) {
          napi_create_int32(env, c->pipefd[i], &v);
          napi_set_element(env, arr, i, v);
        }
        napi_set_named_property(env, o, "fds", arr);
      }
      break;
    case OP_SENDFILE:
      if (ok && c->has_off) set_i(env, o, "offset", c->off);
      break;
    case OP_POLL: {
      napi_value arr;
      napi_create_array_with_length(env, (size_t)c->npfds, &arr);
      for (int i = 0; i < c->npfds; i++) {
        napi_create_int32(env, (uint16_t)c->pfds[i].revents, &v);
        napi_set_element(env, arr, (uint32_t)i, v);
      }
      napi_set_named_property(env, o, "revents", arr);
      break;
    }
    case OP_EPOLL_WAIT: {
      napi_value arr;
      int n = c->ret > 0 ? (int)c->ret : 0;
      napi_create_array_with_length(env, (size_t)n, &arr);
      for (int i = 0; i < n; i++) {
        napi_value e;
        napi_create_object(env, &e);
        napi_create_uint32(env, c->events[i].events, &v);
        napi_set_named_property(env, e, "events", v);
        napi_create_bigint_uint64(env, c->events[i].data.u64, &v);
        napi_set_named_property(env, e, "data", v);
        napi_set_element(env, arr, (uint32_t)i, e);
      }
      napi_set_named_property(env, o, "events", arr);
      break;
    }
  }
  if (timed) {
    napi_create_bigint_uint64(env, c->start_ns, &v);
    napi_set_named_property(env, o, "startNs", v);
    napi_create_bigint_uint64(env, c->end_ns, &v);
    napi_set_named_property(env, o, "endNs", v);
  }
  return o;
}

/* sys(op, args): the call made now, on this thread. */
static napi_value Sys(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  SCHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) return bad_arg(env, "sys(op, args)");
  sys_call *c = parse_call(env, argv[0], argv[1]);
  if (c == NULL) return NULL;
  run_call(c);
  napi_value out = make_result(env, c, 0);
  free_call(c);
  return out;
}

static void async_execute(napi_env env, void *data) {
  sys_call *c = (sys_call *)data;
  c->start_ns = now_ns();
  run_call(c);
  c->end_ns = now_ns();
}

static void async_complete(napi_env env, napi_status status, void *data) {
  sys_call *c = (sys_call *)data;
  napi_value out = NULL;
  if (status == napi_ok) out = make_result(env, c, 1);
  if (out != NULL) {
    napi_resolve_deferred(env, c->deferred, out);
  } else {
    napi_value code, msg, err;
    napi_create_string_utf8(env, "ERR_NAPI", NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, "tcplab script_sys: async call was cancelled or failed", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, code, msg, &err);
    napi_reject_deferred(env, c->deferred, err);
  }
  napi_delete_async_work(env, c->work);
  free_call(c);
}

/* sysAsync(op, args): Promise of sys's result plus startNs/endNs, the call made on the threadpool. */
static napi_value SysAsync(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  SCHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) return bad_arg(env, "sysAsync(op, args)");
  sys_call *c = parse_call(env, argv[0], argv[1]);
  if (c == NULL) return NULL;
  napi_value promise, name;
  if (napi_create_promise(env, &c->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, "tcplab.sysAsync", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, async_execute, async_complete, c, &c->work) != napi_ok) {
    free_call(c);
    napi_throw_error(env, "ERR_NAPI", "tcplab script_sys: cannot queue the call");
    return NULL;
  }
  if (napi_queue_async_work(env, c->work) != napi_ok) {
    napi_delete_async_work(env, c->work);
    free_call(c);
    napi_throw_error(env, "ERR_NAPI", "tcplab script_sys: cannot queue the call");
    return NULL;
  }
  return promise;
}

/* ---- TUN ---- */

static napi_value throw_sys(napi_env env, const char *what, int err) {
  char msg[200];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value code, m, e, n;
  /* .code is the errno's number as text only when no name is known to us; the TS side names it. */
  char name[16];
  snprintf(name, sizeof name, "ERRNO_%d", err);
  const char *cn = err == EPERM ? "EPERM" : err == EACCES ? "EACCES" : err == ENOENT ? "ENOENT" : err == EBUSY ? "EBUSY"
                 : err == EINVAL ? "EINVAL" : err == ENODEV ? "ENODEV" : name;
  napi_create_string_utf8(env, cn, NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, code, m, &e);
  napi_create_int32(env, err, &n);
  napi_set_named_property(env, e, "errno", n);
  napi_throw(env, e);
  return NULL;
}

/* tunOpen(name, mtu): fd — a TUN device (IFF_TUN|IFF_NO_PI), non-blocking, MTU set, link up. Throws on failure. */
static napi_value TunOpen(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  SCHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char name[IFNAMSIZ + 1];
  size_t nl = 0;
  int64_t mtu = 0;
  if (argc < 2 || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &nl) != napi_ok || nl == 0 || nl >= IFNAMSIZ ||
      !get_i64(env, argv[1], &mtu) || mtu < 68 || mtu > 65535)
    return bad_arg(env, "tunOpen(name: 1..15 characters, mtu: 68..65535)");
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return throw_sys(env, "open(/dev/net/tun)", errno);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name, nl);
  /*
   * As packetdrill's TUN: a virtio_net_hdr on every packet and the offloads a NIC has (checksum, TSO for IPv4
   * and IPv6, TSO with ECN), so the kernel's TCP sends super-segments and decides as it does over real
   * hardware (TSO sizing and deferral); a script's lines see what packetdrill's see.
   */
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_VNET_HDR;
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    close(fd);
    return throw_sys(env, "ioctl(TUNSETIFF)", e);
  }
  if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN)) < 0) {
    int e = errno;
    close(fd);
    return throw_sys(env, "ioctl(TUNSETOFFLOAD)", e);
  }
  /* Interface ioctls go through any socket of the namespace; a datagram socket is the usual one. */
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  const char *what = "socket(AF_INET, SOCK_DGRAM)";
  int e = 0;
  if (s < 0) e = errno;
  if (e == 0) {
    ifr.ifr_mtu = (int)mtu;
    if (ioctl(s, SIOCSIFMTU, &ifr) < 0) e = errno, what = "ioctl(SIOCSIFMTU)";
  }
  if (e == 0 && ioctl(s, SIOCGIFFLAGS, &ifr) < 0) e = errno, what = "ioctl(SIOCGIFFLAGS)";
  if (e == 0) {
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) e = errno, what = "ioctl(SIOCSIFFLAGS)";
  }
  if (s >= 0) close(s);
  if (e != 0) {
    close(fd);
    return throw_sys(env, what, e);
  }
  own(fd);
  napi_value out;
  SCHECK(napi_create_int32(env, fd, &out));
  return out;
}

/* tunRead(fd, buf, stamp?): one packet into buf → its length or -errno (-EAGAIN: none waiting). */
static napi_value TunRead(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  SCHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int64_t fd;
  uint8_t *p;
  size_t n;
  if (argc < 2 || !get_i64(env, argv[0], &fd) || !get_bytes(env, argv[1], &p, &n))
    return bad_arg(env, "tunRead(fd, buf: Uint8Array, stamp?: BigUint64Array)");
  uint64_t *stamp = NULL;
  if (argc >= 3 && !is_nullish(env, argv[2])) {
    napi_typedarray_type t;
    size_t len;
    void *d;
    bool is = false;
    if (napi_is_typedarray(env, argv[2], &is) != napi_ok || !is || napi_get_typedarray_info(env, argv[2], &t, &len, &d, NULL, NULL) != napi_ok ||
        (t != napi_biguint64_array && t != napi_bigint64_array) || len < 1)
      return bad_arg(env, "tunRead: stamp must be a BigUint64Array of length >= 1");
    stamp = (uint64_t *)d;
  }
  struct virtio_net_hdr vh;
  struct iovec iov[2] = {{&vh, sizeof vh}, {p, n}};
  long r = may_use((int)fd) ? readv((int)fd, iov, 2) : (errno = EBADF, -1);
  /* Stamped right as the packet leaves the kernel, before any JS runs. */
  if (r >= 0 && stamp != NULL) *stamp = now_ns();
  if (r >= 0) {
    r = r >= (long)sizeof vh ? r - (long)sizeof vh : 0;
    /* A checksum left to the "hardware" (CHECKSUM_PARTIAL) is finished here, as a NIC would, so what is
     * recorded or printed carries the checksum that would reach the wire. */
    if ((vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && (size_t)vh.csum_start + vh.csum_offset + 2 <= (size_t)r) {
      uint32_t sum = 0;
      for (size_t i = vh.csum_start; i + 1 < (size_t)r; i += 2) sum += (uint32_t)((p[i] << 8) | p[i + 1]);
      if (((size_t)r - vh.csum_start) & 1) sum += (uint32_t)(p[r - 1] << 8);
      while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
      uint16_t c = (uint16_t)~sum;
      p[vh.csum_start + vh.csum_offset] = (uint8_t)(c >> 8);
      p[vh.csum_start + vh.csum_offset + 1] = (uint8_t)c;
    }
  }
  napi_value out;
  SCHECK(napi_create_int64(env, r < 0 ? -(int64_t)errno : r, &out));
  return out;
}

/* tunWrite(fd, buf, len, gsoSize?): buf[0, len) as one packet → bytes written or -errno. */
static napi_value TunWrite(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4] = {NULL, NULL, NULL, NULL};
  SCHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int64_t fd, len;
  uint8_t *p;
  size_t n;
  int64_t gso = 0;
  if (argc < 3 || !get_i64(env, argv[0], &fd) || !get_bytes(env, argv[1], &p, &n) || !get_i64(env, argv[2], &len) || len < 0 || (uint64_t)len > n ||
      (argc >= 4 && !is_nullish(env, argv[3]) && (!get_i64(env, argv[3], &gso) || gso < 0 || gso > 65535)))
    return bad_arg(env, "tunWrite(fd, buf: Uint8Array, len <= buf.length, gsoSize?: 0..65535)");
  /*
   * An inbound packet is one whole segment with its checksum done (a zero virtio_net_hdr), or with gsoSize a
   * TCP super-segment the kernel takes as GRO would have made it (packetdrill's --mss), its checksum done.
   */
  struct virtio_net_hdr vh;
  memset(&vh, 0, sizeof vh);
  if (gso > 0 && len > 0) {
    vh.gso_type = (p[0] >> 4) == 6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
    vh.gso_size = (uint16_t)gso;
  }
  struct iovec iov[2] = {{&vh, sizeof vh}, {p, (size_t)len}};
  long r = may_use((int)fd) ? writev((int)fd, iov, 2) : (errno = EBADF, -1);
  if (r >= (long)sizeof vh) r -= (long)sizeof vh;
  napi_value out;
  SCHECK(napi_create_int64(env, r < 0 ? -(int64_t)errno : r, &out));
  return out;
}

static const napi_type_tag WATCH_TAG = {0x7463706c61627475ull, 0x6e77617463680001ull};

/* tunWatch(fd, onReadable(status)): a watch handle; the fd stays the caller's (unwatch before closing it). */
static napi_value TunWatch(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  SCHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int64_t fd;
  napi_valuetype t = napi_undefined;
  if (argc >= 2) napi_typeof(env, argv[1], &t);
  if (argc < 2 || !get_i64(env, argv[0], &fd) || fd < 0 || t != napi_function) return bad_arg(env, "tunWatch(fd, onReadable)");
  if (!may_use((int)fd)) return bad_arg(env, "tunWatch: fd was not opened by tunOpen");
  uv_loop_t *loop = NULL;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == NULL) {
    napi_throw_error(env, "ERR_NAPI", "tcplab script_sys: no event loop");
    return NULL;
  }
  fd_watch *w = (fd_watch *)calloc(1, sizeof *w);
  if (w == NULL) return throw_sys(env, "calloc", ENOMEM);
  if (!watch_start(env, w, loop, (int)fd, 0, argv[1], "tcplab.tunWatch", "tcplab script_sys")) return NULL;
  napi_value ext;
  if (napi_create_external(env, w, watch_finalize, NULL, &ext) != napi_ok) {
    watch_shutdown(env, w);
    watch_release(w);
    napi_throw_error(env, "EIO", "napi_create_external failed");
    return NULL;
  }
  napi_type_tag_object(env, ext, &WATCH_TAG);
  return ext;
}

/* tunUnwatch(watch): stops the watch and uv_close()s its handle (idempotent). */
static napi_value TunUnwatch(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  SCHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  bool tagged = false;
  void *data = NULL;
  if (argc < 1 || napi_check_object_type_tag(env, argv[0], &WATCH_TAG, &tagged) != napi_ok || !tagged ||
      napi_get_value_external(env, argv[0], &data) != napi_ok)
    return bad_arg(env, "tunUnwatch(watch from tunWatch)");
  watch_shutdown(env, (fd_watch *)data);
  return NULL;
}

/* monotonicNs(): CLOCK_MONOTONIC in ns, the clock of every stamp here. */
static napi_value MonotonicNs(napi_env env, napi_callback_info info) {
  napi_value out;
  SCHECK(napi_create_bigint_uint64(env, now_ns(), &out));
  return out;
}

/*
 * exitNow(status): _exit(2) at once. A script's blocking call (an accept() whose handshake never came) can
 * still sit in the kernel on a threadpool thread when the run ends; process.exit() would join that thread
 * and wait forever, while _exit ends every thread as packetdrill's own exit does.
 */
static napi_value ExitNow(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t status = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc >= 1) napi_get_value_int32(env, argv[0], &status);
  _exit(status);
  return NULL;
}

/*
 * realtimeOffsetNs(): CLOCK_REALTIME minus CLOCK_MONOTONIC in ns, read back to back (the realtime read between
 * two monotonic ones, against their midpoint), for stamps the kernel gives in wall time (SO_TIMESTAMPING).
 */
static napi_value RealtimeOffsetNs(napi_env env, napi_callback_info info) {
  struct timespec a, r, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  clock_gettime(CLOCK_REALTIME, &r);
  clock_gettime(CLOCK_MONOTONIC, &b);
  int64_t mono = ((int64_t)a.tv_sec * 1000000000 + a.tv_nsec + (int64_t)b.tv_sec * 1000000000 + b.tv_nsec) / 2;
  int64_t real = (int64_t)r.tv_sec * 1000000000 + r.tv_nsec;
  napi_value out;
  SCHECK(napi_create_bigint_int64(env, real - mono, &out));
  return out;
}

/* Called from packet_tx.c's Init: adds this file's functions to the addon's exports. */
napi_value script_sys_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"tunOpen", NULL, TunOpen, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tunRead", NULL, TunRead, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tunWrite", NULL, TunWrite, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tunWatch", NULL, TunWatch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tunUnwatch", NULL, TunUnwatch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"monotonicNs", NULL, MonotonicNs, NULL, NULL, NULL, napi_enumerable, NULL},
      {"exitNow", NULL, ExitNow, NULL, NULL, NULL, napi_enumerable, NULL},
      {"realtimeOffsetNs", NULL, RealtimeOffsetNs, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sys", NULL, Sys, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sysAsync", NULL, SysAsync, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  SCHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  return exports;
}
