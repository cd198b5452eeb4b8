// Preloaded into a tcplab child (node --expose-gc --import …): collects garbage every 100 ms, so anything
// that keeps a live socket or listener alive must be reachable, not merely not-yet-collected.
if (typeof globalThis.gc !== 'function') throw new Error('gc-preload.mjs needs node --expose-gc')
setInterval(() => globalThis.gc(), 100).unref()
