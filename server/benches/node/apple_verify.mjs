// Benchmark of Apple's official Node library `@apple/app-store-server-library`:
// rate of SignedDataVerifier.verifyAndDecodeTransaction(jws), single-threaded.
//
// usage: node apple_verify.mjs INPUT.json [seconds]
//
// INPUT.json: {"root_der_base64": "...", "bundle_id": "...", "app_apple_id": 1234 | null,
//              "environment": "Sandbox" | "Production", "jws": ["eyJ...", ...]}
//
// Prints one JSON line on stdout:
//   {"library":"@apple/app-store-server-library","version":"x.y.z","node":"v20...",
//    "chain_every_call_per_s":N,"chain_cached_per_s":M,"verified":K}
// `verified` is the number of successful verifyAndDecodeTransaction calls in the
// two timed loops. Diagnostics go to stderr. Any verification failure -> exit 1.
//
// Both modes run fully offline.
//
// Mode "chain every call": `new SignedDataVerifier(roots, /*enableOnlineChecks*/ false, ...)`.
//   In dist/jws_verification.js, verifyCertificateChain() consults and fills
//   `this.verifiedPublicKeyCache` only inside `if (this.enableOnlineChecks) { ... }`,
//   and otherwise always falls through to
//   `await this.verifyCertificateChainWithoutCaching(trustedRoots, leaf, intermediate, effectiveDate)`,
//   i.e. each call re-checks intermediate-by-root and leaf-by-intermediate signatures, the
//   issuer/subject names, intermediate.ca, the two Apple OIDs (re-parsing both certs with
//   jsrsasign) and the validity dates at the JWS signedDate. OCSP is skipped (it is under
//   `if (this.enableOnlineChecks)` too). The script checks this at start-up with a counting
//   subclass (untimed) before timing the plain SignedDataVerifier.
//
// Mode "chain cached": the library's own cache `verifiedPublicKeyCache`
//   (key = leaf PEM + intermediate PEM, value = leaf public key, expiry 15 min,
//   used only when enableOnlineChecks === true). With online checks on, a cache miss runs
//   verifyCertificateChainWithoutCaching() which, after the offline checks, does
//   `await Promise.all([this.checkOCSPStatus(leaf, intermediate), this.checkOCSPStatus(intermediate, rootCert)])`
//   -- an HTTP POST to the OCSP URI in the certificate, which cannot work offline.
//   Least invasive approach: a subclass that overrides ONLY the (TypeScript-`protected`)
//   `checkOCSPStatus(cert, issuer)` method to resolve without network access. Everything
//   else is the library's code: the cache is warmed by a real, complete chain verification
//   (signatures, names, CA flag, OIDs, dates at "now") on the first call for each distinct
//   leaf+intermediate pair, and the library itself fills its cache. No private map is touched.
//   On a cache hit the library still, on every call, decodes the JWS, validates the payload
//   shape, parses the x5c leaf and intermediate into X509Certificate objects, and runs
//   `jsonwebtoken.verify(jwt, encodedKey)` -- the ES256 signature of every JWS is checked
//   every call. The script proves that (untimed) by feeding a JWS with a corrupted signature
//   to the warm verifier and requiring a rejection, and proves the timed loop only hit the
//   cache by counting checkOCSPStatus calls (2 per chain verification).
//   Consequence of the override: no revocation check (which is exactly what an offline
//   benchmark has to give up); cert validity is checked at "now" instead of at signedDate.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { performance } from "node:perf_hooks";

const require = createRequire(import.meta.url);
const LIB = "@apple/app-store-server-library";
const lib = require(LIB);
const { SignedDataVerifier, VerificationException, VerificationStatus } = lib;
const libVersion = JSON.parse(
  readFileSync(require.resolve(`${LIB}/package.json`), "utf8"),
).version;

// Mirrors MAXIMUM_CACHE_SIZE in dist/jws_verification.js. Beyond that many cache entries the
// library's eviction loop (`for (let key in Object.keys(cache))` iterates array *indices*, then
// reads `cache[key].cacheExpiry` on undefined) throws, so online mode fails for >32 chains.
const LIB_MAX_CACHE_SIZE = 32;

function fail(msg) {
  process.stderr.write(`apple_verify: error: ${msg}\n`);
  process.exit(1);
}

function describeError(e) {
  if (e instanceof VerificationException) {
    const name = VerificationStatus[e.status] ?? String(e.status);
    const cause = e.cause ? `: ${e.cause.message || e.cause}` : "";
    return `VerificationException(${name})${cause}`;
  }
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

// ---- arguments / input ------------------------------------------------------------------
const [inputPath, secondsArg] = process.argv.slice(2);
if (!inputPath) fail("usage: node apple_verify.mjs INPUT.json [seconds]");
const seconds = secondsArg === undefined ? 3 : Number(secondsArg);
if (!(seconds > 0)) fail(`bad seconds: ${secondsArg}`);

let input;
try {
  input = JSON.parse(readFileSync(inputPath, "utf8"));
} catch (e) {
  fail(`cannot read ${inputPath}: ${e.message}`);
}
const { root_der_base64: rootB64, bundle_id: bundleId, environment, jws } = input;
const appAppleId = input.app_apple_id ?? undefined;
if (typeof rootB64 !== "string" || !rootB64) fail("root_der_base64 missing");
if (typeof bundleId !== "string") fail("bundle_id missing");
// "Xcode"/"LocalTesting" make the library skip signature verification entirely.
if (environment !== "Sandbox" && environment !== "Production") {
  fail(`environment must be "Sandbox" or "Production", got ${JSON.stringify(environment)}`);
}
if (!Array.isArray(jws) || jws.length === 0 || !jws.every((s) => typeof s === "string")) {
  fail("jws must be a non-empty array of strings");
}
const roots = [Buffer.from(rootB64, "base64")];

const distinctChains = new Set(
  jws.map((t) => {
    try {
      const x5c = JSON.parse(Buffer.from(t.split(".")[0], "base64url").toString("utf8")).x5c;
      return `${x5c?.[0]}|${x5c?.[1]}`;
    } catch {
      return t; // malformed; the library will reject it below
    }
  }),
).size;
if (distinctChains > LIB_MAX_CACHE_SIZE) {
  fail(`${distinctChains} distinct leaf+intermediate pairs; the library's online-mode cache ` +
       `breaks above ${LIB_MAX_CACHE_SIZE} entries`);
}

// ---- verifiers ---------------------------------------------------------------------------
/** Cached mode: library code with only the network OCSP step replaced. */
class OfflineOcspSignedDataVerifier extends SignedDataVerifier {
  ocspCalls = 0;
  // Overrides SignedDataVerifier.checkOCSPStatus (HTTP POST to the cert's OCSP responder).
  async checkOCSPStatus(_cert, _issuer) {
    this.ocspCalls++;
  }
}

/** Untimed instrumentation only: counts full chain verifications, then defers to the library. */
class CountingSignedDataVerifier extends SignedDataVerifier {
  chainVerifications = 0;
  async verifyCertificateChainWithoutCaching(...args) {
    this.chainVerifications++;
    return super.verifyCertificateChainWithoutCaching(...args);
  }
}

const make = (Cls, online) => new Cls(roots, online, environment, bundleId, appAppleId);

async function verifyAll(verifier, what) {
  for (let i = 0; i < jws.length; i++) {
    try {
      await verifier.verifyAndDecodeTransaction(jws[i]);
    } catch (e) {
      fail(`${what}: jws[${i}] failed verification: ${describeError(e)}`);
    }
  }
}

async function bench(verifier, what) {
  const n = jws.length;
  let calls = 0;
  let i = 0;
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  let t;
  try {
    do {
      await verifier.verifyAndDecodeTransaction(jws[i]);
      calls++;
      if (++i === n) i = 0;
    } while ((t = performance.now()) < deadline);
  } catch (e) {
    fail(`${what}: jws[${i}] failed verification: ${describeError(e)}`);
  }
  const elapsed = (t - t0) / 1000;
  return { calls, elapsed, rate: calls / elapsed };
}

function corruptSignature(token) {
  const [h, p, s] = token.split(".");
  const sig = Buffer.from(s, "base64url");
  sig[sig.length >> 1] ^= 0x01;
  return `${h}.${p}.${sig.toString("base64url")}`;
}

async function mustReject(verifier, token, what) {
  try {
    await verifier.verifyAndDecodeTransaction(token);
  } catch (e) {
    if (e instanceof VerificationException) return;
    fail(`${what}: unexpected error type: ${describeError(e)}`);
  }
  fail(`${what}: a JWS with a corrupted signature was accepted`);
}

// ---- sanity checks (untimed) -------------------------------------------------------------
{
  const counting = make(CountingSignedDataVerifier, false);
  await verifyAll(counting, "chain_every_call sanity");
  if (counting.chainVerifications !== jws.length) {
    fail(`expected ${jws.length} chain verifications with enableOnlineChecks=false, ` +
         `library did ${counting.chainVerifications}`);
  }
}

// ---- mode 1: chain verified on every call ------------------------------------------------
const everyCall = make(SignedDataVerifier, false);
await verifyAll(everyCall, "chain_every_call warm-up"); // JIT warm-up, untimed
await mustReject(everyCall, corruptSignature(jws[0]), "chain_every_call");
const r1 = await bench(everyCall, "chain_every_call");

// ---- mode 2: library's verified-public-key cache warm ------------------------------------
const cached = make(OfflineOcspSignedDataVerifier, true);
await verifyAll(cached, "chain_cached warm-up"); // fills the library cache via full verification
const ocspAfterWarmup = cached.ocspCalls;
if (ocspAfterWarmup !== 2 * distinctChains) {
  fail(`expected ${2 * distinctChains} OCSP-step calls while warming ${distinctChains} chain(s), ` +
       `got ${ocspAfterWarmup}`);
}
await verifyAll(cached, "chain_cached second pass"); // JIT warm-up on the cache-hit path
await mustReject(cached, corruptSignature(jws[0]), "chain_cached (warm cache)");
const r2 = await bench(cached, "chain_cached");
if (cached.ocspCalls !== ocspAfterWarmup) {
  fail(`library cache missed during the timed loop (${cached.ocspCalls - ocspAfterWarmup} extra ` +
       `OCSP-step calls); rate would not reflect a warm cache`);
}

process.stderr.write(
  `apple_verify: ${jws.length} JWS, ${distinctChains} distinct chain(s), ${seconds}s/mode; ` +
  `chain_every_call ${r1.calls} calls in ${r1.elapsed.toFixed(3)}s, ` +
  `chain_cached ${r2.calls} calls in ${r2.elapsed.toFixed(3)}s\n`,
);

const round1 = (x) => Math.round(x * 10) / 10;
process.stdout.write(
  JSON.stringify({
    library: LIB,
    version: libVersion,
    node: process.version,
    chain_every_call_per_s: round1(r1.rate),
    chain_cached_per_s: round1(r2.rate),
    verified: r1.calls + r2.calls,
  }) + "\n",
);
