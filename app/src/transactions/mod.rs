//! Purchase search: one box for any identifier, filters, and keyset pages. The whole search lives
//! in the URL, so a reload or a shared link shows the same page.
use leptos::{prelude::*, server_fn::codec::GetUrl};
use leptos_router::hooks::use_query_map;

use crate::{
    error::Notice,
    format,
    layout::Page,
    model::{TransactionPage, TransactionQuery, TransactionRow},
    AppError,
};

#[server(input = GetUrl, endpoint = "transactions")]
pub async fn search_transactions(#[server(default)] query: TransactionQuery) -> Result<TransactionPage, AppError> {
    let (backend, req) = crate::backend::current()?;
    backend.search_transactions(&req, query).await
}

#[component]
pub fn TransactionsPage() -> impl IntoView {
    view! {
        <Page>
            <Transactions />
        </Page>
    }
}

#[component]
fn Transactions() -> impl IntoView {
    let params = use_query_map();
    let query = Memo::new(move |_| {
        params.with(|p| TransactionQuery::from_params(|name| p.get(name).filter(|v| !v.is_empty())))
    });
    let page = Resource::new(move || query.get(), search_transactions);

    view! {
        <section class="transactions">
            <h1>"Transactions"</h1>
            <SearchForm query=query.get_untracked() />
            <Suspense fallback=|| view! { <p class="loading">"Searching…"</p> }>
                {move || Suspend::new(async move {
                    match page.await {
                        Ok(found) if found.rows.is_empty() => {
                            view! { <p class="empty">"No payment matches."</p> }.into_any()
                        }
                        Ok(found) => {
                            let next = found.next.clone().map(|after| {
                                let next_query = TransactionQuery { after: Some(after), ..query.get_untracked() };
                                format!("/transactions?{}", next_query.to_query_string())
                            });
                            let export = format!(
                                "/export/transactions.csv?{}",
                                TransactionQuery { after: None, ..query.get_untracked() }.to_query_string(),
                            );
                            view! {
                                <a class="export" href=export download>"Export CSV"</a>
                                <ResultTable rows=found.rows />
                                {next.map(|href| view! { <a class="next" href=href>"Next page →"</a> })}
                            }
                            .into_any()
                        }
                        Err(err) => view! { <Notice error=err /> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

/// A plain GET form: submitting it loads `/transactions?…`, so the search is in the URL.
#[component]
fn SearchForm(query: TransactionQuery) -> impl IntoView {
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    let option = |value: &'static str, label: &'static str, current: &Option<String>| {
        let selected = current.as_deref() == Some(value);
        view! { <option value=value selected=selected>{label}</option> }
    };
    let consumed = query.consumed.map(|c| c.to_string());
    view! {
        <form class="search" method="get" action="/transactions">
            <input
                id="search-q"
                type="search"
                name="q"
                value=value(&query.q)
                placeholder="paymentSeq, user id, store reference key, purchase or access token"
                aria-label="Search by any identifier"
            />
            <select name="store" aria-label="Store">
                {option("", "All stores", &query.store)}
                {option("GG", "Google Play", &query.store)}
                {option("AS", "App Store", &query.store)}
                {option("ONESTORE", "ONE store", &query.store)}
            </select>
            <select name="status" aria-label="Payment status">
                {option("", "Any status", &query.status)}
                {option("RESERVED", "Reserved", &query.status)}
                {option("SUCCESS", "Success", &query.status)}
                {option("FAILURE", "Failure", &query.status)}
                {option("REFUND", "Refund", &query.status)}
                {option("USER_CLOSE", "Closed (no purchase came)", &query.status)}
            </select>
            <select name="consumed" aria-label="Consume state">
                {option("", "Consumed or not", &consumed)}
                {option("true", "Consumed", &consumed)}
                {option("false", "Not consumed", &consumed)}
            </select>
            <input name="product" value=value(&query.product) placeholder="Store product id" aria-label="Product" />
            <label>"From " <input type="date" name="from" value=value(&query.from) /></label>
            <label>"To " <input type="date" name="to" value=value(&query.to) /></label>
            <label>
                <input type="checkbox" name="include_test" value="true" checked=query.include_test />
                " Test purchases"
            </label>
            <label>
                <input type="checkbox" name="oldest_first" value="true" checked=query.oldest_first />
                " Oldest first"
            </label>
            <button type="submit">"Search"</button>
        </form>
    }
}

#[component]
fn ResultTable(rows: Vec<TransactionRow>) -> impl IntoView {
    view! {
        <table class="results">
            <thead>
                <tr>
                    <th>"Transaction ID"</th>
                    <th>"Store"</th>
                    <th>"User ID"</th>
                    <th>"Product"</th>
                    <th>"Type"</th>
                    <th>"Price"</th>
                    <th>"Consumed"</th>
                    <th>"Status"</th>
                    <th>"Store reference key"</th>
                    <th>"Reserved"</th>
                    <th>"Paid"</th>
                    <th>"Refunded"</th>
                    <th>"Payload"</th>
                </tr>
            </thead>
            <tbody>
                {rows
                    .into_iter()
                    .map(|row| {
                        let product = match &row.product_name {
                            Some(name) => format!("{name} ({})", row.product_id),
                            None => row.product_id.clone(),
                        };
                        view! {
                            <tr class:test=row.test>
                                <td class="seq">
                                    <a href=format!("/payments/{}", row.payment_seq)>{row.payment_seq.clone()}</a>
                                    {row.test.then(|| view! { <span class="badge">"test"</span> })}
                                    {row.matched.clone().map(|m| view! { <span class="matched">{format!("matched {m}")}</span> })}
                                </td>
                                <td>{row.store.clone()}</td>
                                <td>
                                    {row.user_id.clone()}
                                    {row.unclaimed.then(|| view! { <span class="badge unclaimed">"unclaimed"</span> })}
                                </td>
                                <td>{product}</td>
                                <td>{row.product_type.clone()}</td>
                                <td>
                                    {format::price(row.price, row.currency.as_deref())}
                                    {row.list_price.then(|| view! { <span class="badge" title="the item's registered price: the store gave no amount">"list"</span> })}
                                </td>
                                <td>{if row.consumed { "yes" } else { "no" }}</td>
                                <td class="status">{row.status.clone()}</td>
                                <td>{row.payment_id.clone().unwrap_or_default()}</td>
                                <td>{format::optional_time(row.reserved_at)}</td>
                                <td>{format::optional_time(row.paid_at)}</td>
                                <td>{format::optional_time(row.refunded_at)}</td>
                                <td>{row.developer_payload.clone().unwrap_or_default()}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}
