//! The purchase API's envelope and its error codes.
//!
//! Every answer is `{"header":{"isSuccessful","resultCode","resultMessage"},"result":…}`, with no
//! `result` on failure, as NHN Cloud IAP answers. NHN's own codes keep their numbers; the 4xxx
//! codes are ours, for what NHN does not say.
use axum::{
    extract::{rejection::JsonRejection, FromRequest, Request},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::{de::DeserializeOwned, Serialize};
use utoipa::ToSchema;

/// An API failure: a result code from the table below and a message for the developer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: Code,
    pub message: String,
}

macro_rules! codes {
    ($($name:ident = $number:literal, $http:ident, $text:literal;)*) => {
        /// Every result code the API answers with.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Code { $($name,)* }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$name,)*];

            pub fn number(self) -> i32 {
                match self { $(Code::$name => $number,)* }
            }

            /// The HTTP status on the API's own paths; NHN's paths always answer 200.
            pub fn http_status(self) -> StatusCode {
                match self { $(Code::$name => StatusCode::$http,)* }
            }

            /// What the code means, for the documentation and the default message.
            pub fn meaning(self) -> &'static str {
                match self { $(Code::$name => $text,)* }
            }
        }
    };
}

codes! {
    InvalidParameters = 1100, BAD_REQUEST, "a parameter is missing, malformed, of the wrong type or too long";
    ContentType = 2111, UNSUPPORTED_MEDIA_TYPE, "the request body must be application/json";
    Method = 2112, METHOD_NOT_ALLOWED, "this path does not take this HTTP method";
    AppKeyUnknown = 4001, UNAUTHORIZED, "no project has this AppKey (X-NHN-TCIAP-AppKey)";
    AppKeyDisabled = 4002, FORBIDDEN, "the project's AppKey is disabled";
    SecretKeyInvalid = 4003, UNAUTHORIZED, "the X-Secret-Key header is missing or wrong for this AppKey";
    PaymentNotFound = 4004, NOT_FOUND, "no payment of this project has this paymentSeq";
    AccessTokenInvalid = 4005, FORBIDDEN, "the access token does not belong to this payment";
    NotConsumableType = 4006, CONFLICT, "only CONSUMABLE and CONSUMABLE_AUTO_RENEWABLE payments are consumed";
    PaymentRefunded = 4007, CONFLICT, "the payment was refunded or revoked";
    PaymentUserMismatch = 4008, FORBIDDEN, "the payment was reserved for another user";
    PaymentNotPending = 4009, CONFLICT, "the payment is not waiting for verification";
    ProductNotFound = 4010, NOT_FOUND, "no item with this product id is registered for the store app";
    ProductStopped = 4011, CONFLICT, "the item's status is STOP: it cannot be bought";
    StoreAppNotFound = 4012, NOT_FOUND, "the project has no enabled app in this store";
    StoreConfiguration = 4013, SERVICE_UNAVAILABLE, "the store app's credentials are missing or refused by the store; the receipt is kept";
    StoreRejected = 4020, UNPROCESSABLE_ENTITY, "the store does not recognise this purchase";
    StoreUnavailable = 4021, SERVICE_UNAVAILABLE, "the store could not be reached: the receipt is kept and verified again in the background; retry later";
    ReceiptUsedByOtherUser = 4022, CONFLICT, "this store transaction already belongs to another user";
    AppMismatch = 4023, UNPROCESSABLE_ENTITY, "the purchase belongs to another app (bundle id or package name)";
    SandboxNotAllowed = 4024, UNPROCESSABLE_ENTITY, "the app accepts no purchases from this store environment";
    ProductMismatch = 4025, UNPROCESSABLE_ENTITY, "the store sold another product than the one reserved";
    PurchasePending = 4026, CONFLICT, "the store has not been paid yet (deferred payment); the payment completes when it is";
    PurchaseCancelled = 4027, UNPROCESSABLE_ENTITY, "the store reports the purchase as cancelled";
    RateLimited = 4029, TOO_MANY_REQUESTS, "too many requests this second (the `api.*_per_second` limits); slow down";
    NotSupportedByStore = 4030, UNPROCESSABLE_ENTITY, "the store offers no such operation (only Google Play subscriptions are cancelled or revoked by the server)";
    NotSubscription = 4031, CONFLICT, "the payment is not a subscription";
    ProofNotAccepted = 4032, UNPROCESSABLE_ENTITY, "the store app's verification mode does not accept this kind of proof";
    PurchaseOfOtherUser = 4033, FORBIDDEN, "the purchase was made for another user: its obfuscatedAccountId / appAccountToken names someone else";
    AccountValueMissing = 4034, UNPROCESSABLE_ENTITY, "the purchase carries no obfuscatedAccountId / appAccountToken, and the project requires one";
    UserTokenInvalid = 4035, UNAUTHORIZED, "the X-User-Token is malformed, expired, or not signed for this user";
    ClientConsumeOff = 4036, FORBIDDEN, "the project does not let the app consume by itself (build-in model off): consume from the app's server";
    ProofMismatch = 4037, FORBIDDEN, "the store proof given is not the proof of this payment";
    IdempotencyConflict = 4038, CONFLICT, "this Idempotency-Key was used for another reservation";
    ConsumeFailed = 5000, CONFLICT, "the payment cannot be consumed in its state";
    AlreadyConsumed = 5018, CONFLICT, "the payment was consumed already";
    Unknown = 9999, INTERNAL_SERVER_ERROR, "unexpected server error";
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> ApiError {
        ApiError { code, message: message.into() }
    }

    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(Code::InvalidParameters, message)
    }
}

impl From<Code> for ApiError {
    fn from(code: Code) -> ApiError {
        ApiError::new(code, code.meaning())
    }
}

impl From<crate::Error> for ApiError {
    fn from(err: crate::Error) -> ApiError {
        match err {
            crate::Error::Invalid(message) => ApiError::invalid(message),
            other => {
                tracing::error!(error = %other, "purchase API request failed");
                Code::Unknown.into()
            }
        }
    }
}

pub type ApiResult<T> = Result<Success<T>, ApiError>;

/// Every successful answer: the header and the result.
#[derive(Serialize, ToSchema)]
pub struct Envelope<T> {
    pub header: Header,
    pub result: T,
}

/// Every failed answer: the header alone.
#[derive(Serialize, ToSchema)]
pub struct Failure {
    pub header: Header,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Header {
    pub is_successful: bool,
    /// 0 on success; otherwise one of the result codes.
    pub result_code: i32,
    pub result_message: String,
}

/// A successful answer's `result`.
pub struct Success<T>(pub T);

impl<T: Serialize> IntoResponse for Success<T> {
    fn into_response(self) -> Response {
        let header = Header { is_successful: true, result_code: 0, result_message: "SUCCESS".into() };
        Json(Envelope { header, result: self.0 }).into_response()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let header = Header { is_successful: false, result_code: self.code.number(), result_message: self.message };
        (self.code.http_status(), Json(Failure { header })).into_response()
    }
}

/// A JSON body whose every failure (content type, syntax, shape, size) is an envelope error.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Body<T>, ApiError> {
        let json =
            request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
                v.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
        if !json {
            return Err(Code::ContentType.into());
        }
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::invalid(e.body_text())),
            Err(JsonRejection::JsonSyntaxError(e)) => Err(ApiError::invalid(e.body_text())),
            Err(JsonRejection::BytesRejection(_)) => Err(ApiError::invalid("the body is too large or unreadable")),
            Err(other) => Err(ApiError::invalid(other.body_text())),
        }
    }
}

/// A required text field: present, not blank, at most `max` characters.
pub fn required<'a>(name: &str, value: &'a Option<String>, max: usize) -> Result<&'a str, ApiError> {
    match value.as_deref().map(str::trim) {
        Some(v) if !v.is_empty() && v.chars().count() <= max => Ok(v),
        Some(v) if !v.is_empty() => Err(ApiError::invalid(format!("{name} is longer than {max} characters"))),
        _ => Err(ApiError::invalid(format!("{name} is required"))),
    }
}

/// What the API document says of a required text: some character that `required` does not trim.
/// Spelled out rather than `\S`, because regex engines disagree on white space (U+0085 is white
/// space to Rust, not to ECMAScript) and the document must accept exactly what the server does.
pub fn not_blank_pattern() -> String {
    let blanks: String =
        ('\0'..='\u{3000}').filter(|c| c.is_whitespace()).map(|c| format!("\\u{:04x}", u32::from(c))).collect();
    format!("[^{blanks}]")
}

/// An optional text field of at most `max` characters.
pub fn optional<'a>(name: &str, value: &'a Option<String>, max: usize) -> Result<Option<&'a str>, ApiError> {
    match value.as_deref() {
        None => Ok(None),
        Some(v) if v.chars().count() <= max => Ok(Some(v)),
        Some(_) => Err(ApiError::invalid(format!("{name} is longer than {max} characters"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_not_blank_pattern_lists_exactly_the_white_space_required_trims() {
        let trimmed: String = (0..=0x10FFFF)
            .filter_map(char::from_u32)
            .filter(|c| c.to_string().trim().is_empty())
            .map(|c| format!("\\u{:04x}", u32::from(c)))
            .collect();
        let pattern = not_blank_pattern();
        assert_eq!(pattern, format!("[^{trimmed}]"));
        assert!(pattern.contains(r"\u0085") && pattern.contains(r"\u3000"));
    }

    #[test]
    fn every_code_has_its_own_number() {
        let mut numbers: Vec<i32> = Code::ALL.iter().map(|c| c.number()).collect();
        numbers.sort();
        numbers.dedup();
        assert_eq!(numbers.len(), Code::ALL.len());
    }
}
