use crate::helpers::spawn_app;

#[tokio::test]
async fn the_process_and_the_database_report_healthy() {
    let app = spawn_app().await;

    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();

    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok");
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.text().await.unwrap(), "ready");
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_a_given_one_is_kept() {
    let app = spawn_app().await;

    let generated = app.client.get(app.url("/healthz")).send().await.unwrap();
    let given = app.client.get(app.url("/healthz")).header("x-request-id", "trace-me-42").send().await.unwrap();

    assert!(generated.headers().get("x-request-id").is_some_and(|v| v.len() >= 32));
    assert_eq!(given.headers()["x-request-id"], "trace-me-42");
}
