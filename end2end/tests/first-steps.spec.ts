// A new user's first journeys, clicked through from the first page as a person
// does: no page is opened by its URL except `/`. Each test here failed on the
// code before the fix it guards (see the comments).
import { test, expect, type Page } from '@playwright/test';
import { ui } from './selectors';

const unique = (name: string) => `${name} ${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
const nodeRow = (page: Page, id: string) => page.locator(`[data-testid=node-row][data-node="${id}"]`);

/** Pastes a definition on the workflows page, imports it and opens it from the list. */
async function importAndOpen(page: Page, definition: { name: string }) {
  await page.goto('/');
  const $ = ui(page);
  await expect($.workflowsPage).toHaveAttribute('data-hydrated', 'true');
  await $.definitionInput.fill(JSON.stringify(definition));
  await $.importButton.click();
  await $.workflowRows.filter({ hasText: definition.name }).getByTestId('workflow-link').click();
  await expect(page.getByTestId('workflow-page')).toHaveAttribute('data-hydrated', 'true');
  await expect(page.getByTestId('workflow-name')).toHaveText(definition.name);
}

async function runFromWorkflowPage(page: Page) {
  await page.getByTestId('run-button').click();
  await expect(page).toHaveURL(/\/executions\/\d+$/);
  await expect(page.getByTestId('run-page')).toHaveAttribute('data-hydrated', 'true');
}

test('History opens from the menu of every page', async ({ page }) => {
  // Before: the browser sent the history's filters as an empty form body, and
  // the page said "bad arguments: missing field `query`".
  await page.goto('/');
  await expect(ui(page).workflowsPage).toHaveAttribute('data-hydrated', 'true');
  for (const from of ['workflows', 'settings-link', 'marketplace-link']) {
    if (from !== 'workflows') {
      await page.getByTestId(from).click();
      await expect(page.locator('main[data-hydrated=true]')).toBeVisible();
    }
    await page.getByTestId('history-link').click();
    await expect(page).toHaveURL(/\/history$/);
    await expect(page.getByTestId('history-count')).toBeVisible();
    await expect(page.getByTestId('history-error')).toHaveCount(0);
  }
  // Filtering keeps a clean URL (it used to end with `&=`).
  await page.getByTestId('filter-status').selectOption('failed');
  await page.getByTestId('apply-filters').click();
  await expect(page).toHaveURL(/\/history\?status=failed$/);
  await expect(page.getByTestId('history-error')).toHaveCount(0);
});

test('the live run view shows the run as it is from the first moment, and to a viewer who joins mid-run', async ({ page }) => {
  const name = unique('Slow start');
  await importAndOpen(page, {
    name,
    nodes: [
      { id: 'start', type: 'template', config: { template: 'go' } },
      { id: 'delay_1', type: 'delay', config: { ms: 4000 } },
      { id: 'delay_2', type: 'delay', config: { ms: 1500 } },
      { id: 'done', type: 'template', config: { template: 'done' } },
    ],
    edges: [{ from: 'start', to: 'delay_1' }, { from: 'delay_1', to: 'delay_2' }, { from: 'delay_2', to: 'done' }],
  } as { name: string });
  await runFromWorkflowPage(page);
  // Before: every node stayed "queued" until the first delay ended (4 s): the
  // events sent before the page subscribed were lost.
  await expect(nodeRow(page, 'start')).toHaveAttribute('data-status', 'succeeded', { timeout: 3000 });
  await expect(nodeRow(page, 'delay_1')).toHaveAttribute('data-status', 'running', { timeout: 1000 });
  await expect(page.locator('[data-testid=span][data-node=start]')).toBeVisible({ timeout: 1000 });

  // A second viewer joins in the middle: from the workflow's page, its recent run.
  await page.locator('.run-header h1 a').click();
  await expect(page.getByTestId('workflow-page')).toHaveAttribute('data-hydrated', 'true');
  await page.getByTestId('recent-runs').locator('a').first().click();
  await expect(page.getByTestId('run-page')).toHaveAttribute('data-hydrated', 'true');
  await expect(nodeRow(page, 'start')).toHaveAttribute('data-status', 'succeeded', { timeout: 1000 });
  await expect(nodeRow(page, 'delay_1')).toHaveAttribute('data-status', 'running', { timeout: 1000 });
  // …then every change after, to the end, with the timeline in the order the nodes ran.
  await expect(page.getByTestId('run-status')).toHaveText('succeeded', { timeout: 10_000 });
  for (const id of ['start', 'delay_1', 'delay_2', 'done']) {
    await expect(nodeRow(page, id)).toHaveAttribute('data-status', 'succeeded');
  }
  await expect(page.getByTestId('span-row')).toHaveCount(4);
  const order = await page.getByTestId('span-row').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-node')));
  expect(order).toEqual(['start', 'delay_1', 'delay_2', 'done']);
});

test('a failed run, fixed in the editor, is re-run on the fixed version by default or on its own on request', async ({ page }) => {
  const name = unique('Fix me');
  await importAndOpen(page, {
    name,
    nodes: [
      { id: 'prepare', type: 'template', config: { template: 'ready' } },
      { id: 'check', type: 'code', config: { source: 'throw new Error("broken on purpose")' } },
    ],
    edges: [{ from: 'prepare', to: 'check' }],
  } as { name: string });
  await runFromWorkflowPage(page);
  await expect(page.getByTestId('run-status')).toHaveText('failed');
  await expect(page.getByTestId('node-error')).toContainText('broken on purpose');
  const failedRun = page.url();

  // The run leads to the editor with the failed node's form open; fix it and save v2.
  await page.getByTestId('edit-failed-node').click();
  await expect(page.getByTestId('editor-page')).toHaveAttribute('data-hydrated', 'true');
  await expect(page.getByTestId('node-panel')).toHaveAttribute('data-node', 'check');
  await page.getByTestId('field-source').fill('return "fixed"');
  await page.getByTestId('save').click();
  await expect(page.getByTestId('save-status')).toHaveText('Saved as v2');

  // Back to the failed run, through the workflow's page.
  await page.getByRole('link', { name: /Back/ }).click();
  await expect(page.getByTestId('workflow-page')).toHaveAttribute('data-hydrated', 'true');
  await page.getByTestId('recent-runs').locator('a', { hasText: failedRun.split('/').pop()! }).click();
  await expect(page.getByTestId('run-status')).toHaveText('failed');
  await expect(page.getByTestId('run-meta')).toContainText('the workflow is now at v2');
  // Before: both buttons silently ran v1 again.
  await expect(page.getByTestId('rerun-from-failed')).toHaveText('Re-run from the failed node on v2');
  await expect(page.getByTestId('rerun')).toHaveText('Re-run on v2');
  await page.getByTestId('rerun-from-failed').click();
  await expect(page).not.toHaveURL(failedRun);
  await expect(page.getByTestId('run-status')).toHaveText('succeeded');
  await expect(page.getByTestId('run-meta')).toContainText('v2');
  await nodeRow(page, 'check').click();
  await expect(page.getByTestId('node-text')).toHaveText('fixed');

  // The run's own version is one choice away, and says so.
  await page.goBack();
  await expect(page.getByTestId('run-status')).toHaveText('failed');
  await page.getByTestId('rerun-version-original').check();
  await expect(page.getByTestId('rerun')).toHaveText('Re-run on v1');
  await page.getByTestId('rerun').click();
  await expect(page).not.toHaveURL(failedRun);
  await expect(page.getByTestId('run-status')).toHaveText('failed');
  await expect(page.getByTestId('node-error')).toContainText('broken on purpose');

  // Its three runs, found in the history by the workflow's name (not its id).
  await page.getByTestId('history-link').click();
  await expect(page.getByTestId('history-page')).toHaveAttribute('data-hydrated', 'true');
  await page.getByTestId('filter-workflow').fill(name);
  await page.getByTestId('apply-filters').click();
  await expect(page.getByTestId('history-count')).toHaveText('3 executions');
  await expect(page.getByTestId('filter-workflow')).toHaveValue(name);
  await page.getByTestId('filter-workflow').fill('no such workflow at all');
  await page.getByTestId('apply-filters').click();
  await expect(page.getByTestId('history-error')).toContainText('no workflow is named `no such workflow at all`');
});

test('a skipped node says why, and a long text output reads as text', async ({ page }) => {
  await importAndOpen(page, {
    name: unique('Branches'),
    nodes: [
      { id: 'check', type: 'condition', config: { expr: '1 > 2' } },
      { id: 'yes', type: 'template', config: { template: 'big' } },
      { id: 'no', type: 'template', config: { template: 'line one\nline "two"\n{{ "x" * 300 }}' } },
    ],
    edges: [{ from: 'check', to: 'yes', branch: 'true' }, { from: 'check', to: 'no', branch: 'false' }],
  } as { name: string });
  await runFromWorkflowPage(page);
  await expect(page.getByTestId('run-status')).toHaveText('succeeded');
  // The run as its graph: each node marked, and a click opens its panel.
  const graphNode = (id: string) => page.getByTestId('run-graph').locator(`[data-testid=graph-node][data-node="${id}"]`);
  await expect(graphNode('check')).toHaveAttribute('data-status', 'succeeded');
  await expect(graphNode('yes')).toHaveAttribute('data-status', 'skipped');
  await expect(graphNode('no')).toHaveAttribute('data-status', 'succeeded');
  await graphNode('yes').click();
  // Before: "attempt 0" and nothing else.
  await expect(page.getByTestId('node-summary')).toHaveText('skipped: condition `check` was false');
  await nodeRow(page, 'no').click();
  // Before: only the escaped JSON string ("line one\nline \"two\"…").
  await expect(page.getByTestId('node-text')).toContainText('line "two"');
  expect(await page.getByTestId('node-text').innerText()).toContain('line one\nline "two"');
});

test('a new user is pointed to a first workflow, installs a template, and copies a new API key', async ({ page, browser }) => {
  // The admin creates the user from the menu's Settings.
  const email = `newcomer-${Date.now()}-${Math.floor(Math.random() * 1e6)}@weft.test`;
  await page.goto('/');
  await expect(ui(page).workflowsPage).toHaveAttribute('data-hydrated', 'true');
  await page.getByTestId('settings-link').click();
  await expect(page.getByTestId('settings-page')).toHaveAttribute('data-hydrated', 'true');
  await page.getByTestId('new-user-email').fill(email);
  await page.getByTestId('new-user-password').fill('newcomer-password-1');
  await page.getByTestId('create-user').click();
  await expect(page.getByTestId('user-row').filter({ hasText: email })).toHaveCount(1);

  // The newcomer signs in and lands on an empty list that says where to start.
  const context = await browser.newContext({ storageState: { cookies: [], origins: [] } });
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  const newcomer = await context.newPage();
  await newcomer.goto('/');
  await expect(newcomer).toHaveURL(/\/login/);
  await expect(newcomer.getByTestId('sign-in-page')).toHaveAttribute('data-hydrated', 'true');
  await newcomer.getByTestId('email').fill(email);
  await newcomer.getByTestId('password').fill('newcomer-password-1');
  await newcomer.getByTestId('sign-in').click();
  await expect(ui(newcomer).workflowsPage).toHaveAttribute('data-hydrated', 'true');
  const empty = newcomer.getByTestId('no-workflows');
  await expect(empty).toContainText('No workflows yet.');
  await expect(empty.getByTestId('empty-new-workflow')).toBeVisible();
  await empty.getByTestId('empty-marketplace-link').click();
  await expect(newcomer.getByTestId('marketplace-page')).toHaveAttribute('data-hydrated', 'true');
  await newcomer.locator('[data-testid=template][data-slug=summarize-url]').getByTestId('install-template').click();
  await expect(newcomer.getByTestId('workflow-name')).toHaveText('Summarize a URL');

  // An API key, copied with one click.
  await newcomer.getByTestId('settings-link').click();
  await expect(newcomer.getByTestId('settings-page')).toHaveAttribute('data-hydrated', 'true');
  await newcomer.getByTestId('api-key-name').fill('my script');
  await newcomer.getByTestId('create-api-key').click();
  const secret = await newcomer.getByTestId('new-api-key-secret').innerText();
  await newcomer.getByTestId('new-api-key').getByTestId('copy-button').click();
  await expect(newcomer.getByTestId('copy-button')).toHaveText('Copied');
  expect(await newcomer.evaluate(() => navigator.clipboard.readText())).toBe(secret);
  await context.close();
});

test('a workflow built from scratch declares its input, renames a node, and its run form is pre-filled', async ({ page }) => {
  await page.goto('/');
  await expect(ui(page).workflowsPage).toHaveAttribute('data-hydrated', 'true');
  await page.getByTestId('new-workflow').click();
  await expect(page.getByTestId('editor-page')).toHaveAttribute('data-hydrated', 'true');
  const name = unique('Greeter with input');
  await page.getByTestId('workflow-name-input').fill(name);
  await page.getByTestId('workflow-input-fields').fill(
    '[{"name": "who", "type": "string", "required": true, "example": "Ada", "description": "whom to greet"}]');
  // A node after `start`, then renamed: the reference to it follows.
  const editorNode = (id: string) => page.locator(`[data-testid=editor-node][data-node="${id}"]`);
  await editorNode('start').locator('rect').click(); // selected: its "+" shows
  await editorNode('start').getByTestId('add-after').click();
  await page.getByTestId('add-template').click();
  await expect(page.getByTestId('node-panel')).toHaveAttribute('data-node', 'template_1');
  await page.getByTestId('field-template').fill('Hello {{ input.who }}');
  await editorNode('template_1').getByTestId('add-after').click();
  await page.getByTestId('add-template').click();
  await page.getByTestId('field-template').fill('{{ nodes.template_1.text }}!');
  await editorNode('template_1').locator('rect').click();
  await page.getByTestId('node-id-input').fill('greet');
  await page.getByTestId('node-id-input').press('Enter');
  await expect(editorNode('greet')).toHaveCount(1);
  await editorNode('template_2').locator('rect').click();
  await expect(page.getByTestId('field-template')).toHaveValue('{{ nodes.greet.text }}!');
  await page.getByTestId('save').click();
  await expect(page.getByTestId('save-status')).toHaveText('Saved as v1');

  // The workflow's page: the run form starts from the example and lists the field.
  await page.getByTestId('editor-back').click();
  await expect(page.getByTestId('workflow-page')).toHaveAttribute('data-hydrated', 'true');
  await expect(page.getByTestId('workflow-meta')).toHaveText(/^v1 · updated /); // no stray "· " first
  await expect(page.getByTestId('input-field')).toContainText('who');
  expect(JSON.parse(await page.getByTestId('run-input').inputValue())).toEqual({ who: 'Ada' });
  await page.getByTestId('run-input').fill('{"who": 7}');
  await expect(page.getByTestId('input-warnings')).toHaveText('`who` should be a string, not a number');
  await page.getByTestId('run-input').fill('{}');
  await expect(page.getByTestId('input-warnings')).toHaveText('`who` is missing (a string, required)');
  await page.getByTestId('run-input').fill('{"who": "Grace"}');
  await expect(page.getByTestId('input-warnings')).toHaveCount(0);
  await runFromWorkflowPage(page);
  await expect(page.getByTestId('run-status')).toHaveText('succeeded');
  await nodeRow(page, 'template_2').click();
  await expect(page.getByTestId('node-text')).toHaveText('Hello Grace!');
});
