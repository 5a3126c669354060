import { test, expect } from "@playwright/test";
import { consoleProblems, hydrated, signIn } from "./helpers";

test("an anonymous visitor is sent to sign in and the demo admin gets in", async ({ page }) => {
  const problems = consoleProblems(page);

  await signIn(page);

  await expect(page.locator(".project-row", { hasText: "Demo Game" })).toBeVisible();
  await expect(page.locator("header .user")).toHaveText("demo");
  await page.screenshot({ path: "test-results/screens/projects.png", fullPage: true });
  expect(problems).toEqual([]);
});

test("a wrong password is refused with a message and no sign-in", async ({ page }) => {
  await page.goto("/login");
  await hydrated(page);
  await page.getByLabel("Username").fill("demo");
  await page.getByLabel("Password").fill("not-the-password");
  await page.getByRole("button", { name: "Sign in" }).click();

  await expect(page.getByRole("alert")).toHaveText("Wrong username or password.");
  await expect(page).toHaveURL(/\/login/);
  await page.screenshot({ path: "test-results/screens/login-refused.png" });
});

test("the project filter narrows the list in the browser without a reload", async ({ page }) => {
  await signIn(page);
  await hydrated(page);
  await page.evaluate(() => ((window as any).__sameDocument = true));
  const rows = page.locator(".project-row");
  await expect(rows.filter({ hasText: "Demo Game" })).toBeVisible();
  const total = await rows.count();

  await page.locator("#project-filter").fill("no such project");
  await expect(rows).toHaveCount(0);
  await expect(page.locator("#project-count")).toHaveText(`0 of ${total} shown`);
  await page.locator("#project-filter").fill("demo");
  await expect(rows).toHaveCount(1);

  expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);
});

test("an admin creates a project and sees its secret key once", async ({ page }) => {
  await signIn(page);
  await hydrated(page);

  await page.getByLabel("New project").fill("Browser Test Project");
  await page.getByRole("button", { name: "Create" }).click();

  const keys = page.locator("#new-project-keys");
  await expect(keys).toContainText("Browser Test Project");
  await expect(keys.locator(".secret-key")).toHaveText(/^[A-Za-z0-9_-]{43}$/);
  await expect(page.locator(".project-row", { hasText: "Browser Test Project" })).toBeVisible();

  await page.reload();
  await hydrated(page);
  await expect(page.locator("#new-project-keys")).toHaveCount(0);
  await expect(page.locator(".project-row", { hasText: "Browser Test Project" })).toBeVisible();
});

test("signing out returns to the sign-in page and locks the console again", async ({ page }) => {
  await signIn(page);
  await hydrated(page);

  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login$/);

  await page.goto("/projects");
  await expect(page).toHaveURL(/\/login\?next=%2Fprojects|\/login\?next=\/projects/);
});
