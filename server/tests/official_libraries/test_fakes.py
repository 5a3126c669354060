"""The store fakes, driven by the stores' own client libraries (pinned in requirements.txt).

Our users point their own test suites at the fakes (`server stores serve`) through these libraries,
so a fake is faithful only when the library accepts every answer: Apple's `app-store-server-library`
verifies every JWS the App Store fake signs with strict X.509 checks (OpenSSL's X509_STRICT), and
Google's `google-api-python-client` calls the Play Developer API of the Google fake with a service
account whose tokens come from the fake.

Run: SERVER_BIN=target/debug/server python test_fakes.py
"""

import base64
import json
import os
import re
import subprocess
import sys
import threading
import time
import unittest
import uuid
import warnings
from http.server import BaseHTTPRequestHandler, HTTPServer

import requests
from appstoreserverlibrary.api_client import (
    APIException,
    AppStoreServerAPIClient,
    GetTransactionHistoryVersion,
)
from appstoreserverlibrary.models.AccountTenure import AccountTenure
from appstoreserverlibrary.models.ConsumptionRequest import ConsumptionRequest
from appstoreserverlibrary.models.ConsumptionRequestReason import ConsumptionRequestReason
from appstoreserverlibrary.models.ConsumptionRequestV1 import ConsumptionRequestV1
from appstoreserverlibrary.models.ConsumptionStatus import ConsumptionStatus
from appstoreserverlibrary.models.DeliveryStatus import DeliveryStatus
from appstoreserverlibrary.models.DeliveryStatusV1 import DeliveryStatusV1
from appstoreserverlibrary.models.Environment import Environment
from appstoreserverlibrary.models.LifetimeDollarsPurchased import LifetimeDollarsPurchased
from appstoreserverlibrary.models.LifetimeDollarsRefunded import LifetimeDollarsRefunded
from appstoreserverlibrary.models.NotificationHistoryRequest import NotificationHistoryRequest
from appstoreserverlibrary.models.NotificationTypeV2 import NotificationTypeV2
from appstoreserverlibrary.models.Platform import Platform
from appstoreserverlibrary.models.PlayTime import PlayTime
from appstoreserverlibrary.models.RefundPreference import RefundPreference
from appstoreserverlibrary.models.RefundPreferenceV1 import RefundPreferenceV1
from appstoreserverlibrary.models.TransactionHistoryRequest import TransactionHistoryRequest
from appstoreserverlibrary.models.UpdateAppAccountTokenRequest import UpdateAppAccountTokenRequest
from appstoreserverlibrary.models.UserStatus import UserStatus
from appstoreserverlibrary.signed_data_verifier import SignedDataVerifier, VerificationException
from google.auth.transport import requests as google_requests
from google.oauth2 import id_token, service_account
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

BUNDLE = "com.example.libraries"
APP_APPLE_ID = 987_654_321
PACKAGE = "com.example.libraries"
BASE = None  # set by main(): the fakes' base URL


def start_fakes():
    """`server stores serve` on a free port; its first line names the base URL."""
    binary = os.environ.get("SERVER_BIN", "target/debug/server")
    process = subprocess.Popen(
        [binary, "stores", "serve", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    line = process.stdout.readline()
    found = re.search(r"store fakes on (http://\S+):", line)
    if not found:
        process.kill()
        sys.exit(f"the fakes did not start: {line!r}")
    return process, found.group(1)


def control(path, body=None):
    answer = requests.post(f"{BASE}{path}", json=body or {}, timeout=10)
    answer.raise_for_status()
    return answer.json() if answer.content else None


class Inbox(BaseHTTPRequestHandler):
    """A callback URL for the fakes' notifications: keeps every body it is sent."""

    received = []
    authorizations = []

    def do_POST(self):
        length = int(self.headers.get("content-length", 0))
        body = json.loads(self.rfile.read(length))
        Inbox.received.append(body)
        Inbox.authorizations.append(self.headers.get("authorization"))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def listen():
    Inbox.received.clear()
    Inbox.authorizations.clear()
    server = HTTPServer(("127.0.0.1", 0), Inbox)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def wait_for(what, predicate):
    deadline = time.time() + 10
    while time.time() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{what} did not come within 10 s")


class AppStoreThroughApplesLibrary(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        control("/apple/fake/apps", {"bundleId": BUNDLE, "appAppleId": APP_APPLE_ID})
        key = control("/apple/fake/keys", {"bundleId": BUNDLE})
        root = requests.get(f"{BASE}/apple/fake/root", timeout=10).json()["rootCertificate"]
        roots = [base64.b64decode(root)]
        cls.verifier = SignedDataVerifier(roots, False, Environment.SANDBOX, BUNDLE, APP_APPLE_ID)
        cls.client = AppStoreServerAPIClient(
            key["privateKey"].encode(), key["keyId"], key["issuerId"], BUNDLE, Environment.SANDBOX
        )
        # The library knows Apple's hosts only; the fake serves the same paths under its own.
        cls.client._base_url = f"{BASE}/apple/sandbox"

    def purchase(self, **extra):
        body = {"bundleId": BUNDLE, "productId": "gem_100", **extra}
        return control("/apple/fake/purchases", body)

    def test_a_signed_transaction_from_the_purchase_verifies_with_the_strict_chain_checks(self):
        created = self.purchase()
        decoded = self.verifier.verify_and_decode_signed_transaction(created["signedTransaction"])
        self.assertEqual(decoded.transactionId, created["transactionId"])
        self.assertEqual(decoded.bundleId, BUNDLE)
        self.assertEqual(decoded.productId, "gem_100")

    def test_get_transaction_info_answers_a_transaction_the_library_verifies(self):
        created = self.purchase()
        info = self.client.get_transaction_info(created["transactionId"])
        decoded = self.verifier.verify_and_decode_signed_transaction(info.signedTransactionInfo)
        self.assertEqual(decoded.transactionId, created["transactionId"])

    def test_get_transaction_history_v1_and_v2_list_the_customers_transactions(self):
        customer = f"customer-{uuid.uuid4()}"
        created = [self.purchase(customer=customer) for _ in range(3)]
        for version in (GetTransactionHistoryVersion.V1, GetTransactionHistoryVersion.V2):
            with self.subTest(version=version), warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # v1 is deprecated, still served
                history = self.client.get_transaction_history(
                    created[0]["transactionId"], None, TransactionHistoryRequest(), version
                )
                signed = history.signedTransactions
                ids = {self.verifier.verify_and_decode_signed_transaction(t).transactionId for t in signed}
                self.assertTrue({c["transactionId"] for c in created} <= ids)
                self.assertEqual(history.bundleId, BUNDLE)

    def test_subscription_statuses_carry_a_renewal_info_and_a_transaction_the_library_verifies(self):
        created = self.purchase(type="autoRenewable", productId="premium_monthly")
        statuses = self.client.get_all_subscription_statuses(created["originalTransactionId"])
        last = statuses.data[0].lastTransactions[0]
        renewal = self.verifier.verify_and_decode_renewal_info(last.signedRenewalInfo)
        transaction = self.verifier.verify_and_decode_signed_transaction(last.signedTransactionInfo)
        self.assertEqual(renewal.originalTransactionId, created["originalTransactionId"])
        self.assertEqual(transaction.originalTransactionId, created["originalTransactionId"])

    def test_look_up_order_id_finds_the_purchase_of_the_order(self):
        created = self.purchase()
        looked_up = self.client.look_up_order_id(created["orderId"])
        self.assertEqual(looked_up.status, 0)
        ids = [self.verifier.verify_and_decode_signed_transaction(t).transactionId for t in looked_up.signedTransactions]
        self.assertIn(created["transactionId"], ids)

    def test_refund_history_lists_a_refunded_transaction_with_its_revocation(self):
        customer = f"customer-{uuid.uuid4()}"
        created = self.purchase(customer=customer)
        requests.post(f"{BASE}/apple/fake/transactions/{created['transactionId']}/refund", timeout=10).raise_for_status()
        refunds = self.client.get_refund_history(created["transactionId"], None)
        decoded = [self.verifier.verify_and_decode_signed_transaction(t) for t in refunds.signedTransactions]
        self.assertEqual([d.transactionId for d in decoded], [created["transactionId"]])
        self.assertIsNotNone(decoded[0].revocationDate)

    def test_send_consumption_information_v2_and_v1_are_accepted_for_a_consented_request(self):
        created = self.purchase()
        request = ConsumptionRequest(
            customerConsented=True, sampleContentProvided=False, deliveryStatus=DeliveryStatus.DELIVERED
        )
        self.client.send_consumption_information(created["transactionId"], request)
        v1 = ConsumptionRequestV1(
            customerConsented=True,
            consumptionStatus=ConsumptionStatus.FULLY_CONSUMED,
            platform=Platform.APPLE,
            sampleContentProvided=False,
            deliveryStatus=DeliveryStatusV1.DELIVERED_AND_WORKING_PROPERLY,
            accountTenure=AccountTenure.UNDECLARED,
            playTime=PlayTime.UNDECLARED,
            lifetimeDollarsRefunded=LifetimeDollarsRefunded.UNDECLARED,
            lifetimeDollarsPurchased=LifetimeDollarsPurchased.UNDECLARED,
            userStatus=UserStatus.ACTIVE,
            refundPreference=RefundPreferenceV1.PREFER_DECLINE,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # v1 is deprecated, still served
            self.client.send_consumption_data(created["transactionId"], v1)

    def test_send_consumption_information_v2_takes_a_subscription_and_refuses_a_request_without_consent(self):
        subscription = self.purchase(productId="premium_monthly", type="autoRenewable", customer="refund-asker")
        consented = ConsumptionRequest(
            customerConsented=True,
            consumptionPercentage=25_000,
            sampleContentProvided=False,
            deliveryStatus=DeliveryStatus.DELIVERED,
            refundPreference=RefundPreference.GRANT_PRORATED,
        )
        self.client.send_consumption_information(subscription["transactionId"], consented)
        without_consent = ConsumptionRequest(
            customerConsented=False, sampleContentProvided=False, deliveryStatus=DeliveryStatus.DELIVERED
        )
        with self.assertRaises(APIException) as raised:
            self.client.send_consumption_information(subscription["transactionId"], without_consent)
        self.assertEqual(raised.exception.raw_api_error, 4000035)

    def test_get_app_transaction_info_gives_the_customers_app_transaction_the_same_from_any_of_their_purchases(self):
        first = self.purchase(customer="app-transaction-owner")
        second = self.purchase(customer="app-transaction-owner")
        decoded = []
        for created in (first, second):
            info = self.client.get_app_transaction_info(created["transactionId"])
            decoded.append(self.verifier.verify_and_decode_app_transaction(info.signedAppTransactionInfo))
        self.assertEqual(decoded[0].bundleId, BUNDLE)
        self.assertEqual(decoded[0].appTransactionId, decoded[1].appTransactionId)
        transaction = self.verifier.verify_and_decode_signed_transaction(first["signedTransaction"])
        self.assertEqual(transaction.appTransactionId, decoded[0].appTransactionId)

    def test_set_app_account_token_binds_an_original_transaction_and_refuses_a_later_one(self):
        subscription = self.purchase(productId="premium_monthly", type="autoRenewable", customer="token-setter")
        token = uuid.uuid4()
        self.client.set_app_account_token(
            subscription["originalTransactionId"], UpdateAppAccountTokenRequest(appAccountToken=str(token))
        )
        info = self.client.get_transaction_info(subscription["transactionId"])
        transaction = self.verifier.verify_and_decode_signed_transaction(info.signedTransactionInfo)
        self.assertEqual(transaction.appAccountToken, str(token))
        renewed = control(f"/apple/fake/subscriptions/{subscription['originalTransactionId']}/renew")
        with self.assertRaises(APIException) as raised:
            self.client.set_app_account_token(
                renewed["transactionId"], UpdateAppAccountTokenRequest(appAccountToken=str(uuid.uuid4()))
            )
        self.assertEqual(raised.exception.raw_api_error, 4000187)

    def test_finish_transaction_finishes_a_consumable_and_refuses_a_subscription(self):
        consumable = self.purchase()
        self.client.finish_transaction(consumable["transactionId"])
        self.client.finish_transaction(consumable["transactionId"])
        finished = requests.get(f"{BASE}/apple/fake/transactions/{consumable['transactionId']}/finish", timeout=10)
        self.assertTrue(finished.json()["finished"])
        subscription = self.purchase(productId="premium_monthly", type="autoRenewable", customer="finisher")
        with self.assertRaises(APIException) as raised:
            self.client.finish_transaction(subscription["transactionId"])
        self.assertEqual(raised.exception.raw_api_error, 4000043)

    def test_a_notification_the_fake_sends_verifies_and_shows_in_the_notification_history(self):
        server, url = listen()
        try:
            control("/apple/fake/notifications", {"url": url})
            created = self.purchase()
            started = int(time.time() * 1000) - 1000
            requests.post(f"{BASE}/apple/fake/transactions/{created['transactionId']}/refund", timeout=10)

            def refund_notification():
                for body in Inbox.received:
                    decoded = self.verifier.verify_and_decode_notification(body["signedPayload"])
                    if decoded.notificationType != NotificationTypeV2.REFUND:
                        continue
                    signed = decoded.data.signedTransactionInfo if decoded.data else None
                    if signed and self.verifier.verify_and_decode_signed_transaction(signed).transactionId == created[
                        "transactionId"
                    ]:
                        return decoded

            decoded = wait_for("the refund notification", refund_notification)
            history = self.client.get_notification_history(
                None, NotificationHistoryRequest(startDate=started, endDate=int(time.time() * 1000) + 1000)
            )
            uuids = [
                self.verifier.verify_and_decode_notification(item.signedPayload).notificationUUID
                for item in history.notificationHistory
            ]
            self.assertIn(decoded.notificationUUID, uuids)
        finally:
            control("/apple/fake/notifications", {"url": None})
            server.shutdown()

    def test_a_refund_request_sends_a_consumption_request_the_library_verifies_and_the_answer_is_kept(self):
        server, url = listen()
        try:
            control("/apple/fake/notifications", {"url": url})
            created = self.purchase(customer="asks-for-a-refund")
            control(f"/apple/fake/transactions/{created['transactionId']}/refund-request")

            def consumption_request():
                for body in Inbox.received:
                    decoded = self.verifier.verify_and_decode_notification(body["signedPayload"])
                    if decoded.notificationType != NotificationTypeV2.CONSUMPTION_REQUEST:
                        continue
                    signed = self.verifier.verify_and_decode_signed_transaction(decoded.data.signedTransactionInfo)
                    if signed.transactionId == created["transactionId"]:
                        return decoded

            decoded = wait_for("the consumption request", consumption_request)
            self.assertEqual(decoded.data.consumptionRequestReason, ConsumptionRequestReason.UNINTENDED_PURCHASE)
            answer = ConsumptionRequest(
                customerConsented=True, sampleContentProvided=False, deliveryStatus=DeliveryStatus.UNDELIVERED_OTHER
            )
            self.client.send_consumption_information(created["transactionId"], answer)
            kept = requests.get(f"{BASE}/apple/fake/transactions/{created['transactionId']}/consumption", timeout=10)
            self.assertEqual([k["deliveryStatus"] for k in kept.json()], ["UNDELIVERED_OTHER"])
        finally:
            control("/apple/fake/notifications", {"url": None})
            server.shutdown()

    def test_an_unknown_transaction_is_apples_not_found_error(self):
        with self.assertRaises(APIException) as raised:
            self.client.get_transaction_info("999999999999999")
        self.assertEqual(raised.exception.http_status_code, 404)
        self.assertEqual(raised.exception.raw_api_error, 4040010)

    def test_a_forged_transaction_is_refused_by_the_library(self):
        created = self.purchase()
        forged = requests.post(
            f"{BASE}/apple/fake/transactions/{created['transactionId']}/defective", json={"defect": "forged"}, timeout=10
        ).json()["signedTransaction"]
        with self.assertRaises(VerificationException):
            self.verifier.verify_and_decode_signed_transaction(forged)


class GooglePlayThroughGooglesLibrary(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        key = control("/google/fake/service-accounts")
        credentials = service_account.Credentials.from_service_account_info(
            key, scopes=["https://www.googleapis.com/auth/androidpublisher"]
        )
        # The library's own discovery document, with the fake as the API's root.
        cls.api = build(
            "androidpublisher",
            "v3",
            credentials=credentials,
            static_discovery=True,
            cache_discovery=False,
            client_options={"api_endpoint": f"{BASE}/google/"},
        )

    def product(self, **extra):
        return control("/google/fake/products", {"packageName": PACKAGE, "productId": "gem_100", **extra})

    def subscription(self, **extra):
        return control(
            "/google/fake/subscriptions", {"packageName": PACKAGE, "productId": "premium_monthly", **extra}
        )

    def test_a_one_time_purchase_reads_acknowledges_and_consumes(self):
        created = self.product()
        products = self.api.purchases().products()
        read = products.get(packageName=PACKAGE, productId="gem_100", token=created["purchaseToken"]).execute()
        self.assertEqual(read["orderId"], created["orderId"])
        self.assertEqual(read["acknowledgementState"], 0)
        acknowledged = products.acknowledge(
            packageName=PACKAGE, productId="gem_100", token=created["purchaseToken"], body={}
        ).execute()
        self.assertFalse(acknowledged, "Google answers an acknowledge with an empty body")
        consumed = products.consume(packageName=PACKAGE, productId="gem_100", token=created["purchaseToken"]).execute()
        self.assertFalse(consumed, "Google answers a consume with an empty body")
        read = products.get(packageName=PACKAGE, productId="gem_100", token=created["purchaseToken"]).execute()
        self.assertEqual((read["acknowledgementState"], read["consumptionState"]), (1, 1))

    def test_productsv2_reads_a_purchase_by_token_with_its_option_quantity_and_states(self):
        created = self.product(quantity=2, test=True)
        read = self.api.purchases().productsv2().getproductpurchasev2(
            packageName=PACKAGE, token=created["purchaseToken"]
        ).execute()
        self.assertEqual(read["kind"], "androidpublisher#productPurchaseV2")
        self.assertEqual(read["orderId"], created["orderId"])
        self.assertEqual(read["purchaseStateContext"]["purchaseState"], "PURCHASED")
        self.assertEqual(read["acknowledgementState"], "ACKNOWLEDGEMENT_STATE_PENDING")
        self.assertEqual(read["testPurchaseContext"]["fopType"], "TEST")
        offer = read["productLineItem"][0]["productOfferDetails"]
        self.assertEqual(read["productLineItem"][0]["productId"], "gem_100")
        self.assertEqual((offer["quantity"], offer["purchaseOptionId"]), (2, "buy"))
        self.assertEqual(offer["consumptionState"], "CONSUMPTION_STATE_YET_TO_BE_CONSUMED")
        self.assertIn("purchaseCompletionTime", read)

    def test_a_rental_names_its_catalog_option_and_a_pre_order_is_pending_until_released(self):
        rental = self.product(productId="movie_hd", rental={"purchaseOptionId": "rent-48h", "rentalPeriod": "PT48H"})
        v2 = self.api.purchases().productsv2()
        read = v2.getproductpurchasev2(packageName=PACKAGE, token=rental["purchaseToken"]).execute()
        offer = read["productLineItem"][0]["productOfferDetails"]
        self.assertEqual(offer["rentOfferDetails"], {})
        catalog = self.api.monetization().onetimeproducts().get(packageName=PACKAGE, productId="movie_hd").execute()
        rent = [o for o in catalog["purchaseOptions"] if o["purchaseOptionId"] == offer["purchaseOptionId"]]
        self.assertEqual(rent[0]["rentOption"]["rentalPeriod"], "PT48H")
        release = int(time.time() * 1000) + 86_400_000
        preorder = self.product(productId="season_pass", preorderReleaseTimeMillis=release)
        waiting = v2.getproductpurchasev2(packageName=PACKAGE, token=preorder["purchaseToken"]).execute()
        self.assertEqual(waiting["purchaseStateContext"]["purchaseState"], "PENDING")
        self.assertNotIn("purchaseCompletionTime", waiting)
        self.assertIn("preorderReleaseTime", waiting["productLineItem"][0]["productOfferDetails"]["preorderOfferDetails"])
        control(f"/google/fake/purchases/{preorder['purchaseToken']}/release", {})
        released = v2.getproductpurchasev2(packageName=PACKAGE, token=preorder["purchaseToken"]).execute()
        self.assertEqual(released["purchaseStateContext"]["purchaseState"], "PURCHASED")

    def test_orders_batchget_reads_several_orders_and_fails_whole_on_an_unknown_one(self):
        first, second = self.product(), self.product(priceMicros=990_000, currency="USD")
        orders = self.api.orders()
        read = orders.batchget(packageName=PACKAGE, orderIds=[first["orderId"], second["orderId"]]).execute()
        self.assertEqual([o["orderId"] for o in read["orders"]], [first["orderId"], second["orderId"]])
        self.assertEqual(read["orders"][1]["total"]["currencyCode"], "USD")
        with self.assertRaises(HttpError) as raised:
            orders.batchget(packageName=PACKAGE, orderIds=[first["orderId"], "GPA.0000-0000-0000-00000"]).execute()
        self.assertEqual(raised.exception.status_code, 404)

    def test_a_second_acknowledge_is_googles_invalid_state_error(self):
        created = self.product()
        products = self.api.purchases().products()
        args = {"packageName": PACKAGE, "productId": "gem_100", "token": created["purchaseToken"], "body": {}}
        products.acknowledge(**args).execute()
        with self.assertRaises(HttpError) as raised:
            products.acknowledge(**args).execute()
        self.assertEqual(raised.exception.status_code, 400)
        self.assertEqual(raised.exception.error_details[0]["reason"], "invalidPurchaseState")

    def test_a_subscription_reads_through_subscriptionsv2_acknowledges_cancels_and_revokes(self):
        created = self.subscription()
        v2 = self.api.purchases().subscriptionsv2()
        read = v2.get(packageName=PACKAGE, token=created["purchaseToken"]).execute()
        self.assertEqual(read["subscriptionState"], "SUBSCRIPTION_STATE_ACTIVE")
        self.assertEqual(read["lineItems"][0]["productId"], "premium_monthly")
        acknowledged = (
            self.api.purchases()
            .subscriptions()
            .acknowledge(packageName=PACKAGE, subscriptionId="premium_monthly", token=created["purchaseToken"], body={})
            .execute()
        )
        self.assertFalse(acknowledged, "Google answers an acknowledge with an empty body")
        cancelled = v2.cancel(
            packageName=PACKAGE,
            token=created["purchaseToken"],
            body={"cancellationContext": {"cancellationType": "DEVELOPER_REQUESTED_STOP_PAYMENTS"}},
        ).execute()
        self.assertEqual(cancelled, {})
        revoked = v2.revoke(
            packageName=PACKAGE, token=created["purchaseToken"], body={"revocationContext": {"fullRefund": {}}}
        ).execute()
        self.assertEqual(revoked, {})

    def test_a_play_store_re_subscription_names_the_expired_one_and_acknowledge_binds_the_account(self):
        expired = self.subscription()
        control(f"/google/fake/subscriptions/{expired['purchaseToken']}/expire", {"daysAgo": 2})
        again = control(f"/google/fake/subscriptions/{expired['purchaseToken']}/resubscribe")
        v2 = self.api.purchases().subscriptionsv2()
        read = v2.get(packageName=PACKAGE, token=again["purchaseToken"]).execute()
        self.assertEqual(read["outOfAppPurchaseContext"]["expiredPurchaseToken"], expired["purchaseToken"])
        self.assertNotIn("externalAccountIdentifiers", read)
        self.api.purchases().subscriptions().acknowledge(
            packageName=PACKAGE,
            subscriptionId="premium_monthly",
            token=again["purchaseToken"],
            body={"externalAccountIds": {"obfuscatedAccountId": "acct-7"}},
        ).execute()
        read = v2.get(packageName=PACKAGE, token=again["purchaseToken"]).execute()
        self.assertEqual(read["externalAccountIdentifiers"]["obfuscatedExternalAccountId"], "acct-7")

    def test_grace_period_and_price_step_up_carry_their_pending_order_and_consent(self):
        created = self.subscription()
        control(f"/google/fake/subscriptions/{created['purchaseToken']}/price-step-up")
        control(f"/google/fake/subscriptions/{created['purchaseToken']}/grace")
        read = self.api.purchases().subscriptionsv2().get(packageName=PACKAGE, token=created["purchaseToken"]).execute()
        self.assertEqual(read["subscriptionState"], "SUBSCRIPTION_STATE_IN_GRACE_PERIOD")
        pending = read["inGracePeriodStateContext"]["renewalDeclined"]["pendingOrderId"]
        self.assertEqual(pending, created["orderId"] + "..0")
        consent = read["lineItems"][0]["autoRenewingPlan"]["priceStepUpConsentDetails"]
        self.assertEqual((consent["state"], consent["newPrice"]["currencyCode"]), ("PENDING", "USD"))
        self.assertIn("basePrice", read["lineItems"][0]["offerPhase"])

    def test_voided_purchases_list_a_refunded_purchase(self):
        created = self.product()
        control(f"/google/fake/purchases/{created['purchaseToken']}/void", {})
        voided = (
            self.api.purchases()
            .voidedpurchases()
            .list(packageName=PACKAGE, startTime=str(int(time.time() * 1000) - 60_000))
            .execute()
        )
        tokens = [v["purchaseToken"] for v in voided.get("voidedPurchases", [])]
        self.assertIn(created["purchaseToken"], tokens)

    def test_an_order_refund_is_answered_with_an_empty_body(self):
        created = self.product()
        refunded = self.api.orders().refund(packageName=PACKAGE, orderId=created["orderId"], revoke=True).execute()
        self.assertFalse(refunded, "Google answers a refund with an empty body")

    def test_a_chargeback_review_is_answered_with_an_empty_body_and_only_the_first_answer_counts(self):
        created = self.product()
        pending = control(f"/google/fake/purchases/{created['purchaseToken']}/chargeback")["pendingRefundToken"]
        review = {
            "pendingRefundToken": pending,
            "refundPreference": "DECLINE",
            "sampleContentProvided": False,
            "consumptionPercentageMilliunits": 100_000,
            "consumptionUsageEvents": [{"consumptionTime": "2026-12-01T00:00:00Z"}],
        }
        orders = self.api.orders()
        first = orders.reviewrefund(packageName=PACKAGE, orderId=created["orderId"], body=review).execute()
        second = orders.reviewrefund(
            packageName=PACKAGE, orderId=created["orderId"], body={**review, "refundPreference": "APPROVE"}
        ).execute()
        self.assertFalse(first, "Google answers a review with an empty body")
        self.assertFalse(second, "and a later one too, without recording it")
        recorded = requests.get(f"{BASE}/google/fake/chargebacks/{pending}", timeout=10).json()
        self.assertEqual(recorded["refundPreference"], "DECLINE")
        with self.assertRaises(HttpError) as raised:
            orders.reviewrefund(
                packageName=PACKAGE, orderId=created["orderId"], body={**review, "pendingRefundToken": "forged"}
            ).execute()
        self.assertEqual(raised.exception.status_code, 400)

    def test_an_order_reads_with_what_was_paid_and_its_tax(self):
        created = self.product(priceMicros=1_990_000, currency="EUR", quantity=3)
        order = self.api.orders().get(packageName=PACKAGE, orderId=created["orderId"]).execute()
        self.assertEqual(order["purchaseToken"], created["purchaseToken"])
        self.assertEqual((order["total"]["currencyCode"], order["total"]["units"]), ("EUR", "5"))
        self.assertEqual(order["total"]["nanos"], 970_000_000)
        self.assertEqual(order["lineItems"][0]["oneTimePurchaseDetails"]["quantity"], 3)
        with self.assertRaises(HttpError) as raised:
            self.api.orders().get(packageName=PACKAGE, orderId="GPA.0000-0000-0000-00000").execute()
        self.assertEqual(raised.exception.status_code, 404)

    def test_an_unknown_token_is_googles_not_found_error(self):
        with self.assertRaises(HttpError) as raised:
            self.api.purchases().products().get(packageName=PACKAGE, productId="gem_100", token="nope").execute()
        self.assertEqual(raised.exception.status_code, 404)

    def test_a_pushed_notification_carries_a_token_that_verifies_against_the_keys_the_fake_publishes(self):
        server, url = listen()
        try:
            control("/google/fake/notifications", {"url": url})
            created = self.subscription()
            control(f"/google/fake/subscriptions/{created['purchaseToken']}/cancel", {})

            def pushed():
                for body, authorization in zip(Inbox.received, Inbox.authorizations):
                    if "message" not in body:
                        continue
                    data = json.loads(base64.b64decode(body["message"]["data"]))
                    notification = data.get("subscriptionNotification", {})
                    if notification.get("purchaseToken") == created["purchaseToken"]:
                        return data, authorization

            data, authorization = wait_for("the RTDN push", pushed)
            self.assertEqual(data["packageName"], PACKAGE)
            claims = id_token.verify_token(
                authorization.removeprefix("Bearer "),
                google_requests.Request(),
                audience=url,
                certs_url=f"{BASE}/google/oauth2/v3/certs",
            )
            self.assertTrue(claims["email_verified"])
        finally:
            control("/google/fake/notifications", {"url": None})
            server.shutdown()


def main():
    global BASE
    process, BASE = start_fakes()
    try:
        result = unittest.main(argv=[sys.argv[0], "-v", *sys.argv[1:]], exit=False).result
    finally:
        process.kill()
    failed = len(result.failures) + len(result.errors)
    # In cargo's words, so the test script's summary counts these too.
    print(f"test result: {'ok' if not failed else 'FAILED'}. {result.testsRun - failed} passed; {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
