/**
 * Expanding command-line audio arguments (files or directories) into a sorted list of audio files.
 */
import { readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { AudioError } from '../errors.js';

/** File extensions treated as audio when a directory is expanded. */
export const AUDIO_EXTENSIONS = ['.wav', '.flac'];

/**
 * Expand files and directories (recursively) into audio file paths; files named explicitly are kept whatever
 * their extension, directories contribute `.wav`/`.flac` files in sorted order.
 * @throws AudioError `not-found` for a path that does not exist or a folder without audio files
 */
export async function expandAudioPaths(paths: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    let info;
    try {
      info = await stat(p);
    } catch (err) {
      throw new AudioError(p, 'not-found', 'no such file or directory', { cause: err });
    }
    if (info.isDirectory()) {
      const found = await expandDirectory(p);
      if (found.length === 0) {
        throw new AudioError(p, 'not-found', `folder holds no ${AUDIO_EXTENSIONS.join('/')} files`);
      }
      out.push(...found);
    } else {
      out.push(p);
    }
  }
  return out;
}

/** Byte-order comparison (locale independent, so file order is the same on every machine). */
const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Audio files below `dir`, recursively, sorted by name; symbolic links are followed. */
async function expandDirectory(dir: string): Promise<string[]> {
  const names = (await readdir(dir)).sort(byName);
  const files: string[] = [];
  const dirs: string[] = [];
  for (const name of names) {
    const path = join(dir, name);
    const info = await stat(path).catch(() => undefined); // a dangling link is skipped
    if (info?.isDirectory()) dirs.push(path);
    else if (info?.isFile() && AUDIO_EXTENSIONS.includes(extname(name).toLowerCase())) files.push(path);
  }
  for (const d of dirs) files.push(...(await expandDirectory(d)));
  return files;
}
