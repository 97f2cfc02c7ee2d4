import { test, expect } from '@playwright/test';
import { openFromMenu, ui } from './selectors';

const unique = (name: string) => `${name} ${Date.now()}-${Math.floor(Math.random() * 1e6)}`;

test('the marketplace lists at least eight templates, searches, previews and installs one', async ({ page }) => {
  await openFromMenu(page, 'marketplace-link', 'marketplace-page');
  expect(await page.getByTestId('template').count()).toBeGreaterThanOrEqual(8);

  await page.getByTestId('template-search').fill('summarize');
  await expect(page.getByTestId('template').first()).toHaveAttribute('data-slug', 'summarize-url');
  const card = page.locator('[data-testid=template][data-slug=summarize-url]');
  await card.getByTestId('preview-template').click();
  await expect(card.getByTestId('graph-node')).toHaveCount(await card.getByTestId('graph-node').count());
  expect(await card.getByTestId('graph-node').count()).toBeGreaterThanOrEqual(3);

  await card.getByTestId('install-template').click();
  await expect(page).toHaveURL(/\/workflows\/\d+$/);
  await expect(page.getByTestId('workflow-name')).toHaveText('Summarize a URL');
});

test('a user publishes a workflow as a template; installing it gives a workflow that runs', async ({ page }) => {
  const name = unique('Shared greeter');
  await page.goto('/');
  await expect(ui(page).workflowsPage).toHaveAttribute('data-hydrated', 'true');
  await ui(page).definitionInput.fill(JSON.stringify({
    name, nodes: [{ id: 'greet', type: 'template', config: { template: 'Hi {{ input.who }}' } }], edges: [],
  }));
  await ui(page).importButton.click();
  await expect(ui(page).workflowRows.filter({ hasText: name })).toHaveCount(1);

  await openFromMenu(page, 'marketplace-link', 'marketplace-page');
  await page.getByTestId('publish-workflow').selectOption({ label: name });
  await page.getByTestId('publish-description').fill('Greets whoever you name.');
  await page.getByTestId('publish').click();
  await expect(page.getByTestId('published')).toContainText(name);

  await page.getByTestId('template-search').fill(name.split(' ')[2]);
  const card = page.getByTestId('template').filter({ hasText: name });
  await expect(card).toContainText('shared by a user');
  await card.getByTestId('install-template').click();
  await expect(page).toHaveURL(/\/workflows\/\d+$/);
  await expect(page.getByTestId('workflow-page')).toHaveAttribute('data-hydrated', 'true');
  await page.getByTestId('run-input').fill('{"who": "Grace"}');
  await page.getByTestId('run-button').click();
  await expect(page.getByTestId('run-status')).toHaveText('succeeded');
  await page.locator('[data-testid=node-row][data-node=greet]').click();
  await expect(page.getByTestId('node-output')).toContainText('Hi Grace');
});
