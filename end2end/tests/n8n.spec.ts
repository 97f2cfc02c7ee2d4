import { test, expect } from '@playwright/test';
import { ui } from './selectors';

// An n8n export as n8n writes it: a manual trigger, Edit Fields reading the
// input, an IF with both outputs connected, and a node Weft cannot map.
function n8nExport(name: string) {
  const node = (nodeName: string, type: string, parameters: object, position: [number, number]) =>
    ({ id: `id-${nodeName}`, name: nodeName, type, typeVersion: 1, position, parameters });
  return {
    name,
    nodes: [
      node("When clicking 'Test workflow'", 'n8n-nodes-base.manualTrigger', {}, [0, 0]),
      node('Edit Fields', 'n8n-nodes-base.set', { assignments: { assignments: [
        { id: 'a', name: 'greeting', value: '=Hello {{ $json.who }}', type: 'string' },
        { id: 'b', name: 'vip', value: '={{ $json.tier === "gold" }}', type: 'boolean' },
      ] } }, [220, 0]),
      node('Is VIP', 'n8n-nodes-base.if', { conditions: { combinator: 'and', conditions: [
        { leftValue: '={{ $json.vip }}', rightValue: '', operator: { type: 'boolean', operation: 'true' } }] } }, [440, 0]),
      node('Welcome VIP', 'n8n-nodes-base.set', { assignments: { assignments: [
        { id: 'c', name: 'message', value: "={{ $('Edit Fields').item.json.greeting }}, our gold member", type: 'string' }] } }, [660, -100]),
      node('Post to Slack', 'n8n-nodes-base.slack', { text: 'hi' }, [660, 100]),
    ],
    connections: {
      "When clicking 'Test workflow'": { main: [[{ node: 'Edit Fields', type: 'main', index: 0 }]] },
      'Edit Fields': { main: [[{ node: 'Is VIP', type: 'main', index: 0 }]] },
      'Is VIP': { main: [[{ node: 'Welcome VIP', type: 'main', index: 0 }], [{ node: 'Post to Slack', type: 'main', index: 0 }]] },
    },
  };
}

test('an n8n export pasted on the workflows page imports with its report, and runs', async ({ page }) => {
  const name = `From n8n ${Date.now()}`;
  await page.goto('/');
  const $ = ui(page);
  await expect($.workflowsPage).toHaveAttribute('data-hydrated', 'true');
  await $.definitionInput.fill(JSON.stringify(n8nExport(name)));
  // The report says what did not carry over, before anything is imported.
  const report = page.getByTestId('n8n-report');
  await expect(report).toContainText('From n8n: 4 nodes.');
  await expect(report.getByTestId('n8n-note').filter({ hasText: 'Post to Slack' })).toContainText('no Weft equivalent');
  await expect(report.getByTestId('n8n-note').filter({ hasText: "When clicking 'Test workflow'" })).toContainText('Run button');
  await page.screenshot({ path: 'test-results/n8n-import-report.png', fullPage: true });
  await $.importButton.click();
  await $.workflowRows.filter({ hasText: name }).getByTestId('workflow-link').click();
  await expect(page.getByTestId('workflow-page')).toHaveAttribute('data-hydrated', 'true');
  await expect(page.getByTestId('workflow-name')).toHaveText(name);
  await expect(page).toHaveTitle(`${name} · Weft`);

  // A gold member takes the IF's true branch; the placeholder on the other is skipped.
  await page.getByTestId('run-input').fill('{"who": "Ada", "tier": "gold"}');
  await page.getByTestId('run-button').click();
  await expect(page.getByTestId('run-page')).toHaveAttribute('data-hydrated', 'true');
  await expect(page.getByTestId('run-status')).toHaveText('succeeded');
  await expect(page.locator('[data-testid=node-row][data-node=post_to_slack]')).toHaveAttribute('data-status', 'skipped');
  await page.locator('[data-testid=node-row][data-node=welcome_vip]').click();
  await expect(page.getByTestId('node-output')).toContainText('Hello Ada, our gold member');
  await expect(page).toHaveTitle(/^Run \d+ · From n8n/);
  await page.screenshot({ path: 'test-results/n8n-import-run.png', fullPage: true });
});
