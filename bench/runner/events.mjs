// The events bench/page.ts sends the runner (one Playwright binding call
// each, in order), checked before they are trusted.

/** True when `e` is one of the page's BenchEvents (see bench/page.ts). */
export function isBenchEvent(e) {
  if (e === null || typeof e !== 'object' || typeof e.type !== 'string') return false;
  switch (e.type) {
    case 'plan':
      return Array.isArray(e.suites) && Array.isArray(e.available);
    case 'suite-start':
      return typeof e.suite === 'string';
    case 'metric':
      return typeof e.suite === 'string' && typeof e.metric === 'string' && typeof e.value === 'number' && typeof e.unit === 'string';
    case 'suite-end':
      return typeof e.suite === 'string' && typeof e.ok === 'boolean' && typeof e.ms === 'number';
    case 'done':
      return true;
    default:
      return false;
  }
}
