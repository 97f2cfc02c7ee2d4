import { test, expect } from '@playwright/test';
import { ui } from './selectors';

// A unique name per run: the server's database outlives a single test.
const unique = (name: string) => `${name} ${Date.now()}-${Math.floor(Math.random() * 1e6)}`;

const definition = (name: string) =>
  JSON.stringify({
    name,
    description: 'Fetch a page and summarize it',
    nodes: [
      { id: 'fetch', type: 'http', config: { method: 'GET', url: '{{ input.url }}' } },
      { id: 'ok', type: 'condition', config: { expr: 'nodes.fetch.status == 200' } },
      { id: 'sum', type: 'llm', config: { model: 'gpt-4o-mini', prompt: 'Summarize: {{ nodes.fetch.body }}' } },
      { id: 'oops', type: 'template', config: { template: 'fetch failed: {{ nodes.fetch.status }}' } },
    ],
    edges: [
      { from: 'fetch', to: 'ok' },
      { from: 'ok', to: 'sum', branch: 'true' },
      { from: 'ok', to: 'oops', branch: 'false' },
    ],
  }, null, 2);

test('the page hydrates, and a pasted workflow is imported and listed', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/');
  const $ = ui(page);
  await expect($.workflowsPage).toHaveAttribute('data-hydrated', 'true');

  const name = unique('Summarize a page');
  await $.definitionInput.fill(definition(name));
  await expect($.validationErrors.locator('li')).toHaveCount(0);
  await expect($.importButton).toBeEnabled();
  await $.importButton.click();

  await expect($.workflowRows.filter({ hasText: name })).toHaveCount(1);
  await expect($.definitionInput).toHaveValue('');
  // Still there after a full server render.
  await page.reload();
  await expect(ui(page).workflowRows.filter({ hasText: name })).toHaveCount(1);
  expect(errors).toEqual([]);
});

test('validation runs as you type and names the culprit', async ({ page }) => {
  await page.goto('/');
  const $ = ui(page);
  await expect($.workflowsPage).toHaveAttribute('data-hydrated', 'true');

  await $.definitionInput.fill('{"name": "Broken", "nodes": [{"id": "a", "type": "ftp"}]}');
  await expect($.validationErrors).toContainText('node `a` has unknown type `ftp`');
  await expect($.importButton).toBeDisabled();

  await $.definitionInput.fill('{"name": ');
  await expect($.validationErrors).toContainText('not valid JSON');
});

test('a definition file can be uploaded, and a hostile name shows as text', async ({ page }) => {
  await page.goto('/');
  const $ = ui(page);
  await expect($.workflowsPage).toHaveAttribute('data-hydrated', 'true');
  let dialogs = 0;
  page.on('dialog', async (d) => { dialogs += 1; await d.dismiss(); });

  const name = unique('<img src=x onerror=alert(1)>');
  await $.definitionFile.setInputFiles({ name: 'workflow.json', mimeType: 'application/json', buffer: Buffer.from(definition(name)) });
  await expect($.definitionInput).toHaveValue(/onerror/);
  await $.importButton.click();
  await expect($.workflowRows.filter({ hasText: name })).toHaveCount(1);
  await expect(page.locator('.workflow-list img')).toHaveCount(0);
  expect(dialogs).toBe(0);
});

test('typing a search fires one request, and the list shows only matches', async ({ page }) => {
  const name = unique('Needle');
  await page.goto('/');
  const $ = ui(page);
  await expect($.workflowsPage).toHaveAttribute('data-hydrated', 'true');
  await $.definitionInput.fill(definition(name));
  await $.importButton.click();
  await expect($.workflowRows.filter({ hasText: name })).toHaveCount(1);

  const searches: string[] = [];
  page.on('request', (r) => { if (r.url().endsWith('/api/workflows/list')) searches.push(r.postData() ?? ''); });
  const term = name.split(' ')[1]; // the unique part
  await $.search.pressSequentially(term, { delay: 40 });
  await expect($.workflowRows).toHaveCount(1);
  await expect($.workflowRows.first()).toContainText(name);
  await page.waitForTimeout(500); // nothing else is on its way
  expect(searches).toHaveLength(1);
  expect(searches[0]).toContain(encodeURIComponent(term));
});

test('a workflow is duplicated, and deleted only once the deletion is confirmed', async ({ page }) => {
  const name = unique('Copy me');
  await page.goto('/');
  const $ = ui(page);
  await expect($.workflowsPage).toHaveAttribute('data-hydrated', 'true');
  await $.definitionInput.fill(definition(name));
  await $.importButton.click();
  const original = $.workflowRows.filter({ hasText: name });
  await expect(original).toHaveCount(1);

  await original.getByTestId('duplicate-workflow').click();
  const copy = $.workflowRows.filter({ hasText: `${name} (copy)` });
  await expect(copy).toHaveCount(1);

  page.once('dialog', (d) => d.dismiss());
  await copy.getByTestId('delete-workflow').click();
  await page.waitForTimeout(300);
  await expect(copy).toHaveCount(1);

  page.once('dialog', (d) => { expect(d.message()).toContain(`${name} (copy)`); d.accept(); });
  await copy.getByTestId('delete-workflow').click();
  await expect(copy).toHaveCount(0);
  await expect(original).toHaveCount(1);
});
