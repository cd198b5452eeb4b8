import { describe, expect, it } from 'vitest'
import { applyShellCommand, linuxSynWindow, linuxWindowScale, scriptTcpConfig, shellWords } from '../../src/script/tcplab/config.js'

describe('tcplab target settings', () => {
  it('derives the window scale from tcp_rmem\'s maximum as Linux does (never below rmem_max\'s 212992)', () => {
    expect(linuxWindowScale(6291456)).toBe(7) // Linux's default tcp_rmem[2]
    expect(linuxWindowScale(33554432)).toBe(10)
    expect(linuxWindowScale(4096)).toBe(2) // 212992 >> 2 = 53248
    expect(linuxWindowScale(2 ** 40)).toBe(14)
  })

  it('rounds the SYN\'s window as Linux does: half the buffer, at most 65535, whole MSS-sized segments', () => {
    expect(linuxSynWindow(131072, 1460)).toBe(64240) // what the kernel's SYN carries in the corpus runs
    expect(linuxSynWindow(540000, 1460)).toBe(64240)
    expect(linuxSynWindow(4096, 1460)).toBe(1460)
    expect(linuxSynWindow(2000, 1460)).toBe(1000) // less than one MSS: not rounded to zero
  })

  it('starts from Linux\'s defaults that TcpConfig can express', () => {
    const s = scriptTcpConfig()
    expect(s.tcp).toMatchObject({ mss: 1460, windowScale: 7, sackPermitted: true, timestamps: true, initialCwnd: 10, rtoInitial: 1_000_000, rtoMin: 200_000, ackDelay: 40_000, rcvBuf: 131072 })
    expect([s.synRetries, s.synAckRetries, s.synCookies]).toEqual([6, 5, true])
  })

  it('maps a corpus init command onto the settings', () => {
    const s = scriptTcpConfig()
    expect(applyShellCommand(s, 'sysctl -q net.ipv4.tcp_timestamps=0 net.ipv4.tcp_sack=0 net.ipv4.tcp_window_scaling=1 net.ipv4.tcp_rmem="4096 131072 33554432" net.ipv4.tcp_early_retrans=0 net.ipv4.tcp_invalid_ratelimit=0 net.ipv4.tcp_syn_retries=2 net.ipv4.tcp_fin_timeout=1')).toBeUndefined()
    expect(s.tcp).toMatchObject({ timestamps: false, sackPermitted: false, windowScale: 10, rcvBuf: 131072, rack: false, challengeAckInterval: 0 })
    expect(s.synRetries).toBe(2)
    expect(s.finTimeout).toBe(1_000_000)
  })

  it('window scaling off stays off whatever tcp_rmem says after it', () => {
    const s = scriptTcpConfig()
    expect(applyShellCommand(s, 'sysctl -q net.ipv4.tcp_window_scaling=0; sysctl -w net.ipv4.tcp_rmem="4096 131072 33554432"')).toBeUndefined()
    expect(s.tcp.windowScale).toBe(false)
  })

  it('accepts a Linux default without a knob; names what it cannot honour', () => {
    expect(applyShellCommand(scriptTcpConfig(), 'sysctl -q net.ipv4.tcp_dsack=1 net.ipv4.tcp_autocorking=0 net.ipv4.tcp_rfc1337=0')).toBeUndefined()
    expect(applyShellCommand(scriptTcpConfig(), 'sysctl -q net.ipv4.tcp_congestion_control=reno net.ipv4.tcp_syn_linear_timeouts=0')).toBeUndefined()
    expect(applyShellCommand(scriptTcpConfig(), 'sysctl -q net.ipv4.tcp_syn_linear_timeouts=4')?.unsupported).toMatch(/^sysctl net\.ipv4\.tcp_syn_linear_timeouts=4: /)
    expect(applyShellCommand(scriptTcpConfig(), 'sysctl -q net.ipv4.tcp_congestion_control=cubic')).toEqual({ unsupported: 'sysctl net.ipv4.tcp_congestion_control=cubic: tcplab has Reno congestion control only' })
    expect(applyShellCommand(scriptTcpConfig(), 'sysctl -q net.ipv4.tcp_dsack=0')).toEqual({ unsupported: 'sysctl net.ipv4.tcp_dsack=0: no tcplab setting for it' })
    expect(applyShellCommand(scriptTcpConfig(), 'sysctl -q net.ipv4.tcp_timestamps=maybe')).toEqual({ unsupported: 'sysctl net.ipv4.tcp_timestamps=maybe: value not understood' })
    expect(applyShellCommand(scriptTcpConfig(), '../common/defaults.sh')).toEqual({
      unsupported: 'shell command `../common/defaults.sh` cannot run on the tcplab target (only sysctl net.ipv4.tcp_* settings are mapped)',
    })
  })

  it('joins continued lines and drops comments, as sh does', () => {
    const s = scriptTcpConfig()
    expect(applyShellCommand(s, 'sysctl -q \\\n  net.ipv4.tcp_sack=0  # no SACK\nsysctl -q net.ipv4.tcp_timestamps=0')).toBeUndefined()
    expect([s.tcp.sackPermitted, s.tcp.timestamps]).toEqual([false, false])
  })

  it('splits words as sh does for these lines', () => {
    expect(shellWords(`sysctl -q a="1 2 3" b='x y' c=\\"`)).toEqual(['sysctl', '-q', 'a=1 2 3', 'b=x y', 'c="'])
    expect(shellWords('echo "unterminated')).toBeUndefined()
  })
})
