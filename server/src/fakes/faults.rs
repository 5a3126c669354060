//! Fault injection shared by every fake: the next N requests of a named route get an HTTP status,
//! a delay (long enough for a client timeout), or a malformed body instead of the normal answer;
//! or, for a flaky store, a share of its requests do until it is calm again.
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::post,
    Json, Router,
};
use serde::Deserialize;

#[derive(Clone, Debug, PartialEq)]
pub enum FaultKind {
    Status(u16),
    Delay(Duration),
    MalformedBody,
}

#[derive(Clone, Debug)]
struct Fault {
    route: String,
    kind: FaultKind,
    /// Requests of the route let through before the fault starts.
    skip: u32,
    times: u32,
}

/// A share of a route's requests that fail, each with one of `kinds` in turn.
#[derive(Clone, Debug)]
struct Flaky {
    route: String,
    percent: u32,
    kinds: Vec<FaultKind>,
    next_kind: usize,
}

/// The armed faults of one fake. `routes` names what can fail, for the control API to check.
#[derive(Clone)]
pub struct Faults {
    routes: &'static [&'static str],
    armed: Arc<Mutex<Vec<Fault>>>,
    flaky: Arc<Mutex<Vec<Flaky>>>,
    /// Requests seen per route, faulted or not: what a test counts to bound the calls it causes.
    seen: Arc<Mutex<std::collections::HashMap<String, u64>>>,
}

impl Faults {
    pub fn new(routes: &'static [&'static str]) -> Faults {
        Faults { routes, armed: Arc::default(), flaky: Arc::default(), seen: Arc::default() }
    }

    /// How many requests of `route` this fake has seen.
    pub fn requests(&self, route: &str) -> u64 {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).get(route).copied().unwrap_or_default()
    }

    /// Until [`Faults::calm`], about `percent` % of the requests of `route` (chosen at random) get
    /// one of `kinds`, taken in turn.
    pub fn make_flaky(&self, route: &str, percent: u32, kinds: Vec<FaultKind>) {
        assert!(self.routes.contains(&route), "unknown fault route {route}");
        assert!(!kinds.is_empty(), "a flaky route fails somehow");
        let flaky = Flaky { route: route.to_string(), percent, kinds, next_kind: 0 };
        self.flaky.lock().unwrap_or_else(|p| p.into_inner()).push(flaky);
    }

    /// Ends every flaky route (armed counted faults stay).
    pub fn calm(&self) {
        self.flaky.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// The routes this fake can fail.
    pub fn routes(&self) -> &'static [&'static str] {
        self.routes
    }

    /// Arms `kind` for the next `times` requests of `route`.
    pub fn inject(&self, route: &str, kind: FaultKind, times: u32) {
        self.inject_after(route, kind, 0, times);
    }

    /// Arms `kind` for `times` requests of `route` once `skip` more have been answered normally,
    /// e.g. to fail the second page of a listing.
    pub fn inject_after(&self, route: &str, kind: FaultKind, skip: u32, times: u32) {
        assert!(self.routes.contains(&route), "unknown fault route {route}");
        let fault = Fault { route: route.to_string(), kind, skip, times };
        self.armed.lock().unwrap_or_else(|p| p.into_inner()).push(fault);
    }

    fn take(&self, route: &str) -> Option<FaultKind> {
        let mut armed = self.armed.lock().unwrap_or_else(|p| p.into_inner());
        let Some(index) = armed.iter().position(|f| f.route == route && f.times > 0) else {
            return self.take_flaky(route);
        };
        if armed[index].skip > 0 {
            armed[index].skip -= 1;
            return None;
        }
        armed[index].times -= 1;
        let kind = armed[index].kind.clone();
        if armed[index].times == 0 {
            armed.remove(index);
        }
        Some(kind)
    }

    fn take_flaky(&self, route: &str) -> Option<FaultKind> {
        let mut flaky = self.flaky.lock().unwrap_or_else(|p| p.into_inner());
        let flaky = flaky.iter_mut().find(|f| f.route == route)?;
        if rand::random::<u32>() % 100 >= flaky.percent {
            return None;
        }
        flaky.next_kind = (flaky.next_kind + 1) % flaky.kinds.len();
        Some(flaky.kinds[flaky.next_kind].clone())
    }

    /// Applies an armed fault: a response to send instead (a status gets the store's own error
    /// body from `error`), or a delay before the normal answer.
    pub async fn apply(&self, route: &str, error: impl Fn(StatusCode) -> Response) -> Option<Response> {
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()).entry(route.to_string()).or_default() += 1;
        match self.take(route)? {
            FaultKind::Status(code) => {
                Some(error(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)))
            }
            FaultKind::Delay(delay) => {
                tokio::time::sleep(delay).await;
                None
            }
            FaultKind::MalformedBody => {
                Some((StatusCode::OK, [("content-type", "application/json")], "{\"purchase").into_response())
            }
        }
    }

    /// `POST {prefix}/faults` of the control API.
    pub fn router(&self, prefix: &str) -> Router {
        Router::new().route(&format!("{prefix}/faults"), post(inject)).with_state(self.clone())
    }
}

/// `{"route":"purchase","status":503,"times":2}`, `{"route":"token","delayMs":3000}` or
/// `{"route":"consume","malformed":true}`; `"skip":1` lets one request through first.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FaultRequest {
    route: String,
    status: Option<u16>,
    delay_ms: Option<u64>,
    #[serde(default)]
    malformed: bool,
    #[serde(default)]
    skip: u32,
    #[serde(default = "once")]
    times: u32,
}

fn once() -> u32 {
    1
}

async fn inject(State(faults): State<Faults>, Json(body): Json<FaultRequest>) -> Response {
    if !faults.routes.contains(&body.route.as_str()) {
        let message = format!("unknown route {}; routes: {}", body.route, faults.routes.join(", "));
        return (StatusCode::BAD_REQUEST, message).into_response();
    }
    let kind = match (body.status, body.delay_ms, body.malformed) {
        (Some(code), None, false) if (100..600).contains(&code) => FaultKind::Status(code),
        (None, Some(ms), false) => FaultKind::Delay(Duration::from_millis(ms)),
        (None, None, true) => FaultKind::MalformedBody,
        _ => {
            return (StatusCode::BAD_REQUEST, "give exactly one of status (100-599), delayMs, malformed")
                .into_response()
        }
    };
    faults.inject_after(&body.route, kind, body.skip, body.times);
    StatusCode::CREATED.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_applies_to_as_many_requests_as_it_was_armed_for() {
        let faults = Faults::new(&["purchase", "token"]);
        faults.inject("purchase", FaultKind::Status(503), 2);

        assert_eq!(faults.take("token"), None);
        assert_eq!(faults.take("purchase"), Some(FaultKind::Status(503)));
        assert_eq!(faults.take("purchase"), Some(FaultKind::Status(503)));
        assert_eq!(faults.take("purchase"), None);
    }

    #[test]
    fn a_flaky_route_fails_about_its_share_of_requests_until_calm() {
        let faults = Faults::new(&["purchase"]);
        faults.make_flaky("purchase", 30, vec![FaultKind::Status(503), FaultKind::MalformedBody]);

        let failed = (0..10_000).filter(|_| faults.take("purchase").is_some()).count();
        assert!((2_700..3_300).contains(&failed), "{failed} of 10,000 failed");
        faults.calm();
        assert_eq!((0..100).filter(|_| faults.take("purchase").is_some()).count(), 0);
    }
}
