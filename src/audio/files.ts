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
 * @throws AudioError `not-found` for a path that does not exist
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
      const entries = (await readdir(p, { withFileTypes: true })).sort((a, b) =>
        a.name.localeCompare(b.name),
      );
      const files = entries.filter(
        (e) => e.isFile() && AUDIO_EXTENSIONS.includes(extname(e.name).toLowerCase()),
      );
      out.push(...files.map((e) => join(p, e.name)));
      const dirs = entries.filter((e) => e.isDirectory()).map((e) => join(p, e.name));
      if (dirs.length > 0) out.push(...(await expandAudioPaths(dirs)));
    } else {
      out.push(p);
    }
  }
  return out;
}
