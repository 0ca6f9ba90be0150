// The WAL end to end in real Chromium: a dedicated module worker writes a
// log on OPFS (several segments, every kind of value, appends grouped in one
// tick), and another worker recovers it and reads every event back, after a
// worker restart and after a page reload. The pages do the work and report
// plain data (`e2e/pages/wal-smoke.worker.ts`); this file asserts on it.
import { randomBytes } from 'node:crypto';
import { expect, test, type Page } from '@playwright/test';
import type { VerifySummary, WriteSummary } from './pages/wal-smoke.js'; // also declares window.walSmoke

const EVENTS = 3_000;
/** Small segments, so that a few thousand events span many of them. */
const SEGMENT_BYTES = 16 * 1024;

async function openSmokePage(page: Page): Promise<string[]> {
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto('/e2e/pages/wal-smoke.html');
  await page.waitForFunction(() => 'walSmoke' in window);
  return pageErrors;
}

function write(page: Page, db: string, close: boolean): Promise<WriteSummary> {
  return page.evaluate(([name, events, segmentBytes, closeIt]) => window.walSmoke.write(name, { events, segmentBytes, close: closeIt }), [
    db,
    EVENTS,
    SEGMENT_BYTES,
    close,
  ] as const);
}

function reopenAndVerify(page: Page, db: string): Promise<VerifySummary> {
  return page.evaluate(([name, events, segmentBytes]) => window.walSmoke.reopenAndVerify(name, { events, segmentBytes }), [
    db,
    EVENTS,
    SEGMENT_BYTES,
  ] as const);
}

/** What the writer reported must hold on its own: every LSN range right, many segments, all but the last sealed. */
function expectGoodWrite(written: WriteSummary): void {
  expect(written.problems).toEqual([]);
  expect(written.lastLsn).toBe(EVENTS);
  // Grouped appends share batches: fewer batches than calls, at least one per step of one call.
  expect(written.batches).toBeLessThan(written.appendCalls);
  expect(written.segments.length).toBeGreaterThanOrEqual(5);
  expect(written.segments.slice(0, -1).every((s) => s.sealed)).toBe(true);
  expect(written.segments.at(-1)?.sealed).toBe(false);
  // Segments are dense in LSN: each starts where the previous ended.
  written.segments.forEach((s, i) => expect(s.baseLsn).toBe(i === 0 ? 1 : written.segments[i - 1]!.lastLsn + 1));
  expect(written.segments.at(-1)?.lastLsn).toBe(EVENTS);
  // One event is 20 KiB, more than a segment: it got a segment of its own, past the bound.
  expect(written.segments.some((s) => s.bytes > SEGMENT_BYTES)).toBe(true);
}

/** Recovery of the log `written` describes found it whole, and every event read back equals what was written. */
function expectRecovered(verified: VerifySummary, written: WriteSummary): void {
  expect(verified.report).toEqual({
    segments: written.segments.length,
    batches: written.batches,
    events: EVENTS,
    bytes: written.bytes,
    bytesCut: 0,
    lastLsn: EVENTS,
    issues: [],
  });
  expect(verified.segments).toEqual(written.segments);
  expect(verified.mismatches).toEqual([]);
  expect(verified.mismatchCount).toBe(0);
  expect(verified.eventsRead).toBe(EVENTS);
  const { from } = verified.midRead;
  expect(verified.midRead).toEqual({ from, firstLsn: from, count: EVENTS - from + 1 });
  expect(verified.appendedAfter).toEqual({ first: EVENTS + 1, last: EVENTS + 1 });
}

test('a WAL written on OPFS by one worker is recovered whole by the next, every event read back equal', async ({ page }) => {
  const db = `smoke-${randomBytes(6).toString('hex')}`;
  const pageErrors = await openSmokePage(page);
  try {
    const written = await write(page, db, true);
    expectGoodWrite(written);
    const verified = await reopenAndVerify(page, db);
    expectRecovered(verified, written);
  } finally {
    await page.evaluate((name) => window.walSmoke.destroy(name), db);
  }
  expect(pageErrors).toEqual([]);
});

test('acknowledged appends survive a page reload that kills the worker with the WAL still open', async ({ page }) => {
  const db = `smoke-reload-${randomBytes(6).toString('hex')}`;
  const pageErrors = await openSmokePage(page);
  try {
    const written = await write(page, db, false);
    expectGoodWrite(written);
    await page.reload();
    await page.waitForFunction(() => 'walSmoke' in window);
    const verified = await reopenAndVerify(page, db);
    expectRecovered(verified, written);
  } finally {
    await page.evaluate((name) => window.walSmoke.destroy(name), db);
  }
  expect(pageErrors).toEqual([]);
});
