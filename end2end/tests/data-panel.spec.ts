import { test, expect, type Page } from '@playwright/test';
import { ui } from './selectors';

const unique = (name: string) => `${name} ${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
const editorNode = (page: Page, id: string) => page.locator(`[data-testid=editor-node][data-node="${id}"]`);
const dataField = (page: Page, path: string) => page.locator(`[data-testid=data-field][data-path='${path}']`);

test('the editor shows the last run\'s data; clicking a field inserts its path where you were typing; the preview renders it', async ({ page }) => {
  // A workflow that fetches nothing: `start` passes the input on, `shape` builds an object, `greet` says hello.
  const name = unique('Data panel');
  await page.goto('/');
  await expect(ui(page).workflowsPage).toHaveAttribute('data-hydrated', 'true');
  await ui(page).definitionInput.fill(JSON.stringify({
    name,
    nodes: [
      { id: 'start', type: 'template', config: { template: '{{ input | tojson }}', json: true } },
      { id: 'shape', type: 'template', config: { template: '{"user": {"name": "{{ input.who }}", "tags": ["a", "b"]}}', json: true } },
      { id: 'greet', type: 'template', config: { template: 'Hello ' } },
    ],
    edges: [{ from: 'start', to: 'shape' }, { from: 'shape', to: 'greet' }],
  }));
  await ui(page).importButton.click();
  await ui(page).workflowRows.filter({ hasText: name }).getByTestId('workflow-link').click();
  await expect(page.getByTestId('workflow-page')).toHaveAttribute('data-hydrated', 'true');

  // Before any run the panel says so.
  await page.getByTestId('edit-workflow').click();
  await expect(page.getByTestId('editor-page')).toHaveAttribute('data-hydrated', 'true');
  await editorNode(page, 'greet').locator('rect').click();
  await expect(page.getByTestId('data-none')).toBeVisible();

  // Run it once, from its page.
  await page.getByTestId('editor-back').click();
  await page.getByTestId('run-input').fill('{"who": "Ada"}');
  await page.getByTestId('run-button').click();
  await expect(page.getByTestId('run-status')).toHaveText('succeeded');
  await page.getByTestId('run-page').locator('h1 a').click();
  await page.getByTestId('edit-workflow').click();
  await expect(page.getByTestId('editor-page')).toHaveAttribute('data-hydrated', 'true');

  // The node's upstream output and the run's input, as trees.
  await editorNode(page, 'greet').locator('rect').click();
  const panel = page.getByTestId('data-panel');
  await expect(panel).toContainText('Run ');
  await expect(dataField(page, 'nodes.shape')).toBeVisible();
  await dataField(page, 'nodes.shape').locator('xpath=..').locator('span').click(); // open the object
  await dataField(page, 'nodes.shape.user').locator('xpath=..').locator('span').click();
  await expect(dataField(page, 'nodes.shape.user.name').locator('xpath=..')).toContainText('"Ada"');
  await expect(dataField(page, 'nodes.shape.user.tags')).toBeVisible();
  await expect(page.getByTestId('data-no-output')).toHaveCount(0);

  // Type, then click a field: its path goes where the cursor was.
  const template = page.getByTestId('field-template');
  await template.click();
  await template.press('End');
  await dataField(page, 'nodes.shape.user.name').click();
  await expect(template).toHaveValue('Hello {{ nodes.shape.user.name }}');
  await template.press('End');
  await template.type(', tagged ');
  await dataField(page, 'nodes.shape.user.tags').locator('xpath=..').locator('span').click();
  await dataField(page, 'nodes.shape.user.tags[0]').click();
  await expect(template).toHaveValue('Hello {{ nodes.shape.user.name }}, tagged {{ nodes.shape.user.tags[0] }}');
  // The live preview renders it on the server's engine with that run's data...
  const preview = page.getByTestId('field-template-preview');
  await expect(preview.getByTestId('preview-text')).toHaveText('Hello Ada, tagged a');
  await page.screenshot({ path: 'test-results/data-panel.png', fullPage: true });
  // ...and a wrong path or a syntax error shows as it is typed, with its line.
  await template.press('End');
  await template.type('\n{{ nodes.shape.usr.name }}');
  await expect(preview.getByTestId('preview-error')).toContainText('line 2');
  await expect(preview.getByTestId('preview-error')).toContainText('nodes.shape.usr');
  await page.screenshot({ path: 'test-results/preview-error.png', fullPage: true });
  await template.fill('Hello {{ nodes.shape.user.name }}, tagged {{ nodes.shape.user.tags[0] }}');
  await expect(preview.getByTestId('preview-text')).toHaveText('Hello Ada, tagged a');

  // The inserted paths are what the engine reads: saved and run, they give Ada and a.
  await page.getByTestId('save').click();
  await expect(page.getByTestId('save-status')).toHaveText('Saved as v2');
  await page.getByTestId('editor-back').click();
  await page.getByTestId('run-input').fill('{"who": "Ada"}');
  await page.getByTestId('run-button').click();
  await expect(page.getByTestId('run-status')).toHaveText('succeeded');
  await page.locator('[data-testid=node-row][data-node=greet]').click();
  await expect(page.getByTestId('node-text')).toHaveText('Hello Ada, tagged a');
});
