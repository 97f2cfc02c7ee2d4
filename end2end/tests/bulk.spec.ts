import { test, expect } from '@playwright/test';
import { BULK, signIn } from './accounts';
import { ui } from './selectors';

// .ci/test seeds 100,000 workflows for the bulk user before the browser tests.
test.use({ storageState: { cookies: [], origins: [] } });

test('100,000 workflows: the list keeps a bounded number of rows and scrolls to the end', async ({ page }) => {
  test.setTimeout(240_000);
  await signIn(page, BULK);
  await page.goto('/');
  const $ = ui(page);
  await expect($.workflowsPage).toHaveAttribute('data-hydrated', 'true');
  const timing = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
    const interactive = performance.getEntriesByName('weft-interactive')[0];
    return {
      domInteractive: Math.round(nav.domInteractive),
      loadEventEnd: Math.round(nav.loadEventEnd),
      hydrated: Math.round(interactive?.startTime ?? -1),
    };
  });
  const initialRows = await $.workflowRows.count();
  expect(initialRows).toBeGreaterThan(5);
  expect(initialRows).toBeLessThanOrEqual(30);
  await expect($.workflowRows.first()).toContainText('Seeded workflow 099999');

  // Scroll to the bottom until every page is loaded.
  let pages = 0;
  while ((await $.workflowList.getAttribute('data-complete')) !== 'true') {
    const before = Number(await $.workflowList.getAttribute('data-loaded'));
    await $.workflowList.evaluate((el) => { el.scrollTop = el.scrollHeight; });
    await expect.poll(async () => Number(await $.workflowList.getAttribute('data-loaded')), { timeout: 15_000 })
      .toBeGreaterThan(before);
    pages += 1;
    expect(await $.workflowRows.count()).toBeLessThanOrEqual(30);
  }
  await $.workflowList.evaluate((el) => { el.scrollTop = el.scrollHeight; });
  expect(Number(await $.workflowList.getAttribute('data-loaded'))).toBe(100_000);
  await expect($.workflowRows.filter({ hasText: 'Seeded workflow 000000' })).toHaveCount(1);
  const finalRows = await $.workflowRows.count();
  expect(finalRows).toBeLessThanOrEqual(30);
  console.log(`bulk list: ${initialRows} rows at the top, ${finalRows} at the end, ${pages} pages fetched; ` +
    `domInteractive ${timing.domInteractive} ms, hydrated (interactive) ${timing.hydrated} ms, ` +
    `loadEventEnd ${timing.loadEventEnd} ms`);
});
