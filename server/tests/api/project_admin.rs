//! Project administration from the console: keys, store apps and items.
use app::{
    model::{ConnectionCheck, ProjectDetail, Role, RotatedSecret},
    AppError,
};
use serde_json::json;
use server::demo;

use crate::{
    helpers::TestApp,
    shop::{shop, Shop},
};

async fn demo_project(shop: &Shop) -> i64 {
    server::projects::find_id_by_name(&shop.app.db, demo::PROJECT_NAME).await.unwrap().unwrap()
}

async fn detail(user: &TestApp, project: i64) -> ProjectDetail {
    user.get_fn(&format!("/api/project?id={project}")).await.unwrap()
}

/// A call from the app's server with the given SecretKey: its result code.
async fn server_call_with(shop: &Shop, secret: &str) -> i64 {
    let body = json!({"userChannel": "GF", "userKey": "anyone"});
    let headers = [("x-nhn-tciap-appkey", demo::APP_KEY), ("x-secret-key", secret)];
    shop.post("/v1/service/consumable", &headers, &body).await.code()
}

#[tokio::test]
async fn a_rotated_secret_and_the_one_it_replaced_both_work_during_the_grace_period() {
    let shop = shop().await;
    let admin = shop.app.signed_in_as(Role::Admin).await;
    let project = demo_project(&shop).await;

    let rotated: RotatedSecret =
        admin.submit("/api/project/rotate", &[("project", &project.to_string()), ("grace_hours", "24")]).await.unwrap();
    let during = (server_call_with(&shop, demo::SECRET_KEY).await, server_call_with(&shop, &rotated.secret_key).await);
    let page = detail(&admin, project).await;
    let ended: RotatedSecret =
        admin.submit("/api/project/rotate", &[("project", &project.to_string()), ("grace_hours", "0")]).await.unwrap();
    let after = (server_call_with(&shop, &rotated.secret_key).await, server_call_with(&shop, &ended.secret_key).await);

    assert_eq!(during, (0, 0));
    assert!(page.previous_secret_valid_until.is_some());
    assert!(page.secret_hint.ends_with(&rotated.secret_key[rotated.secret_key.len() - 4..]));
    assert!(page.key_last_used_at.is_some(), "the calls above used the key");
    assert_ne!(after.0, 0, "a rotation without grace ends the old secret at once");
    assert_eq!(after.1, 0);
    assert_eq!(shop.count("SELECT COUNT(*) FROM audit_log WHERE action = 'project.secret.rotate'").await, 2);
}

#[tokio::test]
async fn a_viewer_cannot_rotate_or_disable_a_key() {
    let shop = shop().await;
    let viewer = shop.app.signed_in_as(Role::Viewer).await;
    let project = demo_project(&shop).await.to_string();

    let rotate =
        viewer.submit::<RotatedSecret>("/api/project/rotate", &[("project", &project), ("grace_hours", "1")]).await;
    let disable = viewer.submit::<()>("/api/project/key", &[("project", &project), ("enabled", "false")]).await;

    assert_eq!(rotate, Err(AppError::Forbidden));
    assert_eq!(disable, Err(AppError::Forbidden));
    assert_eq!(server_call_with(&shop, demo::SECRET_KEY).await, 0);
}

#[tokio::test]
async fn a_disabled_app_key_is_refused_by_the_api_until_it_is_enabled_again() {
    let shop = shop().await;
    let admin = shop.app.signed_in_as(Role::Admin).await;
    let project = demo_project(&shop).await.to_string();

    admin.submit::<()>("/api/project/key", &[("project", &project), ("enabled", "false")]).await.unwrap();
    let while_disabled = server_call_with(&shop, demo::SECRET_KEY).await;
    admin.submit::<()>("/api/project/key", &[("project", &project), ("enabled", "true")]).await.unwrap();

    assert_eq!(while_disabled, 4002);
    assert_eq!(server_call_with(&shop, demo::SECRET_KEY).await, 0);
    assert_eq!(shop.count("SELECT COUNT(*) FROM audit_log WHERE action LIKE 'project.key.%'").await, 2);
}

#[tokio::test]
async fn store_app_secrets_are_never_sent_to_the_browser() {
    let shop = shop().await;
    let viewer = shop.app.signed_in_as(Role::Viewer).await;
    let project = demo_project(&shop).await;

    let response = viewer.client.get(viewer.url(&format!("/api/project?id={project}"))).send().await.unwrap();
    let body = response.text().await.unwrap();
    let page: ProjectDetail = serde_json::from_str(&body).unwrap();

    assert_eq!(page.apps.len(), 3);
    for secret in ["PRIVATE KEY", "clientSecret\":\"", "sharedSecret\":\""] {
        assert!(!body.contains(secret), "{secret} leaked");
    }
    let apple = page.apps.iter().find(|a| a.store == "AS").unwrap();
    let private_key = apple.fields.iter().find(|f| f.key == "privateKey").unwrap();
    assert!(private_key.is_set);
    assert_eq!(private_key.value, None);
}

#[tokio::test]
async fn saving_an_app_keeps_secrets_left_empty_and_the_connection_test_reports_what_the_store_said() {
    let shop = shop().await;
    let admin = shop.app.signed_in_as(Role::Admin).await;
    let project = demo_project(&shop).await;
    let onestore = detail(&admin, project).await.apps.into_iter().find(|a| a.store == "ONESTORE").unwrap();
    let (project, id) = (project.to_string(), onestore.id.to_string());
    let form = |secret| {
        [
            ("app[project]", project.as_str()),
            ("app[id]", id.as_str()),
            ("app[store]", "ONESTORE"),
            ("app[name]", "Renamed ONE store app"),
            ("app[store_app_id]", demo::PACKAGE),
            ("app[environment_policy]", "PRODUCTION_AND_SANDBOX"),
            ("app[enabled]", "true"),
            ("app[fields][marketCode]", "MKT_ONE"),
            ("app[fields][clientSecret]", secret),
        ]
    };
    let check = [("id", id.as_str())];

    admin.submit::<i64>("/api/project/app", &form("")).await.unwrap();
    let kept: ConnectionCheck = admin.submit("/api/project/app/check", &check).await.unwrap();
    admin.submit::<i64>("/api/project/app", &form("not-the-secret")).await.unwrap();
    let replaced: ConnectionCheck = admin.submit("/api/project/app/check", &check).await.unwrap();

    assert!(kept.ok, "{}", kept.message);
    assert!(!replaced.ok);
    assert!(replaced.message.contains("refused"), "{}", replaced.message);
    let audit: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT action, detail FROM audit_log WHERE target_type = 'store_app' ORDER BY id")
            .fetch_all(shop.app.db.pool())
            .await
            .unwrap();
    let actions: Vec<&str> = audit.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(actions, ["store_app.update", "store_app.check", "store_app.update", "store_app.check"]);
    assert!(audit[2].1.as_deref().unwrap().contains("clientSecret"));
    assert!(!audit.iter().any(|(_, d)| d.as_deref().unwrap_or_default().contains("not-the-secret")));
}

#[tokio::test]
async fn a_new_app_needs_valid_fields_and_a_store_app_id_not_taken_in_its_store() {
    let shop = shop().await;
    let admin = shop.app.signed_in_as(Role::Admin).await;
    let project = demo_project(&shop).await.to_string();
    let new_app = |app_id, key| {
        [
            ("app[project]", project.as_str()),
            ("app[store]", "AS"),
            ("app[name]", "Second game"),
            ("app[store_app_id]", app_id),
            ("app[environment_policy]", "PRODUCTION_ONLY"),
            ("app[enabled]", "true"),
            ("app[fields][appAppleId]", "987654"),
            ("app[fields][privateKey]", key),
        ]
    };

    let bad_key = admin.submit::<i64>("/api/project/app", &new_app("com.example.second", "not a key")).await;
    let taken = admin.submit::<i64>("/api/project/app", &new_app(demo::PACKAGE, "")).await;
    let created: i64 = admin.submit("/api/project/app", &new_app("com.example.second", "")).await.unwrap();
    let page = detail(&admin, project.parse().unwrap()).await;

    assert!(matches!(bad_key, Err(AppError::Invalid(m)) if m.contains(".p8")));
    assert!(matches!(taken, Err(AppError::Invalid(m)) if m.contains("already")));
    let app = page.apps.iter().find(|a| a.id == created).unwrap();
    assert_eq!(app.environment_policy, "PRODUCTION_ONLY");
    let apple_id = app.fields.iter().find(|f| f.key == "appAppleId").unwrap();
    assert_eq!(apple_id.value.as_deref(), Some("987654"));
    assert!(!app.fields.iter().find(|f| f.key == "privateKey").unwrap().is_set);
}

#[tokio::test]
async fn items_are_added_renamed_and_stopped_never_deleted_and_a_stopped_item_cannot_be_bought() {
    let shop = shop().await;
    let admin = shop.app.signed_in_as(Role::Admin).await;
    let viewer = shop.app.signed_in_as(Role::Viewer).await;
    let project = demo_project(&shop).await;
    let google = detail(&admin, project).await.apps.into_iter().find(|a| a.store == "GG").unwrap().id.to_string();
    let item = |id| {
        [("store_app", google.as_str()), ("store_product_id", id), ("name", "Crystal"), ("product_type", "CONSUMABLE")]
    };

    let seq: i64 = admin.submit("/api/project/item", &item("crystal_10")).await.unwrap();
    let duplicate = admin.submit::<i64>("/api/project/item", &item("crystal_10")).await;
    let by_viewer = viewer.submit::<i64>("/api/project/item", &item("crystal_20")).await;
    admin
        .submit::<()>("/api/project/item/name", &[("product_seq", &seq.to_string()), ("name", "10 Crystals")])
        .await
        .unwrap();
    let reserve = || shop.sdk("/v1/sdk/reserve", json!({"userId": "u", "storeCode": "GG", "productId": "crystal_10"}));
    let while_in_use = reserve().await.code();
    admin
        .submit::<()>("/api/project/item/status", &[("product_seq", &seq.to_string()), ("status", "STOP")])
        .await
        .unwrap();
    let while_stopped = reserve().await.code();

    let onestore =
        detail(&admin, project).await.apps.into_iter().find(|a| a.store == "ONESTORE").unwrap().id.to_string();
    let subscription = [
        ("store_app", onestore.as_str()),
        ("store_product_id", "vip_monthly"),
        ("name", "VIP"),
        ("product_type", "AUTO_RENEWABLE"),
    ];
    let unverifiable = admin.submit::<i64>("/api/project/item", &subscription).await;

    assert!(matches!(unverifiable, Err(AppError::Invalid(m)) if m.contains("ONE store one-time items only")));
    assert!(matches!(duplicate, Err(AppError::Invalid(m)) if m.contains("already")));
    assert_eq!(by_viewer, Err(AppError::Forbidden));
    assert_eq!(while_in_use, 0);
    assert_ne!(while_stopped, 0);
    let listed = detail(&admin, project).await.items.into_iter().find(|i| i.product_seq == seq).unwrap();
    assert_eq!((listed.name.as_str(), listed.status.as_str()), ("10 Crystals", "STOP"));
    assert_eq!(shop.count("SELECT COUNT(*) FROM audit_log WHERE action LIKE 'item.%'").await, 3);
}
