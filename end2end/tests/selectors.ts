// Every selector the browser tests use, in one place.
import type { Page } from '@playwright/test';

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
