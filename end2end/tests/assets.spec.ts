import { test, expect, type Page } from '@playwright/test';
import { openFromMenu } from './selectors';

/** Bytes of WASM that came over the network (cache hits carry none), by URL. */
async function wasmTraffic(page: Page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  const urls = new Map<string, string>();
  const bytes = new Map<string, number>();
  cdp.on('Network.responseReceived', (event) => {
    if (new URL(event.response.url).pathname.endsWith('.wasm')) urls.set(event.requestId, event.response.url);
  });
  cdp.on('Network.loadingFinished', (event) => {
    const url = urls.get(event.requestId);
    if (url) bytes.set(url, (bytes.get(url) ?? 0) + event.encodedDataLength);
  });
  return {
    urls: () => [...new Set(urls.values())],
    downloaded: () => [...bytes.values()].reduce((sum, n) => sum + n, 0),
    reset: () => { urls.clear(); bytes.clear(); },
  };
}

test('the bundle has content-hashed addresses kept for a year; a second visit downloads no WASM', async ({ page }) => {
  const traffic = await wasmTraffic(page);
  await openFromMenu(page, 'history-link', 'history-page');
  const first = traffic.urls();
  // The main chunk and the lazy routes' chunks, all under /assets/<build>/pkg/.
  expect(first.length).toBeGreaterThanOrEqual(2);
  for (const url of first) expect(new URL(url).pathname).toMatch(/^\/assets\/[0-9a-f]{16}\/pkg\//);
  expect(traffic.downloaded()).toBeGreaterThan(50_000);

  const asset = await page.request.get(first[0]);
  expect(asset.status()).toBe(200);
  expect(asset.headers()['cache-control']).toBe('public, max-age=31536000, immutable');
  // Pages and server functions are never stored; another build's address is not found.
  const shell = await page.request.get('/');
  expect(shell.headers()['cache-control']).toBe('no-store');
  const list = await page.request.post('/api/workflows/list', { form: {} });
  expect(list.headers()['cache-control']).toBe('no-store');
  const stale = await page.request.get(new URL(first[0]).pathname.replace(/\/assets\/[0-9a-f]{16}\//, '/assets/0000000000000000/'));
  expect(stale.status()).toBe(404);

  // Away and back, the way a person returns: the same pages, nothing downloaded again.
  traffic.reset();
  await page.goto('about:blank');
  await openFromMenu(page, 'history-link', 'history-page');
  expect(traffic.urls().length).toBeGreaterThanOrEqual(2);
  expect(traffic.downloaded()).toBe(0);
});
