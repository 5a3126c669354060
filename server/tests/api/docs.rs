//! The purchase API's description: generated from the code, complete, and readable as a page.
use serde_json::Value;

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_openapi_document_describes_every_purchase_api_path() {
    let app = spawn_app().await;

    let doc: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();

    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/v1/sdk/products",
        "/v1/sdk/reserve",
        "/v1/sdk/close",
        "/v1/sdk/verify",
        "/v1/sdk/consumable",
        "/v1/sdk/consume",
        "/v1/sdk/subscriptions/active",
        "/v1/sdk/restore",
        "/v1/service/consume",
        "/v1/service/consumable",
        "/v1/service/activeSubscriptionList",
        "/v1/service/payment",
        "/v1/service/subscriptions/status",
        "/v1/service/subscriptions/cancel",
        "/v1/service/subscriptions/revoke",
        "/v1/service/webhooks/replay",
    ] {
        assert!(paths[path]["post"]["requestBody"].is_object(), "{path} undocumented");
    }
    assert_eq!(paths.len(), 16);
    assert!(doc["components"]["securitySchemes"]["secret_key"].is_object());
    assert!(doc["components"]["schemas"]["ConsumeRequest"].is_object());
}

#[tokio::test]
async fn the_api_page_lists_the_operations_and_every_result_code() {
    let app = spawn_app().await;

    let page = app.client.get(app.url("/docs/api")).send().await.unwrap().text().await.unwrap();

    assert!(page.contains("POST /v1/service/consume"));
    for code in ["1100", "2111", "4021", "4022", "5018", "9999"] {
        assert!(page.contains(&format!("<td>{code}</td>")), "{code} missing");
    }
}

#[tokio::test]
async fn the_document_allows_null_where_the_server_reads_it_as_absent_and_names_the_blanks_it_trims() {
    let app = spawn_app().await;

    let doc: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();

    let schemas = &doc["components"]["schemas"];
    for (schema, field) in [("Purchase", "receipt"), ("Purchase", "subscription"), ("UserRequest", "storeCode")] {
        let types =
            schemas[schema]["properties"][field]["type"].as_array().unwrap_or_else(|| panic!("{schema}.{field}"));
        assert!(types.contains(&Value::from("null")), "{schema}.{field} is nullable");
    }
    let token = &schemas["ConsumeRequest"]["properties"]["accessToken"];
    assert_eq!(token["type"], "string", "a required text is not nullable");
    let pattern = token["pattern"].as_str().unwrap();
    assert!(pattern.starts_with("[^") && pattern.contains(r"\u0085") && pattern.contains(r"\u3000"), "{pattern}");
}
