//! One project: its AppKey and SecretKey, its store apps with their settings, and its items.
//! Everyone may look; only admins see the forms, and only admins' changes are accepted by the server.
use leptos::{prelude::*, server_fn::codec::GetUrl};
use leptos_router::hooks::use_params_map;

use super::webhooks::{WebhookActions, WebhookOutcome, WebhooksSection};
use crate::{
    auth::CsrfField,
    error::Notice,
    format,
    layout::Page,
    model::{
        store_fields, ConnectionCheck, ItemRow, ListPrice, ProductType, ProjectDetail, Role, RotatedSecret,
        SessionInfo, Store, StoreAppForm, StoreAppView, ENVIRONMENT_POLICIES, REFUND_POLICIES, USER_BINDINGS,
    },
    AppError,
};

#[server(input = GetUrl, endpoint = "project")]
pub async fn get_project(id: i64) -> Result<ProjectDetail, AppError> {
    let (backend, req) = crate::backend::current()?;
    backend.project_detail(&req, id).await
}

#[server(endpoint = "project/rotate")]
pub async fn rotate_secret(_csrf: String, project: i64, grace_hours: i64) -> Result<RotatedSecret, AppError> {
    let (backend, req) = crate::backend::current()?;
    backend.rotate_secret(&req, project, grace_hours).await
}

#[server(endpoint = "project/key")]
pub async fn set_key_enabled(_csrf: String, project: i64, enabled: bool) -> Result<(), AppError> {
    let (backend, req) = crate::backend::current()?;
    backend.set_key_enabled(&req, project, enabled).await
}

#[server(endpoint = "project/policy")]
pub async fn set_project_policy(
    _csrf: String,
    project: i64,
    user_binding: String,
    #[server(default)] client_consume: bool,
) -> Result<(), AppError> {
    let (backend, req) = crate::backend::current()?;
    backend.set_project_policy(&req, project, &user_binding, client_consume).await
}

#[server(endpoint = "project/refunds")]
pub async fn set_refund_policy(
    _csrf: String,
    project: i64,
    refund_policy: String,
    #[server(default)] consumption_consent: bool,
) -> Result<(), AppError> {
    let (backend, req) = crate::backend::current()?;
    backend.set_refund_policy(&req, project, &refund_policy, consumption_consent).await
}

#[server(endpoint = "project/app")]
pub async fn save_store_app(_csrf: String, app: StoreAppForm) -> Result<i64, AppError> {
    let (backend, req) = crate::backend::current()?;
    backend.save_store_app(&req, app).await
}

#[server(endpoint = "project/app/check")]
pub async fn check_store_app(_csrf: String, id: i64) -> Result<ConnectionCheck, AppError> {
    let (backend, req) = crate::backend::current()?;
    backend.check_store_app(&req, id).await
}

#[server(endpoint = "project/item")]
pub async fn add_item(
    _csrf: String,
    store_app: i64,
    store_product_id: String,
    name: String,
    product_type: String,
) -> Result<i64, AppError> {
    let (backend, req) = crate::backend::current()?;
    backend.add_item(&req, store_app, &store_product_id, &name, &product_type).await
}

#[server(endpoint = "project/item/name")]
pub async fn rename_item(_csrf: String, product_seq: i64, name: String) -> Result<(), AppError> {
    let (backend, req) = crate::backend::current()?;
    backend.rename_item(&req, product_seq, &name).await
}

#[server(endpoint = "project/item/status")]
pub async fn set_item_status(_csrf: String, product_seq: i64, status: String) -> Result<(), AppError> {
    let (backend, req) = crate::backend::current()?;
    backend.set_item_status(&req, product_seq, &status).await
}

#[server(endpoint = "project/item/prices")]
pub async fn set_item_prices(_csrf: String, product_seq: i64, prices: String) -> Result<(), AppError> {
    let (backend, req) = crate::backend::current()?;
    backend.set_item_prices(&req, product_seq, &prices).await
}

#[component]
pub fn ProjectPage() -> impl IntoView {
    view! {
        <Page>
            <ProjectView />
        </Page>
    }
}

/// Every change on the page, so a successful one reloads the project.
#[derive(Clone, Copy)]
struct Changes {
    key: ServerAction<SetKeyEnabled>,
    policy: ServerAction<SetProjectPolicy>,
    refunds: ServerAction<SetRefundPolicy>,
    app: ServerAction<SaveStoreApp>,
    item: ServerAction<AddItem>,
    rename: ServerAction<RenameItem>,
    status: ServerAction<SetItemStatus>,
    prices: ServerAction<SetItemPrices>,
    webhooks: WebhookActions,
}

impl Changes {
    fn version(&self) -> usize {
        self.key.version().get()
            + self.policy.version().get()
            + self.refunds.version().get()
            + self.app.version().get()
            + self.item.version().get()
            + self.rename.version().get()
            + self.status.version().get()
            + self.prices.version().get()
            + self.webhooks.version()
    }

    /// The error of the last change, if it failed.
    fn error(&self) -> Option<AppError> {
        let failed = |r: Option<Result<_, AppError>>| r.and_then(Result::err);
        failed(self.key.value().get())
            .or_else(|| failed(self.policy.value().get()))
            .or_else(|| failed(self.refunds.value().get()))
            .or_else(|| failed(self.app.value().get().map(|r| r.map(|_| ()))))
            .or_else(|| failed(self.item.value().get().map(|r| r.map(|_| ()))))
            .or_else(|| failed(self.rename.value().get()))
            .or_else(|| failed(self.status.value().get()))
            .or_else(|| failed(self.prices.value().get()))
    }
}

#[component]
fn ProjectView() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.with(|p| p.get("id").and_then(|id| id.parse::<i64>().ok()).unwrap_or(0)));
    let changes = Changes {
        key: ServerAction::new(),
        policy: ServerAction::new(),
        refunds: ServerAction::new(),
        app: ServerAction::new(),
        item: ServerAction::new(),
        rename: ServerAction::new(),
        status: ServerAction::new(),
        prices: ServerAction::new(),
        webhooks: WebhookActions::new(),
    };
    let project = Resource::new(move || (id.get(), changes.version()), |(id, _)| get_project(id));
    let admin = use_context::<SessionInfo>().and_then(|s| s.user).is_some_and(|u| u.role.allows(Role::Admin));

    view! {
        <section class="project">
            {move || changes.error().map(|error| view! { <Notice error /> })}
            <WebhookOutcome actions=changes.webhooks />
            <Suspense fallback=|| view! { <p class="loading">"Loading the project…"</p> }>
                {move || Suspend::new(async move {
                    match project.await {
                        Ok(p) => view! { <Project p admin changes /> }.into_any(),
                        Err(err) => view! { <Notice error=err /> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn Project(p: ProjectDetail, admin: bool, changes: Changes) -> impl IntoView {
    let apps = p.apps.clone();
    let items = p.items.clone();
    let hooks = p.webhooks.clone();
    let project = p.id;
    view! {
        <h1>{p.name.clone()}</h1>
        <Keys p=p.clone() admin key=changes.key />
        <AppKeyPolicy p=p.clone() admin policy=changes.policy />
        <RefundPolicy p admin refunds=changes.refunds />
        <h2>"Store apps"</h2>
        <p>
            <a id="project-inbox" href=format!("/notifications?project={project}")>
                "Store notifications of this project →"
            </a>
        </p>
        {if apps.is_empty() { Some(view! { <p class="empty">"No store apps yet."</p> }) } else { None }}
        {apps.iter().cloned().map(|app| view! { <StoreAppCard app admin project save=changes.app /> }).collect_view()}
        {admin.then(|| Store::ALL.map(|store| view! {
            <details class="add-app" id=format!("add-app-{}", store.code())>
                <summary>{format!("Add a {} app", store.label())}</summary>
                <StoreAppEditor project store app=None save=changes.app />
            </details>
        }).collect_view())}
        <h2>"Items"</h2>
        <Items items apps admin changes />
        <WebhooksSection project hooks actions=changes.webhooks />
    }
}

#[component]
fn Keys(p: ProjectDetail, admin: bool, key: ServerAction<SetKeyEnabled>) -> impl IntoView {
    let rotate = ServerAction::<RotateSecret>::new();
    let project = p.id;
    view! {
        <dl class="fields keys">
            <dt>"AppKey"</dt>
            <dd><code class="app-key">{p.app_key.clone()}</code></dd>
            <dt>"Key status"</dt>
            <dd id="key-status">{if p.key_enabled { "active" } else { "disabled: every API call is refused" }}</dd>
            <dt>"SecretKey"</dt>
            <dd>
                <code>{p.secret_hint.clone()}</code>
                {p.secret_rotated_at.map(|t| format!(" (since {})", format::time(t)))}
            </dd>
            {p.previous_secret_valid_until.map(|t| view! {
                <dt>"Previous SecretKey"</dt>
                <dd id="grace">{format!("still accepted until {}", format::time(t))}</dd>
            })}
            <dt>"Last used"</dt>
            <dd>{p.key_last_used_at.map(format::time).unwrap_or_else(|| "never".into())}</dd>
        </dl>
        {admin.then(|| view! {
            <div class="actions">
                <ActionForm action=key attr:class="inline-form" attr:id="key-toggle">
                    <CsrfField />
                    <input type="hidden" name="project" value=project />
                    <input type="hidden" name="enabled" value=(!p.key_enabled).to_string() />
                    <button type="submit">{if p.key_enabled { "Disable the AppKey" } else { "Enable the AppKey" }}</button>
                </ActionForm>
                <ActionForm action=rotate attr:class="inline-form" attr:id="rotate-form">
                    <CsrfField />
                    <input type="hidden" name="project" value=project />
                    <label>
                        "Old secret keeps working for (hours)"
                        <input type="number" name="grace_hours" min="0" max="720" value="24" required />
                    </label>
                    <button type="submit" disabled=move || rotate.pending().get()>"Rotate the SecretKey"</button>
                </ActionForm>
            </div>
            {move || rotate.value().get().map(|result| match result {
                Ok(rotated) => view! {
                    <div class="callout" id="rotated-secret">
                        <p>"New SecretKey. Copy it now: it will not be shown again."</p>
                        <dl>
                            <dt>"SecretKey"</dt>
                            <dd><code class="secret-key">{rotated.secret_key}</code></dd>
                            <dt>"Previous"</dt>
                            <dd>{match rotated.previous_valid_until {
                                Some(t) => format!("accepted until {}", format::time(t)),
                                None => "no longer accepted".into(),
                            }}</dd>
                        </dl>
                    </div>
                }.into_any(),
                Err(err) => view! { <Notice error=err /> }.into_any(),
            })}
        })}
    }
}

/// What the public AppKey may do in this project. The weaker choices are marked as such: they
/// exist for apps that cannot do better yet.
#[component]
fn AppKeyPolicy(p: ProjectDetail, admin: bool, policy: ServerAction<SetProjectPolicy>) -> impl IntoView {
    let required = p.user_binding == "REQUIRED";
    view! {
        <h2>"What the app may do with the AppKey"</h2>
        <dl class="fields policy">
            <dt>"Purchases bound to their buyer"</dt>
            <dd id="user-binding">
                {if required {
                    "required: a Google or App Store purchase must carry the user's obfuscatedAccountId / \
                     appAccountToken (from the reservation)"
                } else {
                    "when present: purchases without the account value are accepted"
                }}
                {(!required).then(|| view! { <span class="badge weaker">"weaker"</span> })}
            </dd>
            <dt>"Consume from the app (build-in model)"</dt>
            <dd id="client-consume">
                {if p.client_consume {
                    "on: the app consumes by itself with the access token and the store proof; a tampered app \
                     can consume without granting"
                } else {
                    "off: only the app's server consumes"
                }}
                {p.client_consume.then(|| view! { <span class="badge weaker">"weaker"</span> })}
            </dd>
        </dl>
        {admin.then(|| view! {
            <ActionForm action=policy attr:class="inline-form" attr:id="policy-form">
                <CsrfField />
                <input type="hidden" name="project" value=p.id />
                <label>
                    "Account value"
                    <select name="user_binding">
                        {USER_BINDINGS.map(|b| view! {
                            <option value=b selected=p.user_binding == b>
                                {if b == "REQUIRED" { "required" } else { "when present (weaker)" }}
                            </option>
                        }).collect_view()}
                    </select>
                </label>
                <label>
                    <input type="checkbox" name="client_consume" value="true" checked=p.client_consume />
                    " the app may consume (weaker)"
                </label>
                <button type="submit" disabled=move || policy.pending().get()>"Save"</button>
            </ActionForm>
        })}
    }
}

/// What is answered when Apple or Google asks about a refund before deciding it.
#[component]
fn RefundPolicy(p: ProjectDetail, admin: bool, refunds: ServerAction<SetRefundPolicy>) -> impl IntoView {
    let meaning = REFUND_POLICIES.iter().find(|(code, _)| *code == p.refund_policy).map(|(_, m)| *m);
    view! {
        <h2>"Refund requests from the stores"</h2>
        <dl class="fields refund-policy">
            <dt>"Answer"</dt>
            <dd id="refund-policy">{format!("{}: {}", p.refund_policy, meaning.unwrap_or_default())}</dd>
            <dt>"Apple consumption data"</dt>
            <dd id="consumption-consent">
                {if p.consumption_consent {
                    "sent: the app's customers consented to sharing consumption data with Apple"
                } else {
                    "not sent: Apple takes it only with the customer's consent, which the project does not declare"
                }}
            </dd>
        </dl>
        {admin.then(|| view! {
            <ActionForm action=refunds attr:class="inline-form" attr:id="refund-policy-form">
                <CsrfField />
                <input type="hidden" name="project" value=p.id />
                <label>
                    "Answer"
                    <select name="refund_policy">
                        {REFUND_POLICIES.map(|(code, meaning)| view! {
                            <option value=code selected=p.refund_policy == code>{format!("{code}: {meaning}")}</option>
                        }).collect_view()}
                    </select>
                </label>
                <label>
                    <input type="checkbox" name="consumption_consent" value="true" checked=p.consumption_consent />
                    " customers consented to consumption data going to Apple"
                </label>
                <button type="submit" disabled=move || refunds.pending().get()>"Save"</button>
            </ActionForm>
        })}
    }
}

#[component]
fn StoreAppCard(app: StoreAppView, admin: bool, project: i64, save: ServerAction<SaveStoreApp>) -> impl IntoView {
    let store = Store::parse(&app.store).unwrap_or(Store::Google);
    let check = ServerAction::<CheckStoreApp>::new();
    let id = app.id;
    let takes_receipts = app
        .fields
        .iter()
        .any(|f| f.key == "verificationMode" && matches!(f.value.as_deref(), Some("V2_AND_V1" | "V1")));
    let push_account_set = app.fields.iter().any(|f| f.key == "pushServiceAccount" && f.is_set);
    let signature_fallback =
        app.fields.iter().any(|f| f.key == "outageFallback" && f.value.as_deref() == Some("SIGNATURE"));
    let unauthenticated_pushes = store == Store::Google && !push_account_set;
    let inbox = format!("/notifications?project={project}&store={}", store.code());
    let summary = app
        .fields
        .iter()
        .filter(|f| f.is_set)
        .map(|f| match &f.value {
            Some(v) if v.len() <= 60 => format!("{}: {v}", f.key),
            Some(_) => format!("{}: (set)", f.key),
            None => format!("{}: ••••••", f.key),
        })
        .collect::<Vec<_>>()
        .join(" · ");
    view! {
        <article class="store-app" id=format!("app-{id}")>
            <h3>
                {format!("{} — {} ", store.label(), app.name)}
                <code>{app.store_app_id.clone()}</code>
                {(!app.enabled).then(|| view! { <span class="badge">"disabled"</span> })}
                {(app.environment_policy != "PRODUCTION_ONLY").then(|| view! {
                    <span class="badge weaker" title="sandbox, TestFlight and license-test purchases cost nothing">
                        "accepts sandbox purchases"
                    </span>
                })}
                {takes_receipts.then(|| view! {
                    <span class="badge weaker" title="StoreKit 1 receipts are unsigned by the app and need the shared secret">
                        "accepts StoreKit 1 receipts"
                    </span>
                })}
                {signature_fallback.then(|| view! {
                    <span class="badge weaker" title="while Google is down, a refunded or license-test purchase succeeds until Google is asked again">
                        "signature-only during outages"
                    </span>
                })}
            </h3>
            <p class="hint">{format!("{} · {}", app.environment_policy, summary)}</p>
            {app.consume_at_store.then(|| view! { <p class="hint consume-at-store">{consume_at_store_label(store)}</p> })}
            <p class="hint last-notification">
                {match app.last_notification_at {
                    Some(at) => format!("Last store notification {} ", format::time(at)),
                    None => "No store notification received yet ".into(),
                }}
                <a href=inbox>"(inbox)"</a>
            </p>
            {unauthenticated_pushes.then(|| view! {
                <p class="warning push-unauthenticated">
                    "Google's pushes to this app are not authenticated (no push service account is set): they are only hints."
                </p>
            })}
            {admin.then(|| view! {
                <ActionForm action=check attr:class="inline-form check-form">
                    <CsrfField />
                    <input type="hidden" name="id" value=id />
                    <button type="submit" disabled=move || check.pending().get()>"Test connection"</button>
                    {move || check.value().get().map(|result| match result {
                        Ok(c) => view! {
                            <span class=if c.ok { "check ok" } else { "check failed" }>{c.message}</span>
                        }.into_any(),
                        Err(err) => view! { <Notice error=err /> }.into_any(),
                    })}
                </ActionForm>
                <details>
                    <summary>"Edit settings"</summary>
                    <StoreAppEditor project store app=Some(app.clone()) save />
                </details>
            })}
        </article>
    }
}

/// What `consume_at_store` does in `store`'s words.
fn consume_at_store_label(store: Store) -> &'static str {
    match store {
        Store::Apple => "Finish the transaction at Apple when the app's server consumes it",
        _ => "Consume at the store too when the app's server consumes (so the item can be bought again)",
    }
}

/// The form of one store app. Secrets are write-only: the field is empty, says whether a value is
/// stored, and an empty field keeps it.
#[component]
fn StoreAppEditor(
    project: i64,
    store: Store,
    app: Option<StoreAppView>,
    save: ServerAction<SaveStoreApp>,
) -> impl IntoView {
    let value_of = |key: &str| {
        app.as_ref().and_then(|a| a.fields.iter().find(|f| f.key == key)).map(|f| (f.value.clone(), f.is_set))
    };
    let fields = store_fields(store)
        .iter()
        .map(|spec| {
            let (value, is_set) = value_of(spec.key).unwrap_or((None, false));
            let name = format!("app[fields][{}]", spec.key);
            let placeholder = match (spec.secret, is_set) {
                (true, true) => "•••••• stored; leave empty to keep",
                (true, false) => "not set",
                _ => "",
            };
            let input = if !spec.choices.is_empty() {
                let current = value.clone().unwrap_or_default();
                view! {
                    <select name=name>
                        <option value="">"(default)"</option>
                        {spec.choices.iter().map(|c| view! {
                            <option value=*c selected=current == *c>{*c}</option>
                        }).collect_view()}
                    </select>
                }
                .into_any()
            } else if spec.multiline {
                view! { <textarea name=name placeholder=placeholder rows="3">{value.unwrap_or_default()}</textarea> }
                    .into_any()
            } else {
                let kind = if spec.secret { "password" } else { "text" };
                view! {
                    <input type=kind name=name placeholder=placeholder value=value.unwrap_or_default() autocomplete="off" />
                }
                .into_any()
            };
            view! { <label>{spec.label} {input}</label> }
        })
        .collect_view();
    let (name, store_app_id, policy, enabled, consume_at_store) = match &app {
        Some(a) => {
            (a.name.clone(), a.store_app_id.clone(), a.environment_policy.clone(), a.enabled, a.consume_at_store)
        }
        None => (String::new(), String::new(), ENVIRONMENT_POLICIES[0].to_string(), true, false),
    };
    view! {
        <ActionForm action=save attr:class="stacked-form app-form">
            <CsrfField />
            <input type="hidden" name="app[project]" value=project />
            <input type="hidden" name="app[store]" value=store.code() />
            {app.as_ref().map(|a| view! { <input type="hidden" name="app[id]" value=a.id /> })}
            <label>"App name" <input name="app[name]" required maxlength="100" value=name /></label>
            <label>
                {if store == Store::OneStore { "Package name (= ONE store client id)" } else { "Store App ID (package name or bundle id)" }}
                <input name="app[store_app_id]" required maxlength="200" value=store_app_id />
            </label>
            <label>
                "Accepted purchases"
                <select name="app[environment_policy]">
                    {ENVIRONMENT_POLICIES.map(|p| view! { <option value=p selected=policy == p>{p}</option> }).collect_view()}
                </select>
            </label>
            <label class="check-label"><input type="checkbox" name="app[enabled]" value="true" checked=enabled /> "Enabled"</label>
            <label class="check-label">
                <input type="checkbox" name="app[consume_at_store]" value="true" checked=consume_at_store />
                {consume_at_store_label(store)}
            </label>
            {fields}
            <button type="submit" disabled=move || save.pending().get()>"Save"</button>
        </ActionForm>
    }
}

#[component]
fn Items(items: Vec<ItemRow>, apps: Vec<StoreAppView>, admin: bool, changes: Changes) -> impl IntoView {
    let filter = RwSignal::new(String::new());
    let items = StoredValue::new(items);
    let shown = move || {
        let f = filter.get();
        items.with_value(|all| all.iter().filter(|i| f.is_empty() || i.status == f).cloned().collect::<Vec<_>>())
    };
    view! {
        <div class="toolbar">
            <label>
                "Status "
                <select id="item-filter" on:change=move |ev| filter.set(event_target_value(&ev)) prop:value=filter>
                    <option value="">"All"</option>
                    <option value="USE">"USE"</option>
                    <option value="STOP">"STOP"</option>
                </select>
            </label>
        </div>
        <table class="grid items" id="item-table">
            <thead>
                <tr>
                    <th class="num">"Item ID"</th><th>"Store"</th><th>"Store item ID"</th><th>"Name"</th>
                    <th>"Type"</th><th>"List prices"</th><th>"Status"</th><th>"Updated"</th>
                </tr>
            </thead>
            <tbody>
                <For each=shown key=|i| (i.product_seq, i.updated_at) let:item>
                    <ItemLine item admin changes />
                </For>
            </tbody>
        </table>
        {admin.then(|| view! {
            <ActionForm action=changes.item attr:class="inline-form" attr:id="add-item">
                <CsrfField />
                <label>
                    "App"
                    <select name="store_app" required>
                        {apps.iter().map(|a| view! {
                            <option value=a.id>{format!("{} {}", a.store, a.store_app_id)}</option>
                        }).collect_view()}
                    </select>
                </label>
                <label>"Store item ID" <input name="store_product_id" required maxlength="150" /></label>
                <label>"Name" <input name="name" required maxlength="100" /></label>
                <label>
                    "Type"
                    <select name="product_type">
                        {ProductType::ALL.map(|t| view! { <option value=t.as_str()>{t.as_str()}</option> }).collect_view()}
                    </select>
                </label>
                <button type="submit">"Add item"</button>
            </ActionForm>
        })}
    }
}

#[component]
fn ItemLine(item: ItemRow, admin: bool, changes: Changes) -> impl IntoView {
    let next = if item.status == "USE" { "STOP" } else { "USE" };
    let name_cell = if admin {
        view! {
            <ActionForm action=changes.rename attr:class="inline-form rename">
                <CsrfField />
                <input type="hidden" name="product_seq" value=item.product_seq />
                <input name="name" value=item.name.clone() required maxlength="100" aria-label="Item name" />
                <button type="submit">"Rename"</button>
            </ActionForm>
        }
        .into_any()
    } else {
        item.name.clone().into_any()
    };
    let prices = item.list_prices.iter().map(ListPrice::label).collect::<Vec<_>>().join(", ");
    let prices_cell = if admin {
        view! {
            <ActionForm action=changes.prices attr:class="inline-form prices">
                <CsrfField />
                <input type="hidden" name="product_seq" value=item.product_seq />
                <input name="prices" value=prices placeholder="1200 KRW, 0.99 USD" aria-label="List prices" />
                <button type="submit">"Save prices"</button>
            </ActionForm>
        }
        .into_any()
    } else {
        prices.into_any()
    };
    view! {
        <tr class="item-row">
            <td class="num">{item.product_seq}</td>
            <td>{item.store.clone()}</td>
            <td><code>{item.store_product_id.clone()}</code></td>
            <td>{name_cell}</td>
            <td>{item.product_type.clone()}</td>
            <td>{prices_cell}</td>
            <td>
                <span class="item-status">{item.status.clone()}</span>
                {admin.then(|| view! {
                    <ActionForm action=changes.status attr:class="inline-form">
                        <CsrfField />
                        <input type="hidden" name="product_seq" value=item.product_seq />
                        <input type="hidden" name="status" value=next />
                        <button type="submit">{format!("Set {next}")}</button>
                    </ActionForm>
                })}
            </td>
            <td>{format::time(item.updated_at)}</td>
        </tr>
    }
}
