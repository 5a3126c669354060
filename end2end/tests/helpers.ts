import { expect, type APIRequestContext, type ConsoleMessage, type Page } from "@playwright/test";

export const DEMO_ADMIN = { username: "demo", password: "demo-password" };

/** Waits until the wasm has hydrated the page: clicks before that are lost. */
export async function hydrated(page: Page) {
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
}

/** Collects browser console errors and warnings (hydration problems show up there). */
export function consoleProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on("console", (msg: ConsoleMessage) => {
    if (msg.type() === "error" || msg.type() === "warning") problems.push(`${msg.type()}: ${msg.text()}`);
  });
  page.on("pageerror", (err) => problems.push(`pageerror: ${err.message}`));
  return problems;
}

export async function signIn(page: Page, next = "/projects") {
  await page.goto(next);
  await expect(page).toHaveURL(/\/login\?next=/);
  await hydrated(page);
  await page.getByLabel("Username").fill(DEMO_ADMIN.username);
  await page.getByLabel("Password").fill(DEMO_ADMIN.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  // The login URL itself ends with `next`: wait until the browser has left it.
  await page.waitForURL((url) => !url.pathname.startsWith("/login"));
  await expect(page).toHaveURL(new RegExp(`${next}$`));
}

/** Signs in and opens the demo project's page, hydrated. */
export async function openDemoProject(page: Page) {
  await signIn(page);
  await hydrated(page);
  await page.getByRole("link", { name: "Demo Game" }).click();
  await expect(page).toHaveURL(/\/projects\/\d+$/);
  await hydrated(page);
}

export const APP_KEY = "DEMOAPPKEY0000000001";
/** The demo's store fakes, served by the server under test (on 4010 when that port is free). */
export const FAKES = process.env.E2E_FAKES ?? "http://127.0.0.1:4010";

/** A Google Play gem bought in the store fake and verified through the SDK API. */
export async function buyGoogleGem(request: APIRequestContext, userId: string) {
  const made = await request.post(`${FAKES}/google/fake/products`, {
    data: { packageName: "com.example.iapdemo", productId: "gem_100" },
  });
  expect(made.status()).toBe(201);
  const { purchaseToken, orderId } = await made.json();
  const verified = await request.post("/v1/sdk/verify", {
    headers: { "x-nhn-tciap-appkey": APP_KEY },
    data: { userId, storeCode: "GG", productId: "gem_100", purchaseToken },
  });
  const body = await verified.json();
  expect(body.header.isSuccessful).toBe(true);
  return {
    paymentSeq: body.result.paymentSeq as string,
    accessToken: body.result.accessToken as string,
    orderId: orderId as string,
    purchaseToken: purchaseToken as string,
  };
}

/** A reservation that no store answer follows. */
export async function reserve(request: APIRequestContext, userId: string, storeCode = "GG"): Promise<string> {
  const reserved = await request.post("/v1/sdk/reserve", {
    headers: { "x-nhn-tciap-appkey": APP_KEY },
    data: { userId, storeCode, productId: "gem_100" },
  });
  return (await reserved.json()).result.paymentSeq;
}
