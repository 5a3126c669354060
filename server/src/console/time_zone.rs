//! The viewer's time zone for the times the console shows: a UTC offset kept in a cookie, so the
//! server renders the same text the browser hydrates, and pages need no script to read it.
use axum::{
    extract::Query,
    response::{IntoResponse, Redirect, Response},
};
use http::{header, HeaderMap};
use model::format::UTC_OFFSETS;
use serde::Deserialize;

const COOKIE: &str = "iap_tz";

/// The offset in the request's cookie, if it is one the console offers; 0 (UTC) otherwise.
pub fn offset_minutes(headers: &HeaderMap) -> i32 {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
        .filter_map(|v| v.parse().ok())
        .find(|m| UTC_OFFSETS.contains(m))
        .unwrap_or(0)
}

#[derive(Deserialize)]
pub struct Choice {
    offset: i32,
    #[serde(default)]
    next: String,
}

/// `GET /preferences/time-zone?offset=540&next=/transactions`: remembers the offset for a year and
/// goes back to the page it was chosen on.
pub async fn choose(Query(choice): Query<Choice>) -> Response {
    let next = model::urls::safe_next(&choice.next).to_string();
    if !UTC_OFFSETS.contains(&choice.offset) {
        return Redirect::to(&next).into_response();
    }
    let cookie = format!("{COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Strict", choice.offset);
    ([(header::SET_COOKIE, cookie)], Redirect::to(&next)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_cookie(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, value.parse().unwrap());
        headers
    }

    #[test]
    fn the_offset_is_read_from_the_cookie_and_unknown_offsets_mean_utc() {
        assert_eq!(offset_minutes(&with_cookie("iap_session=x; iap_tz=540")), 540);
        assert_eq!(offset_minutes(&with_cookie("iap_tz=-210")), -210);
        assert_eq!(offset_minutes(&with_cookie("iap_tz=17")), 0);
        assert_eq!(offset_minutes(&with_cookie("iap_tzx=540")), 0);
        assert_eq!(offset_minutes(&HeaderMap::new()), 0);
    }
}
