/*
 * A readiness watch on the Node event loop, shared by packet_tx.c (the receive socket) and script_sys.c
 * (the TUN fd): a uv_poll_t that calls a JS function onReadable(status) through napi_make_callback, freed
 * once both owners let go of it — the JS external (its finalizer) and libuv (the handle's close callback).
 * A watch that owns its fd closes it only after libuv is done with the handle, so the number cannot be
 * reused under it. Static functions: each file that includes this gets its own copy.
 */
#ifndef TCPLAB_WATCH_H
#define TCPLAB_WATCH_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <node_api.h>
#include <uv.h>

typedef struct fd_watch {
  uv_poll_t poll; /* first: the poll and close callbacks cast the uv handle back to the watch */
  napi_env env;
  napi_ref callback;
  napi_async_context async;
  int fd;
  int owns_fd; /* close fd when the handle is closed */
  int closed;
  /* Owners left: the JS external and the uv handle. At 0 the watch — or the struct it starts — is freed. */
  int refs;
} fd_watch;

static void watch_release(fd_watch *w) {
  if (--w->refs == 0) free(w);
}

static void watch_on_closed(uv_handle_t *handle) {
  fd_watch *w = (fd_watch *)handle;
  if (w->owns_fd) {
    close(w->fd);
    w->fd = -1;
  }
  watch_release(w);
}

/* Stops polling and releases the callback (idempotent); an owned fd closes once libuv lets go of the handle. */
static void watch_shutdown(napi_env env, fd_watch *w) {
  if (w->closed) return;
  w->closed = 1;
  uv_poll_stop(&w->poll);
  if (w->callback != NULL) napi_delete_reference(env, w->callback);
  w->callback = NULL;
  if (w->async != NULL) napi_async_destroy(env, w->async);
  w->async = NULL;
  uv_close((uv_handle_t *)&w->poll, watch_on_closed);
}

/* The external's finalizer: a watch nobody closed is closed now. */
static void watch_finalize(napi_env env, void *data, void *hint) {
  fd_watch *w = (fd_watch *)data;
  watch_shutdown(env, w);
  watch_release(w);
}

/* Readable (or a poll error, status < 0): calls onReadable(status). */
static void watch_on_readable(uv_poll_t *poll, int status, int events) {
  fd_watch *w = (fd_watch *)poll;
  if (w->closed || w->callback == NULL) return;
  napi_env env = w->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, arg, result;
  if (napi_get_reference_value(env, w->callback, &cb) == napi_ok && cb != NULL && napi_get_global(env, &recv) == napi_ok &&
      napi_create_int32(env, status, &arg) == napi_ok) {
    /* Through napi_make_callback, so promise jobs and nextTicks queued by the handler run right after it. */
    if (napi_make_callback(env, w->async, recv, cb, 1, &arg, &result) != napi_ok) {
      bool pending = false;
      napi_is_exception_pending(env, &pending);
      if (pending) {
        napi_value err;
        napi_get_and_clear_last_exception(env, &err);
        napi_fatal_exception(env, err);
      }
    }
  }
  napi_close_handle_scope(env, scope);
}

/*
 * Starts polling `fd` for reading on `loop`; `w` is the calloc'ed watch (or the struct it starts), with
 * only the caller's own fields set. On success returns 1 with two owners (the caller then makes the
 * external, whose finalizer is watch_finalize). On failure returns 0 having thrown, freed `w` and, if
 * `owns_fd`, closed `fd`. `who` prefixes N-API failure messages ("tcplab packet_tx").
 */
static int watch_start(napi_env env, fd_watch *w, uv_loop_t *loop, int fd, int owns_fd, napi_value onReadable, const char *resource,
                       const char *who) {
  char msg[96];
  w->env = env;
  w->fd = fd;
  w->owns_fd = owns_fd;
  w->refs = 1; /* the external */
  napi_value name;
  if (napi_create_reference(env, onReadable, 1, &w->callback) != napi_ok ||
      napi_create_string_utf8(env, resource, NAPI_AUTO_LENGTH, &name) != napi_ok || napi_async_init(env, NULL, name, &w->async) != napi_ok) {
    if (w->callback != NULL) napi_delete_reference(env, w->callback);
    if (owns_fd) close(fd);
    free(w);
    snprintf(msg, sizeof msg, "%s: cannot keep the callback", who);
    napi_throw_error(env, "ERR_NAPI", msg);
    return 0;
  }
  int rc = uv_poll_init(loop, &w->poll, fd);
  if (rc != 0) {
    napi_delete_reference(env, w->callback);
    napi_async_destroy(env, w->async);
    if (owns_fd) close(fd);
    free(w);
    napi_throw_error(env, "EIO", uv_strerror(rc));
    return 0;
  }
  w->refs++; /* the uv handle, released by its close callback */
  rc = uv_poll_start(&w->poll, UV_READABLE, watch_on_readable);
  if (rc != 0) {
    watch_shutdown(env, w);
    watch_release(w);
    napi_throw_error(env, "EIO", uv_strerror(rc));
    return 0;
  }
  return 1;
}

#endif
