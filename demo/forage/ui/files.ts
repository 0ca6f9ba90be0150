/** Files in and out of the page: reading what the user drops or picks (bounded), and downloads of exports. */
import { TidalError } from '../../../src/index.js';

/** Bound on a dropped or picked file, in bytes. */
export const MAX_FILE_BYTES = 8 * 1024 * 1024;

export async function readFile(file: File): Promise<string> {
  if (file.size > MAX_FILE_BYTES) {
    throw new TidalError('PayloadTooLarge', `${file.name} is ${file.size} bytes, more than ${MAX_FILE_BYTES}`);
  }
  return file.text();
}

/** Offers `text` as a download named `name`. */
export function download(name: string, text: string, type: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
