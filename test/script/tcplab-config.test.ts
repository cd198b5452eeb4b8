import { describe, expect, it } from 'vitest'
import { applyShellCommand, expandArithmetic, linuxRcvSpace, linuxWindowScale, scriptTcpConfig, shellWords } from '../../src/script/tcplab/config.js'
import { LINUX_TCP_CONFIG, DEFAULT_TCP_CONFIG } from '../../src/tcp/types.js'

describe('tcplab target settings', () => {
  it('derives the window scale from tcp_rmem\'s maximum as Linux does (never below rmem_max\'s 212992)', () => {
    expect(linuxWindowScale(6291456)).toBe(7) // Linux's default tcp_rmem[2]
    expect(linuxWindowScale(33554432)).toBe(10)
    expect(linuxWindowScale(4096)).toBe(2) // 212992 >> 2 = 53248
    expect(linuxWindowScale(2 ** 40)).toBe(14)
  })

  it('advertises half a socket buffer, as Linux\'s tcp_win_from_space at its initial ratio', () => {
    expect(linuxRcvSpace(131072)).toBe(65536) // tcp_rmem[1]: the SYN window is then 64240 (optlayout.synWindow)
    expect(linuxRcvSpace(2305)).toBe(1152)
  })

  it('starts from the linux profile\'s defaults: CUBIC, IW 10, RTO 1 s / 200 ms, 40 ms delayed ACK', () => {
    const s = scriptTcpConfig()
    expect(s.tcp).toMatchObject({ profile: 'linux', congestionControl: 'cubic', mss: 1460, windowScale: 7, sackPermitted: true, timestamps: true, initialCwnd: 10, rtoInitial: 1_000_000, rtoMin: 200_000, ackDelay: 40_000, rcvBuf: 65536, sndBuf: 65536 })
    expect(s.tcp.synWindow).toBeUndefined() // the profile's SYN window (src/tcp/optlayout.ts), not a copy of it
    expect({ ...s.tcp, windowScale: 0, rcvBuf: 0, sndBuf: 0, isnSecret: undefined }).toEqual({ ...LINUX_TCP_CONFIG, windowScale: 0, rcvBuf: 0, sndBuf: 0, isnSecret: undefined })
    expect([s.synRetries, s.synAckRetries, s.synCookies]).toEqual([6, 5, true])
  })

  it('takes the rfc profile\'s defaults when asked (tcplab script --profile rfc): Reno', () => {
    const s = scriptTcpConfig('rfc')
    expect(s.tcp).toMatchObject({ profile: 'rfc', congestionControl: 'reno', windowScale: 7, rcvBuf: 65536, sndBuf: 65536 })
    expect({ ...s.tcp, windowScale: 0, rcvBuf: 0, sndBuf: 0, isnSecret: undefined }).toEqual({ ...DEFAULT_TCP_CONFIG, windowScale: 0, rcvBuf: 0, sndBuf: 0, isnSecret: undefined })
  })

  it('maps tcp_congestion_control onto the congestion controller: cubic and reno; others named', () => {
    for (const profile of ['linux', 'rfc'] as const) {
      const s = scriptTcpConfig(profile)
      expect(applyShellCommand(s, 'sysctl -q net.ipv4.tcp_congestion_control=reno')).toBeUndefined()
      expect(s.tcp.congestionControl).toBe('reno')
      expect(applyShellCommand(s, 'sysctl -q net.ipv4.tcp_congestion_control=cubic')).toBeUndefined()
      expect(s.tcp.congestionControl).toBe('cubic')
    }
    expect(applyShellCommand(scriptTcpConfig(), 'sysctl -q net.ipv4.tcp_congestion_control=bbr')).toEqual({
      unsupported: 'sysctl net.ipv4.tcp_congestion_control=bbr: tcplab has cubic and reno congestion control only',
    })
  })

  it('maps a corpus init command onto the settings', () => {
    const s = scriptTcpConfig()
    expect(applyShellCommand(s, 'sysctl -q net.ipv4.tcp_timestamps=0 net.ipv4.tcp_sack=0 net.ipv4.tcp_window_scaling=1 net.ipv4.tcp_rmem="4096 131072 33554432" net.ipv4.tcp_early_retrans=0 net.ipv4.tcp_invalid_ratelimit=0 net.ipv4.tcp_syn_retries=2 net.ipv4.tcp_fin_timeout=1')).toBeUndefined()
    expect(s.tcp).toMatchObject({ timestamps: false, sackPermitted: false, windowScale: 10, rcvBuf: 65536, rack: false, challengeAckInterval: 0 })
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
    expect(applyShellCommand(scriptTcpConfig(), 'sysctl -q net.ipv4.tcp_fack=1')).toEqual({ unsupported: 'sysctl net.ipv4.tcp_fack=1: no tcplab setting for it' })
    expect(applyShellCommand(scriptTcpConfig(), 'sysctl -q net.ipv4.tcp_timestamps=maybe')).toEqual({ unsupported: 'sysctl net.ipv4.tcp_timestamps=maybe: value not understood' })
    expect(applyShellCommand(scriptTcpConfig(), 'nstat > /dev/null')).toEqual({
      unsupported: 'shell command `nstat` cannot run on the tcplab target (only sysctl net.ipv4.tcp_* settings are mapped)',
    })
  })

  it('runs a shell script file line by line, as packetdrill\'s scripts run ../common/defaults.sh', () => {
    // Our own file in the shape of packetdrill's: a shebang, comments, $((…)), redirections, no-op commands.
    const file = [
      '#!/bin/bash',
      '# settings for the tests',
      'ip tcp_metrics flush all > /dev/null 2>&1',
      'sysctl -q net.ipv4.tcp_rmem="4096 540000 $((15*1024*1024))"',
      'sysctl -q net.ipv4.tcp_wmem="4096 $((256*1024)) 4194304"',
      'sysctl -q net.ipv4.tcp_syn_retries=5',
      'sysctl -q net.ipv4.tcp_frto=2 net.ipv4.tcp_reordering=3 net.ipv4.tcp_slow_start_after_idle=0',
      'sysctl -q net.ipv4.tcp_early_retrans=4 net.ipv4.tcp_recovery=1',
      'sysctl -q net.ipv4.tcp_ecn=0 net.ipv4.tcp_ecn_option=2 net.ipv4.tcp_pacing_ss_ratio=200',
      'sysctl -q net.ipv4.tcp_notsent_lowat=4294967295 > /dev/null 2>&1',
      'sysctl -q net.ipv4.tcp_fastopen=0x70403 net.ipv4.tcp_fastopen_key=01020304-05060708-090a0b0c-0d0e0f10',
      'tc qdisc add dev tun0 root pfifo',
      '',
    ].join('\n')
    const read: string[] = []
    const s = scriptTcpConfig()
    expect(applyShellCommand(s, '../common/defaults.sh', (p) => (read.push(p), p === '../common/defaults.sh' ? file : undefined))).toBeUndefined()
    expect(read).toEqual(['../common/defaults.sh'])
    expect(s.tcp).toMatchObject({ rcvBuf: 270000, windowScale: 8, rack: true })
    expect(s.synRetries).toBe(5)
    // A file it cannot read, and one that runs itself, are named.
    expect(applyShellCommand(scriptTcpConfig(), './missing.sh', () => undefined)).toEqual({ unsupported: 'shell command `./missing.sh`: cannot read the file on the tcplab target' })
    expect(applyShellCommand(scriptTcpConfig(), './loop.sh', () => './loop.sh')).toEqual({ unsupported: 'shell command `./loop.sh`: shell scripts nested too deep on the tcplab target' })
    // What tcplab cannot do is still named from inside the file.
    expect(applyShellCommand(scriptTcpConfig(), './a.sh', () => 'sysctl -q net.ipv4.tcp_ecn=1')).toEqual({ unsupported: 'sysctl net.ipv4.tcp_ecn=1: tcplab has no ECN' })
    expect(applyShellCommand(scriptTcpConfig(), 'tc qdisc replace dev tun0 root fq')).toEqual({
      unsupported: "shell command `tc qdisc replace dev tun0 root fq`: tcplab's virtual link has no queueing discipline (only a plain pfifo is what it does)",
    })
    // echo into /proc/sys is a sysctl; into tcp_cubic's parameters, taken at Linux's defaults only.
    const e = scriptTcpConfig()
    expect(applyShellCommand(e, 'echo 0 > /proc/sys/net/ipv4/tcp_sack; echo 3 > /sys/module/tcp_cubic/parameters/hystart_detect')).toBeUndefined()
    expect(e.tcp.sackPermitted).toBe(false)
    expect(applyShellCommand(e, 'echo 0 > /sys/module/tcp_cubic/parameters/hystart')).toEqual({ unsupported: "tcp_cubic parameter hystart=0: tcplab's CUBIC has Linux's defaults built in" })
    expect(applyShellCommand(scriptTcpConfig(), 'sysctl -q net.ipv4.tcp_tso_win_divisor=100')).toEqual({ unsupported: 'sysctl net.ipv4.tcp_tso_win_divisor=100: no tcplab setting for it' })
  })

  it('maps packetdrill\'s set_sysctls.py and undoes it with the restore script it writes', () => {
    const s = scriptTcpConfig()
    expect(applyShellCommand(s, '../common/set_sysctls.py /proc/sys/net/ipv4/tcp_timestamps=0 \\\n  /proc/sys/net/ipv4/tcp_syn_retries=3')).toBeUndefined()
    expect([s.tcp.timestamps, s.synRetries]).toEqual([false, 3])
    expect(applyShellCommand(s, '/tmp/sysctl_restore_${PPID}.sh')).toBeUndefined()
    expect([s.tcp.timestamps, s.synRetries, s.restore]).toEqual([true, 6, undefined])
    expect(applyShellCommand(s, '../common/set_sysctls.py tcp_timestamps=0')).toEqual({
      unsupported: 'shell command `../common/set_sysctls.py tcp_timestamps=0`: only /proc/sys/NAME=VALUE arguments are mapped on the tcplab target',
    })
  })

  it('expands sh\'s $((…)) integer arithmetic and leaves anything else as written', () => {
    expect(expandArithmetic('a=$((15*1024*1024)) b=$(( (2+3) * 4 - 7 / 2 % 3 ))')).toBe('a=15728640 b=20')
    expect(expandArithmetic('$((1/0)) $((x+1)) $(( 2 ** 3 ))')).toBe('$((1/0)) $((x+1)) $(( 2 ** 3 ))')
    expect(expandArithmetic('$((-4+1))')).toBe('-3')
  })

  it('tcp_syn_linear_timeouts and tcp_dsack reach the TCB config (Linux defaults 4 and 1 in the linux profile)', () => {
    const s = scriptTcpConfig()
    expect([s.tcp.synLinearTimeouts, s.tcp.dsack]).toEqual([4, true])
    expect(applyShellCommand(s, 'sysctl -q net.ipv4.tcp_syn_linear_timeouts=0 net.ipv4.tcp_dsack=0')).toBeUndefined()
    expect([s.tcp.synLinearTimeouts, s.tcp.dsack]).toEqual([0, false])
    expect(applyShellCommand(s, 'sysctl -q net.ipv4.tcp_syn_linear_timeouts=-1')).toEqual({ unsupported: 'sysctl net.ipv4.tcp_syn_linear_timeouts=-1: value not understood' })
  })

  it('tcp_rfc1337: 1 has the stack drop a RST in TIME-WAIT; 0 is the default', () => {
    const s = scriptTcpConfig()
    expect(s.rfc1337).toBeUndefined()
    expect(applyShellCommand(s, 'sysctl -q net.ipv4.tcp_rfc1337=1')).toBeUndefined()
    expect(s.rfc1337).toBe(true)
    expect(applyShellCommand(s, 'sysctl -q net.ipv4.tcp_rfc1337=0')).toBeUndefined()
    expect(s.rfc1337).toBe(false)
    expect(applyShellCommand(s, 'sysctl -q net.ipv4.tcp_rfc1337=2')).toEqual({ unsupported: 'sysctl net.ipv4.tcp_rfc1337=2: value not understood' })
  })

  it('TCP Fast Open: tcp_fastopen and tcp_fastopen_key reach the config, ip tcp_metrics flush is flagged, sh\'s || runs its second command when the first cannot', () => {
    const s = scriptTcpConfig('linux')
    expect(s.tcp.fastOpen).toBe(0)
    expect(applyShellCommand(s, 'sysctl -q net.ipv4.tcp_fastopen=0x70403 net.ipv4.tcp_fastopen_key=a1a1a1a1-b2b2b2b2-c3c3c3c3-d4d4d4d4')).toBeUndefined()
    expect(s.tcp.fastOpen).toBe(0x70403)
    expect(Buffer.from(s.tcp.fastOpenKeys![0]!).toString('hex')).toBe('a1a1a1a1b2b2b2b2c3c3c3c3d4d4d4d4')
    expect(applyShellCommand(s, 'sysctl -q net.ipv4.tcp_fastopen_key=nope')).toEqual({ unsupported: 'sysctl net.ipv4.tcp_fastopen_key=nope: value not understood' })
    expect(applyShellCommand(s, 'sysctl -q net.ipv4.tcp_fastopen_blackhole_timeout_sec=0')).toBeUndefined()
    expect(applyShellCommand(s, 'sysctl -q net.ipv4.tcp_fastopen_blackhole_timeout_sec=3600')?.unsupported).toMatch(/blackhole/)
    // Linux has no tcp_fastopen_cookies: sh then runs the flush.
    expect(applyShellCommand(s, 'sysctl -q net.ipv4.tcp_fastopen_cookies=0 &> /dev/null || ip tcp_metrics flush all &> /dev/null')).toBeUndefined()
    expect(s.flushMetrics).toBe(true)
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
