/**
 * The elements of Forage's page (index.html), looked up once by id: a
 * missing one throws at load, naming the page and the id.
 */
import { byId } from '../../dom.js';

/** Forage's page elements, by role. */
export const ui = {
  status: byId('status'),
  counts: byId('counts'),
  contextTitle: byId('context-title'),
  contextReset: byId<HTMLButtonElement>('context-reset'),
  feedMessage: byId('feed-message'),
  feed: byId('feed'),
  more: byId<HTMLButtonElement>('more'),
  moreMessage: byId('more-message'),
  addSource: byId<HTMLFormElement>('add-source'),
  sourceUrl: byId<HTMLInputElement>('source-url'),
  drop: byId('drop'),
  file: byId<HTMLInputElement>('file'),
  sourceMessage: byId('source-message'),
  chart: byId('chart'),
  sources: byId('sources'),
  sourcesCount: byId('sources-count'),
  proxyForm: byId<HTMLFormElement>('proxy-form'),
  proxy: byId<HTMLInputElement>('proxy'),
  proxyMessage: byId('proxy-message'),
  addLabel: byId<HTMLFormElement>('add-label'),
  labelName: byId<HTMLInputElement>('label-name'),
  labelMessage: byId('label-message'),
  labels: byId('labels'),
  embedder: byId<HTMLSelectElement>('embedder'),
  embedderMessage: byId('embedder-message'),
  exportMessage: byId('export-message'),
  syncState: byId('sync-state'),
  syncStatus: byId('sync-status'),
  syncErrors: byId('sync-errors'),
  syncNotes: byId('sync-notes'),
  syncActions: byId('sync-actions'),
  syncNow: byId<HTMLButtonElement>('sync-now'),
  syncForget: byId<HTMLButtonElement>('sync-forget'),
  syncSetup: byId<HTMLDetailsElement>('sync-setup'),
  syncForm: byId<HTMLFormElement>('sync-form'),
  syncMessage: byId('sync-message'),
};

/** The page's elements, as `ui` holds them. */
export type ForageElements = typeof ui;
