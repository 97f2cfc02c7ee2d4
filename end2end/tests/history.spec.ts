import { test, expect, type APIRequestContext } from '@playwright/test';
import { openFromMenu } from './selectors';

const unique = (name: string) => `${name} ${Date.now()}-${Math.floor(Math.random() * 1e6)}`;

async function importWorkflow(request: APIRequestContext, definition: object): Promise<number> {
  const response = await request.post('/api/workflows/import', { form: { definition: JSON.stringify(definition) } });
  expect(response.status()).toBe(200);
  return (await response.json()).id;
}

async function runToEnd(request: APIRequestContext, workflow: number): Promise<number> {
  const started = await request.post('/api/runs/start', { form: { workflow_id: String(workflow), input: '{}' } });
  expect(started.status()).toBe(200);
  const id = (await started.json()).id;
  await expect.poll(async () => {
    const details = await (await request.post('/api/runs/load', { form: { id: String(id) } })).json();
    return details.execution.status;
  }).toMatch(/succeeded|failed/);
  return id;
}

test('the history filters by status and workflow, counts, charts, and opens a run', async ({ page }) => {
  const fine = await importWorkflow(page.request, {
    name: unique('Fine'), nodes: [{ id: 'a', type: 'template', config: { template: 'ok' } }], edges: [],
  });
  const broken = await importWorkflow(page.request, {
    name: unique('Broken'), nodes: [{ id: 'call', type: 'http', config: { method: 'GET', url: 'http://127.0.0.1:1/' } }], edges: [],
  });
  await runToEnd(page.request, fine);
  await runToEnd(page.request, broken);
  const failedRun = await runToEnd(page.request, broken);

  await openFromMenu(page, 'history-link', 'history-page');
  expect(await page.getByTestId('history-row').count()).toBeGreaterThanOrEqual(3);
  await expect(page.getByTestId('chart-bar').first()).toBeVisible();

  // Filter with the form: the URL carries the filters.
  await page.getByTestId('filter-status').selectOption('failed');
  await page.getByTestId('filter-workflow').fill(String(broken));
  await page.getByTestId('apply-filters').click();
  await expect(page).toHaveURL(new RegExp(`status=failed.*workflow=${broken}|workflow=${broken}.*status=failed`));
  await expect(page.getByTestId('history-row')).toHaveCount(2);
  await expect(page.getByTestId('history-count')).toHaveText('2 executions');
  for (const status of await page.getByTestId('history-row').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-status')))) {
    expect(status).toBe('failed');
  }
  const chartTotal = await page.getByTestId('chart').getAttribute('data-total');
  expect(Number(chartTotal)).toBe(2);

  // The newest row opens its run.
  await page.getByTestId('history-run-link').first().click();
  await expect(page).toHaveURL(new RegExp(`/executions/${failedRun}$`));
  await expect(page.getByTestId('run-status')).toHaveText('failed');

  // A bad filter in a link (a deep link on purpose) is a clear message, not an error page.
  await page.goto('/history?from=yesterday');
  await expect(page.getByTestId('history-error')).toContainText('is not a time');
});

test('the history scrolls through every run, fetching older ones by key, with only the rows in view in the page', async ({ page }) => {
  const name = unique('Many runs');
  const workflow = await importWorkflow(page.request, {
    name, nodes: [{ id: 'a', type: 'template', config: { template: 'ok' } }], edges: [],
  });
  // 130 runs: the first 50 come with the page, the rest as the list nears its end.
  const runs = 130;
  const ids: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = await page.request.post('/api/runs/start', { form: { workflow_id: String(workflow), input: '{}' } });
    expect(started.status()).toBe(200);
    ids.push((await started.json()).id);
  }
  const oldest = Math.min(...ids);

  await openFromMenu(page, 'history-link', 'history-page');
  await page.getByTestId('filter-workflow').fill(name);
  await page.getByTestId('apply-filters').click();
  await expect(page.getByTestId('history-count')).toHaveText(`${runs} executions`);
  const list = page.getByTestId('history');
  await expect(list).toHaveAttribute('data-complete', 'true');
  await expect(list).toHaveAttribute('data-loaded', String(runs));
  // Only the rows in view (and a few beyond) are in the DOM.
  const rendered = await page.getByTestId('history-row').count();
  expect(rendered).toBeGreaterThan(5);
  expect(rendered).toBeLessThan(40);
  await expect(page.getByTestId('history-older')).toHaveCount(0);

  // Scrolled to the end: the oldest run is there, and opens.
  await list.evaluate((element) => { element.scrollTop = element.scrollHeight; });
  const oldestLink = page.getByTestId('history-run-link').filter({ hasText: new RegExp(`^run ${oldest}$`) });
  await expect(oldestLink).toBeVisible();
  expect(await page.getByTestId('history-row').count()).toBeLessThan(40);
  await page.screenshot({ path: 'test-results/history-scrolled.png' });
  await oldestLink.click();
  await expect(page).toHaveURL(new RegExp(`/executions/${oldest}$`));
  await expect(page.getByTestId('run-page')).toBeVisible();
});
