// Accounts the browser tests use. The admin is created by admin.setup.ts.
import { expect, type Page } from '@playwright/test';

export const ADMIN_STATE = '.auth/admin.json';
export const ADMIN = { email: 'admin@weft.test', password: 'admin-password-1' };
// Created by .ci/test with `weft user create` and filled by `weft seed`.
export const BULK = { email: 'bulk@weft.test', password: 'bulk-password-1' };

export async function signIn(page: Page, who: { email: string; password: string }) {
  await page.goto('/login');
  await expect(page.getByTestId('sign-in-page')).toHaveAttribute('data-hydrated', 'true');
  await page.getByTestId('email').fill(who.email);
  await page.getByTestId('password').fill(who.password);
  await page.getByTestId('sign-in').click();
  await expect(page.getByTestId('signed-in-as')).toHaveText(who.email);
}
