//! The current purchase search as CSV, streamed page by page: 100,000 rows never sit in memory.
use axum::{
    body::Body,
    extract::{Query, Request, State},
    http::header,
    response::{IntoResponse, Response},
};
use futures_util::stream;
use model::{Role, TransactionQuery, TransactionRow};

use super::ConsoleBackend;
use crate::{audit, payments::search, state::AppState};

/// Rows fetched per query while streaming.
const BATCH: i64 = 1000;

const HEADER: &str = "transaction_id,project,store,user_id,product_name,product_id,product_type,price,currency,\
    price_source,consumed,status,store_reference_key,reserved_at,paid_at,refunded_at,developer_payload,test\n";

/// `GET /export/transactions.csv?<the search page's parameters>`.
pub async fn transactions_csv(
    State(state): State<AppState>,
    Query(params): Query<Vec<(String, String)>>,
    request: Request,
) -> Response {
    let (parts, _) = request.into_parts();
    let user = match ConsoleBackend::new(state.clone()).require(&parts, Role::Viewer).await {
        Ok(user) => user,
        Err(err) => return (axum::http::StatusCode::FORBIDDEN, err.to_string()).into_response(),
    };
    let get = |name: &str| params.iter().find(|(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.clone());
    let query = TransactionQuery { after: None, ..TransactionQuery::from_params(get) };
    // A bulk copy of user ids and payloads leaves a trace: who, when, from where, and what search.
    let searched: Vec<String> = params.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| format!("{k}={v}")).collect();
    let entry = audit::Entry::by(user.id, &user.username, "export.transactions")
        .detail(crate::stores::scrub(&searched.join("&")))
        .ip(super::client_ip(&parts));
    if let Err(err) = audit::record(&state.db, entry).await {
        tracing::error!(error = %err, "the export could not be audited");
        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, "the export could not be recorded").into_response();
    }
    // Each step yields one batch as CSV text and the cursor of the next, until there is none.
    let batches = stream::unfold(Some((query, true)), move |next| {
        let state = state.clone();
        async move {
            let (query, first) = next?;
            match search::search_page(&state.db, &query, BATCH).await {
                Ok(page) => {
                    let mut text = if first { HEADER.to_string() } else { String::new() };
                    page.rows.iter().for_each(|row| text.push_str(&line(row)));
                    let following = page.next.map(|after| (TransactionQuery { after: Some(after), ..query }, false));
                    Some((Ok::<_, std::io::Error>(text), following))
                }
                Err(err) => {
                    tracing::error!(error = %err, "CSV export stopped");
                    Some((Err(std::io::Error::other("the export failed")), None))
                }
            }
        }
    });
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"transactions.csv\""),
        ],
        Body::from_stream(batches),
    )
        .into_response()
}

/// One CSV field: quoted when it holds a separator, a quote or a line break; a leading `=`, `+`,
/// `-`, `@`, tab or carriage return is defused so a spreadsheet does not run it as a formula
/// (user ids and payloads come from anyone holding the public AppKey).
fn cell(value: &str) -> String {
    let value =
        if value.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{value}") } else { value.to_string() };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

fn line(r: &TransactionRow) -> String {
    let time = |t: Option<i64>| t.map(model::format::utc).unwrap_or_default();
    let fields = [
        r.payment_seq.clone(),
        r.project.clone(),
        r.store.clone(),
        r.user_id.clone(),
        r.product_name.clone().unwrap_or_default(),
        r.product_id.clone(),
        r.product_type.clone(),
        r.price.map(|p| p.to_string()).unwrap_or_default(),
        r.currency.clone().unwrap_or_default(),
        model::format::price_source(r.price.is_some(), r.list_price).to_string(),
        r.consumed.to_string(),
        r.status.clone(),
        r.payment_id.clone().unwrap_or_default(),
        time(r.reserved_at),
        time(r.paid_at),
        time(r.refunded_at),
        r.developer_payload.clone().unwrap_or_default(),
        r.test.to_string(),
    ];
    let mut line = fields.iter().map(|f| cell(f)).collect::<Vec<_>>().join(",");
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=1+1"), "'=1+1");
        assert_eq!(cell("-5,3"), "\"'-5,3\"");
        assert_eq!(cell("\t=cmd|' /C calc'!A0"), "'\t=cmd|' /C calc'!A0");
        assert_eq!(cell("\r=1+1"), "\"'\r=1+1\"");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
    }
}
