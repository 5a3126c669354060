//! The purchase API described: an OpenAPI 3.1 document generated from the handlers' annotations
//! (`/openapi.json`), and a page rendered from it with the result codes (`/docs/api`).
use axum::{response::Html, Json};
use utoipa::{
    openapi::{
        path::Operation,
        security::{ApiKey, ApiKeyValue, SecurityScheme},
    },
    Modify, OpenApi,
};

use super::{
    envelope::{not_blank_pattern, Code},
    sdk, service,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "IAP server purchase API",
        description = "Reserve, verify and consume in-app purchases of Google Play, the App Store and ONE store. \
            Every answer is an envelope `{header: {isSuccessful, resultCode, resultMessage}, result}`; \
            NHN Cloud IAP's paths (`/v1/service/...`) always answer HTTP 200."
    ),
    paths(
        sdk::products,
        sdk::reserve,
        sdk::close,
        sdk::verify,
        sdk::consumable,
        sdk::consume,
        sdk::active_subscriptions,
        sdk::restore,
        service::consume,
        service::consumable,
        service::active_subscriptions,
        service::payment,
        service::subscription_status,
        service::cancel_subscription,
        service::revoke_subscription,
        service::replay_webhooks,
    ),
    modifiers(&Keys, &NhnAnswers, &NotBlank),
    tags(
        (name = "app", description = "Called by the app (its SDK) with the AppKey"),
        (name = "app server", description = "Called by the app's server with the AppKey and the SecretKey; NHN Cloud IAP's paths")
    )
)]
pub struct ApiDoc;

struct Keys;

impl Modify for Keys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let header = |name: &str| SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new(name)));
        components.add_security_scheme("app_key", header("X-NHN-TCIAP-AppKey"));
        components.add_security_scheme("secret_key", header("X-Secret-Key"));
        // Minted by the app's server for its signed-in user (README, "User tokens").
        components.add_security_scheme("user_token", header("X-User-Token"));
    }
}

/// NHN's paths answer HTTP 200 whether they succeed or not, so their 200 is the success envelope
/// or a `Failure` (any of: a success also has the header a failure has).
struct NhnAnswers;

impl Modify for NhnAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{schema::AnyOfBuilder, Ref, RefOr};
        let nhn = openapi.paths.paths.iter_mut().filter(|(path, _)| path.starts_with("/v1/service/"));
        for operation in nhn.filter_map(|(_, item)| item.post.as_mut()) {
            let Some(RefOr::T(ok)) = operation.responses.responses.get_mut("200") else { continue };
            for content in ok.content.values_mut() {
                if let Some(success) = content.schema.take() {
                    let either = AnyOfBuilder::new().item(success).item(Ref::from_schema_name("Failure"));
                    content.schema = Some(RefOr::T(either.into()));
                }
            }
        }
    }
}

/// The annotations mark required texts with `\S`; the document says exactly which characters the
/// server counts as blank instead (see `not_blank_pattern`).
struct NotBlank;

impl Modify for NotBlank {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{schema::Schema, RefOr};
        let pattern = not_blank_pattern();
        let schemas = openapi.components.iter_mut().flat_map(|components| components.schemas.values_mut());
        for schema in schemas {
            let RefOr::T(Schema::Object(object)) = schema else { continue };
            for property in object.properties.values_mut() {
                if let RefOr::T(Schema::Object(field)) = property {
                    if field.pattern.as_deref() == Some(r"\S") {
                        field.pattern = Some(pattern.clone());
                    }
                }
            }
        }
    }
}

pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// One row per operation, then the result codes: what a developer looks up most.
pub async fn page() -> Html<String> {
    let doc = ApiDoc::openapi();
    let mut rows = String::new();
    for (path, item) in &doc.paths.paths {
        let Some(op): Option<&Operation> = item.post.as_ref() else { continue };
        let tag = op.tags.as_ref().and_then(|t| t.first()).cloned().unwrap_or_default();
        let summary = op.description.as_deref().or(op.summary.as_deref()).unwrap_or_default();
        rows.push_str(&format!(
            "<tr><td>{}</td><td><code>POST {}</code></td><td>{}</td></tr>",
            escape(&tag),
            escape(path),
            escape(summary)
        ));
    }
    let codes: String = Code::ALL
        .iter()
        .map(|c| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                c.number(),
                c.http_status().as_u16(),
                escape(c.meaning())
            )
        })
        .collect();
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <link rel=\"stylesheet\" href=\"/pkg/iap.css\"></head><body><main class=\"docs\"><h1>{title}</h1>\
         <p>{description}</p><p>The whole description: <a href=\"/openapi.json\">/openapi.json</a> (OpenAPI 3.1).</p>\
         <h2>Operations</h2><table><thead><tr><th>caller</th><th>path</th><th>what</th></tr></thead>\
         <tbody>{rows}</tbody></table><h2>Result codes</h2><table><thead><tr><th>code</th>\
         <th>HTTP on /v1/sdk</th><th>meaning</th></tr></thead><tbody>{codes}</tbody></table></main></body></html>",
        title = escape(&doc.info.title),
        description = escape(doc.info.description.as_deref().unwrap_or_default()),
    ))
}
