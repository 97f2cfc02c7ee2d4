import { test as setup, expect } from '@playwright/test';
import { ADMIN, ADMIN_STATE, signIn } from './accounts';

setup('the first start leads to the admin set-up, which signs the admin in', async ({ page }) => {
  await page.goto('/');
  if (new URL(page.url()).pathname === '/login') {
    // A server that already has its admin (a rerun against the same database).
    await signIn(page, ADMIN);
  } else {
    await expect(page).toHaveURL(/\/setup$/);
    await expect(page.getByTestId('setup-page')).toHaveAttribute('data-hydrated', 'true');
    await page.getByTestId('email').fill(ADMIN.email);
    // Too short is said as you type, and the button waits (it used to accept
    // the click and only then say "at least 8").
    await page.getByTestId('password').fill('short');
    await page.getByTestId('repeat').fill('short');
    await expect(page.getByRole('alert')).toContainText('3 more characters needed');
    await expect(page.getByTestId('create-admin')).toBeDisabled();
    await page.getByTestId('password').fill(ADMIN.password);
    await page.getByTestId('repeat').fill('something else');
    await expect(page.getByRole('alert')).toContainText('the passwords differ');
    await expect(page.getByTestId('create-admin')).toBeDisabled();
    await page.getByTestId('repeat').fill(ADMIN.password);
    await page.getByTestId('create-admin').click();
    await expect(page).toHaveURL(/\/$/);
    await expect(page.getByTestId('signed-in-as')).toHaveText(ADMIN.email);
  }
  await page.context().storageState({ path: ADMIN_STATE });
});
