//! Sales and refunds: per month and currency over a year, and per day of one month as bar charts
//! drawn in SVG on the server (no chart library, nothing to wait for in the browser).
use std::collections::BTreeMap;

use leptos::{prelude::*, server_fn::codec::GetUrl};
use leptos_router::hooks::use_query_map;

use crate::{
    error::Notice,
    layout::Page,
    model::{SalesTotal, Statistics, StatisticsQuery, Store},
    projects::list_projects,
    AppError,
};

#[server(input = GetUrl, endpoint = "statistics")]
pub async fn get_statistics(#[server(default)] query: StatisticsQuery) -> Result<Statistics, AppError> {
    let (backend, req) = crate::backend::current()?;
    backend.statistics(&req, query).await
}

#[component]
pub fn StatisticsPage() -> impl IntoView {
    view! {
        <Page>
            <StatisticsView />
        </Page>
    }
}

fn money(amount: f64, currency: &str) -> String {
    format!("{amount:.2} {currency}")
}

/// Google Play tells no price for one-time products: those sales are counted without an amount.
fn currency_label(currency: &str) -> &str {
    if currency.is_empty() {
        "(no price from the store)"
    } else {
        currency
    }
}

fn store_label(code: &str) -> &str {
    Store::parse(code).map(Store::label).unwrap_or(code)
}

#[component]
fn StatisticsView() -> impl IntoView {
    let params = use_query_map();
    let query = Memo::new(move |_| {
        params.with(|p| StatisticsQuery {
            project: p.get("project").and_then(|v| v.parse().ok()),
            month: p.get("month").filter(|m| !m.is_empty()),
            include_test: p.get("include_test").is_some_and(|v| v == "true"),
        })
    });
    let stats = Resource::new(move || query.get(), get_statistics);
    let projects = Resource::new(|| (), |_| list_projects());
    let current = query.get_untracked();

    view! {
        <section class="statistics">
            <h1>"Statistics"</h1>
            <form class="search" method="get" action="/statistics">
                <Suspense fallback=|| view! { <select name="project" aria-label="Project"><option value="">"All projects"</option></select> }>
                    {move || Suspend::new(async move {
                        let list = projects.await.unwrap_or_default();
                        view! {
                            <select name="project" aria-label="Project">
                                <option value="">"All projects"</option>
                                {list.into_iter().map(|p| view! {
                                    <option value=p.id selected=current.project == Some(p.id)>{p.name}</option>
                                }).collect_view()}
                            </select>
                        }
                    })}
                </Suspense>
                <label>"Month " <input type="month" name="month" value=current.month.clone().unwrap_or_default() /></label>
                <label>
                    <input type="checkbox" name="include_test" value="true" checked=current.include_test />
                    " Include test purchases"
                </label>
                <button type="submit">"Show"</button>
            </form>
            <Suspense fallback=|| view! { <p class="loading">"Adding up…"</p> }>
                {move || Suspend::new(async move {
                    match stats.await {
                        Ok(stats) => view! { <Figures stats /> }.into_any(),
                        Err(err) => view! { <Notice error=err /> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn Figures(stats: Statistics) -> impl IntoView {
    // One chart per store and currency: amounts in different currencies do not add up.
    let mut series: BTreeMap<(String, String), Vec<SalesTotal>> = BTreeMap::new();
    for day in &stats.days {
        series.entry((day.store.clone(), day.currency.clone())).or_default().push(day.clone());
    }
    let month = stats.month.clone();
    view! {
        <h2>{format!("{} by day", stats.month)}</h2>
        {if series.is_empty() {
            view! { <p class="empty">"No sales or refunds this month."</p> }.into_any()
        } else {
            series
                .into_iter()
                .map(|((store, currency), days)| {
                    let total: f64 = days.iter().map(|d| d.amount).sum();
                    let payments: i64 = days.iter().map(|d| d.payments).sum();
                    let refunded: f64 = days.iter().map(|d| d.refunded_amount).sum();
                    view! {
                        <figure class="daily">
                            <figcaption>
                                <strong>{store_label(&store).to_string()}</strong>
                                {format!(
                                    " {}: {} from {payments} payments, {} refunded",
                                    currency_label(&currency),
                                    money(total, &currency),
                                    money(refunded, &currency)
                                )}
                            </figcaption>
                            <Bars month=month.clone() days />
                        </figure>
                    }
                })
                .collect_view()
                .into_any()
        }}
        <h2>"By month"</h2>
        {if stats.months.is_empty() {
            view! { <p class="empty">"No sales in the twelve months up to this one."</p> }.into_any()
        } else {
            view! {
                <table class="grid" id="monthly">
                    <thead>
                        <tr>
                            <th>"Month"</th><th>"Store"</th><th>"Currency"</th><th class="num">"Payments"</th>
                            <th class="num">"Sales"</th><th class="num">"Refunds"</th><th class="num">"Refunded"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {stats.months.into_iter().map(|m| view! {
                            <tr>
                                <td>{m.period}</td>
                                <td>{store_label(&m.store).to_string()}</td>
                                <td>{currency_label(&m.currency).to_string()}</td>
                                <td class="num">{m.payments}</td>
                                <td class="num">{format!("{:.2}", m.amount)}</td>
                                <td class="num">{m.refunds}</td>
                                <td class="num">{format!("{:.2}", m.refunded_amount)}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            }
            .into_any()
        }}
    }
}

/// Days in the month `YYYY-MM`.
fn days_in(month: &str) -> u32 {
    let (year, m) = month
        .split_once('-')
        .and_then(|(y, m)| Some((y.parse::<i32>().ok()?, m.parse::<u32>().ok()?)))
        .unwrap_or((1970, 1));
    match m {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A bar per day: sales up from the axis, refunds down from it, both on the scale of the largest.
#[component]
fn Bars(month: String, days: Vec<SalesTotal>) -> impl IntoView {
    const WIDTH: f64 = 620.0;
    const HEIGHT: f64 = 120.0;
    let count = days_in(&month);
    let slot = WIDTH / f64::from(count);
    let by_day: BTreeMap<u32, &SalesTotal> =
        days.iter().filter_map(|d| Some((d.period.get(8..10)?.parse().ok()?, d))).collect();
    // Without prices (Google one-time products) the bars count payments instead of adding amounts.
    let priced = days.iter().any(|d| d.amount > 0.0 || d.refunded_amount > 0.0);
    let sold = move |d: &SalesTotal| if priced { d.amount } else { d.payments as f64 };
    let refunded = move |d: &SalesTotal| if priced { d.refunded_amount } else { d.refunds as f64 };
    let top = days.iter().map(|d| sold(d).max(refunded(d))).fold(0.0_f64, f64::max).max(f64::MIN_POSITIVE);
    let axis = HEIGHT * 0.75;
    let bars = (1..=count)
        .filter_map(|day| by_day.get(&day).map(|d| (day, *d)))
        .map(|(day, d)| {
            let x = f64::from(day - 1) * slot + slot * 0.15;
            let sales = sold(d) / top * axis * 0.95;
            let refunds = refunded(d) / top * (HEIGHT - axis);
            let title = format!("{}: {:.2} from {} payments, {:.2} refunded", d.period, d.amount, d.payments, d.refunded_amount);
            view! {
                <g>
                    <title>{title}</title>
                    <rect class="sales" x=format!("{x:.1}") y=format!("{:.1}", axis - sales) width=format!("{:.1}", slot * 0.7) height=format!("{sales:.1}") />
                    <rect class="refunds" x=format!("{x:.1}") y=format!("{axis:.1}") width=format!("{:.1}", slot * 0.7) height=format!("{refunds:.1}") />
                </g>
            }
        })
        .collect_view();
    view! {
        <svg class="bars" viewBox=format!("0 0 {WIDTH} {HEIGHT}") role="img" aria-label="Sales per day">
            <line x1="0" x2=WIDTH y1=axis y2=axis class="axis" />
            {bars}
            <text x="0" y=HEIGHT - 2.0 class="tick">"1"</text>
            <text x=WIDTH y=HEIGHT - 2.0 class="tick end">{count.to_string()}</text>
        </svg>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_have_their_calendar_length() {
        assert_eq!(days_in("2026-11"), 30);
        assert_eq!(days_in("2024-02"), 29);
        assert_eq!(days_in("2100-02"), 28);
        assert_eq!(days_in("2026-12"), 31);
    }
}
