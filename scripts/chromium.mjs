// Where tests and benchmarks find Chromium, and the flags it needs on these
// machines. Debian's Chromium by default; TIDAL_CHROMIUM overrides the path.
export const chromiumPath = process.env.TIDAL_CHROMIUM ?? '/usr/bin/chromium';

export const chromiumArgs = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  // For the bench's memory figures: exact performance.memory, and gc() to measure after a collection.
  '--enable-precise-memory-info',
  '--js-flags=--expose-gc',
];
