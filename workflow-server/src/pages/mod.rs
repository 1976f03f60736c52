//! The HTML pages, rendered on the server with maud: every value a run,
//! a workflow or a person wrote is escaped as it is interpolated (maud
//! escapes unless told `PreEscaped`, which only our own SVG and constants
//! use). Styles and the small live-update script are embedded in the
//! binary and served from `/assets/`; nothing is fetched from elsewhere,
//! and the Content-Security-Policy forbids inline scripts and other origins.

pub mod forms;
pub mod run;
pub mod runs;
pub mod signin;
pub mod waiting;

use crate::auth::Person;
use crate::error::ApiError;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

const STYLE: &str = include_str!("../../assets/style.css");
const SCRIPT: &str = include_str!("../../assets/live.js");

/// `GET /assets/style.css`.
pub async fn style() -> Response {
    ([(CONTENT_TYPE, "text/css; charset=utf-8"), (CACHE_CONTROL, "max-age=3600")], STYLE).into_response()
}

/// `GET /assets/live.js`.
pub async fn script() -> Response {
    ([(CONTENT_TYPE, "text/javascript; charset=utf-8"), (CACHE_CONTROL, "max-age=3600")], SCRIPT).into_response()
}

/// Which page of the navigation is shown.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Here {
    /// Waiting for me.
    Waiting,
    /// Runs (and a run).
    Runs,
    /// Neither (sign-in, errors).
    Elsewhere,
}

/// A whole page: navigation, the signed-in person, `body` as the main content.
pub fn page(title: &str, here: Here, person: Option<&Person>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · workflow" }
                link rel="stylesheet" href="/assets/style.css";
                script src="/assets/live.js" defer {}
            }
            body {
                a class="skip" href="#main" { "Skip to the content" }
                header class="top" {
                    nav aria-label="Main" {
                        a class="brand" href="/" { "workflow" }
                        @if let Some(_) = person {
                            a href="/waiting" aria-current=[(here == Here::Waiting).then_some("page")] { "Waiting for me" }
                            a href="/runs" aria-current=[(here == Here::Runs).then_some("page")] { "Runs" }
                        }
                    }
                    @if let Some(person) = person {
                        div class="who" {
                            span { "Signed in as " strong { (person.name) } }
                            @if let Some(csrf) = person.csrf.as_ref().filter(|_| person.with_token) {
                                form method="post" action="/signout" class="inline" {
                                    input type="hidden" name="csrf" value=(csrf);
                                    button type="submit" class="link" { "Sign out" }
                                }
                            }
                        }
                    }
                }
                main id="main" tabindex="-1" { (body) }
            }
        }
    }
}

/// A page saying what went wrong, with the error's status.
pub fn error_page(error: &ApiError, person: Option<&Person>, back: Option<&str>) -> Response {
    let heading = match error.status {
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::UNAUTHORIZED => "Sign-in needed",
        StatusCode::CONFLICT => "Not now",
        StatusCode::UNPROCESSABLE_ENTITY | StatusCode::BAD_REQUEST => "That did not work",
        StatusCode::PAYLOAD_TOO_LARGE => "Too long",
        _ => "Something went wrong",
    };
    let body = html! {
        h1 { (heading) }
        p class="notice error" role="alert" { (error.message) }
        @if let Some(back) = back { p { a href=(back) { "Back" } } }
    };
    (error.status, page(heading, Here::Elsewhere, person, body)).into_response()
}

/// `2026-12-04 15:42:16 UTC` in a `<time>` element.
pub fn time(ms: u64) -> Markup {
    let text = utc(ms);
    html! { time datetime=(format!("{}Z", text.replace(' ', "T").trim_end_matches("TUTC"))) { (text) } }
}

/// `YYYY-MM-DD HH:MM:SS UTC` of Unix milliseconds.
pub fn utc(ms: u64) -> String {
    let secs = (ms / 1000) as i64;
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC", rest / 3600, rest % 3600 / 60, rest % 60)
}

/// A duration for people: `850 ms`, `4.2 s`, `3 min 5 s`.
pub fn duration(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms} ms"),
        1_000..=59_999 => format!("{:.1} s", ms as f64 / 1000.0),
        _ => format!("{} min {} s", ms / 60_000, ms % 60_000 / 1000),
    }
}

/// A status as a badge: the word itself (never colour alone).
pub fn badge(status: &str) -> Markup {
    html! { span class=(format!("badge {status}")) { (status) } }
}

/// The first 8 characters of a run id (enough to tell runs apart on a page).
pub fn short_id(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations_read_as_people_write_them() {
        assert_eq!(utc(1_795_219_200_000 + 13 * 3_600_000 + 5 * 60_000 + 7_000), "2026-11-21 13:05:07 UTC");
        assert_eq!(time(0).into_string(), "<time datetime=\"1970-01-01T00:00:00Z\">1970-01-01 00:00:00 UTC</time>");
        assert_eq!((duration(850), duration(4_200), duration(185_000)), ("850 ms".to_string(), "4.2 s".to_string(), "3 min 5 s".to_string()));
    }

    #[test]
    fn what_people_wrote_is_shown_as_text() {
        let person = Person { name: "<b>eve</b>".to_string(), csrf: Some("\"><script>".to_string()), with_token: true };
        let html = page("<script>alert(1)</script>", Here::Runs, Some(&person), html! { p { ("<img src=x onerror=alert(1)>") } }).into_string();
        assert!(!html.contains("<script>alert") && !html.contains("<img src=x") && !html.contains("<b>eve"), "{html}");
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    }
}
