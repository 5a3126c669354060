//! Console users: create them, set their role, disable them, reset their password. Admins only.
use leptos::{prelude::*, server_fn::codec::GetUrl};

use crate::{
    auth::CsrfField,
    error::Notice,
    format,
    layout::Page,
    model::{ConsoleUserRow, Role},
    AppError,
};

#[server(input = GetUrl, endpoint = "users")]
pub async fn list_users() -> Result<Vec<ConsoleUserRow>, AppError> {
    let (backend, req) = crate::backend::current()?;
    backend.list_users(&req).await
}

#[server(endpoint = "users/create")]
pub async fn create_user(_csrf: String, username: String, password: String, role: Role) -> Result<i64, AppError> {
    let (backend, req) = crate::backend::current()?;
    backend.create_user(&req, &username, password, role).await
}

#[server(endpoint = "users/role")]
pub async fn set_user_role(_csrf: String, id: i64, role: Role) -> Result<(), AppError> {
    let (backend, req) = crate::backend::current()?;
    backend.update_user(&req, id, crate::model::UserChange::Role(role)).await
}

#[server(endpoint = "users/disabled")]
pub async fn set_user_disabled(_csrf: String, id: i64, disabled: bool) -> Result<(), AppError> {
    let (backend, req) = crate::backend::current()?;
    let change = if disabled { crate::model::UserChange::Disable } else { crate::model::UserChange::Enable };
    backend.update_user(&req, id, change).await
}

#[server(endpoint = "users/password")]
pub async fn reset_password(_csrf: String, id: i64, password: String) -> Result<(), AppError> {
    let (backend, req) = crate::backend::current()?;
    backend.update_user(&req, id, crate::model::UserChange::ResetPassword(password)).await
}

#[component]
pub fn UsersPage() -> impl IntoView {
    view! {
        <Page>
            <Users />
        </Page>
    }
}

#[derive(Clone, Copy)]
struct Changes {
    create: ServerAction<CreateUser>,
    role: ServerAction<SetUserRole>,
    disabled: ServerAction<SetUserDisabled>,
    password: ServerAction<ResetPassword>,
}

#[component]
fn Users() -> impl IntoView {
    let changes = Changes {
        create: ServerAction::new(),
        role: ServerAction::new(),
        disabled: ServerAction::new(),
        password: ServerAction::new(),
    };
    let users = Resource::new(
        move || {
            changes.create.version().get()
                + changes.role.version().get()
                + changes.disabled.version().get()
                + changes.password.version().get()
        },
        |_| list_users(),
    );
    let outcome = move || {
        let failed = |r: Option<Result<(), AppError>>| r.and_then(Result::err);
        let error = failed(changes.create.value().get().map(|r| r.map(|_| ())))
            .or_else(|| failed(changes.role.value().get()))
            .or_else(|| failed(changes.disabled.value().get()))
            .or_else(|| failed(changes.password.value().get()));
        let reset = matches!(changes.password.value().get(), Some(Ok(())));
        match error {
            Some(error) => Some(view! { <Notice error /> }.into_any()),
            None => reset.then(|| view! { <p class="callout" id="password-reset">"Password reset."</p> }.into_any()),
        }
    };

    view! {
        <section class="users">
            <h1>"Console users"</h1>
            <ActionForm action=changes.create attr:class="inline-form" attr:id="create-user">
                <CsrfField />
                <label>"Username" <input name="username" required minlength="2" maxlength="64" autocomplete="off" /></label>
                <label>"Password" <input name="password" type="password" required minlength="10" autocomplete="new-password" /></label>
                <label>"Role" <RoleSelect current=Role::Viewer /></label>
                <button type="submit">"Create user"</button>
            </ActionForm>
            {outcome}
            <Suspense fallback=|| view! { <p class="loading">"Loading users…"</p> }>
                {move || Suspend::new(async move {
                    match users.await {
                        Ok(list) => view! {
                            <table class="grid" id="user-table">
                                <thead>
                                    <tr>
                                        <th>"User"</th><th>"Role"</th><th>"State"</th><th>"Last sign-in"</th>
                                        <th>"Password"</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {list.into_iter().map(|user| view! { <UserLine user changes /> }).collect_view()}
                                </tbody>
                            </table>
                        }.into_any(),
                        Err(err) => view! { <Notice error=err /> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn RoleSelect(current: Role) -> impl IntoView {
    view! {
        <select name="role" aria-label="Role">
            {Role::ALL.map(|r| view! { <option value=r.as_str() selected=r == current>{r.as_str()}</option> }).collect_view()}
        </select>
    }
}

#[component]
fn UserLine(user: ConsoleUserRow, changes: Changes) -> impl IntoView {
    let id = user.id;
    view! {
        <tr class="user-row" data-user=user.username.clone()>
            <td>{user.username.clone()}</td>
            <td>
                <ActionForm action=changes.role attr:class="inline-form">
                    <CsrfField />
                    <input type="hidden" name="id" value=id />
                    <RoleSelect current=user.role />
                    <button type="submit">"Set role"</button>
                </ActionForm>
            </td>
            <td>
                <ActionForm action=changes.disabled attr:class="inline-form">
                    <CsrfField />
                    <input type="hidden" name="id" value=id />
                    <input type="hidden" name="disabled" value=(!user.disabled).to_string() />
                    <span class="user-state">{if user.disabled { "disabled" } else { "active" }}</span>
                    <button type="submit">{if user.disabled { "Enable" } else { "Disable" }}</button>
                </ActionForm>
            </td>
            <td>{user.last_login_at.map(format::time).unwrap_or_else(|| "never".into())}</td>
            <td>
                <ActionForm action=changes.password attr:class="inline-form">
                    <CsrfField />
                    <input type="hidden" name="id" value=id />
                    <input name="password" type="password" required minlength="10" placeholder="New password" aria-label="New password" autocomplete="new-password" />
                    <button type="submit">"Reset"</button>
                </ActionForm>
            </td>
        </tr>
    }
}
