// Every selector the browser tests use, in one place.
import { expect, type Page } from '@playwright/test';

export const ui = (page: Page) => ({
  workflowsPage: page.getByTestId('workflows-page'),
  definitionInput: page.getByTestId('definition-input'),
  definitionFile: page.getByTestId('definition-file'),
  importButton: page.getByTestId('import-button'),
  validationErrors: page.getByTestId('validation-errors'),
  workflowList: page.getByTestId('workflow-list'),
  workflowRows: page.getByTestId('workflow-row'),
  search: page.getByTestId('workflow-search'),
});

/** From the first page, through the top bar's link: as a person gets to a page. */
export async function openFromMenu(page: Page, link: 'history-link' | 'marketplace-link' | 'settings-link', pageTestId: string) {
  await page.goto('/');
  await expect(page.getByTestId('workflows-page')).toHaveAttribute('data-hydrated', 'true');
  await page.getByTestId(link).click();
  await expect(page.getByTestId(pageTestId)).toHaveAttribute('data-hydrated', 'true');
}

/** From the first page: search the list for `name` and open the workflow. */
export async function openWorkflowFromList(page: Page, name: string) {
  await page.goto('/');
  await expect(page.getByTestId('workflows-page')).toHaveAttribute('data-hydrated', 'true');
  await page.getByTestId('workflow-search').fill(name);
  await page.getByTestId('workflow-row').filter({ hasText: name }).getByTestId('workflow-link').click();
  await expect(page.getByTestId('workflow-page')).toHaveAttribute('data-hydrated', 'true');
}
