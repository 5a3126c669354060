import { test, expect } from "@playwright/test";
import { APP_KEY, consoleProblems, FAKES, hydrated, openDemoProject } from "./helpers";

/**
 * An App Store purchase made in the store fake, which sends the server its notification, and
 * verified by the app (a notification about a purchase no verify has recorded waits for one).
 */
async function appleNotification(request: import("@playwright/test").APIRequestContext) {
  const made = await request.post(`${FAKES}/apple/fake/purchases`, {
    data: { bundleId: "com.example.iapdemo", productId: "gem_100" },
  });
  expect(made.status()).toBe(201);
  const verified = await request.post("/v1/sdk/verify", {
    headers: { "x-nhn-tciap-appkey": APP_KEY },
    data: { userId: "e2e-inbox", storeCode: "AS", signedTransaction: (await made.json()).signedTransaction },
  });
  expect((await verified.json()).header.isSuccessful).toBe(true);
}

test("the inbox lists store notifications, filters them by status and support reprocesses one", async ({
  page,
  request,
}) => {
  const problems = consoleProblems(page);
  await appleNotification(request);

  await openDemoProject(page);
  const apple = page.locator(".store-app", { hasText: "App Store" });
  await expect(apple.locator(".last-notification")).toContainText("Last store notification");
  await page.getByRole("link", { name: "Store notifications of this project →" }).click();
  await expect(page).toHaveURL(/\/notifications\?project=\d+$/);
  await hydrated(page);

  const rows = page.locator(".notification-row");
  const charge = rows.filter({ hasText: "ONE_TIME_CHARGE" }).first();
  await expect(charge).toBeVisible();
  // The worker settles the notification in the background: filter by the state it ended in.
  await expect(async () => {
    await page.reload();
    await expect(charge.locator(".status")).not.toHaveText("RECEIVED", { timeout: 1_000 });
  }).toPass({ timeout: 20_000 });
  await hydrated(page);
  const status = (await charge.locator(".status").textContent())!.trim();

  await page.getByLabel("Status").selectOption(status);
  await page.getByRole("button", { name: "Show" }).click();
  await expect(page).toHaveURL(new RegExp(`status=${status}`));
  await hydrated(page);
  await expect(rows.first()).toBeVisible();
  for (const shown of await rows.locator(".status").allTextContents()) expect(shown.trim()).toBe(status);
  await expect(rows.first().locator("details.raw-body")).toHaveCount(1);

  await page.screenshot({ path: "test-results/screens/notifications.png", fullPage: true });

  await rows.first().getByRole("button", { name: "Reprocess" }).click();
  await expect(page.locator("#reprocessed")).toContainText("is due again");

  await page.goto("/audit?action=notification.reprocess");
  await hydrated(page);
  await expect(page.locator(".audit-log tbody tr")).toHaveCount(1);
  expect(problems).toEqual([]);
});
