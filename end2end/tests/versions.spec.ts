import { test, expect, type Page } from '@playwright/test';

const unique = (name: string) => `${name} ${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
const node = (page: Page, id: string) => page.locator(`[data-testid=editor-node][data-node="${id}"]`);

test('compare two versions side by side, then restore the older one', async ({ page }) => {
  // Three versions built in the editor: v1 the starter, v2 adds a template, v3 changes its text.
  await page.goto('/');
  await expect(page.getByTestId('workflows-page')).toHaveAttribute('data-hydrated', 'true');
  await page.getByTestId('new-workflow').click();
  await expect(page.getByTestId('editor-page')).toHaveAttribute('data-hydrated', 'true');
  const status = page.getByTestId('save-status');
  await page.getByTestId('workflow-name-input').fill(unique('Versions'));
  await page.getByTestId('save').click();
  await expect(status).toHaveText('Saved as v1');
  await page.getByTestId('add-template').click();
  await expect(node(page, 'template_1')).toHaveCount(1);
  await page.getByTestId('field-template').fill('Hello {{ input.who }}');
  await page.getByTestId('save').click();
  await expect(status).toHaveText('Saved as v2');
  await page.getByTestId('field-template').fill('Good morning {{ input.who }}');
  await page.getByTestId('save').click();
  await expect(status).toHaveText('Saved as v3');

  await page.getByTestId('editor-back').click();
  await expect(page.getByTestId('workflow-page')).toHaveAttribute('data-hydrated', 'true');
  const compare = page.getByTestId('version-compare');
  // At first: the version before the current one against the current one.
  await expect(compare.getByTestId('diff-summary')).toHaveText('v2 → v3: 1 node changed');
  const changed = compare.locator('[data-testid=diff-changed][data-node=template_1]');
  await expect(changed).toContainText('template_1 changed: config');
  await expect(changed.locator('td.removed')).toContainText('Hello {{ input.who }}');
  await expect(changed.locator('td.added')).toContainText('Good morning {{ input.who }}');
  // Unchanged lines sit side by side, unmarked.
  await expect(changed.locator('tr', { hasText: '"type": "template"' }).locator('td.removed, td.added')).toHaveCount(0);

  // Another pair: v1 had no template node.
  await compare.getByTestId('diff-from').selectOption('1');
  await expect(compare.getByTestId('diff-summary')).toContainText('v1 → v3: 1 node added');
  await expect(compare.locator('[data-testid=diff-added][data-node=template_1]')).toContainText('template_1 (template)');
  await page.screenshot({ path: 'test-results/version-diff.png', fullPage: true });

  // Restore the older side: it becomes v4, the same as v1.
  await compare.locator('[data-testid=diff-restore][data-version="1"]').click();
  await expect(page.locator('[data-testid=version-row][data-version="4"]')).toContainText('v4 (current)');
  await page.getByTestId('diff-from').selectOption('1');
  await page.getByTestId('diff-to').selectOption('4');
  await expect(page.getByTestId('diff-summary')).toHaveText('v1 → v4: no differences');
});
