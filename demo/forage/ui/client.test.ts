import type * as Comlink from 'comlink';
import { describe, expect, it } from 'vitest';
import type { ForageWorkerApi, Progress } from '../handlers/index.js';
import { ForageClient } from './client.js';

const progress = (bytes: number): Progress => ({ phase: 'fetching', subject: 'https://example.com/feed.xml', bytes, total: 100 });

describe('ForageClient', () => {
  it('passes progress on while a request runs, and drops a report that arrives after the answer', async () => {
    // The worker answers on its own port and reports progress on the callback's, so the last report
    // can arrive after the answer. Model that late report.
    let late: (() => void) | undefined;
    const worker = {
      handle: async (_request: unknown, onProgress?: (p: Progress) => void) => {
        onProgress?.(progress(50));
        late = () => onProgress?.(progress(100));
        throw Object.assign(new Error('not a feed: the document is an HTML page'), { code: 'MalformedMessage' });
      },
    } as unknown as Comlink.Remote<ForageWorkerApi>;
    const heard: Progress[] = [];
    const client = new ForageClient(worker);
    await expect(client.addSource('https://example.com/feed.xml', {}, (p) => heard.push(p))).rejects.toThrow('not a feed');
    late!();
    expect(heard).toEqual([progress(50)]);
  });
});
