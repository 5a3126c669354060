import { test, expect } from "@playwright/test";
import { buyGoogleGem, consoleProblems, FAKES, hydrated, openDemoProject, signIn } from "./helpers";

test("an admin rotates the SecretKey, sees the new one once, and tests a store connection", async ({ page }) => {
  const problems = consoleProblems(page);

  await openDemoProject(page);
  await expect(page.locator("#key-status")).toHaveText("active");
  await expect(page.locator(".store-app")).toHaveCount(3);

  await page.getByLabel("Old secret keeps working for (hours)").fill("2");
  await page.getByRole("button", { name: "Rotate the SecretKey" }).click();
  const secret = page.locator("#rotated-secret .secret-key");
  await expect(secret).toHaveText(/^[A-Za-z0-9_-]{43}$/);
  const shown = await secret.textContent();

  const google = page.locator(".store-app", { hasText: "Google Play" });
  await google.getByRole("button", { name: "Test connection" }).click();
  await expect(google.locator(".check.ok")).toContainText("accepted");
  await page.screenshot({ path: "test-results/screens/project.png", fullPage: true });

  await page.reload();
  await hydrated(page);
  await expect(page.locator("#rotated-secret")).toHaveCount(0);
  await expect(page.locator("#grace")).toContainText("still accepted until");
  await expect(page.locator("dl.keys")).toContainText(shown!.slice(-4));
  expect(problems).toEqual([]);
});

test("an admin adds an item, gives it list prices, stops it, and filters the list by status", async ({ page }) => {
  await openDemoProject(page);

  const add = page.locator("#add-item");
  await add.getByLabel("Store item ID").fill("e2e_crystal");
  await add.getByLabel("Name").fill("E2E crystal");
  await add.getByRole("button", { name: "Add item" }).click();
  const row = page.locator(".item-row", { hasText: "e2e_crystal" });
  await expect(row.locator(".item-status")).toHaveText("USE");
  await row.getByLabel("List prices").fill("1500 krw, USD 1.29");
  await row.getByRole("button", { name: "Save prices" }).click();
  await expect(row.getByLabel("List prices")).toHaveValue("1500 KRW, 1.29 USD");
  await row.getByLabel("List prices").fill("1500 dollars");
  await row.getByRole("button", { name: "Save prices" }).click();
  await expect(page.getByRole("alert")).toContainText("three-letter");
  await page.reload();
  await hydrated(page);
  await expect(row.getByLabel("List prices")).toHaveValue("1500 KRW, 1.29 USD");
  await row.getByRole("button", { name: "Set STOP" }).click();
  await expect(page.locator(".item-row", { hasText: "e2e_crystal" }).locator(".item-status")).toHaveText("STOP");

  await page.locator("#item-filter").selectOption("STOP");
  await expect(page.locator(".item-row", { hasText: "e2e_crystal" })).toBeVisible();
  await expect(page.locator(".item-row", { hasText: "gem_500" })).toHaveCount(0);
});

test("statistics show the month's sales as bars per store", async ({ page, request }) => {
  const problems = consoleProblems(page);
  await buyGoogleGem(request, "e2e-stats");

  await signIn(page, "/statistics");
  await hydrated(page);

  await expect(page.locator("figure.daily", { hasText: "Google Play" }).locator("svg.bars rect.sales")).not.toHaveCount(0);
  await expect(page.locator("#monthly tbody tr").first()).toBeVisible();
  await page.screenshot({ path: "test-results/screens/statistics.png", fullPage: true });
  expect(problems).toEqual([]);
});

test("an admin creates a support user and changes the role", async ({ page }) => {
  const problems = consoleProblems(page);

  await signIn(page, "/users");
  await hydrated(page);
  const create = page.locator("#create-user");
  await create.getByLabel("Username").fill("e2e.support");
  await create.getByLabel("Password").fill("a long e2e password");
  await create.getByLabel("Role").selectOption("SUPPORT");
  await create.getByRole("button", { name: "Create user" }).click();

  const row = page.locator('.user-row[data-user="e2e.support"]');
  await expect(row.getByLabel("Role")).toHaveValue("SUPPORT");
  await row.getByLabel("Role").selectOption("VIEWER");
  await row.getByRole("button", { name: "Set role" }).click();
  await expect(page.locator('.user-row[data-user="e2e.support"]').getByLabel("Role")).toHaveValue("VIEWER");
  await page.screenshot({ path: "test-results/screens/users.png", fullPage: true });
  expect(problems).toEqual([]);
});

test("an admin adds a webhook endpoint, sees its signing secret once, and the delivery log shows the tries", async ({
  page,
  request,
}) => {
  const problems = consoleProblems(page);
  await openDemoProject(page);

  const add = page.locator("#add-webhook");
  await add.getByLabel("Endpoint URL").fill(`${FAKES}/no-such-receiver`);
  await add.getByRole("button", { name: "Add endpoint" }).click();
  await expect(page.locator("#webhook-secret .secret-key")).toHaveText(/^whsec_[A-Za-z0-9+/=]{32}$/);
  await expect(page.locator(".webhook-row")).toHaveCount(1);

  await buyGoogleGem(request, "e2e-webhooks");
  // The server's delivery job runs every few seconds; the receiver answers 404, so the event waits for a retry.
  await expect
    .poll(
      async () => {
        await page.reload();
        const rows = page.locator("#delivery-log tbody tr");
        return (await rows.count()) > 0 ? rows.first().textContent() : "";
      },
      { timeout: 30_000, intervals: [1_000] },
    )
    .toContain("404");
  await hydrated(page);
  await expect(page.locator("#webhook-secret")).toHaveCount(0);
  await page.screenshot({ path: "test-results/screens/project-webhooks.png", fullPage: true });
  expect(problems).toEqual([]);
});

test("the project page marks what the AppKey may do that is weaker than a new project's defaults", async ({ page }) => {
  const problems = consoleProblems(page);
  await openDemoProject(page);

  // The demo is laxer than a new project, so that the store fakes' examples work as pasted.
  await expect(page.locator("#user-binding .badge.weaker")).toHaveText("weaker");
  await expect(page.locator(".store-app .badge.weaker", { hasText: "accepts sandbox purchases" })).toHaveCount(3);
  await expect(page.locator(".store-app .badge.weaker", { hasText: "accepts StoreKit 1 receipts" })).toHaveCount(1);
  await expect(page.locator("#client-consume")).toContainText("off: only the app's server consumes");

  const form = page.locator("#policy-form");
  await form.getByLabel("the app may consume (weaker)").check();
  await form.getByRole("button", { name: "Save" }).click();
  await expect(page.locator("#client-consume .badge.weaker")).toHaveText("weaker");

  await page.locator("#policy-form").getByLabel("the app may consume (weaker)").uncheck();
  await page.locator("#policy-form").getByRole("button", { name: "Save" }).click();
  await expect(page.locator("#client-consume .badge.weaker")).toHaveCount(0);
  expect(problems).toEqual([]);
});

test("an admin chooses what the project answers when a store asks about a refund", async ({ page }) => {
  const problems = consoleProblems(page);
  await openDemoProject(page);

  await expect(page.locator("#refund-policy")).toContainText("LEDGER");
  await expect(page.locator("#consumption-consent")).toContainText("not sent");

  const form = page.locator("#refund-policy-form");
  await form.locator("select[name=refund_policy]").selectOption("DEFEND");
  await form.getByLabel("customers consented to consumption data going to Apple").check();
  await form.getByRole("button", { name: "Save" }).click();
  await expect(page.locator("#refund-policy")).toContainText("DEFEND: the facts and a preference");
  await expect(page.locator("#consumption-consent")).toContainText("sent: the app's customers consented");

  await form.locator("select[name=refund_policy]").selectOption("LEDGER");
  await form.getByLabel("customers consented to consumption data going to Apple").uncheck();
  await form.getByRole("button", { name: "Save" }).click();
  await expect(page.locator("#refund-policy")).toContainText("LEDGER");
  expect(problems).toEqual([]);
});
