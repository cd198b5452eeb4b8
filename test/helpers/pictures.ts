/**
 * Helpers for tests of SVG pictures: marks found by class, headless Chromium screenshots, and a small PNG
 * decoder to check the pixels: one copy for the ladder, long-ladder and graph tests.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { inflateSync } from 'node:zlib'
import { beforeEach, describe, expect } from 'vitest'

/** The Chromium binary (CHROMIUM overrides). */
export const CHROMIUM = process.env.CHROMIUM ?? 'chromium'
/** True when there is no Chromium to run. */
export const chromiumMissing = spawnSync(CHROMIUM, ['--version']).error !== undefined

/**
 * `describe` for tests that render in headless Chromium: where it is missing, skipped with a one-line
 * reason — unless LAB_REQUIRE_ROOT=1 (CI), where each of its tests fails saying what is missing.
 */
export function describeChromium(name: string, fn: () => void): void {
  if (chromiumMissing && process.env.LAB_REQUIRE_ROOT !== '1') {
    describe.skip(`${name} — skipped: no '${CHROMIUM}' (Debian package chromium)`, fn)
    return
  }
  describe(name, () => {
    beforeEach(() => {
      expect(chromiumMissing, `LAB_REQUIRE_ROOT=1 needs '${CHROMIUM}' (apt-get install chromium)`).toBe(false)
    })
    fn()
  })
}

/** Attributes of every element whose class list has `cls`, in document order. */
export function marks(svg: string, cls: string): Array<Record<string, string>> {
  const out: Array<Record<string, string>> = []
  for (const m of svg.matchAll(/<(\w+)\b([^>]*)>/g)) {
    const attrs: Record<string, string> = {}
    for (const a of m[2].matchAll(/([\w:-]+)="([^"]*)"/g)) attrs[a[1]] = a[2]
    if ((attrs.class ?? '').split(' ').includes(cls)) out.push(attrs)
  }
  return out
}

/** '#rrggbb' as numbers. */
export const hexRgb = (c: string): [number, number, number] => [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16)) as [number, number, number]

/** Screenshots a file at the given size with headless Chromium; returns the PNG bytes. */
export function screenshot(path: string, width: number, height: number): Buffer {
  const profile = mkdtempSync(join(tmpdir(), 'tcplab-chromium-'))
  try {
    const out = join(profile, 'out.png')
    const r = spawnSync(
      CHROMIUM,
      [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--hide-scrollbars', '--force-device-scale-factor=1',
        `--user-data-dir=${profile}`, `--screenshot=${out}`, `--window-size=${width},${height}`, path,
      ],
      { timeout: 60_000 },
    )
    if (!existsSync(out)) throw new Error(`chromium wrote no screenshot (status ${r.status}): ${r.stderr.toString().slice(-500)}`)
    return readFileSync(out)
  } finally {
    rmSync(profile, { recursive: true, force: true })
  }
}

/**
 * Screenshots `svg` at width × height (its own size) in headless Chromium, through a temporary file that
 * is removed again; checks the PNG has that size and returns it decoded, with its pixel at (x, y).
 */
export function screenshotSvg(svg: string, width: number, height: number): { png: ReturnType<typeof decodePng>; px: (x: number, y: number) => [number, number, number] } {
  const dir = mkdtempSync(join(tmpdir(), 'tcplab-svg-'))
  try {
    const file = join(dir, 'picture.svg')
    writeFileSync(file, svg)
    const png = decodePng(screenshot(file, width, height))
    expect([png.width, png.height]).toEqual([width, height])
    const px = (x: number, y: number): [number, number, number] => {
      const i = (Math.floor(y) * png.width + Math.floor(x)) * 3
      return [png.rgb[i], png.rgb[i + 1], png.rgb[i + 2]]
    }
    return { png, px }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** How far from blank a screenshot is: the share of pixels that are not white, and how many colours it has. */
export function inkAndColours(png: ReturnType<typeof decodePng>): { ink: number; colours: number } {
  let ink = 0
  const colours = new Set<number>()
  for (let i = 0; i < png.rgb.length; i += 3) {
    const v = (png.rgb[i] << 16) | (png.rgb[i + 1] << 8) | png.rgb[i + 2]
    colours.add(v)
    if (v !== 0xffffff) ink++
  }
  return { ink: ink / (png.width * png.height), colours: colours.size }
}

/** Decodes an 8-bit RGB or RGBA non-interlaced PNG into RGB triples. */
export function decodePng(png: Buffer): { width: number; height: number; rgb: Uint8Array } {
  if (png.subarray(0, 8).toString('hex') !== '89504e470d0a1a0a') throw new Error('not a PNG')
  let off = 8
  let width = 0
  let height = 0
  let channels = 0
  const idat: Buffer[] = []
  while (off + 8 <= png.length) {
    const len = png.readUInt32BE(off)
    const type = png.toString('latin1', off + 4, off + 8)
    const data = png.subarray(off + 8, off + 8 + len)
    if (type === 'IHDR') {
      width = data.readUInt32BE(0)
      height = data.readUInt32BE(4)
      const [depth, colorType, , , interlace] = data.subarray(8, 13)
      if (depth !== 8 || (colorType !== 2 && colorType !== 6) || interlace !== 0) throw new Error(`unsupported PNG: depth ${depth} type ${colorType} interlace ${interlace}`)
      channels = colorType === 2 ? 3 : 4
    } else if (type === 'IDAT') idat.push(data)
    else if (type === 'IEND') break
    off += 12 + len
  }
  const raw = inflateSync(Buffer.concat(idat))
  const stride = width * channels
  const cur = new Uint8Array(stride)
  const prev = new Uint8Array(stride)
  const rgb = new Uint8Array(width * height * 3)
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1))
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? cur[i - channels] : 0
      const b = prev[i]
      const c = i >= channels ? prev[i - channels] : 0
      let v = line[i]
      if (filter === 1) v += a
      else if (filter === 2) v += b
      else if (filter === 3) v += (a + b) >> 1
      else if (filter === 4) {
        const p = a + b - c
        const pa = Math.abs(p - a)
        const pb = Math.abs(p - b)
        const pc = Math.abs(p - c)
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c
      } else if (filter !== 0) throw new Error(`bad PNG filter ${filter} on row ${y}`)
      cur[i] = v & 0xff
    }
    for (let x = 0; x < width; x++) rgb.set(cur.subarray(x * channels, x * channels + 3), (y * width + x) * 3)
    prev.set(cur)
  }
  return { width, height, rgb }
}
