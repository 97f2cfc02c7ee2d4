import { test, expect, type Page } from '@playwright/test';
import { ui } from './selectors';

const unique = (name: string) => `${name} ${Date.now()}-${Math.floor(Math.random() * 1e6)}`;

async function importAndOpen(page: Page, definition: object) {
  await page.goto('/');
  const $ = ui(page);
  await expect($.workflowsPage).toHaveAttribute('data-hydrated', 'true');
  await $.definitionInput.fill(JSON.stringify(definition));
  await $.importButton.click();
  const name = (definition as { name: string }).name;
  await $.workflowRows.filter({ hasText: name }).getByTestId('workflow-link').click();
  await expect(page.getByTestId('workflow-page')).toHaveAttribute('data-hydrated', 'true');
  await expect(page.getByTestId('workflow-name')).toHaveText(name);
}

async function run(page: Page, input: string) {
  await page.getByTestId('run-input').fill(input);
  await page.getByTestId('run-button').click();
  await expect(page).toHaveURL(/\/executions\/\d+$/);
  await expect(page.getByTestId('run-page')).toHaveAttribute('data-hydrated', 'true');
}

test('run a three-node workflow with an input and see each node succeed with its output', async ({ page }) => {
  const name = unique('Greeting chain');
  await importAndOpen(page, {
    name,
    nodes: [
      { id: 'hello', type: 'template', config: { template: 'Hello {{ input.who }}' } },
      { id: 'wait', type: 'delay', config: { ms: 400 } },
      { id: 'shout', type: 'template', config: { template: '{{ nodes.hello.text | upper }}!' } },
    ],
    edges: [{ from: 'hello', to: 'wait' }, { from: 'wait', to: 'shout' }],
  });
  await page.getByTestId('run-input').fill('{"who": ');
  await expect(page.getByTestId('run-form').getByRole('alert')).toContainText('not valid JSON');
  await expect(page.getByTestId('run-button')).toBeDisabled();
  await run(page, '{"who": "Ada"}');

  // Live: the page follows the run while it goes (the delay holds it ~400 ms).
  await expect(page.getByTestId('run-status')).toHaveText('succeeded');
  for (const node of ['hello', 'wait', 'shout']) {
    await expect(page.locator(`[data-testid=node-row][data-node=${node}]`)).toHaveAttribute('data-status', 'succeeded');
  }
  await page.locator('[data-testid=node-row][data-node=shout]').click();
  await expect(page.getByTestId('node-output')).toContainText('HELLO ADA!');
  await expect(page.getByTestId('node-input')).toContainText('waited_ms'); // its upstream's output
  await expect(page.getByTestId('span')).toHaveCount(3);

  // The run is listed on the workflow's page.
  await page.locator('.run-header h1 a').click();
  await expect(page.getByTestId('recent-runs').locator('li')).toHaveCount(1);
});

test('a parallel workflow\'s timeline shows the branches overlapping', async ({ page }) => {
  await importAndOpen(page, {
    name: unique('Fan out'),
    nodes: [
      { id: 'start', type: 'template', config: { template: 'go' } },
      { id: 'left', type: 'delay', config: { ms: 500 } },
      { id: 'right', type: 'delay', config: { ms: 500 } },
      { id: 'join', type: 'merge', config: {} },
    ],
    edges: [
      { from: 'start', to: 'left' }, { from: 'start', to: 'right' },
      { from: 'left', to: 'join' }, { from: 'right', to: 'join' },
    ],
  });
  await run(page, '{}');
  await expect(page.getByTestId('run-status')).toHaveText('running');
  await expect(page.getByTestId('run-status')).toHaveText('succeeded');
  const box = async (node: string) => (await page.locator(`[data-testid=span][data-node=${node}]`).boundingBox())!;
  const [left, right, join] = [await box('left'), await box('right'), await box('join')];
  // The two branches ran at the same time: their bars overlap; the merge comes after both.
  const overlap = Math.min(left.x + left.width, right.x + right.width) - Math.max(left.x, right.x);
  expect(overlap).toBeGreaterThan(0.8 * Math.min(left.width, right.width));
  expect(join.x).toBeGreaterThanOrEqual(Math.max(left.x + left.width, right.x + right.width) - 2);
});

test('a long run is cancelled; a failed run is re-run from its failed node', async ({ page }) => {
  await importAndOpen(page, {
    name: unique('Sleepy'), nodes: [{ id: 'sleep', type: 'delay', config: { ms: 30000 } }], edges: [],
  });
  await run(page, '');
  await expect(page.getByTestId('run-status')).toHaveText('running');
  await page.getByTestId('cancel-run').click();
  await expect(page.getByTestId('run-status')).toHaveText('cancelled');
  await expect(page.getByTestId('cancel-run')).toHaveCount(0);

  await importAndOpen(page, {
    name: unique('Broken call'),
    nodes: [
      { id: 'prepare', type: 'template', config: { template: 'ready' } },
      { id: 'call', type: 'http', config: { method: 'GET', url: 'http://127.0.0.1:1/' } },
    ],
    edges: [{ from: 'prepare', to: 'call' }],
  });
  await run(page, '{}');
  await expect(page.getByTestId('run-status')).toHaveText('failed');
  await expect(page.getByTestId('node-error')).toBeVisible(); // the failed node is selected
  const first = page.url();
  await page.getByTestId('rerun-from-failed').click();
  await expect(page).not.toHaveURL(first);
  await expect(page.getByTestId('run-status')).toHaveText('failed');
  await expect(page.locator('[data-testid=node-row][data-node=prepare]')).toHaveAttribute('data-status', 'succeeded');
});
