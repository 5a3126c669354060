import { test, expect } from "@playwright/test";
import { buyGoogleGem, consoleProblems, hydrated, signIn } from "./helpers";

/**
 * Every console page under its Content-Security-Policy: it hydrates (the wasm module and the
 * hydration script are allowed) and the browser reports no violation. A violation is a console error.
 */
test("every console page hydrates under the content security policy without a violation", async ({ page, request }) => {
  const problems = consoleProblems(page);
  const paid = await buyGoogleGem(request, "e2e-csp");

  await signIn(page);
  for (const path of ["/projects", "/transactions", "/refunds", "/statistics", "/notifications", "/audit", "/users",
    `/payments/${paid.paymentSeq}`]) {
    const response = await page.goto(path);
    const policy = response?.headers()["content-security-policy"] ?? "";
    expect(policy, path).toContain("frame-ancestors 'none'");
    expect(policy, path).toMatch(/'nonce-[A-Za-z0-9+/=_-]+'/);
    await hydrated(page);
  }

  expect(problems.filter((p) => /Content Security Policy|Refused to/i.test(p))).toEqual([]);
  expect(problems).toEqual([]);
});

test("the console cannot be framed by another page", async ({ page }) => {
  const response = await page.goto("/login");
  expect(response?.headers()["x-frame-options"]).toBe("DENY");
  expect(response?.headers()["content-security-policy"]).toContain("frame-ancestors 'none'");
});
