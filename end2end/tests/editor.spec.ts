import { test, expect, type Page, type Locator } from '@playwright/test';
import { openWorkflowFromList } from './selectors';

const unique = (name: string) => `${name} ${Date.now()}-${Math.floor(Math.random() * 1e6)}`;

async function center(locator: Locator) {
  const box = (await locator.boundingBox())!;
  return { x: box.x + box.width / 2, y: box.y + box.height / 2 };
}

async function dragBetween(page: Page, from: Locator, to: Locator) {
  const a = await center(from);
  const b = await center(to);
  await page.mouse.move(a.x, a.y);
  await page.mouse.down();
  await page.mouse.move(b.x, b.y, { steps: 8 });
  await page.mouse.up();
}

const node = (page: Page, id: string) => page.locator(`[data-testid=editor-node][data-node="${id}"]`);
const edge = (page: Page, from: string, to: string) =>
  page.locator(`[data-testid=editor-edge][data-from="${from}"][data-to="${to}"]`);

/** From `/`, opens the editor on a new workflow (not created until it is saved). */
async function openNewWorkflow(page: Page) {
  await page.goto('/');
  await expect(page.getByTestId('workflows-page')).toHaveAttribute('data-hydrated', 'true');
  await page.getByTestId('new-workflow').click();
  await expect(page).toHaveURL(/\/workflows\/new\/edit$/);
  await expect(page.getByTestId('editor-page')).toHaveAttribute('data-hydrated', 'true');
  await expect(node(page, 'start')).toHaveCount(1);
}

/** How many of the viewer's workflows the list finds for `search` (the app's own list request). */
async function countWorkflowsNamed(page: Page, search: string) {
  const answer = page.waitForResponse((r) => r.url().includes('/api/workflows/list') && r.request().method() === 'POST');
  await page.getByTestId('workflow-search').fill(search);
  const body = await (await answer).json();
  return (body.items as { name: string }[]).filter((w) => w.name === search).length;
}

/** Imports a chain of `count` delay nodes (n0 → n1 → …) placed by `at`, and opens it in the editor from the list. */
async function editImportedChain(page: Page, name: string, count: number, at: (i: number) => { x: number; y: number }) {
  const nodes = Array.from({ length: count }, (_, i) => ({ id: `n${i}`, type: 'delay', config: { ms: 1 }, position: at(i) }));
  const edges = nodes.slice(1).map((n, i) => ({ from: `n${i}`, to: n.id }));
  const response = await page.request.post('/api/workflows/import', {
    form: { definition: JSON.stringify({ name, nodes, edges }) },
  });
  expect(response.status()).toBe(200);
  await openWorkflowFromList(page, name);
  await page.getByTestId('edit-workflow').click();
  await expect(page.getByTestId('editor-page')).toHaveAttribute('data-hydrated', 'true');
}

/** A point of an SVG path in page coordinates (as boundingBox() gives them). */
async function pathPoint(path: Locator, at: 'start' | 'end') {
  return path.evaluate((el, at) => {
    const line = el as SVGPathElement;
    const p = line.getPointAtLength(at === 'start' ? 0 : line.getTotalLength());
    const m = line.getScreenCTM()!;
    return { x: p.x * m.a + p.y * m.c + m.e, y: p.x * m.b + p.y * m.d + m.f };
  }, at);
}

function overlap(a: { x: number; y: number; width: number; height: number }, b: typeof a) {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

test('build a three-node workflow with the mouse, with validation, undo, save, then run it', async ({ page }) => {
  await openNewWorkflow(page);

  const name = unique('Built by mouse');
  await page.getByTestId('workflow-name-input').fill(name);
  await expect(page.getByTestId('editor-title')).toHaveText(name);

  await page.getByTestId('add-template').click();
  await expect(page.getByTestId('node-panel')).toHaveAttribute('data-node', 'template_1');
  await page.getByTestId('field-template').fill('Hi {{ input.who }}');
  await page.getByTestId('add-delay').click();
  await page.getByTestId('field-ms').fill('150');
  await page.getByTestId('auto-layout').click();

  await dragBetween(page, node(page, 'start').getByTestId('port-out'), node(page, 'template_1').getByTestId('port-in'));
  await dragBetween(page, node(page, 'template_1').getByTestId('port-out'), node(page, 'delay_1').getByTestId('port-in'));
  await expect(page.getByTestId('editor-edge')).toHaveCount(2);

  // Moving a node by dragging it.
  const before = (await node(page, 'delay_1').boundingBox())!;
  await dragBetween(page, node(page, 'delay_1').locator('rect'), page.getByTestId('canvas'));
  const after = (await node(page, 'delay_1').boundingBox())!;
  expect(Math.abs(after.x - before.x) + Math.abs(after.y - before.y)).toBeGreaterThan(50);

  // A cycle is named and its nodes marked; saving is off until it is undone.
  await dragBetween(page, node(page, 'delay_1').getByTestId('port-out'), node(page, 'start').getByTestId('port-in'));
  await expect(page.getByTestId('editor-problems')).toContainText('cycle');
  await expect(node(page, 'start')).toHaveClass(/invalid/);
  await expect(page.getByTestId('save')).toBeDisabled();
  await page.locator('body').click({ position: { x: 5, y: 5 } });
  await page.keyboard.press('Control+z');
  await expect(page.getByTestId('editor-problems').locator('li')).toHaveCount(0);
  await expect(page.getByTestId('editor-edge')).toHaveCount(2);
  await page.keyboard.press('Control+Shift+z');
  await expect(page.getByTestId('editor-edge')).toHaveCount(3);
  await page.getByTestId('undo').click();
  await expect(page.getByTestId('editor-edge')).toHaveCount(2);

  // Select an extra node and delete it with the keyboard.
  await page.getByTestId('add-http').click();
  await expect(node(page, 'http_1')).toHaveCount(1);
  await node(page, 'http_1').locator('rect').click();
  await page.keyboard.press('Delete');
  await expect(node(page, 'http_1')).toHaveCount(0);

  // The first save creates the workflow, and the address becomes its own.
  await page.keyboard.press('Control+s');
  await expect(page.getByTestId('save-status')).toHaveText('Saved as v1');
  await expect(page).toHaveURL(/\/workflows\/\d+\/edit$/);

  // Run what was built.
  await page.getByRole('link', { name: '← Back' }).click();
  await expect(page.getByTestId('workflow-page')).toHaveAttribute('data-hydrated', 'true');
  await expect(page.getByTestId('workflow-name')).toHaveText(name);
  // Opening the editor again needs no request: the workflow page filled the cache.
  const calls: string[] = [];
  page.on('request', (r) => { if (r.url().includes('/api/workflows/')) calls.push(new URL(r.url()).pathname); });
  await page.getByTestId('edit-workflow').click();
  await expect(page.getByTestId('editor-title')).toHaveText(name);
  await expect(page.getByTestId('editor-edge')).toHaveCount(2);
  expect(calls).toEqual([]);
  await page.getByRole('link', { name: '← Back' }).click();
  await expect(page.getByTestId('workflow-name')).toHaveText(name);
  await page.getByTestId('run-input').fill('{"who": "Lin"}');
  await page.getByTestId('run-button').click();
  await expect(page.getByTestId('run-status')).toHaveText('succeeded');
  await expect(page.getByTestId('node-row')).toHaveCount(3);
  await page.locator('[data-testid=node-row][data-node=template_1]').click();
  await expect(page.getByTestId('node-output')).toContainText('Hi Lin');
});

test('a 200-node workflow drags smoothly (frame times measured while dragging)', async ({ page }) => {
  await editImportedChain(page, unique('Two hundred'), 200, (i) => ({ x: (i % 20) * 200, y: Math.floor(i / 20) * 80 }));
  await expect(page.getByTestId('editor-node')).toHaveCount(200);
  await expect(page.getByTestId('editor-edge')).toHaveCount(199);

  const target = node(page, 'n0').locator('rect');
  const start = await center(target);
  await page.evaluate(() => {
    const w = window as unknown as { frames_: number[]; recording: boolean };
    w.frames_ = []; w.recording = true;
    const tick = (t: number) => { if (w.recording) { w.frames_.push(t); requestAnimationFrame(tick); } };
    requestAnimationFrame(tick);
  });
  await page.mouse.move(start.x, start.y);
  await page.mouse.down();
  for (let i = 1; i <= 60; i++) await page.mouse.move(start.x + i * 4, start.y + i * 2);
  await page.mouse.up();
  const frames: number[] = await page.evaluate(() => {
    const w = window as unknown as { frames_: number[]; recording: boolean };
    w.recording = false;
    return w.frames_;
  });
  const deltas = frames.slice(1).map((t, i) => t - frames[i]).sort((a, b) => a - b);
  const pick = (q: number) => deltas[Math.min(deltas.length - 1, Math.floor(q * deltas.length))];
  console.log(`200-node drag: ${deltas.length} frames, median ${pick(0.5).toFixed(1)} ms, ` +
    `p95 ${pick(0.95).toFixed(1)} ms, max ${deltas[deltas.length - 1].toFixed(1)} ms`);
  const moved = await center(target);
  expect(moved.x - start.x).toBeGreaterThan(150);
  expect(pick(0.5)).toBeLessThan(50);
});

test('"New workflow" creates nothing until the first save', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByTestId('workflows-page')).toHaveAttribute('data-hydrated', 'true');
  const before = await countWorkflowsNamed(page, 'Untitled workflow');

  // Open the editor on a new workflow and leave at once: nothing is left behind.
  await page.getByTestId('new-workflow').click();
  await expect(page).toHaveURL(/\/workflows\/new\/edit$/);
  await expect(page.getByTestId('editor-page')).toHaveAttribute('data-hydrated', 'true');
  await expect(page.getByTestId('editor-title')).toHaveText('Untitled workflow');
  await expect(page.getByTestId('save-status')).toContainText('not saved yet');
  await expect(page.getByTestId('save')).toBeEnabled();
  await page.getByTestId('editor-back').click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByTestId('workflows-page')).toHaveAttribute('data-hydrated', 'true');
  expect(await countWorkflowsNamed(page, 'Untitled workflow')).toBe(before);

  // Saving creates it, once, and the editor moves to its address.
  await page.getByTestId('new-workflow').click();
  await expect(page.getByTestId('editor-page')).toHaveAttribute('data-hydrated', 'true');
  const name = unique('Created on save');
  await page.getByTestId('workflow-name-input').fill(name);
  await page.getByTestId('save').click();
  await expect(page.getByTestId('save-status')).toHaveText('Saved as v1');
  await expect(page).toHaveURL(/\/workflows\/\d+\/edit$/);
  await page.getByTestId('editor-back').click();
  await expect(page.getByTestId('workflow-page')).toHaveAttribute('data-hydrated', 'true');
  await expect(page.getByTestId('workflow-name')).toHaveText(name);
  await page.getByRole('link', { name: 'Weft', exact: true }).click();
  await expect(page.getByTestId('workflows-page')).toHaveAttribute('data-hydrated', 'true');
  expect(await countWorkflowsNamed(page, name)).toBe(1);
});

test('edges leave from their dot, back-edges go around, arrows and branch labels', async ({ page }) => {
  await openNewWorkflow(page);
  await page.getByTestId('add-condition').click();
  await page.getByTestId('add-delay').click();
  await dragBetween(page, node(page, 'start').getByTestId('port-out'), node(page, 'condition_1').getByTestId('port-in'));
  const trueDot = node(page, 'condition_1').locator('[data-testid=port-out][data-branch=true]');
  await dragBetween(page, trueDot, node(page, 'delay_1').getByTestId('port-in'));
  const trueEdge = edge(page, 'condition_1', 'delay_1');
  await expect(trueEdge).toHaveAttribute('data-branch', 'true');

  // The true edge starts at the true dot (not the node's middle) and ends at the input dot.
  const start = await pathPoint(trueEdge.getByTestId('edge-line'), 'start');
  const dot = await center(trueDot);
  expect(Math.abs(start.x - dot.x)).toBeLessThan(2);
  expect(Math.abs(start.y - dot.y)).toBeLessThan(2);
  const end = await pathPoint(trueEdge.getByTestId('edge-line'), 'end');
  const input = await center(node(page, 'delay_1').getByTestId('port-in'));
  expect(Math.abs(end.y - input.y)).toBeLessThan(2);
  expect(Math.abs(end.x - input.x)).toBeLessThan(10);

  // A back-edge (delay_1 → condition_1) loops below both nodes instead of lying on the true edge.
  await dragBetween(page, node(page, 'delay_1').getByTestId('port-out'), node(page, 'condition_1').getByTestId('port-in'));
  const back = edge(page, 'delay_1', 'condition_1').getByTestId('edge-line');
  await expect(back).toHaveCount(1);
  const backBox = (await back.boundingBox())!;
  const lowest = Math.max(
    ...(await Promise.all(['condition_1', 'delay_1'].map(async (id) => {
      const box = (await node(page, id).locator('rect').boundingBox())!;
      return box.y + box.height;
    }))),
  );
  expect(backBox.y + backBox.height).toBeGreaterThan(lowest + 10);

  // Branch colours stay right; every edge ends with an arrowhead of its colour.
  const trueLine = trueEdge.getByTestId('edge-line');
  await expect(trueLine).toHaveClass(/branch-true/);
  expect(await trueLine.evaluate((el) => getComputedStyle(el).stroke)).toBe('rgb(21, 128, 61)');
  await expect(trueLine).toHaveAttribute('marker-end', 'url(#arrow-true)');
  const lines = page.getByTestId('edge-line');
  await expect(lines).toHaveCount(3);
  for (const line of await lines.all()) await expect(line).toHaveAttribute('marker-end', /^url\(#arrow/);
  await expect(page.locator('[data-testid=canvas] marker#arrow-true')).toHaveCount(1);

  // The condition's dots are labelled.
  await expect(node(page, 'condition_1').getByTestId('branch-label')).toHaveText(['true', 'false']);
});

test('new nodes are placed beside the last or selected node, never on another', async ({ page }) => {
  await openNewWorkflow(page);
  for (const kind of ['template', 'delay', 'http']) await page.getByTestId(`add-${kind}`).click();
  // With the start node selected, the next goes beside it: its right is taken, so lower down.
  await node(page, 'start').locator('rect').click();
  await page.getByTestId('add-code').click();
  const ids = ['start', 'template_1', 'delay_1', 'http_1', 'code_1'];
  const boxes = await Promise.all(ids.map(async (id) => (await node(page, id).boundingBox())!));
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      expect(overlap(boxes[i], boxes[j]), `${ids[i]} and ${ids[j]} overlap`).toBe(false);
    }
  }
  const rect = async (id: string) => (await node(page, id).locator('rect').boundingBox())!;
  const [start, template, delay, code] = await Promise.all(['start', 'template_1', 'delay_1', 'code_1'].map(rect));
  expect(template.x).toBeGreaterThan(start.x + start.width + 20);
  expect(delay.x).toBeGreaterThan(template.x + template.width + 20);
  expect(code.x).toBeGreaterThan(start.x + start.width + 20);
  expect(code.y).toBeGreaterThan(template.y + template.height);
  // Every dot stays uncovered: each new node's input can still be connected.
  await dragBetween(page, node(page, 'start').getByTestId('port-out'), node(page, 'code_1').getByTestId('port-in'));
  await expect(edge(page, 'start', 'code_1')).toHaveCount(1);
});

test('save only what changed; unsaved changes are named and guarded', async ({ page }) => {
  await openNewWorkflow(page);
  const status = page.getByTestId('save-status');
  await page.getByTestId('workflow-name-input').fill(unique('Guarded'));
  await page.getByTestId('save').click();
  await expect(status).toHaveText('Saved as v1');

  // Nothing changed: Save is off and Ctrl+S says so instead of making v2.
  await expect(page.getByTestId('save')).toBeDisabled();
  await page.locator('body').click({ position: { x: 5, y: 5 } });
  await page.keyboard.press('Control+s');
  await expect(status).toHaveText('No changes to save');

  // A change, then undoing it: back to the saved state, nothing to save.
  await page.getByTestId('add-delay').click();
  await expect(status).toHaveText('Unsaved changes');
  await expect(page.getByTestId('save')).toBeEnabled();
  await page.getByTestId('undo').click();
  await expect(node(page, 'delay_1')).toHaveCount(0);
  await expect(status).toHaveText('Saved as v1');
  await expect(page.getByTestId('save')).toBeDisabled();
  await page.getByTestId('redo').click();
  await expect(status).toHaveText('Unsaved changes');

  // Ctrl+S on an invalid graph names the problems.
  await page.getByTestId('add-template').click();
  await page.getByTestId('field-template').fill('Hi {{ oops');
  await page.keyboard.press('Control+s');
  await expect(status).toContainText('Cannot save: 1 problem');
  await expect(status).toContainText('template_1');
  await page.getByTestId('field-template').fill('Hi {{ input.who }}');
  await expect(status).toHaveText('Unsaved changes');

  // An in-app link asks first; cancelling stays, with the changes.
  const question = page.waitForEvent('dialog');
  const click = page.getByTestId('editor-back').click();
  const dialog = await question;
  expect(dialog.type()).toBe('confirm');
  await dialog.dismiss();
  await click;
  await expect(page).toHaveURL(/\/workflows\/\d+\/edit$/);
  await expect(node(page, 'delay_1')).toHaveCount(1);

  // Closing the tab (or reloading) asks the browser's own question.
  const unload = page.waitForEvent('dialog');
  await page.close({ runBeforeUnload: true });
  const prompt = await unload;
  expect(prompt.type()).toBe('beforeunload');
  await prompt.accept();
});

test('node forms: headers checked as typed, retry, timeout and on_error; summaries on the canvas', async ({ page }) => {
  await openNewWorkflow(page);
  await page.getByTestId('workflow-name-input').fill(unique('Forms'));
  await page.getByTestId('add-http').click();
  await expect(node(page, 'http_1').getByTestId('node-summary')).toHaveText('GET https://example.com/');

  const headers = page.getByTestId('field-headers');
  await headers.fill('{"X-Token": ');
  await expect(page.getByTestId('field-headers-problem')).toContainText('not JSON');
  await expect(page.getByTestId('editor-problems')).toContainText('http_1');
  await expect(page.getByTestId('save')).toBeDisabled();
  await headers.fill('{"X-Token": "{{ input.token }}"}');
  await expect(page.getByTestId('field-headers-problem')).toHaveCount(0);
  await expect(page.getByTestId('editor-problems').locator('li')).toHaveCount(0);

  await page.getByTestId('policy-max_attempts').fill('0');
  await expect(page.getByTestId('editor-problems')).toContainText('retry.max_attempts must be at least 1');
  await page.getByTestId('policy-max_attempts').fill('3');
  await page.getByTestId('policy-backoff_ms').fill('200');
  await page.getByTestId('policy-timeout_ms').fill('5000');
  await page.getByTestId('policy-on_error').selectOption('continue');
  await expect(page.getByTestId('editor-problems').locator('li')).toHaveCount(0);

  await page.getByTestId('add-condition').click();
  await expect(node(page, 'condition_1').getByTestId('node-summary')).toHaveText('input.ok');
  await page.getByTestId('field-expr').fill('input.count > 3');
  await expect(node(page, 'condition_1').getByTestId('node-summary')).toHaveText('input.count > 3');
  await page.getByTestId('add-delay').click();
  await expect(node(page, 'delay_1').getByTestId('node-summary')).toHaveText('wait 1000 ms');

  await page.getByTestId('save').click();
  await expect(page.getByTestId('save-status')).toHaveText('Saved as v1');

  // What was saved comes back in the forms.
  await page.getByTestId('editor-back').click();
  await expect(page.getByTestId('workflow-page')).toHaveAttribute('data-hydrated', 'true');
  await page.getByTestId('edit-workflow').click();
  await expect(page.getByTestId('editor-page')).toHaveAttribute('data-hydrated', 'true');
  await node(page, 'http_1').locator('rect').click();
  await expect(page.getByTestId('field-headers')).toHaveValue(/"X-Token": "\{\{ input.token \}\}"/);
  await expect(page.getByTestId('policy-max_attempts')).toHaveValue('3');
  await expect(page.getByTestId('policy-backoff_ms')).toHaveValue('200');
  await expect(page.getByTestId('policy-timeout_ms')).toHaveValue('5000');
  await expect(page.getByTestId('policy-on_error')).toHaveValue('continue');
});

test('the start node is explained; "+" adds a connected node; connecting from an input works too', async ({ page }) => {
  await openNewWorkflow(page);
  await node(page, 'start').locator('rect').click();
  await expect(page.getByTestId('node-panel')).toHaveAttribute('data-node', 'start');
  await expect(page.getByTestId('start-help')).toContainText('input.');

  // "+" beside the start node's dot, then a kind from the palette: added beside it, connected.
  await node(page, 'start').getByTestId('add-after').click();
  await expect(page.getByTestId('attach-hint')).toContainText('start');
  await page.getByTestId('add-llm').click();
  await expect(node(page, 'llm_1')).toHaveCount(1);
  await expect(edge(page, 'start', 'llm_1')).toHaveCount(1);
  await expect(page.getByTestId('attach-hint')).toHaveCount(0);
  const start = (await node(page, 'start').locator('rect').boundingBox())!;
  const llm = (await node(page, 'llm_1').locator('rect').boundingBox())!;
  expect(llm.x).toBeGreaterThan(start.x + start.width);

  // On a condition's false dot: the new edge carries the branch.
  await page.getByTestId('add-condition').click();
  await node(page, 'condition_1').locator('[data-testid=add-after][data-branch=false]').click();
  await page.getByTestId('add-template').click();
  await expect(edge(page, 'condition_1', 'template_1')).toHaveAttribute('data-branch', 'false');

  // Dragging from an input dot to an output dot connects output → input.
  await dragBetween(page, node(page, 'condition_1').getByTestId('port-in'), node(page, 'llm_1').getByTestId('port-out'));
  await expect(edge(page, 'llm_1', 'condition_1')).toHaveCount(1);
  await expect(page.getByTestId('editor-problems').locator('li')).toHaveCount(0);
});

test('a switch built in the editor routes a run by its first case that holds', async ({ page }) => {
  await openNewWorkflow(page);
  const name = unique('Route by priority');
  await page.getByTestId('workflow-name-input').fill(name);

  // A switch from the palette, after the start node; its panel lists its cases.
  await node(page, 'start').locator('rect').click();
  await node(page, 'start').getByTestId('add-after').click();
  await page.getByTestId('add-switch').click();
  await expect(page.getByTestId('node-panel')).toHaveAttribute('data-node', 'switch_1');
  await expect(edge(page, 'start', 'switch_1')).toHaveCount(1);
  await expect(page.getByTestId('case-0-name')).toHaveValue('urgent');
  await page.getByTestId('case-0-expr').fill("input.priority == 'high'");
  await page.getByTestId('add-case').click();
  await page.getByTestId('case-1-name').fill('low');
  await page.getByTestId('case-1-expr').fill("input.priority == 'low'");
  await expect(node(page, 'switch_1').getByTestId('branch-label')).toHaveText(['urgent', 'low', 'default']);

  // A reply on the `urgent` dot and one on `default`.
  await node(page, 'switch_1').locator('[data-testid=add-after][data-branch=urgent]').click();
  await page.getByTestId('add-template').click();
  await page.getByTestId('field-template').fill('URGENT: {{ input.text }}');
  await expect(edge(page, 'switch_1', 'template_1')).toHaveAttribute('data-branch', 'urgent');
  await node(page, 'switch_1').locator('rect').click();
  await node(page, 'switch_1').locator('[data-testid=add-after][data-branch=default]').click();
  await page.getByTestId('add-template').click();
  await page.getByTestId('field-template').fill('later: {{ input.text }}');
  await expect(edge(page, 'switch_1', 'template_2')).toHaveAttribute('data-branch', 'default');

  // Renaming a case renames the branch its edges leave by.
  await node(page, 'switch_1').locator('rect').click();
  await page.getByTestId('case-0-name').fill('now');
  await expect(edge(page, 'switch_1', 'template_1')).toHaveAttribute('data-branch', 'now');
  await expect(page.getByTestId('editor-problems').locator('li')).toHaveCount(0);
  await page.screenshot({ path: 'test-results/editor-switch.png' });
  await page.getByTestId('save').click();
  await expect(page.getByTestId('save-status')).toHaveText('Saved as v1');

  await page.getByRole('link', { name: '← Back' }).click();
  await expect(page.getByTestId('workflow-page')).toHaveAttribute('data-hydrated', 'true');
  await page.getByTestId('run-input').fill('{"priority": "high", "text": "server down"}');
  await page.getByTestId('run-button').click();
  await expect(page.getByTestId('run-status')).toHaveText('succeeded');
  await expect(page.locator('[data-testid=node-row][data-node=template_1]')).toHaveAttribute('data-status', 'succeeded');
  await expect(page.locator('[data-testid=node-row][data-node=template_2]')).toHaveAttribute('data-status', 'skipped');
  await page.locator('[data-testid=node-row][data-node=switch_1]').click();
  await expect(page.getByTestId('node-output')).toContainText('now');
});

test('a wait node built in the editor pauses the run until someone approves it in the run view', async ({ page }) => {
  await openNewWorkflow(page);
  const name = unique('Publish after review');
  await page.getByTestId('workflow-name-input').fill(name);

  // Ask (with the resume link in the message), wait for the answer, then act on it.
  await node(page, 'start').locator('rect').click();
  await node(page, 'start').getByTestId('add-after').click();
  await page.getByTestId('add-template').click();
  await page.getByTestId('field-template').fill('Review {{ input.title }}: {{ resume_urls.wait_1 }}');
  await node(page, 'template_1').locator('rect').click();
  await node(page, 'template_1').getByTestId('add-after').click();
  await page.getByTestId('add-wait').click();
  await expect(page.getByTestId('node-panel')).toHaveAttribute('data-node', 'wait_1');
  await expect(node(page, 'wait_1')).toContainText('for an answer, 24 h');
  await page.getByTestId('field-on_timeout').selectOption('continue');
  await node(page, 'wait_1').locator('rect').click();
  await node(page, 'wait_1').getByTestId('add-after').click();
  await page.getByTestId('add-template').click();
  await page
    .getByTestId('field-template')
    .fill('{% if nodes.wait_1.approved %}published{% else %}dropped{% endif %} by {{ nodes.wait_1.by }}: {{ nodes.wait_1.comment }}');
  await expect(edge(page, 'wait_1', 'template_2')).toHaveCount(1);
  await expect(page.getByTestId('editor-problems').locator('li')).toHaveCount(0);
  await page.screenshot({ path: 'test-results/editor-wait.png' });
  await page.getByTestId('save').click();
  await expect(page.getByTestId('save-status')).toHaveText('Saved as v1');

  await page.getByRole('link', { name: '← Back' }).click();
  await expect(page.getByTestId('workflow-page')).toHaveAttribute('data-hydrated', 'true');
  await page.getByTestId('run-input').fill('{"title": "Q3 report"}');
  await page.getByTestId('run-button').click();
  await expect(page.getByTestId('run-page')).toHaveAttribute('data-hydrated', 'true');
  await expect(page.getByTestId('run-status')).toHaveText('waiting');
  await expect(page.locator('[data-testid=node-row][data-node=wait_1]')).toHaveAttribute('data-status', 'waiting');
  await expect(page.locator('[data-testid=node-row][data-node=template_2]')).toHaveAttribute('data-status', 'queued');
  // The message carried the run's own resume link.
  await page.locator('[data-testid=node-row][data-node=template_1]').click();
  await expect(page.getByTestId('node-output')).toContainText(/Review Q3 report: \/resume\/\d+\/wait_1\/[A-Za-z0-9_-]{43}/);

  await page.getByTestId('wait-comment').fill('looks good');
  await page.screenshot({ path: 'test-results/run-waiting.png' });
  await page.getByTestId('wait-approve').click();
  await expect(page.getByTestId('run-status')).toHaveText('succeeded');
  await expect(page.getByTestId('wait-card')).toHaveCount(0);
  await page.locator('[data-testid=node-row][data-node=template_2]').click();
  await expect(page.getByTestId('node-output')).toContainText('published by admin@');
  await expect(page.getByTestId('node-output')).toContainText(': looks good');
  await page.screenshot({ path: 'test-results/run-approved.png' });
});

test('a workflow node built in the editor runs another workflow, and the two runs link to each other', async ({ page }) => {
  // The workflow to call: it shouts the word it is given.
  await openNewWorkflow(page);
  const shout = unique('Shout');
  await page.getByTestId('workflow-name-input').fill(shout);
  await node(page, 'start').locator('rect').click();
  await node(page, 'start').getByTestId('add-after').click();
  await page.getByTestId('add-template').click();
  await page.getByTestId('field-template').fill('{{ input.word | upper }}!');
  await page.getByTestId('save').click();
  await expect(page.getByTestId('save-status')).toHaveText('Saved as v1');

  // The caller: picks it by name in the side panel.
  await openNewWorkflow(page);
  const caller = unique('Greeter');
  await page.getByTestId('workflow-name-input').fill(caller);
  await node(page, 'start').locator('rect').click();
  await node(page, 'start').getByTestId('add-after').click();
  await page.getByTestId('add-workflow').click();
  await expect(page.getByTestId('node-panel')).toHaveAttribute('data-node', 'workflow_1');
  await expect(page.getByTestId('editor-problems')).toContainText('config.workflow must be the id of one of your workflows');
  const pick = page.getByTestId('field-workflow');
  const shoutId = await pick.locator('option', { hasText: shout }).getAttribute('value');
  await pick.selectOption(shoutId!);
  await page.getByTestId('field-input').fill("{'word': input.name}");
  await expect(page.getByTestId('field-wait')).toBeChecked();
  await expect(node(page, 'workflow_1')).toContainText(`run workflow #${shoutId}`);
  await expect(page.getByTestId('editor-problems').locator('li')).toHaveCount(0);
  await page.screenshot({ path: 'test-results/editor-workflow-node.png' });
  await page.getByTestId('save').click();
  await expect(page.getByTestId('save-status')).toHaveText('Saved as v1');

  await page.getByRole('link', { name: '← Back' }).click();
  await expect(page.getByTestId('workflow-page')).toHaveAttribute('data-hydrated', 'true');
  await page.getByTestId('run-input').fill('{"name": "hello"}');
  await page.getByTestId('run-button').click();
  await expect(page.getByTestId('run-page')).toHaveAttribute('data-hydrated', 'true');
  await expect(page.getByTestId('run-status')).toHaveText('succeeded');
  await page.locator('[data-testid=node-row][data-node=workflow_1]').click();
  await expect(page.getByTestId('node-output')).toContainText('HELLO!');
  await expect(page.getByTestId('child-run-link')).toHaveCount(1);
  await page.screenshot({ path: 'test-results/run-parent.png' });
  const parentUrl = page.url();

  // The child run says which run started it, and leads back there.
  await page.getByTestId('child-run-link').click();
  await expect(page.getByTestId('run-page')).toHaveAttribute('data-hydrated', 'true');
  await expect(page.getByTestId('run-meta')).toContainText('workflow');
  await expect(page.getByTestId('run-meta')).toContainText('started by node workflow_1');
  await expect(page.getByRole('heading', { level: 1 })).toContainText(shout);
  await page.screenshot({ path: 'test-results/run-child.png' });
  await page.getByTestId('parent-run-link').click();
  await expect(page).toHaveURL(parentUrl);
  await expect(page.getByTestId('run-status')).toHaveText('succeeded');
});

test('a graph wider than the screen gets a minimap, and a click on it brings that part into view', async ({ page }) => {
  // Sixty nodes in one long row: wider than the canvas at any zoom the editor allows.
  await editImportedChain(page, unique('Long row'), 60, (i) => ({ x: i * 260, y: (i % 3) * 90 }));
  const minimap = page.getByTestId('minimap');
  await expect(minimap.getByTestId('minimap-node')).toHaveCount(60);
  await expect(minimap.getByTestId('minimap-view')).toHaveCount(1);

  // Zoomed in at the start of the row, the last node is far off screen.
  const canvas = (await page.getByTestId('canvas').boundingBox())!;
  await page.mouse.move(canvas.x + 80, canvas.y + canvas.height / 3);
  for (let i = 0; i < 8; i++) await page.mouse.wheel(0, -200);
  const onCanvas = async (id: string) => {
    const box = (await node(page, id).locator('rect').first().boundingBox())!;
    return box.x >= canvas.x && box.x + box.width <= canvas.x + canvas.width
      && box.y >= canvas.y && box.y + box.height <= canvas.y + canvas.height;
  };
  await expect.poll(() => onCanvas('n59')).toBe(false);
  const viewBefore = (await minimap.getByTestId('minimap-view').boundingBox())!;

  // Its mark on the minimap, clicked: the view is centred on it.
  await minimap.getByTestId('minimap-node').nth(59).click({ force: true });
  await expect.poll(() => onCanvas('n59')).toBe(true);
  expect(await onCanvas('n0')).toBe(false);
  const viewAfter = (await minimap.getByTestId('minimap-view').boundingBox())!;
  expect(viewAfter.x).toBeGreaterThan(viewBefore.x + 50);
  await page.screenshot({ path: 'test-results/minimap.png' });
});
