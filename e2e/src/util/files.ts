import { open } from 'node:fs/promises';

/** The last `lines` lines of a (log) file; a note instead if it cannot be read. */
export async function tailFile(file: string, lines = 40): Promise<string> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    return `(cannot read ${file}: ${err instanceof Error ? err.message : String(err)})`;
  }
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, 256 * 1024);
    const buf = Buffer.alloc(length);
    await handle.read(buf, 0, length, size - length);
    const text = buf.toString('utf8').trimEnd();
    if (!text) return `(${file} is empty)`;
    return text.split('\n').slice(-lines).join('\n');
  } finally {
    await handle.close();
  }
}
