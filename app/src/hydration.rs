//! The signal browser tests wait for before they click.
use leptos::prelude::*;

/// Sets `data-hydrated="true"` on the document body once the wasm has taken over the page. Effects
/// run only in the browser, so browser tests wait for this before they click.
#[component]
pub fn HydrationMarker() -> impl IntoView {
    Effect::new(move |_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
}
