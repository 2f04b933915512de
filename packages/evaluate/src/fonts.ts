// @napi-rs/canvas ships no fonts: it uses the system's. Without any installed font every label and
// title would silently render as nothing, so pick a real family up front and say clearly when none
// exists (Debian: `apt-get install fonts-dejavu-core`).
import { GlobalFonts } from '@napi-rs/canvas';

const PREFERRED = ['DejaVu Sans', 'Liberation Sans', 'Noto Sans', 'Arial', 'Helvetica', 'FreeSans'];
const FONT_DIRS = ['/usr/share/fonts', '/usr/local/share/fonts', '/usr/share/fonts/truetype/dejavu'];

let chosen: string | null | undefined;

/**
 * The font family charts use, or null when the machine has no fonts at all (text then does not
 * render; a warning is printed once). PARTS_FONT_DIR adds a folder of .ttf/.otf files.
 */
export function chartFontFamily(warn: (m: string) => void = (m) => console.warn(m)): string | null {
  if (chosen !== undefined) return chosen;
  const extra = process.env.PARTS_FONT_DIR;
  if (extra) GlobalFonts.loadFontsFromDir(extra);
  let families = GlobalFonts.families.map((f) => f.family);
  if (families.length === 0) {
    for (const dir of FONT_DIRS) GlobalFonts.loadFontsFromDir(dir);
    families = GlobalFonts.families.map((f) => f.family);
  }
  chosen = PREFERRED.find((f) => families.includes(f)) ?? families.find((f) => /sans/i.test(f)) ?? families[0] ?? null;
  if (chosen === null) {
    warn(
      'charts: no fonts found, so chart text will be missing. Install one (Debian/Ubuntu: apt-get install fonts-dejavu-core) or set PARTS_FONT_DIR to a folder of .ttf files.',
    );
  }
  return chosen;
}

/** A CSS font string for canvas text. */
export function font(sizePx: number, weight: 'normal' | 'bold' = 'normal'): string {
  const family = chartFontFamily() ?? 'sans-serif';
  return `${weight === 'bold' ? 'bold ' : ''}${sizePx}px "${family}"`;
}
