import { test, expect, type Page } from '@playwright/test';
import { ui } from './selectors';

const unique = (name: string) => `${name} ${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
const editorNode = (page: Page, id: string) => page.locator(`[data-testid=editor-node][data-node="${id}"]`);
const dataField = (page: Page, path: string) => page.locator(`[data-testid=data-field][data-path='${path}']`);

test('pin an output by hand, complete a path to it, try the next node alone; runs never read the pin', async ({ page }) => {
  // `fetch` stands for a service; `greet` is built after it.
  const name = unique('Try and pin');
  await page.goto('/');
  await expect(ui(page).workflowsPage).toHaveAttribute('data-hydrated', 'true');
  await ui(page).definitionInput.fill(JSON.stringify({
    name,
    nodes: [
      { id: 'fetch', type: 'template', config: { template: '{"user": {"name": "{{ input.who }}"}}', json: true } },
      { id: 'greet', type: 'template', config: { template: 'Hello ' } },
    ],
    edges: [{ from: 'fetch', to: 'greet' }],
  }));
  await ui(page).importButton.click();
  await ui(page).workflowRows.filter({ hasText: name }).getByTestId('workflow-link').click();
  await expect(page.getByTestId('workflow-page')).toHaveAttribute('data-hydrated', 'true');
  await page.getByTestId('edit-workflow').click();
  await expect(page.getByTestId('editor-page')).toHaveAttribute('data-hydrated', 'true');

  // Never run: pin what the service would answer, written as JSON.
  await editorNode(page, 'fetch').locator('rect').click();
  await page.getByTestId('pin-json').click();
  const pinned = page.getByTestId('pinned-json');
  await pinned.fill('{"user": {"name": "Grace"');
  await pinned.blur();
  await expect(page.getByTestId('pinned-error')).toContainText('not JSON');
  await pinned.fill('{"user": {"name": "Grace"}}');
  await pinned.blur();
  await expect(page.getByTestId('pinned-error')).toHaveCount(0);
  await expect(editorNode(page, 'fetch').getByTestId('node-pinned')).toHaveCount(1);

  // The next node's data panel shows the pin, and completion offers its fields as the path is typed.
  await editorNode(page, 'greet').locator('rect').click();
  await expect(page.getByTestId('data-pinned')).toContainText('pinned');
  await expect(dataField(page, 'nodes.fetch')).toBeVisible();
  const template = page.getByTestId('field-template');
  const suggestion = (value: string) => page.locator(`[data-testid=autocomplete-item][data-value="${value}"]`);
  await template.click();
  await template.press('End');
  await template.pressSequentially('{{ nodes.');
  await expect(suggestion('fetch')).toBeVisible();
  await suggestion('fetch').click();
  await template.pressSequentially('.');
  await expect(page.getByTestId('autocomplete-item')).toHaveText(['user']);
  await template.press('Tab'); // takes the first suggestion
  await template.pressSequentially('.');
  await suggestion('name').click();
  await template.pressSequentially(' | ');
  await expect(suggestion('tojson')).toBeVisible();
  for (let i = 0; i < 3; i++) await template.press('Backspace');
  await template.pressSequentially(' }}');
  await expect(page.getByTestId('autocomplete')).toHaveCount(0);
  await expect(template).toHaveValue('Hello {{ nodes.fetch.user.name }}');
  await page.getByTestId('try-node').click();
  await expect(page.getByTestId('try-output')).toContainText('"text": "Hello Grace"');
  await expect(page.getByTestId('try-panel')).toContainText('pinned: fetch');
  await page.screenshot({ path: 'test-results/try-node.png', fullPage: true });

  // Saved and run for real: the pin is not read, the real node runs.
  await page.getByTestId('save').click();
  await expect(page.getByTestId('save-status')).toHaveText('Saved as v2');
  await page.getByTestId('editor-back').click();
  await page.getByTestId('run-input').fill('{"who": "Ada"}');
  await page.getByTestId('run-button').click();
  await expect(page.getByTestId('run-status')).toHaveText('succeeded');
  await page.locator('[data-testid=node-row][data-node=greet]').click();
  await expect(page.getByTestId('node-text')).toHaveText('Hello Ada');

  // Back in the editor the pin is still there; trying `fetch` alone uses the run's input, and its output can be pinned.
  await page.getByTestId('run-page').locator('h1 a').click();
  await page.getByTestId('edit-workflow').click();
  await expect(page.getByTestId('editor-page')).toHaveAttribute('data-hydrated', 'true');
  await expect(editorNode(page, 'fetch').getByTestId('node-pinned')).toHaveCount(1);
  await editorNode(page, 'fetch').locator('rect').click();
  await page.getByTestId('try-node').click();
  await expect(page.getByTestId('try-output')).toContainText('"name": "Ada"');
  await page.getByTestId('pin-output').click();
  await expect(page.getByTestId('pinned-json')).toHaveValue(/"name": "Ada"/);
  // Unpinned, the mark goes.
  await page.getByTestId('unpin').click();
  await expect(editorNode(page, 'fetch').getByTestId('node-pinned')).toHaveCount(0);
  await expect(page.getByTestId('pin-json')).toBeVisible();
});
