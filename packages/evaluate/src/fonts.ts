// @napi-rs/canvas ships no fonts and uses the system's; on a machine without any (a bare Debian
// image, checked by hiding /usr/share/fonts) every label and title silently renders as nothing.
// So the charts register DejaVu Sans from the @fontsource/dejavu-sans package (WOFF2, latin
// subset) and use it first, with the system's fonts as fallback for other scripts: the pictures
// look the same on every machine and need no system package.
import { createRequire } from 'node:module';
import path from 'node:path';
import { GlobalFonts } from '@napi-rs/canvas';
import { envSetting } from '@parts/cli';

const BUNDLED_FAMILY = 'Parts DejaVu Sans';
const BUNDLED_FILES = ['dejavu-sans-latin-400-normal.woff2', 'dejavu-sans-latin-700-normal.woff2'];

let chosen: string | null | undefined;

function registerBundled(): boolean {
  try {
    const require = createRequire(import.meta.url);
    const dir = path.join(path.dirname(require.resolve('@fontsource/dejavu-sans/package.json')), 'files');
    return BUNDLED_FILES.map((f) => GlobalFonts.registerFromPath(path.join(dir, f), BUNDLED_FAMILY)).every(Boolean);
  } catch {
    return false;
  }
}

/**
 * The font family charts use (the bundled DejaVu Sans; else a system sans font), or null when
 * there is no font at all, in which case a warning is printed once. PARTS_FONT_DIR adds a folder
 * of .ttf/.otf/.woff2 files.
 */
export function chartFontFamily(warn: (m: string) => void = (m) => console.warn(m)): string | null {
  if (chosen !== undefined) return chosen;
  const extra = envSetting('PARTS_FONT_DIR');
  if (extra) GlobalFonts.loadFontsFromDir(extra);
  if (registerBundled()) return (chosen = BUNDLED_FAMILY);
  const families = GlobalFonts.families.map((f) => f.family);
  chosen = ['DejaVu Sans', 'Liberation Sans', 'Noto Sans', 'Arial'].find((f) => families.includes(f)) ?? families.find((f) => /sans/i.test(f)) ?? families[0] ?? null;
  if (chosen === null) {
    warn('charts: no fonts found, so chart text will be missing. Reinstall @fontsource/dejavu-sans, install a system font (Debian: apt-get install fonts-dejavu-core), or set PARTS_FONT_DIR.');
  }
  return chosen;
}

/** CSS font-family list for chart.js: the chosen family, then generic fallback. */
export function fontFamilyList(): string {
  const f = chartFontFamily();
  return f ? `"${f}", "DejaVu Sans", sans-serif` : 'sans-serif';
}

/** A CSS font string for canvas text. */
export function font(sizePx: number, weight: 'normal' | 'bold' = 'normal'): string {
  return `${weight === 'bold' ? 'bold ' : ''}${sizePx}px ${fontFamilyList()}`;
}
