/**
 * The starter bundle: feeds written for the demo and served from its own
 * origin (demo/forage/starter/, made by generate.mjs), so that a first start
 * shows a full feed with no network. Seven sources over seven topics in all
 * three feed formats, 336 stories, and a digest that re-posts 30 of them
 * under tracking links (deduplicated into the same items).
 */

/** A feed of the bundle: its file (next to this module) and its title. */
export interface StarterFeed {
  readonly file: string;
  readonly title: string;
  readonly category: string;
}

export const STARTER_FEEDS: readonly StarterFeed[] = [
  { file: 'orbit-notes.xml', title: 'Orbit Notes', category: 'Starter' },
  { file: 'small-kitchen.xml', title: 'The Small Kitchen', category: 'Starter' },
  { file: 'gradient-cyclist.xml', title: 'The Gradient Cyclist', category: 'Starter' },
  { file: 'web-platform-weekly.json', title: 'Web Platform Weekly', category: 'Starter' },
  { file: 'grid-and-weather.xml', title: 'Grid & Weather', category: 'Starter' },
  { file: 'allotment-diary.xml', title: 'Allotment Diary', category: 'Starter' },
  { file: 'liner-notes.json', title: 'Liner Notes', category: 'Starter' },
  { file: 'morning-digest.xml', title: 'Morning Digest', category: 'Starter' },
];

/** The URL the bundle's `file` is served at, relative to `base` (the demo's starter folder). */
export function starterUrl(file: string, base: string): URL {
  return new URL(file, base);
}
