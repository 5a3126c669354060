import { test, expect } from "@playwright/test";
import { buyGoogleGem, consoleProblems, hydrated, reserve, signIn } from "./helpers";

test("support finds a payment by user id and the search lives in the URL", async ({ page, request }) => {
  const problems = consoleProblems(page);
  const seq = await reserve(request, "e2e-shopper");

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
  await page.screenshot({ path: "test-results/screens/refunds.png", fullPage: true });
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

test("every kind of identifier finds the payment and the row says which it matched", async ({ page, request }) => {
  const problems = consoleProblems(page);
  const bought = await buyGoogleGem(request, "e2e-identifiers");
  const kinds: [string, string][] = [
    [bought.paymentSeq, "paymentSeq"],
    ["e2e-identifiers", "user id"],
    [bought.orderId, "store reference key"],
    [bought.purchaseToken, "purchase token"],
    [bought.accessToken, "access token"],
  ];

  await signIn(page, "/transactions");
  for (const [identifier, kind] of kinds) {
    await page.goto(`/transactions?q=${encodeURIComponent(identifier)}`);
    await hydrated(page);
    await expect(page.locator("table.results tbody tr")).toHaveCount(1);
    await expect(page.locator("table.results td.seq")).toContainText(bought.paymentSeq);
    await expect(page.locator("table.results .matched")).toHaveText(`matched ${kind}`);
  }
  expect(problems).toEqual([]);
});

test("filters narrow the results and the next link pages through them by keyset", async ({ page, request }) => {
  const problems = consoleProblems(page);
  const seqs = new Set<string>();
  for (let i = 0; i < 55; i++) seqs.add(await reserve(request, "e2e-pager"));
  await buyGoogleGem(request, "e2e-pager");

  await signIn(page, "/transactions");
  await hydrated(page);
  await page.getByLabel("Search by any identifier").fill("e2e-pager");
  await page.getByLabel("Payment status").selectOption("RESERVED");
  await page.getByRole("button", { name: "Search" }).click();

  await expect(page).toHaveURL(/status=RESERVED/);
  const rows = page.locator("table.results tbody tr");
  await expect(rows).toHaveCount(50);
  const first = await page.locator("table.results td.seq a").allTextContents();
  await page.locator("a.next").click();
  await expect(page).toHaveURL(/after=/);
  await expect(rows).toHaveCount(5);
  const second = await page.locator("table.results td.seq a").allTextContents();
  const shown = [...first, ...second].map((s) => s.trim());
  expect(new Set(shown).size).toBe(55);
  expect(shown.every((s) => seqs.has(s))).toBe(true);
  expect(problems).toEqual([]);
});

test("the CSV export downloads the current search", async ({ page, request }) => {
  const bought = await buyGoogleGem(request, "e2e-export");

  await signIn(page, "/transactions");
  await page.goto("/transactions?q=e2e-export");
  await hydrated(page);
  const download = page.waitForEvent("download");
  await page.getByRole("link", { name: "Export CSV" }).click();
  const file = await download;
  const text = await (await file.createReadStream()).toArray().then((chunks) => Buffer.concat(chunks).toString());

  const lines = text.trim().split("\n");
  expect(lines).toHaveLength(2);
  expect(lines[1]).toContain(bought.paymentSeq);
});

test("support marks a missed App Store charge as SUCCESS with a reason, seen in the history and the audit log", async ({
  page,
  request,
}) => {
  const problems = consoleProblems(page);
  const seq = await reserve(request, "e2e-missed", "AS");

  await signIn(page, `/payments/${seq}`);
  await hydrated(page);
  await page.getByText("Mark as SUCCESS…").click();
  const form = page.locator("#change-success");
  await form.getByLabel("Receipt number").fill("2000000555001");
  await form.getByLabel("Price").fill("0.99");
  await form.getByLabel("Currency").fill("USD");
  await form.getByLabel("Reason").fill("user sent the Apple receipt by mail");
  await form.getByRole("button", { name: "Mark as SUCCESS" }).click();

  const change = page.locator("ol.history li", { hasText: "MANUAL_SUCCESS" });
  await expect(change).toContainText("user sent the Apple receipt by mail");
  await expect(change).toContainText("demo");
  await expect(page.locator("dl.fields")).toContainText("SUCCESS");
  await expect(page.locator("#change-success")).toHaveCount(0);
  await page.getByRole("button", { name: "Ask the store now" }).click();
  await expect(page.locator("#store-answer")).toBeVisible();
  await page.screenshot({ path: "test-results/screens/payment-changed.png", fullPage: true });

  await page.goto("/audit?action=payment.status");
  await hydrated(page);
  const row = page.locator("table.audit-log tbody tr", { hasText: seq });
  await expect(row).toContainText("user sent the Apple receipt by mail");
  await expect(row).toContainText("RESERVED → SUCCESS");
  await page.screenshot({ path: "test-results/screens/audit.png", fullPage: true });
  expect(problems).toEqual([]);
});
