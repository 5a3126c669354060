import { test, expect } from "@playwright/test";
import { consoleProblems, hydrated, signIn } from "./helpers";

test("support finds a payment by user id and the search lives in the URL", async ({ page, request }) => {
  const problems = consoleProblems(page);
  const reserved = await request.post("/v1/sdk/reserve", {
    headers: { "x-nhn-tciap-appkey": "DEMOAPPKEY0000000001" },
    data: { userId: "e2e-shopper", storeCode: "GG", productId: "gem_100" },
  });
  const seq: string = (await reserved.json()).result.paymentSeq;

  await signIn(page, "/transactions");
  await hydrated(page);
  await page.getByLabel("Search by any identifier").fill("e2e-shopper");
  await page.getByRole("button", { name: "Search" }).click();

  await expect(page).toHaveURL(/q=e2e-shopper/);
  await expect(page.locator("table.results tbody tr")).toHaveCount(1);
  await expect(page.locator("table.results td.seq")).toContainText(seq);
  await expect(page.locator("table.results td.status")).toHaveText("RESERVED");
  await page.reload();
  await hydrated(page);
  await expect(page.getByLabel("Search by any identifier")).toHaveValue("e2e-shopper");
  await expect(page.locator("table.results tbody tr")).toHaveCount(1);
  await page.screenshot({ path: "test-results/screens/transactions.png", fullPage: true });

  await page.getByRole("link", { name: seq }).click();
  await expect(page).toHaveURL(new RegExp(`/payments/${seq}$`));
  await expect(page.locator("h1 .seq")).toHaveText(seq);
  await expect(page.locator("ol.history li")).toHaveCount(1);
  await expect(page.locator("ol.history li strong")).toHaveText("RESERVE");
  await page.screenshot({ path: "test-results/screens/payment.png", fullPage: true });
  expect(problems).toEqual([]);
});

test("the refunds page renders its filters and reports", async ({ page }) => {
  const problems = consoleProblems(page);

  await signIn(page, "/refunds");
  await hydrated(page);

  await expect(page.getByRole("heading", { name: "Refunds" })).toBeVisible();
  await expect(page.getByLabel("Minimum refunds per user")).toHaveValue("1");
  await expect(page.getByRole("heading", { name: "Refunded payments" })).toBeVisible();
  expect(problems).toEqual([]);
});

test("the audit log shows the admin's own sign-in", async ({ page }) => {
  const problems = consoleProblems(page);

  await signIn(page, "/audit");
  await hydrated(page);

  await expect(page.locator("table.audit-log td.action", { hasText: /^login$/ }).first()).toBeVisible();
  await page.getByLabel("Action").fill("login");
  await page.getByRole("button", { name: "Show" }).click();
  await expect(page).toHaveURL(/action=login/);
  await expect(page.locator("table.audit-log tbody tr").first()).toContainText("demo");
  expect(problems).toEqual([]);
});
