//! The projects list: the first page after sign-in.
pub mod detail;
pub mod webhooks;

use leptos::{prelude::*, server_fn::codec::GetUrl};

use crate::{
    auth::CsrfField,
    error::Notice,
    layout::Page,
    model::{NewProjectKeys, ProjectSummary, Role, SessionInfo},
    AppError,
};

#[server(input = GetUrl, endpoint = "projects")]
pub async fn list_projects() -> Result<Vec<ProjectSummary>, AppError> {
    let (backend, req) = crate::backend::current()?;
    backend.list_projects(&req).await
}

#[server(endpoint = "projects/create")]
pub async fn create_project(_csrf: String, name: String) -> Result<NewProjectKeys, AppError> {
    let (backend, req) = crate::backend::current()?;
    backend.create_project(&req, &name).await
}

/// Case-insensitive match on the name, the AppKey or a store code.
pub fn matches_filter(project: &ProjectSummary, filter: &str) -> bool {
    let filter = filter.trim().to_lowercase();
    filter.is_empty()
        || project.name.to_lowercase().contains(&filter)
        || project.app_key.to_lowercase().contains(&filter)
        || project.stores.iter().any(|s| s.to_lowercase() == filter)
}

#[component]
pub fn ProjectsPage() -> impl IntoView {
    view! {
        <Page>
            <ProjectList />
        </Page>
    }
}

#[component]
fn ProjectList() -> impl IntoView {
    let create = ServerAction::<CreateProject>::new();
    let projects = Resource::new(move || create.version().get(), |_| list_projects());
    let filter = RwSignal::new(String::new());
    let is_admin = use_context::<SessionInfo>().and_then(|s| s.user).is_some_and(|u| u.role.allows(Role::Admin));

    view! {
        <section class="projects">
            <div class="toolbar">
                <h1>"Projects"</h1>
                <input
                    id="project-filter"
                    type="search"
                    placeholder="Filter by name, AppKey or store"
                    aria-label="Filter projects"
                    prop:value=filter
                    on:input=move |ev| filter.set(event_target_value(&ev))
                />
            </div>
            {is_admin.then(|| view! { <NewProject create /> })}
            <Suspense fallback=|| view! { <p class="loading">"Loading projects…"</p> }>
                {move || Suspend::new(async move {
                    match projects.await {
                        Ok(list) if list.is_empty() => {
                            view! { <p class="empty">"No projects yet."</p> }.into_any()
                        }
                        Ok(list) => view! { <ProjectTable list filter /> }.into_any(),
                        Err(err) => view! { <Notice error=err /> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

/// Creates a project and shows its SecretKey, once: the server keeps only a hash of it.
#[component]
fn NewProject(create: ServerAction<CreateProject>) -> impl IntoView {
    let outcome = move || {
        create.value().get().map(|result| match result {
            Ok(keys) => view! {
                <div class="callout" id="new-project-keys">
                    <p>
                        "Project " <strong>{keys.name}</strong>
                        " created. Copy the SecretKey now: it will not be shown again."
                    </p>
                    <dl>
                        <dt>"AppKey"</dt>
                        <dd><code class="app-key">{keys.app_key}</code></dd>
                        <dt>"SecretKey"</dt>
                        <dd><code class="secret-key">{keys.secret_key}</code></dd>
                    </dl>
                </div>
            }
            .into_any(),
            Err(err) => view! { <Notice error=err /> }.into_any(),
        })
    };
    view! {
        <ActionForm action=create attr:class="inline-form">
            <CsrfField />
            <label>
                "New project"
                <input name="name" required maxlength="100" placeholder="Project name" />
            </label>
            <button type="submit" disabled=move || create.pending().get()>"Create"</button>
        </ActionForm>
        {outcome}
    }
}

#[component]
fn ProjectTable(list: Vec<ProjectSummary>, filter: RwSignal<String>) -> impl IntoView {
    let list = StoredValue::new(list);
    let shown = move || {
        list.with_value(|all| all.iter().filter(|p| matches_filter(p, &filter.get())).cloned().collect::<Vec<_>>())
    };

    view! {
        <table class="grid" id="project-table">
            <thead>
                <tr>
                    <th>"Project"</th>
                    <th>"AppKey"</th>
                    <th>"Key"</th>
                    <th>"Stores"</th>
                    <th class="num">"Items"</th>
                    <th class="num">"Payments"</th>
                </tr>
            </thead>
            <tbody>
                <For
                    each=shown
                    key=|p| p.id
                    children=|project| {
                        view! {
                            <tr class="project-row">
                                <td><a href=format!("/projects/{}", project.id)>{project.name}</a></td>
                                <td><code>{project.app_key}</code></td>
                                <td>{if project.key_enabled { "active" } else { "disabled" }}</td>
                                <td>{project.stores.join(", ")}</td>
                                <td class="num">{project.product_count}</td>
                                <td class="num">{project.payment_count}</td>
                            </tr>
                        }
                    }
                />
            </tbody>
        </table>
        <p class="count" id="project-count">
            {move || format!("{} of {} shown", shown().len(), list.with_value(Vec::len))}
        </p>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(name: &str, stores: &[&str]) -> ProjectSummary {
        ProjectSummary {
            id: 1,
            name: name.into(),
            app_key: "AbCdEf".into(),
            key_enabled: true,
            stores: stores.iter().map(|s| s.to_string()).collect(),
            product_count: 0,
            payment_count: 0,
            created_at: 0,
        }
    }

    #[test]
    fn an_empty_filter_matches_every_project() {
        assert!(matches_filter(&project("Demo", &[]), "  "));
    }

    #[test]
    fn the_filter_matches_name_app_key_and_store_without_case() {
        let p = project("Demo Game", &["GG", "AS"]);
        assert!(matches_filter(&p, "demo"));
        assert!(matches_filter(&p, "abcdef"));
        assert!(matches_filter(&p, "as"));
        assert!(!matches_filter(&p, "onestore"));
    }
}
