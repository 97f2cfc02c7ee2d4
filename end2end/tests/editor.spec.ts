import { test, expect, type Page, type Locator } from '@playwright/test';

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

test('build a three-node workflow with the mouse, with validation, undo, save, then run it', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByTestId('workflows-page')).toHaveAttribute('data-hydrated', 'true');
  await page.getByTestId('new-workflow').click();
  await expect(page).toHaveURL(/\/workflows\/\d+\/edit$/);
  await expect(page.getByTestId('editor-page')).toHaveAttribute('data-hydrated', 'true');
  await expect(node(page, 'start')).toHaveCount(1);

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

  await page.keyboard.press('Control+s');
  await expect(page.getByTestId('save-status')).toHaveText('Saved as v2');

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
  const nodes = Array.from({ length: 200 }, (_, i) => ({
    id: `n${i}`, type: 'delay', config: { ms: 1 }, position: { x: (i % 20) * 200, y: Math.floor(i / 20) * 80 },
  }));
  const edges = nodes.slice(1).map((n, i) => ({ from: `n${i}`, to: n.id }));
  const response = await page.request.post('/api/workflows/import', {
    form: { definition: JSON.stringify({ name: unique('Two hundred'), nodes, edges }) },
  });
  expect(response.status()).toBe(200);
  const id = (await response.json()).id;
  await page.goto(`/workflows/${id}/edit`);
  await expect(page.getByTestId('editor-page')).toHaveAttribute('data-hydrated', 'true');
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
