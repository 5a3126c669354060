//! Purchase search: one box for any identifier, filters, and keyset pages. The whole search lives
//! in the URL, so a reload or a shared link shows the same page.
use leptos::{prelude::*, server_fn::codec::GetUrl};
use leptos_router::hooks::use_query_map;

use crate::{
    format,
    layout::{Notice, Page},
    model::{TransactionPage, TransactionQuery, TransactionRow},
    AppError,
};

#[server(input = GetUrl, endpoint = "transactions")]
pub async fn search_transactions(#[server(default)] query: TransactionQuery) -> Result<TransactionPage, AppError> {
    let (backend, req) = crate::backend::current()?;
    backend.search_transactions(&req, query).await
}

/// The query the URL's parameters describe.
pub fn query_from(get: impl Fn(&str) -> Option<String>) -> TransactionQuery {
    let flag = |name: &str| get(name).is_some_and(|v| v == "true" || v == "on");
    TransactionQuery {
        q: get("q"),
        project: get("project").and_then(|p| p.parse().ok()),
        store: get("store"),
        product: get("product"),
        status: get("status"),
        consumed: get("consumed").and_then(|c| c.parse().ok()),
        include_test: flag("include_test"),
        from: get("from"),
        to: get("to"),
        oldest_first: flag("oldest_first"),
        after: get("after"),
    }
}

/// The URL's query string for `query`: the inverse of [`query_from`].
pub fn query_string(query: &TransactionQuery) -> String {
    let mut pairs: Vec<(&str, String)> = Vec::new();
    let mut text = |name, value: &Option<String>| {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            pairs.push((name, v.to_string()));
        }
    };
    text("q", &query.q);
    text("store", &query.store);
    text("product", &query.product);
    text("status", &query.status);
    text("from", &query.from);
    text("to", &query.to);
    text("after", &query.after);
    if let Some(project) = query.project {
        pairs.push(("project", project.to_string()));
    }
    if let Some(consumed) = query.consumed {
        pairs.push(("consumed", consumed.to_string()));
    }
    if query.include_test {
        pairs.push(("include_test", "true".into()));
    }
    if query.oldest_first {
        pairs.push(("oldest_first", "true".into()));
    }
    pairs.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect::<Vec<_>>().join("&")
}

/// Percent-encodes a query-string value.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
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
    let query = Memo::new(move |_| params.with(|p| query_from(|name| p.get(name).filter(|v| !v.is_empty()))));
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
                                format!("/transactions?{}", query_string(&next_query))
                            });
                            let export = format!(
                                "/export/transactions.csv?{}",
                                query_string(&TransactionQuery { after: None, ..query.get_untracked() }),
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
                                <td>{format::price(row.price, row.currency.as_deref())}</td>
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_survives_the_trip_through_its_url() {
        let query = TransactionQuery {
            q: Some("GPA.1234-5678 9&x".into()),
            project: Some(3),
            store: Some("GG".into()),
            status: Some("SUCCESS".into()),
            consumed: Some(false),
            include_test: true,
            from: Some("2026-11-01".into()),
            after: Some("1795570726476.42".into()),
            ..TransactionQuery::default()
        };

        let url = query_string(&query);
        let pairs: Vec<(String, String)> = url
            .split('&')
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap();
                (k.to_string(), decode(v))
            })
            .collect();
        let back = query_from(|name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()));

        assert_eq!(back, query);
    }

    fn decode(v: &str) -> String {
        let bytes = v.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                out.push(u8::from_str_radix(&v[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }
}
