/**
 * Merging a source's items into the store, deduplicated across sources:
 * an incoming item is the same story as a stored one when their canonical
 * URLs are equal, or, failing that, their content hashes (title and summary,
 * folded); the same story from a second source adds that source to the
 * item's `sources` GSet instead of making a second item. A new item's id is
 * a digest of its canonical URL (of its content hash when it has none), so
 * two tabs that fetch the same feed at once write the same ids, and their
 * writes merge. Merging a batch already merged writes nothing: a refresh is
 * idempotent.
 */
import { blake3 } from 'hash-wasm';
import type { FeedBatch, SourceSpec } from '../sources/index.js';
import {
  addMember,
  itemKey,
  recordValue,
  setField,
  sourceKey,
  type ForageState,
  type ForageWrite,
  type SourceStatus,
  type StoredItem,
} from '../store/index.js';
import type { HandlerContext } from './context.js';
import type { IngestResult } from './operations.js';

/** The id of a new item with this URL (or, without one, this content hash). */
export async function itemId(url: string, contentHash: string): Promise<string> {
  return (await blake3(url ? `url:${url}` : `content:${contentHash}`, 64)).slice(0, 16);
}

/** The writes that add (or re-add) a source to the user's list. */
export function sourceSpecWrites(spec: SourceSpec): ForageWrite[] {
  return [setField(sourceKey(spec.id), 'spec', recordValue(spec)), setField(sourceKey(spec.id), 'removed', false)];
}

function statusWrite(sourceId: string, status: SourceStatus): ForageWrite {
  return setField(sourceKey(sourceId), 'status', recordValue(status));
}

export async function storeSourceStatus(ctx: HandlerContext, sourceId: string, status: SourceStatus): Promise<void> {
  await ctx.db.write([statusWrite(sourceId, status)]);
}

/**
 * Merges `batch` (from `spec`) into the items of `state` (see the module comment), with the source's
 * entry and status, in one transaction.
 */
export async function ingest(ctx: HandlerContext, state: ForageState, spec: SourceSpec, batch: FeedBatch): Promise<IngestResult> {
  const byUrl = new Map<string, { id: string; sources: Set<string> }>();
  const byContent = new Map<string, { id: string; sources: Set<string> }>();
  for (const item of state.items.values()) {
    const entry = { id: item.id, sources: new Set(item.sources) };
    if (item.item.url) byUrl.set(item.item.url, entry);
    if (!byContent.has(item.item.contentHash)) byContent.set(item.item.contentHash, entry);
  }
  const now = ctx.now();
  const writes: ForageWrite[] = [...sourceSpecWrites(spec)];
  let added = 0;
  let merged = 0;
  for (const item of batch.items) {
    const existing = (item.url ? byUrl.get(item.url) : undefined) ?? byContent.get(item.contentHash);
    if (existing) {
      if (!existing.sources.has(spec.id)) {
        existing.sources.add(spec.id);
        writes.push(addMember(itemKey(existing.id), 'sources', spec.id));
      }
      merged += 1;
      continue;
    }
    const id = await itemId(item.url, item.contentHash);
    const stored: StoredItem = {
      title: item.title,
      summary: item.summary,
      url: item.url,
      published: item.published !== undefined && item.published >= 0 && item.published <= now + 86_400_000 ? item.published : now,
      contentHash: item.contentHash,
      firstSeen: now,
    };
    const entry = { id, sources: new Set([spec.id]) };
    if (item.url) byUrl.set(item.url, entry);
    if (!byContent.has(item.contentHash)) byContent.set(item.contentHash, entry);
    writes.push(setField(itemKey(id), 'item', recordValue(stored)), addMember(itemKey(id), 'sources', spec.id));
    added += 1;
  }
  ctx.progress({ phase: 'storing', subject: spec.title, items: batch.items.length });
  writes.push(statusWrite(spec.id, { at: now, items: batch.items.length, added, error: '' }));
  await ctx.db.write(writes);
  return { sourceId: spec.id, title: spec.title, items: batch.items.length, added, merged, skipped: batch.skipped };
}
